//===- format/signature-policy.h - which patches a host accepts ---*- C++ -*-===//
//
// hp-apply's signature rules: its options (--require-signature,
// --trusted-keys DIR) and the host's policy file, which an administrator
// uses to make signatures mandatory for every hp-apply on the host:
//
//   # /etc/hotpatch/policy (HOTPATCH_POLICY names another)
//   require-signature = yes
//   trusted-keys = /etc/hotpatch/trusted-keys
//
// A policy's trusted keys cannot be replaced on the command line; its
// requirement cannot be lifted there.
//
//===----------------------------------------------------------------------===//

#ifndef HOTPATCH_FORMAT_SIGNATURE_POLICY_H
#define HOTPATCH_FORMAT_SIGNATURE_POLICY_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <string>

namespace hotpatch {

struct SignaturePolicy {
  bool required = false;
  std::string requiredBy;     ///< for messages: "--require-signature" or the file
  std::string trustedKeysDir; ///< empty: none named
  std::string keysFrom;       ///< for messages: "--trusted-keys" or the file
};

/// The policy file's default place.
inline constexpr const char *defaultPolicyPath = "/etc/hotpatch/policy";

/// The policy in \p path; a file that does not exist is the empty policy.
/// An unreadable or malformed one is an error naming the line.
llvm::Expected<SignaturePolicy> readPolicyFile(llvm::StringRef path);

/// Whether the patch \p bytes (named \p name) may be applied under
/// \p policy: a signed patch must verify whatever the policy; a required
/// signature must be there, by one of the trusted keys. The error is one
/// line for a person.
llvm::Error enforceSignature(llvm::ArrayRef<uint8_t> bytes, llvm::StringRef name,
                             const SignaturePolicy &policy);

} // namespace hotpatch

#endif
