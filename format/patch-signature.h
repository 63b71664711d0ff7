//===- format/patch-signature.h - signed patches (Ed25519) ---------*- C++ -*-===//
//
// A signed patch carries `.hp.sig` (docs/patch-format.md, "Signature"):
//
//    0  magic "HPSIG001"          8  algorithm (u32, 1: Ed25519)
//   16  the signer's public key (32 bytes, raw Ed25519)
//   48  the signature (64 bytes)  112..128 zero
//
// The signature covers every byte of the file with `.hp.sig`'s contents
// taken as zero (the checksum is computed the same way, so it covers the
// signature's absence and signing does not change it). A verifier needs
// nothing but the file to tell whether it was modified after signing; who
// signed it is trusted or not by its public key (the key id is the first
// 8 bytes of the key's SHA-256, in hex, for people).
//
//===----------------------------------------------------------------------===//

#ifndef HOTPATCH_FORMAT_PATCH_SIGNATURE_H
#define HOTPATCH_FORMAT_PATCH_SIGNATURE_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <array>
#include <memory>
#include <string>
#include <vector>

namespace hotpatch {

using PublicKey = std::array<uint8_t, 32>;

/// The id people see for \p key: 16 hex digits of its SHA-256.
std::string keyId(const PublicKey &key);

/// An Ed25519 private key, read from a PEM file
/// (`openssl genpkey -algorithm ed25519`).
class SigningKey {
public:
  static llvm::Expected<SigningKey> load(llvm::StringRef pemPath);
  SigningKey(SigningKey &&);
  ~SigningKey();
  const PublicKey &publicKey() const { return pub; }

  /// Fills the `.hp.sig` room of \p patch (a patch written with
  /// PatchWriteOptions::signatureRoom) with this key's signature.
  llvm::Error sign(std::vector<uint8_t> &patch) const;

private:
  SigningKey() = default;
  struct Impl;
  std::unique_ptr<Impl> impl;
  PublicKey pub{};
};

/// What a patch's `.hp.sig` says.
struct SignatureCheck {
  bool signedPatch = false; ///< it has a signature at all
  PublicKey signer{};       ///< when signed
  bool valid = false;       ///< the signature matches the bytes
};

/// Reads and verifies \p patch's signature against its own public key.
/// Fails only when the file is not a patch or `.hp.sig` is malformed.
llvm::Expected<SignatureCheck> checkSignature(llvm::ArrayRef<uint8_t> patch);

/// The public keys in \p dir: every `*.pem` holding an Ed25519 public key
/// (`openssl pkey -pubout`). A file that is not one is an error naming it.
llvm::Expected<std::vector<PublicKey>> loadTrustedKeys(llvm::StringRef dir);

} // namespace hotpatch

#endif
