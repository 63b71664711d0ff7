//===- test/unit/arch-test.cpp - the architecture backends' encoders ------===//

#include "arch.h"

#include "llvm/BinaryFormat/ELF.h"
#include "llvm/Support/Endian.h"

#include "gtest/gtest.h"

using namespace llvm;
using namespace hotpatch;

namespace {

const Arch &x86() { return cantFail(getArch(ELF::EM_X86_64)); }
const Arch &arm() { return cantFail(getArch(ELF::EM_AARCH64)); }

std::vector<uint8_t> x86Prologue(bool endbr) {
  std::vector<uint8_t> b(14, 0x90);
  if (endbr)
    b.insert(b.end(), {0xf3, 0x0f, 0x1e, 0xfa});
  b.insert(b.end(), {0x66, 0x90, 0x55, 0x48, 0x89, 0xe5});
  return b;
}

TEST(X86_64Redirect, EntryJumpsBackToStartOfPad) {
  Arch::Redirect r = x86().encodeRedirect(0x401000, 0, 0x402000);
  ASSERT_EQ(r.site.size(), 2u);
  EXPECT_EQ(r.site[0], 0xeb);
  EXPECT_EQ(r.site[1], 0xf0); // -16: from entry+2 back to entry-14
}

TEST(X86_64Redirect, AfterEndbrTheJumpIsLonger) {
  Arch::Redirect r = x86().encodeRedirect(0x401000, 4, 0x402000);
  EXPECT_EQ(r.site[1], 0xec); // -20: from entry+6 back to entry-14
}

TEST(X86_64Redirect, NearTargetUsesJmpRel32) {
  uint64_t entry = 0x401000, target = 0x402000;
  Arch::Redirect r = x86().encodeRedirect(entry, 0, target);
  ASSERT_EQ(r.pad.size(), 14u);
  EXPECT_EQ(r.pad[0], 0xe9);
  int32_t rel = int32_t(support::endian::read32le(r.pad.data() + 1));
  EXPECT_EQ(entry - 14 + 5 + rel, target);
  EXPECT_EQ(r.pad[5], 0x90); // the rest stays NOPs
}

TEST(X86_64Redirect, FarTargetUsesJmpThroughRip) {
  uint64_t target = 0x7f0000000000;
  Arch::Redirect r = x86().encodeRedirect(0x401000, 0, target);
  ASSERT_EQ(r.pad.size(), 14u);
  EXPECT_EQ(r.pad[0], 0xff);
  EXPECT_EQ(r.pad[1], 0x25);
  EXPECT_EQ(support::endian::read64le(r.pad.data() + 6), target);
}

TEST(X86_64PatchSite, FindsTheNopAfterEndbr) {
  EXPECT_EQ(cantFail(x86().patchSiteOffset(x86Prologue(false))), 0u);
  EXPECT_EQ(cantFail(x86().patchSiteOffset(x86Prologue(true))), 4u);
}

TEST(X86_64PatchSite, RefusesAPatchedEntry) {
  std::vector<uint8_t> b = x86Prologue(false);
  b[14] = 0xeb;
  b[15] = 0xf0;
  Expected<unsigned> site = x86().patchSiteOffset(b);
  ASSERT_FALSE(bool(site));
  EXPECT_NE(toString(site.takeError()).find("eb f0"), std::string::npos);
}

TEST(X86_64Reloc, PC32OutOfReachIsAnError) {
  uint8_t buf[4] = {};
  Error err = x86().applyReloc(ELF::R_X86_64_PC32, buf, 0x1000, 0x100001000, -4);
  ASSERT_TRUE(bool(err));
  EXPECT_NE(toString(std::move(err)).find("2 GiB"), std::string::npos);
}

TEST(X86_64Reloc, PC32IsRelativeToThePlace) {
  uint8_t buf[4] = {};
  ASSERT_FALSE(bool(x86().applyReloc(ELF::R_X86_64_PC32, buf, 0x1000, 0x2000, -4)));
  EXPECT_EQ(int32_t(support::endian::read32le(buf)), 0x2000 - 4 - 0x1000);
}

TEST(AArch64Redirect, NearTargetIsOneBranch) {
  uint64_t entry = 0x400010, target = 0x500000;
  Arch::Redirect r = arm().encodeRedirect(entry, 0, target);
  uint32_t insn = support::endian::read32le(r.site.data());
  EXPECT_EQ(insn >> 26, 0x05u); // b
  int64_t imm = int64_t(int32_t(insn << 6) >> 6) * 4;
  EXPECT_EQ(entry + imm, target);
}

TEST(AArch64Redirect, FarTargetGoesThroughX16InThePad) {
  uint64_t entry = 0x400010, target = 0x7f0000000000;
  Arch::Redirect r = arm().encodeRedirect(entry, 4, target);
  EXPECT_EQ(support::endian::read32le(r.pad.data()), 0x58000050u); // ldr x16, #8
  EXPECT_EQ(support::endian::read32le(r.pad.data() + 4), 0xd61f0200u); // br x16
  EXPECT_EQ(support::endian::read64le(r.pad.data() + 8), target);
  uint32_t insn = support::endian::read32le(r.site.data());
  int64_t imm = int64_t(int32_t(insn << 6) >> 6) * 4;
  EXPECT_EQ(entry + 4 + imm, entry - 16); // from the site after `bti c`
}

TEST(AArch64PatchSite, KeepsTheLandingPad) {
  std::vector<uint8_t> b(24);
  for (unsigned at = 0; at < 16; at += 4)
    support::endian::write32le(b.data() + at, 0xd503201f);
  support::endian::write32le(b.data() + 16, 0xd503245f); // bti c
  support::endian::write32le(b.data() + 20, 0xd503201f);
  EXPECT_EQ(cantFail(arm().patchSiteOffset(b)), 4u);
}

TEST(AArch64Reloc, Call26OutOfReachIsAnError) {
  uint8_t buf[4] = {0, 0, 0, 0x94};
  Error err = arm().applyReloc(ELF::R_AARCH64_CALL26, buf, 0, 1ull << 30, 0);
  EXPECT_TRUE(bool(err));
  consumeError(std::move(err));
}

TEST(AArch64Reloc, AdrpPageDifference) {
  uint8_t buf[4];
  support::endian::write32le(buf, 0x90000010); // adrp x16, 0
  ASSERT_FALSE(bool(arm().applyReloc(ELF::R_AARCH64_ADR_PREL_PG_HI21, buf,
                                     0x10000, 0x23456, 0)));
  uint32_t insn = support::endian::read32le(buf);
  uint64_t immlo = (insn >> 29) & 3, immhi = (insn >> 5) & 0x7ffff;
  EXPECT_EQ(((immhi << 2) | immlo) << 12, 0x23000u - 0x10000u);
}

TEST(AArch64Reloc, MovwGroupsTakeSixteenBitsEach) {
  uint64_t addr = 0x0000123456789abcull;
  const uint32_t types[] = {ELF::R_AARCH64_MOVW_UABS_G0_NC,
                            ELF::R_AARCH64_MOVW_UABS_G1_NC,
                            ELF::R_AARCH64_MOVW_UABS_G2_NC,
                            ELF::R_AARCH64_MOVW_UABS_G3};
  for (unsigned g = 0; g < 4; ++g) {
    uint8_t buf[4];
    support::endian::write32le(buf, 0xf2800000); // movk x0, #0
    ASSERT_FALSE(bool(arm().applyReloc(types[g], buf, 0, addr, 0)));
    EXPECT_EQ((support::endian::read32le(buf) >> 5) & 0xffff,
              (addr >> (16 * g)) & 0xffff);
  }
  uint8_t buf[4] = {};
  Error err = arm().applyReloc(ELF::R_AARCH64_MOVW_UABS_G0, buf, 0, addr, 0);
  EXPECT_TRUE(bool(err)); // the checked form: bits above 16 are not zero
  consumeError(std::move(err));
}

// Linked code back to what the compiler wrote (hp-diff on binaries).
TEST(X86_64AsCompiled, ClearsTheFieldAndUndoesRelaxedLoads) {
  // lld turned `mov foo@GOTPCREL(%rip), %rax` into `lea foo(%rip), %rax`.
  std::vector<uint8_t> code = {0x48, 0x8d, 0x05, 0x11, 0x22, 0x33, 0x44};
  ASSERT_FALSE(bool(x86().asCompiled(ELF::R_X86_64_REX_GOTPCRELX, code, 3)));
  EXPECT_EQ(code, (std::vector<uint8_t>{0x48, 0x8b, 0x05, 0, 0, 0, 0}));
  // `call *foo@GOTPCREL(%rip)` became `addr32 call foo`.
  code = {0x67, 0xe8, 1, 2, 3, 4};
  ASSERT_FALSE(bool(x86().asCompiled(ELF::R_X86_64_GOTPCRELX, code, 2)));
  EXPECT_EQ(code, (std::vector<uint8_t>{0xff, 0x15, 0, 0, 0, 0}));
  // `jmp *foo@GOTPCREL(%rip)` became `jmp foo; nop`.
  code = {0xe9, 1, 2, 3, 4, 0x90};
  ASSERT_FALSE(bool(x86().asCompiled(ELF::R_X86_64_GOTPCRELX, code, 2)));
  EXPECT_EQ(code, (std::vector<uint8_t>{0xff, 0x25, 0, 0, 0, 0}));
  // A plain 64-bit address: eight bytes cleared.
  code = std::vector<uint8_t>(8, 0xab);
  ASSERT_FALSE(bool(x86().asCompiled(ELF::R_X86_64_64, code, 0)));
  EXPECT_EQ(code, std::vector<uint8_t>(8, 0));
}

TEST(X86_64AsCompiled, RefusesALoadMadeAnImmediate) {
  // Non-PIC: `mov foo@GOTPCREL(%rip), %rax` became `mov $foo, %rax`.
  std::vector<uint8_t> code = {0x48, 0xc7, 0xc0, 1, 2, 3, 4};
  Error err = x86().asCompiled(ELF::R_X86_64_REX_GOTPCRELX, code, 3);
  ASSERT_TRUE(bool(err));
  EXPECT_NE(toString(std::move(err)).find("--no-relax"), std::string::npos);
}

TEST(AArch64AsCompiled, PutsBackRelaxedGotLoadsAndClearsImmediates) {
  auto words = [](std::initializer_list<uint32_t> w) {
    std::vector<uint8_t> out(4 * w.size());
    size_t i = 0;
    for (uint32_t x : w)
      support::endian::write32le(out.data() + 4 * i++, x);
    return out;
  };
  // adrp x8, page; add x8, x8, #0x4a8  <-  adrp x8, :got:foo; ldr x8, [x8, ...]
  std::vector<uint8_t> code = words({0x90000088, 0x9112a108});
  ASSERT_FALSE(bool(arm().asCompiled(ELF::R_AARCH64_ADR_GOT_PAGE, code, 0)));
  ASSERT_FALSE(bool(arm().asCompiled(ELF::R_AARCH64_LD64_GOT_LO12_NC, code, 4)));
  EXPECT_EQ(code, words({0x90000008, 0xf9400108})); // adrp x8; ldr x8, [x8]
  // nop; adr x3, foo  <-  adrp x3, foo; add x3, x3, :lo12:foo
  code = words({0xd503201f, 0x10000a03});
  ASSERT_FALSE(bool(arm().asCompiled(ELF::R_AARCH64_ADR_PREL_PG_HI21, code, 0)));
  ASSERT_FALSE(bool(arm().asCompiled(ELF::R_AARCH64_ADD_ABS_LO12_NC, code, 4)));
  EXPECT_EQ(code, words({0x90000003, 0x91000063}));
  // bl: the 26-bit offset cleared, the opcode kept.
  code = words({0x94001234});
  ASSERT_FALSE(bool(arm().asCompiled(ELF::R_AARCH64_CALL26, code, 0)));
  EXPECT_EQ(code, words({0x94000000}));
}

TEST(X86_64Gate, ComparesTheCommitByteThenGoesBackOrOn) {
  uint64_t gate = 0x500000, commit = 0x501000, back = 0x401002, target = 0x500400;
  auto bytes = cantFail(x86().encodeGate(gate, commit, back, target));
  ASSERT_EQ(bytes.size(), 32u);
  EXPECT_EQ(bytes[0], 0x80); // cmpb $0, commit(%rip)
  EXPECT_EQ(bytes[1], 0x3d);
  EXPECT_EQ(int32_t(support::endian::read32le(&bytes[2])), int32_t(commit - (gate + 7)));
  EXPECT_EQ(bytes[6], 0x00);
  EXPECT_EQ(bytes[7], 0x0f); // je back
  EXPECT_EQ(bytes[8], 0x84);
  EXPECT_EQ(int32_t(support::endian::read32le(&bytes[9])), int32_t(back - (gate + 13)));
  EXPECT_EQ(bytes[13], 0xe9); // jmp target
  EXPECT_EQ(int32_t(support::endian::read32le(&bytes[14])), int32_t(target - (gate + 18)));
  EXPECT_EQ(bytes[18], 0xcc);
  EXPECT_TRUE(bool(errorToBool(
      x86().encodeGate(gate, commit, gate + (1ull << 33), target).takeError())));
}

TEST(AArch64Gate, LoadsTheCommitByteAndBranches) {
  uint64_t gate = 0x500000, commit = 0x502010, back = 0x401004, target = 0x500400;
  auto bytes = cantFail(arm().encodeGate(gate, commit, back, target));
  ASSERT_EQ(bytes.size(), 48u);
  auto word = [&](size_t i) { return support::endian::read32le(&bytes[4 * i]); };
  EXPECT_EQ(word(0), 0x90000010u | (2u << 29)); // adrp x16, +2 pages
  EXPECT_EQ(word(1), 0x39400210u | (0x10u << 10)); // ldrb w16, [x16, #0x10]
  EXPECT_EQ(word(2), 0x34000070u); // cbz w16 -> +12
  EXPECT_EQ(word(3), 0x580000b0u); // ldr x16, target literal
  EXPECT_EQ(word(5) >> 26, 0x05u); // b back: in reach, a direct branch
  EXPECT_EQ(support::endian::read64le(&bytes[32]), target);
  EXPECT_EQ(support::endian::read64le(&bytes[40]), back);
}

// Out of `b`'s reach, the way back into a BTI-guarded module lands on the
// instruction after the entry NOP, which is no landing pad: `br` there
// faults, `ret x16` is not checked.
TEST(AArch64Gate, GoesBackFarByRetNotBr) {
  uint64_t gate = 0x40000000, commit = 0x40002010, back = 0x401008,
           target = 0x40000400;
  auto bytes = cantFail(arm().encodeGate(gate, commit, back, target));
  auto word = [&](size_t i) { return support::endian::read32le(&bytes[4 * i]); };
  EXPECT_EQ(word(4), 0xd61f0200u); // br x16: on to the (unguarded) new code
  EXPECT_EQ(word(5), 0x580000b0u); // ldr x16, the back literal
  EXPECT_EQ(word(6), 0xd65f0200u); // ret x16
  EXPECT_EQ(support::endian::read64le(&bytes[40]), back);
}

// A gate on an innermost frame needs proof that the word is its return
// address: the bytes before it are a direct call into the function.
TEST(ReturnGateProof, DirectCallIntoTheFunction) {
  // x86_64: e8 rel32, counted from the return address.
  const uint64_t ret = 0x401005, fn = 0x402000;
  uint8_t call[8] = {0x90, 0x90, 0x90, 0xe8};
  support::endian::write32le(call + 4, uint32_t(fn - ret));
  EXPECT_TRUE(x86().directCallInto(call, ret, fn - 16, fn + 64));
  EXPECT_FALSE(x86().directCallInto(call, ret, fn + 64, fn + 128)); // elsewhere
  call[3] = 0xe9; // jmp rel32: no return address
  EXPECT_FALSE(x86().directCallInto(call, ret, fn - 16, fn + 64));
  // aarch64: bl imm26, counted from the bl itself, forward and back.
  const uint64_t armRet = 0x401004;
  uint8_t bl[8] = {};
  support::endian::write32le(bl + 4, 0x94000000 | uint32_t(((fn - (armRet - 4)) >> 2) & 0x03ffffff));
  EXPECT_TRUE(arm().directCallInto(bl, armRet, fn, fn + 64));
  const uint64_t below = 0x400000;
  support::endian::write32le(bl + 4,
                             0x94000000 | uint32_t(((below - (armRet - 4)) >> 2) & 0x03ffffff));
  EXPECT_TRUE(arm().directCallInto(bl, armRet, below, below + 64));
  support::endian::write32le(bl + 4, 0xd63f0200); // blr x16: the target is not known
  EXPECT_FALSE(arm().directCallInto(bl, armRet, below, below + 64));
}

TEST(ArchFactory, RefusesOtherMachines) {
  Expected<const Arch &> a = getArch(ELF::EM_RISCV);
  ASSERT_FALSE(bool(a));
  EXPECT_NE(toString(a.takeError()).find("not supported"), std::string::npos);
}

} // namespace
