//===- test/unit/tls-test.cpp - thread-local storage in patches -----------===//

#include "arch.h"
#include "tls.h"

#include "llvm/BinaryFormat/ELF.h"
#include "llvm/Support/Endian.h"

#include "gtest/gtest.h"

#include <map>

using namespace hotpatch;
using namespace llvm;

namespace {

const Arch &x86() { return cantFail(getArch(ELF::EM_X86_64)); }
const Arch &arm() { return cantFail(getArch(ELF::EM_AARCH64)); }

void expectAccess(const Arch &arch, uint32_t type, TlsUse use, uint32_t slotType) {
  SCOPED_TRACE(arch.relocName(type));
  EXPECT_EQ(arch.classify(type), RelocKind::ThreadLocal);
  std::optional<TlsAccess> a = arch.tlsAccess(type);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->use, use);
  EXPECT_EQ(a->slotAccessType, slotType);
}

TEST(X86_64Tls, EverySequenceKeepsItsInstructions) {
  const Arch &a = x86();
  expectAccess(a, ELF::R_X86_64_TPOFF32, TlsUse::TpOffset, ELF::R_X86_64_TPOFF32);
  expectAccess(a, ELF::R_X86_64_DTPOFF32, TlsUse::DtpOffset, ELF::R_X86_64_DTPOFF32);
  expectAccess(a, ELF::R_X86_64_GOTTPOFF, TlsUse::GotTpOffset, ELF::R_X86_64_PC32);
  expectAccess(a, ELF::R_X86_64_TLSGD, TlsUse::GotIndex, ELF::R_X86_64_PC32);
  expectAccess(a, ELF::R_X86_64_TLSLD, TlsUse::GotModule, ELF::R_X86_64_PC32);
  expectAccess(a, ELF::R_X86_64_GOTPC32_TLSDESC, TlsUse::Descriptor, ELF::R_X86_64_PC32);
  expectAccess(a, ELF::R_X86_64_TLSDESC_CALL, TlsUse::Marker, ELF::R_X86_64_TLSDESC_CALL);
  EXPECT_EQ(a.tlsFillType(TlsFill::TpOffset), ELF::R_X86_64_TPOFF64);
  EXPECT_EQ(a.tlsFillType(TlsFill::ModuleId), ELF::R_X86_64_DTPMOD64);
  EXPECT_EQ(a.tlsFillType(TlsFill::Descriptor), ELF::R_X86_64_TLSDESC);
  EXPECT_EQ(a.tlsValue(ELF::R_X86_64_TPOFF64), TlsValue::TpOffset);
  EXPECT_EQ(a.tlsValue(ELF::R_X86_64_DTPOFF64), TlsValue::DtpOffset);
  EXPECT_EQ(a.tlsValue(ELF::R_X86_64_DTPMOD64), TlsValue::ModuleId);
  EXPECT_EQ(a.tlsValue(ELF::R_X86_64_PC32), std::nullopt);
}

TEST(AArch64Tls, EverySequenceKeepsItsInstructions) {
  const Arch &a = arm();
  expectAccess(a, ELF::R_AARCH64_TLSLE_ADD_TPREL_HI12, TlsUse::TpOffset,
               ELF::R_AARCH64_TLSLE_ADD_TPREL_HI12);
  expectAccess(a, ELF::R_AARCH64_TLSLE_LDST128_TPREL_LO12_NC, TlsUse::TpOffset,
               ELF::R_AARCH64_TLSLE_LDST128_TPREL_LO12_NC);
  expectAccess(a, ELF::R_AARCH64_TLSLD_ADD_DTPREL_LO12_NC, TlsUse::DtpOffset,
               ELF::R_AARCH64_TLSLD_ADD_DTPREL_LO12_NC);
  expectAccess(a, ELF::R_AARCH64_TLSIE_ADR_GOTTPREL_PAGE21, TlsUse::GotTpOffset,
               ELF::R_AARCH64_ADR_PREL_PG_HI21);
  expectAccess(a, ELF::R_AARCH64_TLSIE_LD64_GOTTPREL_LO12_NC, TlsUse::GotTpOffset,
               ELF::R_AARCH64_LDST64_ABS_LO12_NC);
  expectAccess(a, ELF::R_AARCH64_TLSGD_ADR_PAGE21, TlsUse::GotIndex,
               ELF::R_AARCH64_ADR_PREL_PG_HI21);
  expectAccess(a, ELF::R_AARCH64_TLSGD_ADD_LO12_NC, TlsUse::GotIndex,
               ELF::R_AARCH64_ADD_ABS_LO12_NC);
  expectAccess(a, ELF::R_AARCH64_TLSLD_ADR_PAGE21, TlsUse::GotModule,
               ELF::R_AARCH64_ADR_PREL_PG_HI21);
  expectAccess(a, ELF::R_AARCH64_TLSDESC_ADR_PAGE21, TlsUse::Descriptor,
               ELF::R_AARCH64_ADR_PREL_PG_HI21);
  expectAccess(a, ELF::R_AARCH64_TLSDESC_LD64_LO12, TlsUse::Descriptor,
               ELF::R_AARCH64_LDST64_ABS_LO12_NC);
  expectAccess(a, ELF::R_AARCH64_TLSDESC_ADD_LO12, TlsUse::Descriptor,
               ELF::R_AARCH64_ADD_ABS_LO12_NC);
  expectAccess(a, ELF::R_AARCH64_TLSDESC_CALL, TlsUse::Marker,
               ELF::R_AARCH64_TLSDESC_CALL);
  // The tiny code model's forms clang does not emit for Linux: named refusals.
  EXPECT_EQ(a.classify(ELF::R_AARCH64_TLSDESC_LDR), RelocKind::ThreadLocal);
  EXPECT_EQ(a.tlsAccess(ELF::R_AARCH64_TLSDESC_LDR), std::nullopt);
  EXPECT_EQ(a.tlsFillType(TlsFill::TpOffset), ELF::R_AARCH64_TLS_TPREL64);
  EXPECT_EQ(a.tlsFillType(TlsFill::ModuleId), ELF::R_AARCH64_TLS_DTPMOD64);
  EXPECT_EQ(a.tlsValue(ELF::R_AARCH64_TLS_DTPREL64), TlsValue::DtpOffset);
  EXPECT_EQ(a.tlsValue(ELF::R_AARCH64_TLSLE_ADD_TPREL_LO12_NC), TlsValue::TpOffset);
}

TEST(X86_64Tls, ExecutableBlockEndsAtThreadPointerAlignedLikeItsAddress) {
  EXPECT_EQ(x86().execTlsBlockOffset(/*vaddr=*/0x3df0, /*memsz=*/0x14, /*align=*/8), -0x18);
  // p_vaddr 4 past a 16-byte boundary: the block's start is too.
  int64_t off = x86().execTlsBlockOffset(0x3df4, 0x20, 16);
  EXPECT_EQ(off, -0x2c);
  EXPECT_EQ(uint64_t(off) & 15, 4u);
  EXPECT_EQ(x86().execTlsBlockOffset(0x1000, 0, 0), 0);
}

TEST(AArch64Tls, ExecutableBlockFollowsTheTcb) {
  EXPECT_EQ(arm().execTlsBlockOffset(0x10000, 0x14, 8), 16);
  EXPECT_EQ(arm().execTlsBlockOffset(0x10000, 0x14, 64), 64);
  EXPECT_EQ(arm().execTlsBlockOffset(0x10004, 0x14, 16), 20);
}

TEST(TlsDescReturn, OursAndGlibcsAreRecognised) {
  for (const Arch *a : {&x86(), &arm()}) {
    SmallVector<uint8_t, 16> code = a->tlsDescReturnCode();
    EXPECT_EQ(code.size(), 16u);
    EXPECT_TRUE(a->isTlsDescReturn(code));
  }
  // glibc's _dl_tlsdesc_return without CET: mov 8(%rax),%rax; ret
  const uint8_t plain[] = {0x48, 0x8b, 0x40, 0x08, 0xc3, 0x90, 0x90, 0x90};
  EXPECT_TRUE(x86().isTlsDescReturn(plain));
  // _dl_tlsdesc_dynamic starts by saving registers: not static TLS.
  const uint8_t dynamic[] = {0xf3, 0x0f, 0x1e, 0xfa, 0x48, 0x89, 0x54, 0x24, 0xf8};
  EXPECT_FALSE(x86().isTlsDescReturn(dynamic));
  EXPECT_FALSE(x86().isTlsDescReturn({}));
  EXPECT_FALSE(arm().isTlsDescReturn({}));
}

TEST(X86_64Tls, AppliesOffsetsAndModuleId) {
  uint8_t buf[8] = {};
  ASSERT_FALSE(x86().applyReloc(ELF::R_X86_64_TPOFF32, buf, 0, uint64_t(-0x18), 4));
  EXPECT_EQ(int32_t(support::endian::read32le(buf)), -0x14);
  ASSERT_FALSE(x86().applyReloc(ELF::R_X86_64_DTPMOD64, buf, 0, 3, 0));
  EXPECT_EQ(support::endian::read64le(buf), 3u);
  Error tooFar = x86().applyReloc(ELF::R_X86_64_TPOFF32, buf, 0, 1ull << 40, 0);
  EXPECT_NE(toString(std::move(tooFar)).find("R_X86_64_TPOFF32"), std::string::npos);
}

/// A process's memory for deduceModuleTls: address -> bytes.
struct FakeMemory {
  std::map<uint64_t, std::vector<uint8_t>> at;
  void word(uint64_t addr, uint64_t v) {
    std::vector<uint8_t> b(8);
    support::endian::write64le(b.data(), v);
    at[addr] = b;
  }
  std::optional<std::vector<uint8_t>> read(uint64_t addr, size_t len) const {
    std::vector<uint8_t> out;
    for (size_t i = 0; i < len; i += 8) {
      auto it = at.find(addr + i);
      if (it == at.end())
        return out.empty() ? std::nullopt : std::optional(out);
      out.insert(out.end(), it->second.begin(), it->second.end());
    }
    out.resize(len);
    return out;
  }
};

TEST(ModuleTls, MainProgramIsModuleOneAtItsAbiOffset) {
  FakeMemory mem;
  ModuleTls tls = deduceModuleTls(x86(), /*isMain=*/true, 0x3df0, 0x14, 8, {},
                                  [&](uint64_t a, size_t n) { return mem.read(a, n); });
  EXPECT_EQ(tls.moduleId, 1u);
  EXPECT_EQ(tls.tpOffset, -0x18);
  tls.base = 0x555500000000;
  EXPECT_EQ(cantFail(tls.value(TlsValue::TpOffset, tls.base + 8)), uint64_t(-0x10));
  EXPECT_EQ(cantFail(tls.value(TlsValue::DtpOffset, tls.base + 8)), 8u);
}

TEST(ModuleTls, LibraryValuesComeFromItsOwnResolvedGot) {
  FakeMemory mem;
  mem.word(0x1000, 3);          // DTPMOD64
  mem.word(0x1008, -0x40 + 16); // TPOFF64 of a variable at block offset 16
  ModuleTls tls = deduceModuleTls(
      x86(), false, 0, 0x20, 8,
      {{TlsFill::ModuleId, 0x1000, 0}, {TlsFill::TpOffset, 0x1008, 16}},
      [&](uint64_t a, size_t n) { return mem.read(a, n); });
  EXPECT_EQ(tls.moduleId, 3u);
  EXPECT_EQ(tls.tpOffset, -0x40);
}

TEST(ModuleTls, StaticDescriptorGivesTheOffsetDynamicOneDoesNot) {
  FakeMemory mem;
  SmallVector<uint8_t, 16> ret = x86().tlsDescReturnCode();
  mem.at[0x7000] = {ret.begin(), ret.begin() + 8};
  mem.at[0x7008] = {ret.begin() + 8, ret.end()};
  mem.word(0x2000, 0x7000); // {function, argument}
  mem.word(0x2008, -0x80 + 4);
  auto read = [&](uint64_t a, size_t n) { return mem.read(a, n); };
  ModuleTls tls = deduceModuleTls(x86(), false, 0, 0x20, 8,
                                  {{TlsFill::Descriptor, 0x2000, 4}}, read);
  EXPECT_EQ(tls.tpOffset, -0x80);
  EXPECT_FALSE(tls.moduleId);
  Expected<uint64_t> id = tls.value(TlsValue::ModuleId, 0);
  ASSERT_FALSE(id);
  EXPECT_NE(toString(id.takeError()).find("DTPMOD64"), std::string::npos);

  mem.word(0x7000, 0x5756415741c3ull); // something else: dynamic TLS
  mem.word(0x7008, 0);
  tls = deduceModuleTls(x86(), false, 0, 0x20, 8,
                        {{TlsFill::Descriptor, 0x2000, 4}}, read);
  EXPECT_FALSE(tls.tpOffset);
  EXPECT_NE(tls.noTpOffset.find("dynamic TLS"), std::string::npos);
}

TEST(ModuleTls, AuxvEntryIsFoundBeforeItsEnd) {
  std::vector<uint8_t> auxv(16 * 3);
  auto put = [&](unsigned i, uint64_t k, uint64_t v) {
    support::endian::write64le(auxv.data() + 16 * i, k);
    support::endian::write64le(auxv.data() + 16 * i + 8, v);
  };
  put(0, 6, 4096);     // AT_PAGESZ
  put(1, 3, 0x400040); // AT_PHDR
  put(2, 0, 0);        // AT_NULL
  EXPECT_EQ(auxvValue(auxv, 3), 0x400040u);
  EXPECT_EQ(auxvValue(auxv, 9), std::nullopt);
  EXPECT_EQ(auxvValue(ArrayRef<uint8_t>(auxv).take_front(10), 6), std::nullopt);
}

} // namespace
