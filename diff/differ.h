//===- diff/differ.h - two builds in, one live patch out ------*- C++ -*-===//
//
// The diff library's entry point, what hp-diff calls: the options of one
// run and what it makes. How it goes about it is diff/differ-state.h.
//
//===----------------------------------------------------------------------===//

#ifndef HOTPATCH_DIFF_DIFFER_H
#define HOTPATCH_DIFF_DIFFER_H

#include "errors.h"
#include "patch-file.h"

#include "llvm/Support/Error.h"

#include <string>
#include <vector>

namespace hotpatch {

struct DiffOptions {
  /// Object pairs (old, new). A new translation unit has an empty old path,
  /// a deleted one an empty new path.
  std::vector<std::pair<std::string, std::string>> pairs;
  /// Or two linked binaries (kept with --emit-relocs), compared TU by TU;
  /// the old one is then the target unless `target` names another.
  std::string oldBinary, newBinary;
  /// The linked original: resolve every symbol to a module offset and take
  /// its build-id. Optional.
  std::string target;
  /// Mutable variables whose changed initializer the user accepts: the
  /// running process keeps its value. Recorded in the patch.
  std::vector<std::string> acceptChangedInit;
  /// Also patch functions whose code differs only in line numbers
  /// (`__LINE__` in assert() and logging macros on lines that moved).
  bool includeLineNumberChanges = false;
};

struct DiffResult {
  PatchFile patch;
  std::vector<std::string> warnings; ///< said, but not refusals
  std::vector<std::string> replaced; ///< names of replaced functions
  std::vector<std::string> added;    ///< names of new functions
  std::vector<std::string> newData;  ///< new or changed-constant variables
  /// Functions left out because only their line numbers changed.
  std::vector<std::string> lineNumbersOnly;
  /// Each replaced or new function and why it is in the patch, by name.
  std::vector<std::pair<std::string, std::string>> reasons;
};

/// Compares the builds and makes the patch. Fails with every InputError
/// when an input cannot be read, else with every refusal of every stage
/// (RefusalErrors joined), each thing refused once.
llvm::Expected<DiffResult> diffBuilds(const DiffOptions &opts);

/// Prints what hp-diff says after writing \p output: the summary line (or
/// "nothing to patch"), why each function is in, what was left out.
void printSummary(llvm::raw_ostream &os, const DiffResult &result,
                  llvm::StringRef output);

} // namespace hotpatch

#endif
