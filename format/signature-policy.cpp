//===- format/signature-policy.cpp - which patches a host accepts ---------===//

#include "signature-policy.h"

#include "patch-signature.h"

#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MemoryBuffer.h"

using namespace llvm;

namespace hotpatch {

Expected<SignaturePolicy> readPolicyFile(StringRef path) {
  SignaturePolicy policy;
  ErrorOr<std::unique_ptr<MemoryBuffer>> buf = MemoryBuffer::getFile(path, /*IsText=*/true);
  if (!buf) {
    if (buf.getError() == std::errc::no_such_file_or_directory)
      return policy;
    return createStringError(buf.getError(), "%s: %s", path.str().c_str(),
                             buf.getError().message().c_str());
  }
  SmallVector<StringRef, 16> lines;
  (*buf)->getBuffer().split(lines, '\n');
  for (size_t i = 0; i < lines.size(); ++i) {
    StringRef line = lines[i].split('#').first.trim();
    if (line.empty())
      continue;
    auto [key, value] = line.split('=');
    key = key.trim();
    value = value.trim();
    auto bad = [&](const Twine &why) {
      return createStringError(std::errc::invalid_argument, "%s:%zu: %s",
                               path.str().c_str(), i + 1, why.str().c_str());
    };
    if (!line.contains('=') || value.empty())
      return bad("expected 'key = value'");
    if (key == "require-signature") {
      std::optional<bool> yes = value.equals_insensitive("yes") || value == "true" || value == "1"
                                    ? std::optional<bool>(true)
                                : value.equals_insensitive("no") || value == "false" || value == "0"
                                    ? std::optional<bool>(false)
                                    : std::nullopt;
      if (!yes)
        return bad("require-signature is yes or no");
      policy.required = *yes;
      policy.requiredBy = path.str();
    } else if (key == "trusted-keys") {
      policy.trustedKeysDir = value.str();
      policy.keysFrom = path.str();
    } else {
      return bad(formatv("unknown setting '{0}' (require-signature, trusted-keys)", key));
    }
  }
  return policy;
}

Error enforceSignature(ArrayRef<uint8_t> bytes, StringRef name,
                       const SignaturePolicy &policy) {
  auto refuse = [&](const Twine &why) {
    return createStringError(std::errc::permission_denied, "%s: %s",
                             name.str().c_str(), why.str().c_str());
  };
  Expected<SignatureCheck> check = checkSignature(bytes);
  if (!check)
    return refuse(toString(check.takeError()));
  if (check->signedPatch && !check->valid)
    return refuse(formatv("the signature (key {0}) does not match the patch: it "
                          "was modified after signing",
                          keyId(check->signer)));
  if (!check->signedPatch) {
    if (policy.required)
      return refuse(formatv("the patch is not signed, and {0} requires a signature",
                            policy.requiredBy));
    return Error::success();
  }
  if (policy.trustedKeysDir.empty()) {
    if (policy.required)
      return refuse(formatv("{0} requires a signature, but no trusted keys are "
                            "named (--trusted-keys DIR, or trusted-keys in the "
                            "policy file)",
                            policy.requiredBy));
    return Error::success(); // (signed, intact, and nobody asked by whom)
  }
  Expected<std::vector<PublicKey>> keys = loadTrustedKeys(policy.trustedKeysDir);
  if (!keys)
    return refuse(toString(keys.takeError()));
  if (llvm::is_contained(*keys, check->signer))
    return Error::success();
  return refuse(formatv("signed by key {0}, which is not among the trusted keys in "
                        "{1} ({2})",
                        keyId(check->signer), policy.trustedKeysDir, policy.keysFrom));
}

} // namespace hotpatch
