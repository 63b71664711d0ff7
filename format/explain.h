//===- format/explain.h - why a function differs between two builds -*- C++ -*-===//
//
// One reading of two fingerprint records, shared by hp-diff (what goes into
// a patch, and why) and hp-inspect --compare (what a fix changed): a function
// is the same, differs only in line numbers, is new, or changed because its
// own source did, because a callee it inlined did, or because it relied on a
// callee's body (builds with ipo=full).
//
//===----------------------------------------------------------------------===//

#ifndef HOTPATCH_FORMAT_EXPLAIN_H
#define HOTPATCH_FORMAT_EXPLAIN_H

#include "fingerprint-table.h"

#include <string>

namespace hotpatch {

struct FunctionChange {
  enum Kind {
    Same,
    /// The code differs only in `__LINE__` values on moved lines.
    LineNumbersOnly,
    New,
    /// Its own source (its IR as written) changed.
    SourceChanged,
    /// Its source is the same; `culprit`, a function of the same TU it
    /// calls (directly or through other inlined callees), changed.
    CalleeChanged,
    /// Its source and its callees are the same: something else it was
    /// compiled against changed (a file-local constant folded into it).
    ContextChanged,
    /// The table cannot say (version 1, or built without hotpatch-source).
    Unknown,
  };
  Kind kind = Same;
  std::string culprit;
  /// For CalleeChanged: the culprit is no longer called, so it was inlined
  /// (or its call folded away); otherwise the caller relied on its body.
  bool culpritInlined = false;
  /// The new build let callers rely on callee bodies (ipo=full): a callee
  /// no longer called may also have had its result folded in.
  bool fullIpo = false;

  /// Whether the function must be in a patch.
  bool isChange() const { return kind != Same && kind != LineNumbersOnly; }
  /// For people: "its source changed", "inlines 'g', which changed"...
  std::string describe() const;
};

/// Compares \p after (in \p newRecord) with \p before (in \p oldRecord, null
/// when the function is new). Both records describe the same TU.
FunctionChange classifyFunction(const FunctionEntry *before,
                                const FunctionEntry &after,
                                const TableRecord &oldRecord,
                                const TableRecord &newRecord);

} // namespace hotpatch

#endif
