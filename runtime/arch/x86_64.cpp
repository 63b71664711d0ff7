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
#include "llvm/Support/Endian.h"
#include "llvm/Support/FormatVariadic.h"

#include <optional>

// hp-diff block: LLVM's disassembler measures instructions.
#ifndef HOTPATCH_NO_DISASSEMBLER // (hp-apply alone, static: no MC, no X86 target)
#include "llvm/MC/MCAsmInfo.h"
#include "llvm/MC/MCContext.h"
#include "llvm/MC/MCDisassembler/MCDisassembler.h"
#include "llvm/MC/MCInst.h"
#include "llvm/MC/MCRegisterInfo.h"
#include "llvm/MC/MCSubtargetInfo.h"
#include "llvm/MC/MCTargetOptions.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/TargetParser/Triple.h"
#endif

#include <map>
#include <mutex>

using namespace llvm;

namespace hotpatch {
namespace {

constexpr uint8_t nop1 = 0x90;
constexpr unsigned padBytes = x86_64Prologue.padBefore; // one-byte NOPs
static_assert(padBytes >= 6 + 8, "the far jump (jmp *0(%rip), then its "
                                 "8-byte target) must fit the padding");
constexpr uint8_t entryNop[] = {0x66, 0x90};            // xchg %ax,%ax
constexpr uint8_t endbr64[] = {0xf3, 0x0f, 0x1e, 0xfa}; // endbr64

class X86_64 final : public Arch {
public:
  uint16_t eMachine() const override { return ELF::EM_X86_64; }
  StringRef name() const override { return "x86_64"; }
  const PrologueShape &prologue() const override { return x86_64Prologue; }

  Expected<unsigned> patchSiteOffset(ArrayRef<uint8_t> bytes) const override {
    if (bytes.size() < padBytes + sizeof(entryNop))
      return createStringError(std::errc::invalid_argument,
                               "too short for the prologue (%zu bytes)",
                               bytes.size());
    for (unsigned i = 0; i < padBytes; ++i)
      if (bytes[i] != nop1)
        return createStringError(
            std::errc::invalid_argument,
            "byte %u of the %u before the entry is 0x%02x, not a NOP", i,
            padBytes, unsigned(bytes[i]));
    ArrayRef<uint8_t> entry = bytes.drop_front(padBytes);
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
    case ELF::R_X86_64_DTPMOD64:
      return RelocKind::ThreadLocal;
    default:
      return RelocKind::Unsupported;
    }
  }

  // The sequences (the x86-64 psABI's TLS chapter):
  //   local exec   mov %fs:x@tpoff, %eax                        TPOFF32
  //   initial exec mov x@gottpoff(%rip), %rax; mov %fs:(%rax)   GOTTPOFF
  //   general dyn. lea x@tlsgd(%rip), %rdi; call __tls_get_addr TLSGD
  //   local dyn.   lea x@tlsld(%rip), %rdi; call __tls_get_addr;
  //                lea x@dtpoff(%rax)                           TLSLD, DTPOFF32
  //   descriptors  lea x@tlsdesc(%rip), %rax; call *x@tlscall(%rax);
  //                mov %fs:(%rax)                GOTPC32_TLSDESC, TLSDESC_CALL
  // Every GOT-relative one is a PC32 to a GOT entry: to the patch's own.
  std::optional<TlsAccess> tlsAccess(uint32_t type) const override {
    switch (type) {
    case ELF::R_X86_64_TPOFF32:
    case ELF::R_X86_64_TPOFF64:
      return TlsAccess{TlsUse::TpOffset, type};
    case ELF::R_X86_64_DTPOFF32:
    case ELF::R_X86_64_DTPOFF64:
      return TlsAccess{TlsUse::DtpOffset, type};
    case ELF::R_X86_64_GOTTPOFF:
      return TlsAccess{TlsUse::GotTpOffset, ELF::R_X86_64_PC32};
    case ELF::R_X86_64_TLSGD:
      return TlsAccess{TlsUse::GotIndex, ELF::R_X86_64_PC32};
    case ELF::R_X86_64_TLSLD:
      return TlsAccess{TlsUse::GotModule, ELF::R_X86_64_PC32};
    case ELF::R_X86_64_GOTPC32_TLSDESC:
      return TlsAccess{TlsUse::Descriptor, ELF::R_X86_64_PC32};
    case ELF::R_X86_64_TLSDESC_CALL:
      return TlsAccess{TlsUse::Marker, type};
    default:
      return std::nullopt;
    }
  }
  uint32_t tlsFillType(TlsFill fill) const override {
    switch (fill) {
    case TlsFill::TpOffset:
      return ELF::R_X86_64_TPOFF64;
    case TlsFill::DtpOffset:
      return ELF::R_X86_64_DTPOFF64;
    case TlsFill::ModuleId:
      return ELF::R_X86_64_DTPMOD64;
    case TlsFill::Descriptor:
      return ELF::R_X86_64_TLSDESC;
    }
    llvm_unreachable("every TlsFill");
  }
  std::optional<TlsValue> tlsValue(uint32_t type) const override {
    switch (type) {
    case ELF::R_X86_64_TPOFF32:
    case ELF::R_X86_64_TPOFF64:
      return TlsValue::TpOffset;
    case ELF::R_X86_64_DTPOFF32:
    case ELF::R_X86_64_DTPOFF64:
      return TlsValue::DtpOffset;
    case ELF::R_X86_64_DTPMOD64:
      return TlsValue::ModuleId;
    default:
      return std::nullopt;
    }
  }
  // A descriptor function is called with %rax = the descriptor and returns
  // the TP offset in %rax, every other register kept.
  static constexpr uint8_t tlsDescReturn[] = {
      0x48, 0x8b, 0x40, 0x08, // mov 8(%rax), %rax  ; the descriptor's argument
      0xc3,                   // ret
  };
  SmallVector<uint8_t, 16> tlsDescReturnCode() const override {
    SmallVector<uint8_t, 16> code(std::begin(endbr64), std::end(endbr64));
    code.append(std::begin(tlsDescReturn), std::end(tlsDescReturn));
    code.resize(16, 0xcc); // int3
    return code;
  }
  bool isTlsDescReturn(ArrayRef<uint8_t> code) const override {
    if (code.take_front(4).equals(endbr64))
      code = code.drop_front(4);
    return code.take_front(sizeof(tlsDescReturn)).equals(tlsDescReturn);
  }
  // Variant II: the block ends at the thread pointer, its start aligned as
  // the segment's address is (so that p_vaddr's alignment holds in it).
  int64_t execTlsBlockOffset(uint64_t vaddr, uint64_t memsz,
                             uint64_t align) const override {
    align = std::max<uint64_t>(align, 1);
    return -int64_t(memsz + ((-vaddr - memsz) & (align - 1)));
  }

  std::pair<unsigned, unsigned> relocExtent(uint32_t type) const override {
    switch (type) {
    case ELF::R_X86_64_64:
    case ELF::R_X86_64_PC64:
    case ELF::R_X86_64_DTPOFF64:
    case ELF::R_X86_64_TPOFF64:
    case ELF::R_X86_64_DTPMOD64:
      return {0, 8};
    case ELF::R_X86_64_GOTPCRELX:
    case ELF::R_X86_64_REX_GOTPCRELX:
    case ELF::R_X86_64_GOTTPOFF:
    case ELF::R_X86_64_TLSGD:
    case ELF::R_X86_64_TLSLD:
      // Relaxation rewrites the opcode (mov -> lea, call * -> addr32 call)
      // and, for TLS, the instructions around the field.
      return {4, 12};
    default:
      return {0, 4};
    }
  }

  StringRef triple() const override { return "x86_64-linux-gnu"; }

  Error asCompiled(uint32_t type, MutableArrayRef<uint8_t> code,
                   uint64_t offset) const override {
    unsigned size = relocExtent(type).second == 8 ? 8 : 4;
    if (type == ELF::R_X86_64_NONE)
      return Error::success();
    if (offset + size > code.size())
      return createStringError(std::errc::invalid_argument,
                               "relocation at +0x%llx runs past its function",
                               (unsigned long long)offset);
    uint8_t *loc = code.data() + offset;
    if ((type == ELF::R_X86_64_GOTPCRELX || type == ELF::R_X86_64_REX_GOTPCRELX) &&
        offset >= 2) {
      // What the linker makes of `op foo@GOTPCREL(%rip)` when foo is in
      // the module (lld keeps the relocation type; GNU ld changes it, and
      // then there is nothing to undo).
      switch (loc[-2]) {
      case 0x8b: // mov: not relaxed
      case 0xff: // call *, jmp *: not relaxed
        break;
      case 0x8d: // lea foo(%rip), %reg  <-  mov foo@GOTPCREL(%rip), %reg
        loc[-2] = 0x8b;
        break;
      case 0x67: // addr32 call foo  <-  call *foo@GOTPCREL(%rip)
        if (loc[-1] != 0xe8)
          return relaxedError(offset);
        loc[-2] = 0xff;
        loc[-1] = 0x15;
        break;
      case 0xe9: // jmp foo; nop  <-  jmp *foo@GOTPCREL(%rip)
        loc[-2] = 0xff;
        loc[-1] = 0x25;
        break;
      default: // mov $foo, test $foo, op $foo: non-PIC, into immediates
        return relaxedError(offset);
      }
    }
    std::fill(loc, loc + size, 0);
    return Error::success();
  }

  static Error relaxedError(uint64_t offset) {
    return createStringError(
        std::errc::not_supported,
        "the linker rewrote the GOT load at +0x%llx into an immediate operand, "
        "which cannot be undone; link with -Wl,--no-relax",
        (unsigned long long)offset);
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

  Error applyReloc(uint32_t type, uint8_t *loc, uint64_t place, uint64_t sym,
                   int64_t addend) const override {
    using namespace support::endian;
    uint64_t value = sym + addend;
    switch (type) {
    case ELF::R_X86_64_64:
      write64le(loc, value);
      return Error::success();
    case ELF::R_X86_64_PC64:
      write64le(loc, value - place);
      return Error::success();
    case ELF::R_X86_64_PC32:
    case ELF::R_X86_64_PLT32: {
      int64_t rel = int64_t(value - place);
      if (rel != int64_t(int32_t(rel)))
        return createStringError(std::errc::result_out_of_range,
                                 "%s: target is %lld bytes away, beyond +-2 GiB",
                                 relocName(type).c_str(), (long long)rel);
      write32le(loc, uint32_t(rel));
      return Error::success();
    }
    case ELF::R_X86_64_32:
      if (value > UINT32_MAX)
        return createStringError(std::errc::result_out_of_range,
                                 "R_X86_64_32: 0x%llx does not fit 32 bits",
                                 (unsigned long long)value);
      write32le(loc, uint32_t(value));
      return Error::success();
    case ELF::R_X86_64_32S:
    case ELF::R_X86_64_TPOFF32:  // sym: the TP offset of the variable
    case ELF::R_X86_64_DTPOFF32: // sym: its offset in its module's block
      if (int64_t(value) != int64_t(int32_t(value)))
        return createStringError(std::errc::result_out_of_range,
                                 "%s: 0x%llx does not fit 32 bits",
                                 relocName(type).c_str(),
                                 (unsigned long long)value);
      write32le(loc, uint32_t(value));
      return Error::success();
    case ELF::R_X86_64_TPOFF64:
    case ELF::R_X86_64_DTPOFF64:
    case ELF::R_X86_64_DTPMOD64: // sym: the module id, addend 0
      write64le(loc, value);
      return Error::success();
    default:
      return createStringError(std::errc::not_supported,
                               "%s is not a relocation a patch may hold",
                               relocName(type).c_str());
    }
  }

  Redirect encodeRedirect(uint64_t entryAddr, unsigned siteOffset,
                          uint64_t target) const override {
    Redirect r;
    uint64_t padAddr = entryAddr - padBytes;
    int64_t rel = int64_t(target - (padAddr + 5));
    if (rel == int64_t(int32_t(rel))) {
      r.pad = {0xe9, 0, 0, 0, 0}; // jmp rel32, then the NOPs stay
      support::endian::write32le(r.pad.data() + 1, uint32_t(rel));
      r.pad.append(padBytes - 5, nop1);
    } else {
      r.pad = {0xff, 0x25, 0, 0, 0, 0}; // jmp *0(%rip): the 8 bytes after it
      r.pad.append(8, 0);
      support::endian::write64le(r.pad.data() + 6, target);
    }
    // `jmp rel8` counts from its own end: entry+site+2 back to the padding.
    r.site = {0xeb, uint8_t(-int(padBytes + siteOffset + 2))};
    return r;
  }

  Expected<SmallVector<uint8_t, 64>> encodeGate(uint64_t gate, uint64_t commit,
                                                uint64_t back,
                                                uint64_t target) const override {
    auto rel = [](uint64_t to, uint64_t from) -> std::optional<uint32_t> {
      int64_t d = int64_t(to - from);
      if (d != int64_t(int32_t(d)))
        return std::nullopt;
      return uint32_t(d);
    };
    // cmpb $0, commit(%rip); je back; jmp target
    auto c = rel(commit, gate + 7), b = rel(back, gate + 13), t = rel(target, gate + 18);
    if (!c || !b || !t)
      return createStringError(std::errc::result_out_of_range,
                               "gate at %llx: an address is out of rel32 reach",
                               (unsigned long long)gate);
    SmallVector<uint8_t, 64> out = {0x80, 0x3d, 0, 0, 0, 0, 0x00, // cmpb
                                    0x0f, 0x84, 0, 0, 0, 0,       // je
                                    0xe9, 0, 0, 0, 0};            // jmp
    support::endian::write32le(out.data() + 2, *c);
    support::endian::write32le(out.data() + 9, *b);
    support::endian::write32le(out.data() + 14, *t);
    out.resize(gateSize(), 0xcc);
    return out;
  }
  unsigned gateSize() const override { return 32; }

  ReturnGateShape returnGateShape() const override {
    // The call pushed the return address just below the caller's stack.
    // r11 names the gate's data; `syscall` overwrites it (with the flags),
    // so the common code pushes it first and pops it at 50.
    return {/*entry=*/1, /*spDwarf=*/7, /*raDwarf=*/16, /*dataAlign=*/-8,
            /*pushedAt=*/-8, /*scratchDwarf=*/11, /*spilledFrom=*/46,
            /*spilledTo=*/50};
  }
  bool directCallInto(ArrayRef<uint8_t> before, uint64_t returnAddr, uint64_t lo,
                      uint64_t hi) const override {
    if (before.size() < 5 || before[before.size() - 5] != 0xe8) // call rel32
      return false;
    int32_t rel = int32_t(support::endian::read32le(before.take_back(4).data()));
    uint64_t to = returnAddr + int64_t(rel);
    return to >= lo && to < hi;
  }
  // Both are written next to their data (one page apart): rel32 reaches.
  static uint32_t rel32(uint64_t to, uint64_t from) { return uint32_t(to - from); }
  SmallVector<uint8_t, 32> encodeReturnGate(uint64_t slot, uint64_t data,
                                            uint64_t common) const override {
    SmallVector<uint8_t, 32> out = {
        0x90,                                 // nop (the slot's byte before the entry)
        0xc6, 0x05, 0, 0, 0, 0, 0x01,         // movb $1, data+8(%rip): fired
        0x4c, 0x8d, 0x1d, 0, 0, 0, 0,         // lea data(%rip), %r11
        0xe9, 0, 0, 0, 0};                    // jmp common
    support::endian::write32le(out.data() + 3, rel32(data + 8, slot + 8));
    support::endian::write32le(out.data() + 11, rel32(data, slot + 15));
    support::endian::write32le(out.data() + 16, rel32(common, slot + 20));
    out.resize(32, 0xcc);
    return out;
  }
  SmallVector<uint8_t, 128> encodeReturnGateCommon(uint64_t at, uint64_t hold,
                                                   uint64_t timeout) const override {
    // At a return, rax and rdx may hold the result; rcx, rsi, rdi and
    // r8-r11 are dead (caller-saved), and so are the flags. Below the stack
    // pointer is free (a signal frame could land there as well).
    SmallVector<uint8_t, 128> out = {
        0x83, 0x3d, 0, 0, 0, 0, 0x00, // cmpl $0, hold(%rip)
        0x74, 47,                     // je out
        0x49, 0x89, 0xc0,             // mov %rax, %r8
        0x49, 0x89, 0xd1,             // mov %rdx, %r9
        0xb8, 202, 0, 0, 0,           // mov $SYS_futex, %eax
        0x48, 0x8d, 0x3d, 0, 0, 0, 0, // lea hold(%rip), %rdi
        0xbe, 0x80, 0, 0, 0,          // mov $FUTEX_WAIT_PRIVATE, %esi
        0xba, 1, 0, 0, 0,             // mov $1, %edx
        0x4c, 0x8d, 0x15, 0, 0, 0, 0, // lea timeout(%rip), %r10
        0x41, 0x53,                   // push %r11 (syscall clobbers it)
        0x0f, 0x05,                   // syscall
        0x41, 0x5b,                   // pop %r11
        0x4c, 0x89, 0xc0,             // mov %r8, %rax
        0x4c, 0x89, 0xca,             // mov %r9, %rdx
        0x41, 0xff, 0x23,             // out: jmp *(%r11): the caller
    };
    support::endian::write32le(out.data() + 2, rel32(hold, at + 7));
    support::endian::write32le(out.data() + 23, rel32(hold, at + 27));
    support::endian::write32le(out.data() + 40, rel32(timeout, at + 44));
    return out;
  }

  // 4-level paging: 47 bits. (With 5 levels the kernel maps above only
  // when asked to.)
  uint64_t userAddressEnd() const override { return 1ull << 47; }
  uint64_t sysMmap() const override { return 9; }
  uint64_t sysMunmap() const override { return 11; }
  uint64_t sysMemfdCreate() const override { return 319; }
  uint64_t sysClose() const override { return 3; }
  uint64_t sysFutex() const override { return 202; }

  // === hp-diff: reading linked code (the reader is below the class) ===
  // A 4-byte PC-relative field counts from its instruction's end: right
  // after it, or after a 1-, 2- or 4-byte immediate that follows it.
  std::pair<unsigned, unsigned> pcRelFieldReach() const override {
    return {4, 8};
  }
  Expected<std::unique_ptr<CodeReader>> makeCodeReader() const override;
  // === end hp-diff block ===
};

// === hp-diff: reading linked code =====================================
#ifdef HOTPATCH_NO_DISASSEMBLER
Expected<std::unique_ptr<Arch::CodeReader>> X86_64::makeCodeReader() const {
  return createStringError(std::errc::not_supported,
                           "this build has no x86_64 disassembler (hp-apply only)");
}
#else
// Instructions have any length, so the end of the one holding a field is
// found by decoding its function from the start, with LLVM's disassembler.
class X86CodeReader final : public Arch::CodeReader {
public:
  static Expected<std::unique_ptr<X86CodeReader>> create(StringRef tripleName) {
    static std::once_flag once; // two binaries may be read at once
    std::call_once(once, [] {
      LLVMInitializeX86TargetInfo();
      LLVMInitializeX86TargetMC();
      LLVMInitializeX86Disassembler();
    });
    auto me = std::make_unique<X86CodeReader>();
    Triple triple(tripleName);
    std::string error;
    const Target *target = TargetRegistry::lookupTarget(tripleName.str(), error);
    if (!target)
      return createStringError(std::errc::not_supported, "%s", error.c_str());
    me->regs.reset(target->createMCRegInfo(tripleName));
    MCTargetOptions options;
    me->asmInfo.reset(target->createMCAsmInfo(*me->regs, tripleName, options));
    me->subtarget.reset(target->createMCSubtargetInfo(tripleName, "", ""));
    if (!me->regs || !me->asmInfo || !me->subtarget)
      return createStringError(std::errc::not_supported,
                               "no disassembler for %s", tripleName.str().c_str());
    me->context = std::make_unique<MCContext>(triple, me->asmInfo.get(),
                                              me->regs.get(), me->subtarget.get());
    me->disassembler.reset(target->createMCDisassembler(*me->subtarget, *me->context));
    if (!me->disassembler)
      return createStringError(std::errc::not_supported,
                               "no disassembler for %s", tripleName.str().c_str());
    return me;
  }

  Expected<unsigned> fieldReach(ArrayRef<uint8_t> code, uint64_t codeAddr,
                                uint64_t fieldOffset) override {
    const std::vector<uint32_t> *ends = endsOf(codeAddr, code);
    if (!ends)
      return createStringError(std::errc::illegal_byte_sequence,
                               "the disassembler cannot decode this code, so "
                               "the address its relocations mean is unknown");
    auto it = llvm::upper_bound(*ends, uint32_t(fieldOffset));
    if (it == ends->end())
      return createStringError(std::errc::invalid_argument,
                               "relocation past the last instruction");
    return unsigned(*it - fieldOffset);
  }

private:
  /// Instruction ends of \p code, cached by its address; null when some
  /// of it does not decode.
  const std::vector<uint32_t> *endsOf(uint64_t codeAddr, ArrayRef<uint8_t> code) {
    auto [it, inserted] = cache.try_emplace(codeAddr);
    if (!inserted)
      return it->second.empty() && !code.empty() ? nullptr : &it->second;
    std::vector<uint32_t> &out = it->second;
    for (uint64_t pc = 0; pc < code.size();) {
      MCInst inst;
      uint64_t size = 0;
      if (disassembler->getInstruction(inst, size, code.slice(pc), codeAddr + pc,
                                       nulls()) != MCDisassembler::Success ||
          size == 0) {
        out.clear();
        return nullptr;
      }
      pc += size;
      out.push_back(pc);
    }
    return &out;
  }

  std::unique_ptr<MCRegisterInfo> regs;
  std::unique_ptr<MCAsmInfo> asmInfo;
  std::unique_ptr<MCSubtargetInfo> subtarget;
  std::unique_ptr<MCContext> context;
  std::unique_ptr<MCDisassembler> disassembler;
  std::map<uint64_t, std::vector<uint32_t>> cache;
};

Expected<std::unique_ptr<Arch::CodeReader>> X86_64::makeCodeReader() const {
  Expected<std::unique_ptr<X86CodeReader>> reader = X86CodeReader::create(triple());
  if (!reader)
    return reader.takeError();
  return std::unique_ptr<CodeReader>(std::move(*reader));
}
#endif
// === end hp-diff block ================================================

} // namespace

const Arch &x86_64Arch() {
  static const X86_64 arch;
  return arch;
}

} // namespace hotpatch

// Register access exists only where the host is x86_64.
#if defined(__x86_64__)
#include <cerrno>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <unistd.h>
#include <sys/wait.h>
#include <ctime>

namespace hotpatch {

namespace {
using WriteFn = function_ref<Error(uint64_t, ArrayRef<uint8_t>)>;

uint64_t nowNs() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return uint64_t(t.tv_sec) * 1000000000ull + t.tv_nsec;
}

Error sysErr(int tid, const char *what) {
  return createStringError(std::error_code(errno, std::generic_category()),
                           "thread %d: %s", tid, what);
}

/// Code that puts back registers \p regs as the kernel would on resuming
/// the thread (a system call it was stopped in starts again) and jumps on.
/// Every injected sequence ends with it: a thread whose tracer dies in the
/// middle carries on as if nothing had happened, rather than running on
/// with our registers or taking a SIGTRAP nobody catches.
/// \p saved as the kernel would resume it: a system call the thread was
/// stopped in is set to run again (what the kernel does on its way back to
/// user mode from a signal stop, but not from the system-call stop our
/// injected code ends in; the thread would see -ERESTARTSYS).
user_regs_struct restarted(const user_regs_struct &saved) {
  user_regs_struct r = saved;
  if (int64_t(r.orig_rax) >= 0) {
    switch (int64_t(r.rax)) {
    case -512: // ERESTARTSYS
    case -513: // ERESTARTNOINTR
    case -514: // ERESTARTNOHAND
      r.rax = r.orig_rax;
      r.rip -= 2;
      break;
    case -516: // ERESTART_RESTARTBLOCK
      r.rax = 219; // restart_syscall
      r.rip -= 2;
      break;
    }
  }
  r.orig_rax = ~0ull; // done: no restart logic on the way out
  return r;
}

SmallVector<uint8_t, 256> resumeCode(const user_regs_struct &saved) {
  user_regs_struct r = restarted(saved);
  SmallVector<uint8_t, 256> c;
  auto imm64 = [&](uint8_t rex, uint8_t op, uint64_t v) {
    c.append({rex, op});
    for (int i = 0; i < 8; ++i)
      c.push_back(uint8_t(v >> (8 * i)));
  };
  // Below the red zone: rflags through the stack.
  c.append({0x48, 0x8d, 0xa4, 0x24, 0x00, 0xff, 0xff, 0xff}); // lea -256(%rsp),%rsp
  c.push_back(0x68);                                         // push $flags
  for (int i = 0; i < 4; ++i)
    c.push_back(uint8_t(r.eflags >> (8 * i)));
  c.push_back(0x9d); // popfq
  imm64(0x48, 0xb8, r.rax);
  imm64(0x48, 0xb9, r.rcx);
  imm64(0x48, 0xba, r.rdx);
  imm64(0x48, 0xbb, r.rbx);
  imm64(0x48, 0xbd, r.rbp);
  imm64(0x48, 0xbe, r.rsi);
  imm64(0x48, 0xbf, r.rdi);
  imm64(0x49, 0xb8, r.r8);
  imm64(0x49, 0xb9, r.r9);
  imm64(0x49, 0xba, r.r10);
  imm64(0x49, 0xbb, r.r11);
  imm64(0x49, 0xbc, r.r12);
  imm64(0x49, 0xbd, r.r13);
  imm64(0x49, 0xbe, r.r14);
  imm64(0x49, 0xbf, r.r15);
  imm64(0x48, 0xbc, r.rsp);
  c.append({0xff, 0x25, 0, 0, 0, 0}); // jmp *0(%rip)
  for (int i = 0; i < 8; ++i)
    c.push_back(uint8_t(r.rip >> (8 * i)));
  return c;
}

/// Runs \p tid (stopped, registers set) with PTRACE_SYSCALL until a
/// system-call stop at \p rip (after the `syscall` instruction there), and
/// returns its registers; \p entry: the entry stop, else the exit stop.
/// System calls made on the way are let through. A signal that stops the
/// thread meanwhile is not delivered into the injected code but queued
/// again (tkill) once we are done, so the program still receives it.
Expected<user_regs_struct> runToSyscallStop(int tid, uint64_t rip, bool entry,
                                            SmallVectorImpl<int> &requeue,
                                            uint64_t patienceNs = 0) {
  if (ptrace(PTRACE_SYSCALL, tid, nullptr, nullptr) != 0)
    return sysErr(tid, "cannot resume the injected code");
  // System-call stops come in pairs, entry then exit; we resume the
  // thread at an entry's turn (from an exit stop or a non-syscall stop).
  bool atEntry = entry ? false : true; // flipped at each stop, below
  int64_t blockedIn = -1; // the system call the thread entered and is in
  uint64_t deadline = patienceNs ? nowNs() + patienceNs : 0;
  for (;;) {
    int status = 0;
    int got = waitpid(tid, &status, __WALL | (deadline ? WNOHANG : 0));
    if (got < 0) {
      if (errno == EINTR)
        continue;
      return sysErr(tid, "wait failed");
    }
    if (got == 0) { // still running, or blocked
      if (nowNs() < deadline || blockedIn != SYS_futex) {
        usleep(100);
        continue;
      }
      // Waiting for a lock all this time: the call has changed nothing
      // yet that a lock protects. Stop it there; the caller puts the
      // registers back, and the call never happened.
      // The interrupted wait reports a syscall-exit stop (PTRACE_SYSCALL
      // is in effect), else an interrupt stop: either way it is stopped.
      ptrace(PTRACE_INTERRUPT, tid, nullptr, nullptr);
      while (waitpid(tid, &status, __WALL) < 0)
        if (errno != EINTR)
          return sysErr(tid, "wait failed");
      if (!WIFSTOPPED(status))
        return createStringError(std::errc::no_such_process,
                                 "thread %d exited during injected code", tid);
      if (WSTOPSIG(status) != (SIGTRAP | 0x80) && unsigned(status) >> 16 == 0)
        requeue.push_back(WSTOPSIG(status));
      return make_error<InjectedCallStuck>(tid, patienceNs);
    }
    if (WIFEXITED(status) || WIFSIGNALED(status))
      return createStringError(std::errc::no_such_process,
                               "thread %d exited during injected code", tid);
    if (!WIFSTOPPED(status))
      continue;
    int sig = WSTOPSIG(status);
    if (sig == (SIGTRAP | 0x80)) {
      atEntry = !atEntry;
      user_regs_struct regs;
      if (ptrace(PTRACE_GETREGS, tid, nullptr, &regs) != 0)
        return sysErr(tid, "cannot read registers");
      if (regs.rip == rip && atEntry == entry)
        return regs;
      blockedIn = atEntry ? int64_t(regs.orig_rax) : -1;
    } else if (sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGTRAP) {
      return createStringError(std::errc::bad_address,
                               "thread %d: injected code faulted (signal %d)",
                               tid, sig);
    } else if (unsigned(status) >> 16 == 0) {
      requeue.push_back(sig); // a signal-delivery stop: keep it for later
    }
    if (ptrace(PTRACE_SYSCALL, tid, nullptr, nullptr) != 0)
      return sysErr(tid, "cannot resume the injected code");
  }
}
/// The end of every injection: the thread's registers (and x87/SSE state
/// when \p fp) go back, then the signals held meanwhile are queued again.
/// With a signal to hand back, the registers go back exactly, so that the
/// kernel applies the handler's restart rules (EINTR or restart) on the way
/// out, as it would have; without, the interrupted call is set to restart.
void putBack(int tid, const user_regs_struct &saved, const user_fpregs_struct *fp,
             ArrayRef<int> requeue) {
  user_regs_struct back = requeue.empty() ? restarted(saved) : saved;
  ptrace(PTRACE_SETREGS, tid, nullptr, &back);
  if (fp)
    ptrace(PTRACE_SETFPREGS, tid, nullptr, fp);
  for (int sig : requeue)
    syscall(SYS_tkill, tid, sig);
}
} // namespace

Expected<int64_t> injectSyscall(int tid, uint64_t cave, uint64_t nr,
                                ArrayRef<uint64_t> args, WriteFn write) {
  user_regs_struct saved, regs;
  if (ptrace(PTRACE_GETREGS, tid, nullptr, &saved) != 0)
    return sysErr(tid, "cannot read registers");
  // At the cave: `syscall`, then back to where the thread was.
  SmallVector<uint8_t, 256> code = {0x0f, 0x05};
  code.append(resumeCode(saved));
  if (Error err = write(cave, code))
    return std::move(err);
  regs = saved;
  // The kernel ABI: rax = number; rdi, rsi, rdx, r10, r8, r9 = arguments.
  // orig_rax = -1 so no syscall-restart logic touches our registers.
  unsigned long long *argRegs[] = {&regs.rdi, &regs.rsi, &regs.rdx,
                                   &regs.r10, &regs.r8,  &regs.r9};
  regs.rax = nr;
  regs.orig_rax = ~0ull;
  for (size_t i = 0; i < args.size() && i < 6; ++i)
    *argRegs[i] = args[i];
  regs.rip = cave;
  SmallVector<int, 2> requeue;
  auto finish = [&](auto result) -> decltype(result) {
    putBack(tid, saved, nullptr, requeue);
    return result;
  };
  if (ptrace(PTRACE_SETREGS, tid, nullptr, &regs) != 0)
    return sysErr(tid, "cannot set registers");
  Expected<user_regs_struct> entry = runToSyscallStop(tid, cave + 2, true, requeue);
  if (!entry)
    return finish(Expected<int64_t>(entry.takeError()));
  Expected<user_regs_struct> exit = runToSyscallStop(tid, cave + 2, false, requeue);
  if (!exit)
    return finish(Expected<int64_t>(exit.takeError()));
  return finish(Expected<int64_t>(int64_t(exit->rax)));
}

Expected<uint64_t> injectCall(int tid, uint64_t fnAddr, ArrayRef<uint64_t> args,
                              uint64_t cave, WriteFn write, uint64_t patienceNs) {
  user_regs_struct saved, regs;
  if (ptrace(PTRACE_GETREGS, tid, nullptr, &saved) != 0)
    return sysErr(tid, "cannot read registers");
  // The function returns to the cave, which hands us its result in a
  // harmless getpid() (rdi = rax) and then goes back to where the thread was.
  SmallVector<uint8_t, 256> code = {0x48, 0x89, 0xc7,             // mov %rax,%rdi
                                    0xb8, 39, 0, 0, 0,            // mov $39,%eax
                                    0x0f, 0x05};                  // syscall
  code.append(resumeCode(saved));
  if (Error err = write(cave, code))
    return std::move(err);
  regs = saved;
  unsigned long long *argRegs[] = {&regs.rdi, &regs.rsi, &regs.rdx,
                                   &regs.rcx, &regs.r8,  &regs.r9};
  for (size_t i = 0; i < args.size() && i < 6; ++i)
    *argRegs[i] = args[i];
  // Below the 128-byte red zone, 16-byte aligned at the call, then the
  // return address pushed as a `call` would.
  uint64_t sp = ((saved.rsp - 512) & ~0xfull) - 8;
  uint8_t ret[8];
  support::endian::write64le(ret, cave);
  if (Error err = write(sp, ret))
    return std::move(err);
  regs.rsp = sp;
  regs.rip = fnAddr;
  regs.orig_rax = ~0ull;
  regs.rax = 0;
  regs.eflags &= ~0x400ull; // DF clear at a call, as the ABI says
  // The x87/SSE state too: the thread may be stopped anywhere.
  user_fpregs_struct fp;
  bool haveFp = ptrace(PTRACE_GETFPREGS, tid, nullptr, &fp) == 0;
  SmallVector<int, 2> requeue;
  auto finish = [&](auto result) -> decltype(result) {
    putBack(tid, saved, haveFp ? &fp : nullptr, requeue);
    return result;
  };
  if (ptrace(PTRACE_SETREGS, tid, nullptr, &regs) != 0)
    return sysErr(tid, "cannot set registers");
  Expected<user_regs_struct> entry =
      runToSyscallStop(tid, cave + 10, true, requeue, patienceNs);
  if (!entry)
    return finish(Expected<uint64_t>(entry.takeError()));
  uint64_t result = entry->rdi;
  // Let the getpid() finish; then the registers go back.
  Expected<user_regs_struct> exit = runToSyscallStop(tid, cave + 10, false, requeue);
  if (!exit)
    return finish(Expected<uint64_t>(exit.takeError()));
  return finish(Expected<uint64_t>(result));
}

bool stoppedInSystemCall(int tid) {
  user_regs_struct regs;
  return ptrace(PTRACE_GETREGS, tid, nullptr, &regs) == 0 &&
         int64_t(regs.orig_rax) >= 0;
}

Error unwindRegisters(int tid, UnwindRegisters &out) {
  user_regs_struct regs;
  if (ptrace(PTRACE_GETREGS, tid, nullptr, &regs) != 0)
    return createStringError(std::error_code(errno, std::generic_category()),
                             "thread %d: cannot read registers", tid);
  // DWARF numbering (x86-64 psABI): rax rdx rcx rbx rsi rdi rbp rsp r8-r15.
  out.dwarf.assign({regs.rax, regs.rdx, regs.rcx, regs.rbx, regs.rsi, regs.rdi,
                    regs.rbp, regs.rsp, regs.r8, regs.r9, regs.r10, regs.r11,
                    regs.r12, regs.r13, regs.r14, regs.r15});
  out.pc = regs.rip;
  out.sp = regs.rsp;
  out.threadPointer = regs.fs_base;
  return Error::success();
}

} // namespace hotpatch
#endif
