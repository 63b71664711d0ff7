//===- diff/errors.cpp - what hp-diff refuses, and what it cannot read ----===//

#include "errors.h"

using namespace llvm;

namespace hotpatch {

char RefusalError::ID;
char InputError::ID;

Error refuse(StringRef file, const Twine &why) {
  return make_error<RefusalError>(file.str(), why.str());
}

Error badInput(StringRef file, const Twine &why) {
  return make_error<InputError>(file.str(), why.str());
}

} // namespace hotpatch
