//===- format/explain.cpp - why a function differs between two builds -----===//

#include "explain.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/FormatVariadic.h"

#include <deque>

using namespace llvm;

namespace hotpatch {

namespace {
/// Every function of a record as written, emitted or not, by name.
StringMap<const FunctionEntry *> asWritten(const TableRecord &r) {
  StringMap<const FunctionEntry *> out;
  for (const FunctionEntry &fn : r.functions)
    out[fn.name] = &fn;
  for (const FunctionEntry &fn : r.removedFunctions)
    out[fn.name] = &fn;
  return out;
}
} // namespace

FunctionChange classifyFunction(const FunctionEntry *before,
                                const FunctionEntry &after,
                                const TableRecord &oldRecord,
                                const TableRecord &newRecord) {
  FunctionChange c;
  if (!before) {
    c.kind = FunctionChange::New;
    return c;
  }
  if (before->fingerprint == after.fingerprint)
    return c; // Same
  // Line numbers are masked in the position-free hash only where the source
  // passes __LINE__ to that very call position (fingerprint-format.md);
  // everything else is hashed as in the fingerprint.
  if (before->positionFreeHash && after.positionFreeHash &&
      before->positionFreeHash == after.positionFreeHash) {
    c.kind = FunctionChange::LineNumbersOnly;
    return c;
  }
  if (!before->sourceHash || !after.sourceHash) {
    c.kind = FunctionChange::Unknown;
    return c;
  }
  if (before->sourceHash != after.sourceHash) {
    c.kind = FunctionChange::SourceChanged;
    return c;
  }
  c.fullIpo = StringRef(newRecord.options).contains(";ipo=full");
  // The same source compiled to other code: look for a changed callee,
  // nearest first, through callees whose own source did not change (they
  // may have been inlined along the way). (The name maps are built per
  // call: fine for the few functions a fix changes this way.)
  StringMap<const FunctionEntry *> oldFns = asWritten(oldRecord);
  StringMap<const FunctionEntry *> newFns = asWritten(newRecord);
  std::deque<const FunctionEntry *> work{&after};
  StringSet<> seen{after.name};
  while (!work.empty()) {
    const FunctionEntry *fn = work.front();
    work.pop_front();
    for (const std::string &name : fn->callees) {
      if (!seen.insert(name).second)
        continue;
      const FunctionEntry *n = newFns.lookup(name);
      if (!n)
        continue;
      const FunctionEntry *o = oldFns.lookup(name);
      if (!o || !o->sourceHash || o->sourceHash != n->sourceHash) {
        bool inlined = !llvm::is_contained(after.calls, name);
        // A callee still called explains nothing unless callers may rely
        // on callee bodies (ipo=full): look on for one that was inlined.
        if (inlined || c.fullIpo) {
          c.kind = FunctionChange::CalleeChanged;
          c.culprit = name;
          c.culpritInlined = inlined;
          return c;
        }
      }
      work.push_back(n);
    }
  }
  c.kind = FunctionChange::ContextChanged;
  return c;
}

std::string FunctionChange::describe() const {
  switch (kind) {
  case Same:
    return "unchanged";
  case LineNumbersOnly:
    return "only line numbers changed (__LINE__ on moved lines)";
  case New:
    return "new";
  case SourceChanged:
    return "its source changed";
  case CalleeChanged:
    if (culpritInlined && !fullIpo)
      return formatv("it inlines '{0}', which changed", culprit).str();
    if (culpritInlined)
      return formatv("it inlines '{0}', or its code relies on what the "
                     "compiler learned from that body (ipo=full), and '{0}' "
                     "changed",
                     culprit)
          .str();
    return formatv("its code relies on what the compiler learned from the "
                   "body of '{0}', which changed",
                   culprit)
        .str();
  case ContextChanged:
    return "its source and callees are unchanged: a constant or other "
           "definition of its file that it was compiled against changed";
  case Unknown:
    return "its code changed";
  }
  return "";
}

} // namespace hotpatch
