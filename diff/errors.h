//===- diff/errors.h - what hp-diff refuses, and what it cannot read -*- C++ -*-===//
//
// Two kinds of failure, kept apart. An input error (a file missing, not ELF,
// truncated) means there is nothing to compare: the run stops once every
// input has been read, and says each bad one. A refusal is a change a
// running process cannot take: every stage collects all of its own, the
// run goes on through the stages that can still look, and the user sees
// every refusal at once (docs/hp-diff.md, "Refusals").
//
//===----------------------------------------------------------------------===//

#ifndef HOTPATCH_DIFF_ERRORS_H
#define HOTPATCH_DIFF_ERRORS_H

#include "llvm/ADT/StringSet.h"
#include "llvm/ADT/Twine.h"
#include "llvm/Support/Error.h"

#include <string>

namespace hotpatch {

/// A change a running process cannot take, with the file it is in.
class RefusalError : public llvm::ErrorInfo<RefusalError> {
public:
  static char ID;
  std::string file, why;
  RefusalError(std::string file, std::string why)
      : file(std::move(file)), why(std::move(why)) {}
  void log(llvm::raw_ostream &os) const override { os << file << ": " << why; }
  std::error_code convertToErrorCode() const override {
    return std::make_error_code(std::errc::not_supported);
  }
};

/// An input hp-diff cannot read at all: missing, not ELF, or damaged (a
/// table or header past the end of the file). Not a refusal: nothing was
/// compared.
class InputError : public llvm::ErrorInfo<InputError> {
public:
  static char ID;
  std::string file, why;
  InputError(std::string file, std::string why)
      : file(std::move(file)), why(std::move(why)) {}
  void log(llvm::raw_ostream &os) const override { os << file << ": " << why; }
  std::error_code convertToErrorCode() const override {
    return std::make_error_code(std::errc::invalid_argument);
  }
};

/// A refusal naming \p file.
llvm::Error refuse(llvm::StringRef file, const llvm::Twine &why);
/// An input error naming \p file.
llvm::Error badInput(llvm::StringRef file, const llvm::Twine &why);

/// The refusals of a run, in the order found. Each thing (a symbol, a
/// section, a file-local name) is refused once: a caller that may meet the
/// same thing again (one per relocation) asks `isFirst` with a key naming
/// it. Two things refused in the same words are two lines.
class Refusals {
public:
  void add(llvm::StringRef file, const llvm::Twine &why) {
    add(refuse(file, why));
  }
  /// Takes \p err (refusals, or anything else to report with them).
  void add(llvm::Error err) {
    if (!err)
      return;
    ++count;
    all = llvm::joinErrors(std::move(all), std::move(err));
  }
  /// True the first time \p key is seen.
  bool isFirst(const llvm::Twine &key) { return seen.insert(key.str()).second; }
  bool empty() const { return count == 0; }
  /// Everything collected (success if none); the list is left empty.
  llvm::Error take() {
    count = 0;
    return std::move(all);
  }

private:
  llvm::Error all = llvm::Error::success();
  llvm::StringSet<> seen;
  size_t count = 0;
};

} // namespace hotpatch

#endif
