//===- runtime/arch/x86_64.cpp - x86_64 --------------------------------------===//
//
// x86_64 for patching. Instructions have any length and alignment, so the
// prologue gives 14 bytes of NOPs before the entry (16-byte aligned) and a
// 2-byte NOP at it: one aligned 2-byte store turns `66 90` into `eb f0`
// (jmp -16, back into the padding) atomically for every thread. With CET
// the entry is `endbr64` and the NOP follows at +4 (then `eb ec`).
//
// Code reaches data and other code PC-relatively within +-2 GiB (PC32,
// PLT32), so a patch is placed near its module; anything farther, and every
// function of another library, is reached through an 8-byte slot: GOT loads
// become PC32 references to the slot, calls go through a stub `jmp *slot`.
//
//===----------------------------------------------------------------------===//

#include "../arch.h"

#include "llvm/BinaryFormat/ELF.h"
#include "llvm/Support/FormatVariadic.h"

using namespace llvm;

namespace hotpatch {
namespace {

constexpr uint8_t nop1 = 0x90;
constexpr uint8_t entryNop[] = {0x66, 0x90};            // xchg %ax,%ax
constexpr uint8_t endbr64[] = {0xf3, 0x0f, 0x1e, 0xfa}; // endbr64

class X86_64 final : public Arch {
public:
  uint16_t eMachine() const override { return ELF::EM_X86_64; }
  StringRef name() const override { return "x86_64"; }
  PrologueBytes prologue() const override { return {14, 2}; }

  Expected<unsigned> patchSiteOffset(ArrayRef<uint8_t> bytes) const override {
    if (bytes.size() < 14 + 2)
      return createStringError(std::errc::invalid_argument,
                               "too short for the prologue (%zu bytes)",
                               bytes.size());
    for (unsigned i = 0; i < 14; ++i)
      if (bytes[i] != nop1)
        return createStringError(
            std::errc::invalid_argument,
            "byte %u of the 14 before the entry is 0x%02x, not a NOP", i,
            unsigned(bytes[i]));
    ArrayRef<uint8_t> entry = bytes.drop_front(14);
    if (entry.take_front(2).equals(entryNop))
      return 0;
    if (entry.size() >= 6 && entry.take_front(4).equals(endbr64) &&
        entry.drop_front(4).take_front(2).equals(entryNop))
      return 4;
    return createStringError(
        std::errc::invalid_argument,
        "the entry starts %02x %02x, not the 2-byte NOP (66 90) or endbr64 "
        "and the NOP", entry[0], entry[1]);
  }

  RelocKind classify(uint32_t type) const override {
    switch (type) {
    case ELF::R_X86_64_NONE:
      return RelocKind::None;
    case ELF::R_X86_64_64:
    case ELF::R_X86_64_32:
    case ELF::R_X86_64_32S:
      return RelocKind::Absolute;
    case ELF::R_X86_64_PC32:
    case ELF::R_X86_64_PC64:
      return RelocKind::PCRel;
    case ELF::R_X86_64_PLT32:
      return RelocKind::Call;
    case ELF::R_X86_64_GOTPCREL:
    case ELF::R_X86_64_GOTPCRELX:
    case ELF::R_X86_64_REX_GOTPCRELX:
      return RelocKind::GotLoad;
    case ELF::R_X86_64_TLSGD:
    case ELF::R_X86_64_TLSLD:
    case ELF::R_X86_64_DTPOFF32:
    case ELF::R_X86_64_DTPOFF64:
    case ELF::R_X86_64_GOTTPOFF:
    case ELF::R_X86_64_TPOFF32:
    case ELF::R_X86_64_TPOFF64:
    case ELF::R_X86_64_GOTPC32_TLSDESC:
    case ELF::R_X86_64_TLSDESC_CALL:
      return RelocKind::ThreadLocal;
    default:
      return RelocKind::Unsupported;
    }
  }

  // `mov sym@GOTPCREL(%rip), %reg` reads 8 bytes at the slot: the same
  // instruction with a plain PC32 to the slot does exactly that.
  uint32_t slotAccessType(uint32_t) const override { return ELF::R_X86_64_PC32; }
  uint32_t slotFillType() const override { return ELF::R_X86_64_64; }
  uint32_t callType(uint32_t) const override { return ELF::R_X86_64_PLT32; }

  SmallVector<uint8_t, 16>
  stubCode(SmallVectorImpl<StubReloc> &relocs) const override {
    // The PC32 is relative to the end of the 6-byte instruction: -4 from
    // the field at +2.
    relocs.push_back({/*offset=*/2, ELF::R_X86_64_PC32, /*addend=*/-4});
    return {0xff, 0x25, 0, 0, 0, 0, // jmp *slot(%rip)
            0xcc, 0xcc};            // int3; int3 (pads the stub to 8 bytes)
  }
  uint8_t fillByte() const override { return 0xcc; } // int3
};

} // namespace

const Arch &x86_64Arch() {
  static const X86_64 arch;
  return arch;
}

} // namespace hotpatch
