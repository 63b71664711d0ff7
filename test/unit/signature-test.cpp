//===- test/unit/signature-test.cpp - signed patches and the host policy --===//

#include "patch-file.h"
#include "patch-signature.h"
#include "signature-policy.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/raw_ostream.h"

#include "gtest/gtest.h"

#include <openssl/evp.h>
#include <openssl/pem.h>

using namespace hotpatch;
using namespace llvm;

namespace {

/// A fresh Ed25519 key written as PEM to a temporary file.
std::string freshKey() {
  EVP_PKEY *k = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  SmallString<128> path;
  int fd;
  EXPECT_FALSE(sys::fs::createTemporaryFile("hp-key", "pem", fd, path));
  FILE *f = fdopen(fd, "w");
  PEM_write_PrivateKey(f, k, nullptr, nullptr, 0, nullptr, nullptr);
  fclose(f);
  EVP_PKEY_free(k);
  return std::string(path);
}

std::vector<uint8_t> samplePatch(bool room) {
  PatchFile p;
  p.eMachine = 62; // EM_X86_64
  p.producer = "test";
  p.sections[unsigned(PatchSection::Text)] = {0xc3};
  Expected<std::vector<uint8_t>> bytes = writePatch(p, room);
  EXPECT_TRUE(bool(bytes));
  return bytes ? *bytes : std::vector<uint8_t>{};
}

TEST(Signature, SignedPatchVerifiesAndStaysReadable) {
  Expected<SigningKey> key = SigningKey::load(freshKey());
  ASSERT_TRUE(bool(key)) << toString(key.takeError());
  std::vector<uint8_t> bytes = samplePatch(true);
  ASSERT_FALSE(bool(key->sign(bytes)));
  Expected<SignatureCheck> check = checkSignature(bytes);
  ASSERT_TRUE(bool(check));
  EXPECT_TRUE(check->signedPatch);
  EXPECT_TRUE(check->valid);
  EXPECT_EQ(check->signer, key->publicKey());
  // The checksum skips the signature: the signed file still reads.
  Expected<PatchFile> read = readPatch(bytes, "signed");
  EXPECT_TRUE(bool(read)) << toString(read.takeError());
  // Signing twice is refused.
  Error twice = key->sign(bytes);
  EXPECT_TRUE(bool(twice));
  consumeError(std::move(twice));
}

TEST(Signature, AnyChangedByteInvalidatesIt) {
  Expected<SigningKey> key = SigningKey::load(freshKey());
  ASSERT_TRUE(bool(key));
  std::vector<uint8_t> bytes = samplePatch(true);
  ASSERT_FALSE(bool(key->sign(bytes)));
  for (size_t at : {size_t(0x40), bytes.size() / 2, bytes.size() - 1}) {
    std::vector<uint8_t> changed = bytes;
    changed[at] ^= 1;
    Expected<SignatureCheck> check = checkSignature(changed);
    if (!check) { // (a header byte: no longer a patch at all)
      consumeError(check.takeError());
      continue;
    }
    EXPECT_FALSE(check->signedPatch && check->valid) << "byte " << at;
  }
}

TEST(Signature, UnsignedPatchHasNone) {
  Expected<SignatureCheck> check = checkSignature(samplePatch(false));
  ASSERT_TRUE(bool(check));
  EXPECT_FALSE(check->signedPatch);
}

TEST(SignaturePolicy, ParsesAndRefusesWhatItDoesNotKnow) {
  SmallString<128> path;
  int fd;
  ASSERT_FALSE(sys::fs::createTemporaryFile("hp-policy", "", fd, path));
  {
    raw_fd_ostream os(fd, /*shouldClose=*/true);
    os << "# comment\n\nrequire-signature = yes  # always\ntrusted-keys = /k\n";
  }
  Expected<SignaturePolicy> p = readPolicyFile(path);
  ASSERT_TRUE(bool(p)) << toString(p.takeError());
  EXPECT_TRUE(p->required);
  EXPECT_EQ(p->trustedKeysDir, "/k");
  {
    std::error_code ec;
    raw_fd_ostream os(path, ec);
    os << "require-signature = yes\nallow-everything = yes\n";
  }
  Expected<SignaturePolicy> bad = readPolicyFile(path);
  ASSERT_FALSE(bool(bad));
  EXPECT_NE(toString(bad.takeError()).find(":2: unknown setting 'allow-everything'"),
            std::string::npos);
  Expected<SignaturePolicy> none = readPolicyFile("/nonexistent/hotpatch/policy");
  ASSERT_TRUE(bool(none));
  EXPECT_FALSE(none->required);
}

} // namespace
