//===- runtime/apply-error.h - why a patch was not applied ---------*- C++ -*-===//

#ifndef HOTPATCH_RUNTIME_APPLY_ERROR_H
#define HOTPATCH_RUNTIME_APPLY_ERROR_H

#include "llvm/ADT/Twine.h"
#include "llvm/Support/Error.h"

#include <string>

namespace hotpatch {

/// A patch cannot be applied (or reverted): why, for a person, in one line.
/// The target is as it was, unless the message says otherwise.
class ApplyError : public llvm::ErrorInfo<ApplyError> {
public:
  enum Kind {
    Refused, ///< the patch does not fit this process
    Busy,    ///< strict: a thread kept running a replaced function
    Gone,    ///< the process (or every thread) went away
    Failed,  ///< a system call or a write failed
  };
  static char ID;
  Kind kind;
  std::string message;
  ApplyError(Kind kind, std::string message)
      : kind(kind), message(std::move(message)) {}
  void log(llvm::raw_ostream &os) const override { os << message; }
  std::error_code convertToErrorCode() const override {
    return std::make_error_code(std::errc::operation_not_permitted);
  }
};

inline llvm::Error applyError(ApplyError::Kind kind, const llvm::Twine &msg) {
  return llvm::make_error<ApplyError>(kind, msg.str());
}

/// \p err as an ApplyError of \p kind, unless it already is one.
inline llvm::Error asApplyError(ApplyError::Kind kind, llvm::Error err) {
  if (err.isA<ApplyError>())
    return err;
  return applyError(kind, llvm::toString(std::move(err)));
}

} // namespace hotpatch

#endif
