//===- format/patch-signature.cpp - signed patches (Ed25519) --------------===//

#include "patch-signature.h"

#include "patch-file.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/Endian.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/Path.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <algorithm>
#include <cstring>

using namespace llvm;

namespace hotpatch {

namespace {
namespace le = support::endian;

constexpr char sigMagic[8] = {'H', 'P', 'S', 'I', 'G', '0', '0', '1'};
constexpr uint32_t algEd25519 = 1;
enum : uint64_t { sMagic = 0, sAlgorithm = 8, sPublicKey = 16, sSignature = 48 };
constexpr size_t signatureBytes = 64;

/// OpenSSL's last error, for a message.
std::string sslError() {
  unsigned long e = ERR_get_error();
  if (!e)
    return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

struct PkeyFree {
  void operator()(EVP_PKEY *k) const { EVP_PKEY_free(k); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX *c) const { EVP_MD_CTX_free(c); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;

/// The raw public key of Ed25519 key \p k.
Expected<PublicKey> rawPublicKey(EVP_PKEY *k, StringRef path) {
  if (EVP_PKEY_get_id(k) != EVP_PKEY_ED25519)
    return createStringError(std::errc::invalid_argument,
                             "%s: not an Ed25519 key", path.str().c_str());
  PublicKey pub;
  size_t len = pub.size();
  if (EVP_PKEY_get_raw_public_key(k, pub.data(), &len) != 1 || len != pub.size())
    return createStringError(std::errc::invalid_argument, "%s: %s",
                             path.str().c_str(), sslError().c_str());
  return pub;
}

/// Reads a PEM key from \p path: private or public.
Expected<Pkey> readPem(StringRef path, bool privateKey) {
  std::string p = path.str();
  BIO *bio = BIO_new_file(p.c_str(), "r");
  if (!bio)
    return createStringError(std::errc::no_such_file_or_directory, "%s: %s",
                             p.c_str(), strerror(errno));
  EVP_PKEY *k = privateKey ? PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr)
                           : PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (!k)
    return createStringError(std::errc::invalid_argument,
                             "%s: not a PEM %s key (%s)", p.c_str(),
                             privateKey ? "private" : "public", sslError().c_str());
  return Pkey(k);
}
} // namespace

std::string keyId(const PublicKey &key) {
  uint8_t md[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  EVP_Digest(key.data(), key.size(), md, &len, EVP_sha256(), nullptr);
  return toHex(ArrayRef<uint8_t>(md, std::min(len, 8u)), /*LowerCase=*/true);
}

struct SigningKey::Impl {
  Pkey key;
};

SigningKey::SigningKey(SigningKey &&) = default;
SigningKey::~SigningKey() = default;

Expected<SigningKey> SigningKey::load(StringRef pemPath) {
  Expected<Pkey> k = readPem(pemPath, /*privateKey=*/true);
  if (!k)
    return k.takeError();
  Expected<PublicKey> pub = rawPublicKey(k->get(), pemPath);
  if (!pub)
    return pub.takeError();
  SigningKey out;
  out.impl = std::make_unique<Impl>();
  out.impl->key = std::move(*k);
  out.pub = *pub;
  return std::move(out);
}

Error SigningKey::sign(std::vector<uint8_t> &patch) const {
  std::optional<std::pair<uint64_t, uint64_t>> room = signatureRange(patch);
  if (!room || room->second != signatureSectionSize)
    return createStringError(std::errc::invalid_argument,
                             "the patch has no room for a signature");
  if (llvm::any_of(ArrayRef<uint8_t>(patch).slice(room->first, room->second),
                   [](uint8_t b) { return b != 0; }))
    return createStringError(std::errc::invalid_argument, "the patch is signed already");
  MdCtx ctx(EVP_MD_CTX_new());
  uint8_t sig[signatureBytes];
  size_t len = sizeof sig;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, impl->key.get()) != 1 ||
      EVP_DigestSign(ctx.get(), sig, &len, patch.data(), patch.size()) != 1 ||
      len != signatureBytes)
    return createStringError(std::errc::invalid_argument, "signing: %s",
                             sslError().c_str());
  uint8_t *at = patch.data() + room->first;
  memcpy(at + sMagic, sigMagic, sizeof sigMagic);
  le::write32le(at + sAlgorithm, algEd25519);
  memcpy(at + sPublicKey, pub.data(), pub.size());
  memcpy(at + sSignature, sig, signatureBytes);
  return Error::success();
}

Expected<SignatureCheck> checkSignature(ArrayRef<uint8_t> patch) {
  SignatureCheck out;
  std::optional<std::pair<uint64_t, uint64_t>> room = signatureRange(patch);
  if (!room)
    return out;
  ArrayRef<uint8_t> sig = patch.slice(room->first, room->second);
  if (sig.size() != signatureSectionSize || memcmp(sig.data(), sigMagic, 8) ||
      le::read32le(sig.data() + sAlgorithm) != algEd25519)
    return createStringError(std::errc::illegal_byte_sequence,
                             "its signature section is malformed");
  out.signedPatch = true;
  memcpy(out.signer.data(), sig.data() + sPublicKey, out.signer.size());
  std::vector<uint8_t> zeroed(patch.begin(), patch.end());
  memset(zeroed.data() + room->first, 0, room->second);
  Pkey key(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, out.signer.data(),
                                       out.signer.size()));
  MdCtx ctx(EVP_MD_CTX_new());
  out.valid = key && ctx &&
              EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) == 1 &&
              EVP_DigestVerify(ctx.get(), sig.data() + sSignature, signatureBytes,
                               zeroed.data(), zeroed.size()) == 1;
  ERR_clear_error();
  return out;
}

Expected<std::vector<PublicKey>> loadTrustedKeys(StringRef dir) {
  std::vector<PublicKey> out;
  std::error_code ec;
  std::vector<std::string> files;
  for (sys::fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    if (sys::path::extension(it->path()) == ".pem")
      files.push_back(it->path());
  if (ec)
    return createStringError(ec, "trusted keys %s: %s", dir.str().c_str(),
                             ec.message().c_str());
  llvm::sort(files);
  for (const std::string &f : files) {
    Expected<Pkey> k = readPem(f, /*privateKey=*/false);
    if (!k)
      return k.takeError();
    Expected<PublicKey> pub = rawPublicKey(k->get(), f);
    if (!pub)
      return pub.takeError();
    out.push_back(*pub);
  }
  return out;
}

} // namespace hotpatch
