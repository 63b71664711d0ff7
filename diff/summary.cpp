//===- diff/summary.cpp - what hp-diff says once it wrote a patch ---------===//
//
// The summary line and the reasons, shared by hp-diff and hp-build so that a
// patch made either way is reported in the same words (docs/hp-diff.md).
//
//===----------------------------------------------------------------------===//

#include "differ.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/raw_ostream.h"

using namespace llvm;

namespace hotpatch {

static std::string listed(const std::vector<std::string> &names) {
  return names.empty() ? std::string() : " (" + join(names, ", ") + ")";
}

void printSummary(raw_ostream &os, const DiffResult &result, StringRef output) {
  const PatchFile &p = result.patch;
  auto sayLineNumbersOnly = [&] {
    if (!result.lineNumbersOnly.empty())
      os << "hp-diff: left out, line numbers only"
         << listed(result.lineNumbersOnly)
         << "; --include-line-number-changes patches them too\n";
  };
  if (p.functions.empty() && result.added.empty() && result.newData.empty()) {
    os << "hp-diff: nothing to patch: the builds have the same code; wrote "
          "an empty patch to "
       << output << "\n";
    sayLineNumbersOnly();
    return;
  }
  size_t moduleRefs = 0, libraryRefs = 0;
  for (const PatchSymbol &s : p.symbols)
    if (!s.defined)
      ++(s.refInModule ? moduleRefs : libraryRefs);
  os << "hp-diff: wrote " << output << ": " << p.functions.size() << " replaced"
     << listed(result.replaced) << ", " << result.added.size() << " new"
     << listed(result.added) << ", " << result.newData.size()
     << " new or changed data" << listed(result.newData) << "; " << moduleRefs
     << " references to the running module, " << libraryRefs
     << " to other libraries"
     << (p.buildId.empty() ? "" : "; target build-id " + p.buildId) << "\n";
  for (const auto &[name, why] : result.reasons)
    if (!why.empty())
      os << "  " << name << ": " << why << "\n";
  sayLineNumbersOnly();
}

} // namespace hotpatch
