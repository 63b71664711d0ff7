//===- diff/classify.h - what changed in one translation unit -*- C++ -*-===//
//
// The reading of two fingerprint records of one TU that hp-diff and
// hp-inspect --compare share, so they cannot disagree: functions by
// classifyFunction (format/explain.h), variables by name, except the
// file-local statics the compiler numbers (C: `f.x`, `f.x.1`; C++:
// `_ZZ1fvE1x`, `_ZZ1fvE1x_0`). Adding one can shift the numbers of the
// others, so where a family of such names differs between the builds its
// members are matched by type and initializer instead, and a match that is
// ambiguous is reported, not guessed.
//
//===----------------------------------------------------------------------===//

#ifndef HOTPATCH_DIFF_CLASSIFY_H
#define HOTPATCH_DIFF_CLASSIFY_H

#include "explain.h"
#include "fingerprint-table.h"

#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringSet.h"

#include <string>
#include <vector>

namespace hotpatch {

/// The family of a file-local static's name: what is left without the
/// compiler's numbering (`f.x.12` -> `f.x`, `_ZZ1fvE1x_0` -> `_ZZ1fvE1x`).
llvm::StringRef staticFamily(llvm::StringRef name);

/// How the file-local statics of a new record map onto the old one's.
struct StaticMatch {
  /// New name -> running name, for every member of a family whose names
  /// differ between the builds and that was matched.
  llvm::StringMap<std::string> runningName;
  /// Members of such families that match no running variable (new).
  llvm::StringSet<> unmatched;
  /// Matched under another name (in the new record's order of families).
  struct Renumbered {
    std::string newName, oldName;
  };
  std::vector<Renumbered> renumbered;
  /// Families where a new member has the same type and initializer as a
  /// running one but cannot be told which: hp-diff refuses them.
  struct Ambiguous {
    std::string family;
    size_t olds, news;
  };
  std::vector<Ambiguous> ambiguous;

  /// The running variable that \p var of the new build is, looked up in
  /// \p oldVars by name or, for a renumbered static, by its running name;
  /// null when it is new (or unmatched).
  const VariableEntry *
  runningVariable(const VariableEntry &var,
                  const llvm::StringMap<const VariableEntry *> &oldVars) const;
};

/// Matches the file-local statics of \p after against \p before (the same
/// TU in two builds).
StaticMatch matchStatics(const TableRecord &before, const TableRecord &after);

} // namespace hotpatch

#endif
