//===- runtime/arch/aarch64.cpp - AArch64 -------------------------------------===//
//
// AArch64 for patching. Instructions are 4 aligned bytes, so the entry NOP
// becomes a branch in one store no thread sees half-done. `b` reaches
// +-128 MiB; farther code is reached from the padding through x16. With
// -mbranch-protection the entry starts with `bti c` (or `paciasp`, which is
// a landing pad too): the patch site is entry+4 and the pad stays.
//
// Data is reached page-relatively (adrp + lo12, +-4 GiB), calls by
// `bl` (CALL26, +-128 MiB). GOT loads (adrp :got: + ldr :got_lo12:) become
// the same adrp/ldr pair addressing the patch's own slot; calls leaving the
// module go through a stub that loads its slot into x16.
//
//===----------------------------------------------------------------------===//

#include "../arch.h"

#include "llvm/BinaryFormat/ELF.h"
#include "llvm/Support/Endian.h"
#include "llvm/Support/MathExtras.h"

using namespace llvm;

namespace hotpatch {
namespace {

constexpr uint32_t nop = 0xd503201f;
constexpr uint32_t landingPads[] = {
    0xd503245f, // bti c
    0xd50324df, // bti jc
    0xd503233f, // paciasp
    0xd503237f, // pacibsp
};

class AArch64 final : public Arch {
public:
  uint16_t eMachine() const override { return ELF::EM_AARCH64; }
  StringRef name() const override { return "aarch64"; }
  const PrologueShape &prologue() const override { return aarch64Prologue; }

  Expected<unsigned> patchSiteOffset(ArrayRef<uint8_t> bytes) const override {
    if (bytes.size() < 16 + 4)
      return createStringError(std::errc::invalid_argument,
                               "too short for the prologue (%zu bytes)",
                               bytes.size());
    auto word = [&](unsigned at) {
      return support::endian::read32le(bytes.data() + at);
    };
    for (unsigned at = 0; at < 16; at += 4)
      if (word(at) != nop)
        return createStringError(
            std::errc::invalid_argument,
            "instruction %u of the 4 before the entry is 0x%08x, not a NOP",
            at / 4, word(at));
    if (word(16) == nop)
      return 0;
    if (bytes.size() >= 24 && llvm::is_contained(landingPads, word(16)) &&
        word(20) == nop)
      return 4;
    return createStringError(
        std::errc::invalid_argument,
        "the entry starts 0x%08x, not a NOP or a landing pad and a NOP",
        word(16));
  }

  RelocKind classify(uint32_t type) const override {
    switch (type) {
    case ELF::R_AARCH64_NONE:
      return RelocKind::None;
    case ELF::R_AARCH64_ABS64:
    case ELF::R_AARCH64_ABS32:
    case ELF::R_AARCH64_MOVW_UABS_G0:
    case ELF::R_AARCH64_MOVW_UABS_G0_NC:
    case ELF::R_AARCH64_MOVW_UABS_G1:
    case ELF::R_AARCH64_MOVW_UABS_G1_NC:
    case ELF::R_AARCH64_MOVW_UABS_G2:
    case ELF::R_AARCH64_MOVW_UABS_G2_NC:
    case ELF::R_AARCH64_MOVW_UABS_G3:
      return RelocKind::Absolute;
    case ELF::R_AARCH64_PREL64:
    case ELF::R_AARCH64_PREL32:
    case ELF::R_AARCH64_ADR_PREL_LO21:
    case ELF::R_AARCH64_ADR_PREL_PG_HI21:
    case ELF::R_AARCH64_ADR_PREL_PG_HI21_NC:
    case ELF::R_AARCH64_ADD_ABS_LO12_NC:
    case ELF::R_AARCH64_LDST8_ABS_LO12_NC:
    case ELF::R_AARCH64_LDST16_ABS_LO12_NC:
    case ELF::R_AARCH64_LDST32_ABS_LO12_NC:
    case ELF::R_AARCH64_LDST64_ABS_LO12_NC:
    case ELF::R_AARCH64_LDST128_ABS_LO12_NC:
    case ELF::R_AARCH64_LD_PREL_LO19:
    case ELF::R_AARCH64_CONDBR19:
    case ELF::R_AARCH64_TSTBR14:
      return RelocKind::PCRel;
    case ELF::R_AARCH64_CALL26:
    case ELF::R_AARCH64_JUMP26:
      return RelocKind::Call;
    case ELF::R_AARCH64_ADR_GOT_PAGE:
    case ELF::R_AARCH64_LD64_GOT_LO12_NC:
      return RelocKind::GotLoad;
    default:
      if ((type >= ELF::R_AARCH64_TLSGD_ADR_PREL21 &&
           type <= ELF::R_AARCH64_TLSLD_LDST128_DTPREL_LO12_NC) ||
          (type >= ELF::R_AARCH64_TLS_DTPMOD64 && type <= ELF::R_AARCH64_TLSDESC))
        return RelocKind::ThreadLocal;
      return RelocKind::Unsupported;
    }
  }

  // The sequences (AArch64 ELF ABI, "Thread-local storage"), variant I:
  //   local exec   add x0, tp, :tprel_hi12:x; add x0, x0, :tprel_lo12_nc:x
  //   initial exec adrp x0, :gottprel:x; ldr x0, [x0, :gottprel_lo12:x]
  //   general dyn. adrp x0, :tlsgd:x; add x0, x0, :tlsgd_lo12:x; bl __tls_get_addr
  //   local dyn.   the same for the module, then add :dtprel_hi12:/_lo12_nc:
  //   descriptors  adrp x0, :tlsdesc:x; ldr x1, [x0, :tlsdesc_lo12:x];
  //                add x0, x0, :tlsdesc_lo12:x; blr x1   (clang's default)
  // The GOT-relative ones become the plain page/lo12 pair addressing the
  // patch's own slot, as GOT loads do. The MOVW GOT forms and the tiny
  // model's TLSDESC_LDR/ADD are not emitted by clang for Linux.
  std::optional<TlsAccess> tlsAccess(uint32_t type) const override {
    if ((type >= ELF::R_AARCH64_TLSLE_MOVW_TPREL_G2 &&
         type <= ELF::R_AARCH64_TLSLE_LDST64_TPREL_LO12_NC) ||
        type == ELF::R_AARCH64_TLSLE_LDST128_TPREL_LO12 ||
        type == ELF::R_AARCH64_TLSLE_LDST128_TPREL_LO12_NC ||
        type == ELF::R_AARCH64_TLS_TPREL64)
      return TlsAccess{TlsUse::TpOffset, type};
    if ((type >= ELF::R_AARCH64_TLSLD_MOVW_DTPREL_G2 &&
         type <= ELF::R_AARCH64_TLSLD_LDST64_DTPREL_LO12_NC) ||
        type == ELF::R_AARCH64_TLSLD_LDST128_DTPREL_LO12 ||
        type == ELF::R_AARCH64_TLSLD_LDST128_DTPREL_LO12_NC ||
        type == ELF::R_AARCH64_TLS_DTPREL64)
      return TlsAccess{TlsUse::DtpOffset, type};
    switch (type) {
    case ELF::R_AARCH64_TLSIE_ADR_GOTTPREL_PAGE21:
      return TlsAccess{TlsUse::GotTpOffset, ELF::R_AARCH64_ADR_PREL_PG_HI21};
    case ELF::R_AARCH64_TLSIE_LD64_GOTTPREL_LO12_NC:
      return TlsAccess{TlsUse::GotTpOffset, ELF::R_AARCH64_LDST64_ABS_LO12_NC};
    case ELF::R_AARCH64_TLSIE_LD_GOTTPREL_PREL19:
      return TlsAccess{TlsUse::GotTpOffset, ELF::R_AARCH64_LD_PREL_LO19};
    case ELF::R_AARCH64_TLSGD_ADR_PAGE21:
      return TlsAccess{TlsUse::GotIndex, ELF::R_AARCH64_ADR_PREL_PG_HI21};
    case ELF::R_AARCH64_TLSGD_ADD_LO12_NC:
      return TlsAccess{TlsUse::GotIndex, ELF::R_AARCH64_ADD_ABS_LO12_NC};
    case ELF::R_AARCH64_TLSGD_ADR_PREL21:
      return TlsAccess{TlsUse::GotIndex, ELF::R_AARCH64_ADR_PREL_LO21};
    case ELF::R_AARCH64_TLSLD_ADR_PAGE21:
      return TlsAccess{TlsUse::GotModule, ELF::R_AARCH64_ADR_PREL_PG_HI21};
    case ELF::R_AARCH64_TLSLD_ADD_LO12_NC:
      return TlsAccess{TlsUse::GotModule, ELF::R_AARCH64_ADD_ABS_LO12_NC};
    case ELF::R_AARCH64_TLSLD_ADR_PREL21:
      return TlsAccess{TlsUse::GotModule, ELF::R_AARCH64_ADR_PREL_LO21};
    case ELF::R_AARCH64_TLSDESC_ADR_PAGE21:
      return TlsAccess{TlsUse::Descriptor, ELF::R_AARCH64_ADR_PREL_PG_HI21};
    case ELF::R_AARCH64_TLSDESC_LD64_LO12:
      return TlsAccess{TlsUse::Descriptor, ELF::R_AARCH64_LDST64_ABS_LO12_NC};
    case ELF::R_AARCH64_TLSDESC_ADD_LO12:
      return TlsAccess{TlsUse::Descriptor, ELF::R_AARCH64_ADD_ABS_LO12_NC};
    case ELF::R_AARCH64_TLSDESC_ADR_PREL21:
      return TlsAccess{TlsUse::Descriptor, ELF::R_AARCH64_ADR_PREL_LO21};
    case ELF::R_AARCH64_TLSDESC_LD_PREL19:
      return TlsAccess{TlsUse::Descriptor, ELF::R_AARCH64_LD_PREL_LO19};
    case ELF::R_AARCH64_TLSDESC_CALL:
      return TlsAccess{TlsUse::Marker, type};
    default:
      return std::nullopt;
    }
  }
  uint32_t tlsFillType(TlsFill fill) const override {
    switch (fill) {
    case TlsFill::TpOffset:
      return ELF::R_AARCH64_TLS_TPREL64;
    case TlsFill::DtpOffset:
      return ELF::R_AARCH64_TLS_DTPREL64;
    case TlsFill::ModuleId:
      return ELF::R_AARCH64_TLS_DTPMOD64;
    case TlsFill::Descriptor:
      return ELF::R_AARCH64_TLSDESC;
    }
    llvm_unreachable("every TlsFill");
  }
  std::optional<TlsValue> tlsValue(uint32_t type) const override {
    if (type == ELF::R_AARCH64_TLS_DTPMOD64)
      return TlsValue::ModuleId;
    std::optional<TlsAccess> a = tlsAccess(type);
    if (a && a->use == TlsUse::TpOffset)
      return TlsValue::TpOffset;
    if (a && a->use == TlsUse::DtpOffset)
      return TlsValue::DtpOffset;
    return std::nullopt;
  }
  // A descriptor function gets x0 = the descriptor and returns the TP
  // offset in x0, every other register kept (x30 too: it returns by it).
  static constexpr uint32_t tlsDescReturn[] = {
      0xf9400400, // ldr x0, [x0, #8]  ; the descriptor's argument
      0xd65f03c0, // ret
  };
  SmallVector<uint8_t, 16> tlsDescReturnCode() const override {
    const uint32_t words[] = {landingPads[0], // bti c: called indirectly
                              tlsDescReturn[0], tlsDescReturn[1],
                              0xd4200000}; // brk #0
    SmallVector<uint8_t, 16> code(16);
    for (unsigned i = 0; i < 4; ++i)
      support::endian::write32le(code.data() + 4 * i, words[i]);
    return code;
  }
  bool isTlsDescReturn(ArrayRef<uint8_t> code) const override {
    auto word = [&](unsigned i) { return support::endian::read32le(code.data() + 4 * i); };
    unsigned at = code.size() >= 4 && word(0) == landingPads[0] ? 1 : 0;
    return code.size() >= 4 * (at + 2) && word(at) == tlsDescReturn[0] &&
           word(at + 1) == tlsDescReturn[1];
  }
  // Variant I: the thread pointer points at a 16-byte TCB; the executable's
  // block follows it, placed so that p_vaddr's alignment holds in it.
  int64_t execTlsBlockOffset(uint64_t vaddr, uint64_t, uint64_t align) const override {
    align = std::max<uint64_t>(align, 1);
    return int64_t(16 + ((vaddr - 16) & (align - 1)));
  }

  std::pair<unsigned, unsigned> relocExtent(uint32_t type) const override {
    if (type == ELF::R_AARCH64_ABS64 || type == ELF::R_AARCH64_PREL64 ||
        (type >= ELF::R_AARCH64_TLS_DTPMOD64 && type <= ELF::R_AARCH64_TLS_TPREL64))
      return {0, 8};
    return {0, 4}; // the instruction itself; relaxation rewrites only it
  }

  StringRef triple() const override { return "aarch64-linux-gnu"; }

  Error asCompiled(uint32_t type, MutableArrayRef<uint8_t> code,
                   uint64_t offset) const override {
    using support::endian::read32le;
    using support::endian::write32le;
    if (type == ELF::R_AARCH64_NONE)
      return Error::success();
    unsigned size = relocExtent(type).second;
    if (offset + size > code.size())
      return createStringError(std::errc::invalid_argument,
                               "relocation at +0x%llx runs past its function",
                               (unsigned long long)offset);
    uint8_t *loc = code.data() + offset;
    if (size == 8 || type == ELF::R_AARCH64_ABS32 || type == ELF::R_AARCH64_PREL32) {
      std::fill(loc, loc + size, 0);
      return Error::success();
    }
    uint32_t insn = read32le(loc);
    auto rd = [](uint32_t i) { return i & 0x1f; };
    auto rn = [](uint32_t i) { return (i >> 5) & 0x1f; };
    bool isAdr = (insn & 0x9f000000) == 0x10000000;
    bool isAddImm = (insn & 0xffc00000) == 0x91000000;
    // lld relaxes `adrp; add` and `adrp; ldr :got:` pairs (the relocation
    // types stay): put the pair back.
    switch (type) {
    case ELF::R_AARCH64_ADR_PREL_PG_HI21:
    case ELF::R_AARCH64_ADR_GOT_PAGE:
      if (insn == 0xd503201f) { // nop; adr xN, sym  <-  adrp xN
        if (offset + 8 > code.size())
          return relaxedError(offset);
        uint32_t next = read32le(loc + 4);
        if ((next & 0x9f000000) != 0x10000000)
          return relaxedError(offset);
        insn = 0x90000000 | rd(next);
      }
      insn &= ~((0x3u << 29) | (0x7ffffu << 5));
      break;
    case ELF::R_AARCH64_ADD_ABS_LO12_NC:
      if (isAdr) // adr xN, sym  <-  add xN, xN, :lo12:sym
        insn = 0x91000000 | (rd(insn) << 5) | rd(insn);
      insn &= ~(0xfffu << 10);
      break;
    case ELF::R_AARCH64_LD64_GOT_LO12_NC:
      if (isAdr) // adr xN, sym  <-  ldr xN, [xN, :got_lo12:sym]
        insn = 0xf9400000 | (rd(insn) << 5) | rd(insn);
      else if (isAddImm) // add xN, xM, :lo12:sym  <-  ldr xN, [xM, ...]
        insn = 0xf9400000 | (rn(insn) << 5) | rd(insn);
      insn &= ~(0xfffu << 10);
      break;
    case ELF::R_AARCH64_LDST8_ABS_LO12_NC:
    case ELF::R_AARCH64_LDST16_ABS_LO12_NC:
    case ELF::R_AARCH64_LDST32_ABS_LO12_NC:
    case ELF::R_AARCH64_LDST64_ABS_LO12_NC:
    case ELF::R_AARCH64_LDST128_ABS_LO12_NC:
      insn &= ~(0xfffu << 10);
      break;
    case ELF::R_AARCH64_CALL26:
    case ELF::R_AARCH64_JUMP26:
      insn &= ~0x3ffffffu;
      break;
    case ELF::R_AARCH64_CONDBR19:
    case ELF::R_AARCH64_LD_PREL_LO19:
      insn &= ~(0x7ffffu << 5);
      break;
    case ELF::R_AARCH64_TSTBR14:
      insn &= ~(0x3fffu << 5);
      break;
    case ELF::R_AARCH64_ADR_PREL_LO21:
      insn &= ~((0x3u << 29) | (0x7ffffu << 5));
      break;
    default:
      if (type >= ELF::R_AARCH64_MOVW_UABS_G0 && type <= ELF::R_AARCH64_MOVW_UABS_G3)
        insn &= ~(0xffffu << 5);
      break;
    }
    write32le(loc, insn);
    return Error::success();
  }

  static Error relaxedError(uint64_t offset) {
    return createStringError(std::errc::not_supported,
                             "the linker rewrote the instructions at +0x%llx "
                             "in a way that cannot be undone; link with "
                             "-Wl,--no-relax", (unsigned long long)offset);
  }

  uint32_t slotAccessType(uint32_t got) const override {
    return got == ELF::R_AARCH64_ADR_GOT_PAGE ? ELF::R_AARCH64_ADR_PREL_PG_HI21
                                               : ELF::R_AARCH64_LDST64_ABS_LO12_NC;
  }
  uint32_t slotFillType() const override { return ELF::R_AARCH64_ABS64; }

  SmallVector<uint8_t, 16>
  stubCode(SmallVectorImpl<StubReloc> &relocs) const override {
    static constexpr uint32_t stub[] = {
        0x90000010, // adrp x16, slot         ; ADR_PREL_PG_HI21
        0xf9400210, // ldr  x16, [x16, :lo12:slot] ; LDST64_ABS_LO12_NC
        0xd61f0200, // br   x16
        0xd4200000, // brk  #0 (pads the stub to 16 bytes)
    };
    relocs.push_back({/*offset=*/0, ELF::R_AARCH64_ADR_PREL_PG_HI21, 0});
    relocs.push_back({/*offset=*/4, ELF::R_AARCH64_LDST64_ABS_LO12_NC, 0});
    SmallVector<uint8_t, 16> out(sizeof(stub));
    for (size_t i = 0; i < std::size(stub); ++i)
      support::endian::write32le(out.data() + 4 * i, stub[i]);
    return out;
  }
  uint8_t fillByte() const override { return 0; } // udf #0 when read as words

  Error applyReloc(uint32_t type, uint8_t *loc, uint64_t place, uint64_t sym,
                   int64_t addend) const override {
    using namespace support::endian;
    uint64_t value = sym + addend;
    auto page = [](uint64_t a) { return a & ~uint64_t(0xfff); };
    auto outOfRange = [&](int64_t v) {
      return createStringError(std::errc::result_out_of_range,
                               "%s: target is %lld bytes away, out of reach",
                               relocName(type).c_str(), (long long)v);
    };
    switch (type) {
    case ELF::R_AARCH64_ABS64:
    case ELF::R_AARCH64_TLS_TPREL64:  // sym: the TP offset of the variable
    case ELF::R_AARCH64_TLS_DTPREL64: // sym: its offset in its module's block
    case ELF::R_AARCH64_TLS_DTPMOD64: // sym: the module id, addend 0
      write64le(loc, value);
      return Error::success();
    case ELF::R_AARCH64_PREL64:
      write64le(loc, value - place);
      return Error::success();
    case ELF::R_AARCH64_ABS32:
      if (value > UINT32_MAX)
        return createStringError(std::errc::result_out_of_range,
                                 "R_AARCH64_ABS32: 0x%llx does not fit 32 bits",
                                 (unsigned long long)value);
      write32le(loc, uint32_t(value));
      return Error::success();
    case ELF::R_AARCH64_MOVW_UABS_G0:
    case ELF::R_AARCH64_MOVW_UABS_G0_NC:
    case ELF::R_AARCH64_MOVW_UABS_G1:
    case ELF::R_AARCH64_MOVW_UABS_G1_NC:
    case ELF::R_AARCH64_MOVW_UABS_G2:
    case ELF::R_AARCH64_MOVW_UABS_G2_NC:
    case ELF::R_AARCH64_MOVW_UABS_G3: {
      // movz/movk: 16 bits of the address into imm16 (bits 20:5). The
      // checked forms also require the bits above the group to be zero.
      unsigned group = (type - ELF::R_AARCH64_MOVW_UABS_G0) / 2; // G0, G0_NC, G1...
      bool checked = type == ELF::R_AARCH64_MOVW_UABS_G0 ||
                     type == ELF::R_AARCH64_MOVW_UABS_G1 ||
                     type == ELF::R_AARCH64_MOVW_UABS_G2;
      if (checked && group < 3 && (value >> (16 * (group + 1))) != 0)
        return createStringError(std::errc::result_out_of_range,
                                 "%s: 0x%llx does not fit",
                                 relocName(type).c_str(),
                                 (unsigned long long)value);
      uint32_t imm = uint32_t(value >> (16 * group)) & 0xffff;
      write32le(loc, (read32le(loc) & ~(0xffffu << 5)) | (imm << 5));
      return Error::success();
    }
    case ELF::R_AARCH64_PREL32: {
      int64_t rel = int64_t(value - place);
      if (rel != int64_t(int32_t(rel)))
        return outOfRange(rel);
      write32le(loc, uint32_t(rel));
      return Error::success();
    }
    case ELF::R_AARCH64_CALL26:
    case ELF::R_AARCH64_JUMP26: {
      int64_t rel = int64_t(value - place);
      if (rel < -(1ll << 27) || rel >= (1ll << 27))
        return outOfRange(rel);
      write32le(loc, (read32le(loc) & 0xfc000000) | ((uint64_t(rel) >> 2) & 0x03ffffff));
      return Error::success();
    }
    case ELF::R_AARCH64_ADR_PREL_PG_HI21:
    case ELF::R_AARCH64_ADR_PREL_PG_HI21_NC: {
      int64_t rel = int64_t(page(value) - page(place));
      if (type == ELF::R_AARCH64_ADR_PREL_PG_HI21 &&
          (rel < -(1ll << 32) || rel >= (1ll << 32)))
        return outOfRange(rel);
      uint64_t imm = uint64_t(rel) >> 12;
      write32le(loc, (read32le(loc) & 0x9f00001f) | ((imm & 3) << 29) |
                         (((imm >> 2) & 0x7ffff) << 5));
      return Error::success();
    }
    case ELF::R_AARCH64_ADR_PREL_LO21: {
      int64_t rel = int64_t(value - place);
      if (rel < -(1ll << 20) || rel >= (1ll << 20))
        return outOfRange(rel);
      write32le(loc, (read32le(loc) & 0x9f00001f) | ((uint64_t(rel) & 3) << 29) |
                         (((uint64_t(rel) >> 2) & 0x7ffff) << 5));
      return Error::success();
    }
    case ELF::R_AARCH64_ADD_ABS_LO12_NC:
    case ELF::R_AARCH64_LDST8_ABS_LO12_NC:
    case ELF::R_AARCH64_LDST16_ABS_LO12_NC:
    case ELF::R_AARCH64_LDST32_ABS_LO12_NC:
    case ELF::R_AARCH64_LDST64_ABS_LO12_NC:
    case ELF::R_AARCH64_LDST128_ABS_LO12_NC: {
      unsigned shift = type == ELF::R_AARCH64_LDST16_ABS_LO12_NC    ? 1
                       : type == ELF::R_AARCH64_LDST32_ABS_LO12_NC  ? 2
                       : type == ELF::R_AARCH64_LDST64_ABS_LO12_NC  ? 3
                       : type == ELF::R_AARCH64_LDST128_ABS_LO12_NC ? 4
                                                                     : 0;
      uint64_t lo12 = (value & 0xfff) >> shift;
      write32le(loc, (read32le(loc) & ~(0xfffu << 10)) | uint32_t(lo12 << 10));
      return Error::success();
    }
    case ELF::R_AARCH64_CONDBR19:
    case ELF::R_AARCH64_LD_PREL_LO19: {
      int64_t rel = int64_t(value - place);
      if (rel < -(1ll << 20) || rel >= (1ll << 20))
        return outOfRange(rel);
      write32le(loc, (read32le(loc) & ~(0x7ffffu << 5)) |
                         uint32_t(((uint64_t(rel) >> 2) & 0x7ffff) << 5));
      return Error::success();
    }
    case ELF::R_AARCH64_TSTBR14: {
      int64_t rel = int64_t(value - place);
      if (rel < -(1ll << 15) || rel >= (1ll << 15))
        return outOfRange(rel);
      write32le(loc, (read32le(loc) & ~(0x3fffu << 5)) |
                         uint32_t(((uint64_t(rel) >> 2) & 0x3fff) << 5));
      return Error::success();
    }
    default:
      return createStringError(std::errc::not_supported,
                               "%s is not a relocation a patch may hold here",
                               relocName(type).c_str());
    }
  }

  Redirect encodeRedirect(uint64_t entryAddr, unsigned siteOffset,
                          uint64_t target) const override {
    using namespace support::endian;
    Redirect r;
    uint64_t site = entryAddr + siteOffset;
    int64_t rel = int64_t(target - site);
    r.site.resize(4);
    if (rel >= -(1ll << 27) && rel < (1ll << 27)) {
      // b target, straight from the entry; the padding keeps its NOPs.
      r.pad.assign(16, 0);
      for (unsigned at = 0; at < 16; at += 4)
        write32le(r.pad.data() + at, nop);
      write32le(r.site.data(), 0x14000000 | ((uint64_t(rel) >> 2) & 0x03ffffff));
      return r;
    }
    static constexpr uint32_t farJump[] = {
        0x58000050, // ldr x16, #8   ; the literal below
        0xd61f0200, // br  x16
    };
    r.pad.resize(16);
    write32le(r.pad.data(), farJump[0]);
    write32le(r.pad.data() + 4, farJump[1]);
    write64le(r.pad.data() + 8, target);
    int64_t back = int64_t(entryAddr - 16) - int64_t(site); // into the padding
    write32le(r.site.data(), 0x14000000 | ((uint64_t(back) >> 2) & 0x03ffffff));
    return r;
  }

  Expected<SmallVector<uint8_t, 64>> encodeGate(uint64_t gate, uint64_t commit,
                                                uint64_t back,
                                                uint64_t target) const override {
    using namespace support::endian;
    int64_t pages = int64_t((commit & ~0xfffull) - (gate & ~0xfffull)) >> 12;
    if (pages < -(1ll << 20) || pages >= (1ll << 20))
      return createStringError(std::errc::result_out_of_range,
                               "gate at %llx: the commit byte is out of adrp reach",
                               (unsigned long long)gate);
    uint32_t immlo = uint32_t(pages) & 3, immhi = (uint32_t(pages) >> 2) & 0x7ffff;
    // To the new code through x16 from a literal (any distance; patch code
    // is not BTI-guarded: its pages are mapped without PROT_BTI).
    uint32_t words[] = {
        0x90000010 | (immlo << 29) | (immhi << 5),            // adrp x16, commit
        0x39400210 | (uint32_t(commit & 0xfff) << 10),        // ldrb w16, [x16, #lo12]
        0x34000070,                                           // cbz w16, +12 (-> 20)
        0x580000b0,                                           // ldr x16, +20 (-> 32)
        0xd61f0200,                                           // br x16
        0x580000b0,                                           // ldr x16, +20 (-> 40)
        0xd65f0200,                                           // ret x16
        0xd4200000,                                           // brk #0
    };
    // Back into the module, a direct `b` where it reaches. `back` is the
    // instruction after the entry NOP, no landing pad: in a BTI-guarded
    // page `br` there would fault (BTYPE 01), so the far way back is a
    // `ret x16`, which leaves BTYPE 00 and is not checked (nor is it
    // authenticated: `ret`, not `retaa`).
    int64_t toBack = int64_t(back - (gate + 20));
    if (toBack >= -(1ll << 27) && toBack < (1ll << 27)) {
      words[5] = 0x14000000 | ((uint64_t(toBack) >> 2) & 0x03ffffff); // b back
      words[6] = 0xd4200000;                                          // brk #0
    }
    SmallVector<uint8_t, 64> out(gateSize(), 0);
    for (size_t i = 0; i < std::size(words); ++i)
      write32le(out.data() + 4 * i, words[i]);
    write64le(out.data() + 32, target);
    write64le(out.data() + 40, back);
    return out;
  }
  unsigned gateSize() const override { return 48; }

  ReturnGateShape returnGateShape() const override {
    // The callee saves x30 where its unwind tables say (BusyThread::savedAt).
    // x16 names the gate's data throughout (`svc` changes x0 only).
    return {/*entry=*/4, /*spDwarf=*/31, /*raDwarf=*/30, /*dataAlign=*/-4,
            /*pushedAt=*/std::nullopt, /*scratchDwarf=*/16, /*spilledFrom=*/0,
            /*spilledTo=*/0};
  }
  bool directCallInto(ArrayRef<uint8_t> before, uint64_t returnAddr, uint64_t lo,
                      uint64_t hi) const override {
    if (before.size() < 4)
      return false;
    uint32_t insn = support::endian::read32le(before.take_back(4).data());
    if ((insn & 0xfc000000) != 0x94000000) // bl
      return false;
    int64_t offset = llvm::SignExtend64<28>(uint64_t(insn & 0x03ffffff) << 2);
    uint64_t to = returnAddr - 4 + offset;
    return to >= lo && to < hi;
  }
  /// `adr xD, to` at \p from (the gates sit a page from their data).
  static uint32_t adr(unsigned rd, uint64_t to, uint64_t from) {
    uint64_t imm = to - from;
    return 0x10000000 | uint32_t((imm & 3) << 29) | uint32_t(((imm >> 2) & 0x7ffff) << 5) | rd;
  }
  SmallVector<uint8_t, 32> encodeReturnGate(uint64_t slot, uint64_t data,
                                            uint64_t common) const override {
    const uint32_t words[] = {
        0xd503201f,               // nop (the slot's word before the entry)
        adr(16, data, slot + 4),  // adr x16, data
        0x52800031,               // mov w17, #1
        0x39002211,               // strb w17, [x16, #8]: fired
        0x14000000 | uint32_t(((common - (slot + 16)) >> 2) & 0x03ffffff), // b common
    };
    SmallVector<uint8_t, 32> out(32, 0);
    for (size_t i = 0; i < std::size(words); ++i)
      support::endian::write32le(out.data() + 4 * i, words[i]);
    for (size_t i = std::size(words); i < 8; ++i)
      support::endian::write32le(out.data() + 4 * i, 0xd4200000); // brk #0
    return out;
  }
  SmallVector<uint8_t, 128> encodeReturnGateCommon(uint64_t at, uint64_t hold,
                                                   uint64_t timeout) const override {
    // At a return, x0-x3 may hold the result (kept in x9-x12, which are
    // dead there, as are x8, x16, x17 and the flags); `svc` changes x0 only.
    // `ret x16` back: a return is not checked by BTI.
    const uint32_t words[] = {
        adr(17, hold, at),       // adr x17, hold
        0xb9400229,              // ldr w9, [x17]
        0x340001e9,              // cbz w9, out (+60)
        0xaa0003e9, 0xaa0103ea,  // mov x9, x0; mov x10, x1
        0xaa0203eb, 0xaa0303ec,  // mov x11, x2; mov x12, x3
        0xaa1103e0,              // mov x0, x17
        0xd2801001,              // mov x1, #FUTEX_WAIT_PRIVATE
        0xd2800022,              // mov x2, #1
        adr(3, timeout, at + 40), // adr x3, timeout
        0xd2800c48,              // mov x8, #SYS_futex
        0xd4000001,              // svc #0
        0xaa0903e0, 0xaa0a03e1,  // mov x0, x9; mov x1, x10
        0xaa0b03e2, 0xaa0c03e3,  // mov x2, x11; mov x3, x12
        0xf9400210,              // out: ldr x16, [x16]: the caller
        0xd65f0200,              // ret x16
    };
    SmallVector<uint8_t, 128> out(4 * std::size(words), 0);
    for (size_t i = 0; i < std::size(words); ++i)
      support::endian::write32le(out.data() + 4 * i, words[i]);
    return out;
  }

  // 48-bit virtual addresses, the most a kernel gives without being asked
  // (39- and 42-bit kernels map less: the process's own maps say so).
  uint64_t userAddressEnd() const override { return 1ull << 48; }
  uint64_t sysMmap() const override { return 222; }
  uint64_t sysMunmap() const override { return 215; }
  uint64_t sysMemfdCreate() const override { return 279; }
  uint64_t sysClose() const override { return 57; }
  uint64_t sysFutex() const override { return 98; }

  // === hp-diff: reading linked code ===
  // ADR, ADRP, B, BL and literal loads count from their own instruction,
  // which the field is part of: S + A is the address meant, no decoding.
  std::pair<unsigned, unsigned> pcRelFieldReach() const override {
    return {0, 0};
  }
  class FixedReach final : public CodeReader {
  public:
    Expected<unsigned> fieldReach(ArrayRef<uint8_t>, uint64_t,
                                  uint64_t) override {
      return 0;
    }
  };
  Expected<std::unique_ptr<CodeReader>> makeCodeReader() const override {
    return std::make_unique<FixedReach>();
  }
  // === end hp-diff block ===
};

} // namespace

const Arch &aarch64Arch() {
  static const AArch64 arch;
  return arch;
}

} // namespace hotpatch

// Register access and injection exist only where the host is aarch64.
//
// Registers come and go as regsets: NT_PRSTATUS (x0-x30, sp, pc, pstate),
// NT_PRFPREG (v0-v31, fpsr, fpcr), NT_ARM_SYSTEM_CALL (the system-call
// number: -1 outside one, settable), NT_ARM_TLS (tpidr_el0).
//
// Two kernel facts shape what follows:
// - While a thread is in a system-call stop, x7 reads as the stop's
//   direction (0 entry, 1 exit) and whatever the tracer writes to it is
//   replaced by the thread's own x7 when the stop ends. So registers are
//   only read as the thread's and only written in other stops: after every
//   injection the thread is brought back to an interrupt stop
//   (PTRACE_EVENT_STOP), where every register reads and writes as itself.
// - When a thread blocked in a system call is interrupted, arm64's
//   do_signal() sets the call up to restart *before* the stop the tracer
//   sees (x0 = its first argument again, pc on the `svc`), and forgets the
//   call's number. So a stopped thread's registers already say "run the call
//   again"; putting them back as read restarts it (no EINTR). The one thing
//   lost is the kernel's restart block: a borrowed thread whose call
//   restarts through restart_syscall (nanosleep, clock_nanosleep with a
//   relative time, poll, a futex wait with a timeout) runs the call again
//   with its whole timeout (docs/limits.md).
//
// The injected code never ends with the tracer's help alone: after the
// system call (or the called function) it runs rt_sigreturn on a signal
// frame we wrote below the thread's stack pointer, holding every register
// (x0-x30, sp, pc, pstate, v0-v31, fpsr, fpcr), the signal mask and the
// alternate signal stack (read by the cave itself with sigaltstack just
// before). The kernel restores all of them at once, as after a signal
// handler; so the thread carries on exactly where it was whether or not
// hp-apply is still alive. hp-apply lets it run that code too, and checks
// the result in the interrupt stop it ends in.
#if defined(__aarch64__)
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/raw_ostream.h"

namespace hotpatch {

namespace {
using WriteFn = function_ref<Error(uint64_t, ArrayRef<uint8_t>)>;

// Regset note types (linux/elf.h; not included: its macros clash with LLVM's
// ELF enumerators).
constexpr long noteRegs = 1;         // NT_PRSTATUS
constexpr long noteFpRegs = 2;       // NT_PRFPREG
constexpr long noteTls = 0x401;      // NT_ARM_TLS
constexpr long noteSyscall = 0x404;  // NT_ARM_SYSTEM_CALL
constexpr long notePacMask = 0x406;  // NT_ARM_PAC_MASK: {data_mask, insn_mask}
constexpr long getSigmask = 0x420a;  // PTRACE_GETSIGMASK
constexpr long setSigmask = 0x420b;  // PTRACE_SETSIGMASK

constexpr uint32_t svc0 = 0xd4000001;
constexpr uint32_t brk0 = 0xd4200000;
constexpr uint64_t nrGetpid = 172, nrSigaltstack = 132, nrRtSigreturn = 139;

// The kernel's struct rt_sigframe (arch/arm64/kernel/signal.c), offsets
// from its start: siginfo (128), then the ucontext (uapi asm/ucontext.h):
// uc_flags, uc_link, uc_stack (24), uc_sigmask (8 + 120 reserved for
// glibc's sigset), uc_mcontext at +176 (aligned 16): fault_address,
// regs[31], sp, pc, pstate, then __reserved[4096] (aligned 16) holding
// records, of which rt_sigreturn needs the fpsimd one, and a terminator.
constexpr unsigned frameUcStack = 128 + 16;
constexpr unsigned frameSigmask = 128 + 40;
constexpr unsigned frameRegs = 128 + 176 + 8;
constexpr unsigned frameSp = frameRegs + 31 * 8;
constexpr unsigned framePc = frameSp + 8;
constexpr unsigned framePstate = framePc + 8;
constexpr unsigned frameReserved = 128 + 176 + 288;
constexpr uint32_t fpsimdMagic = 0x46508001;
constexpr unsigned fpsimdSize = 16 + 32 * 16; // head, fpsr, fpcr, v0-v31
constexpr unsigned frameWritten = frameReserved + fpsimdSize + 8; // + terminator
constexpr unsigned frameSize = 128 + 176 + 288 + 4096; // all the kernel may read
static_assert(frameReserved % 16 == 0 && fpsimdSize % 16 == 0, "frame layout");
/// Room left between the thread's stack pointer and the frame.
constexpr uint64_t stackGap = 128;

uint64_t nowNs() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return uint64_t(t.tv_sec) * 1000000000ull + t.tv_nsec;
}

Error sysErr(int tid, const char *what) {
  return createStringError(std::error_code(errno, std::generic_category()),
                           "thread %d: %s", tid, what);
}

bool getRegs(int tid, user_regs_struct &r) {
  iovec iov = {&r, sizeof r};
  return ptrace(PTRACE_GETREGSET, tid, (void *)noteRegs, &iov) == 0;
}
bool setRegs(int tid, const user_regs_struct &r) {
  iovec iov = {const_cast<user_regs_struct *>(&r), sizeof r};
  return ptrace(PTRACE_SETREGSET, tid, (void *)noteRegs, &iov) == 0;
}
int64_t syscallNo(int tid) {
  int nr = -1;
  iovec iov = {&nr, sizeof nr};
  if (ptrace(PTRACE_GETREGSET, tid, (void *)noteSyscall, &iov) != 0)
    return -1;
  return nr;
}
void setSyscallNo(int tid, int nr) {
  iovec iov = {&nr, sizeof nr};
  ptrace(PTRACE_SETREGSET, tid, (void *)noteSyscall, &iov);
}

/// What a thread was when we took it: everything the frame restores.
struct Saved {
  user_regs_struct regs;
  user_fpsimd_struct fp;
  uint64_t sigmask = 0;
};

Expected<Saved> save(int tid) {
  Saved s;
  if (!getRegs(tid, s.regs))
    return sysErr(tid, "cannot read registers");
  iovec fiov = {&s.fp, sizeof s.fp};
  if (ptrace(PTRACE_GETREGSET, tid, (void *)noteFpRegs, &fiov) != 0)
    return sysErr(tid, "cannot read the FP/SIMD registers");
  if (ptrace(__ptrace_request(getSigmask), tid, (void *)sizeof s.sigmask, &s.sigmask) != 0)
    return sysErr(tid, "cannot read the signal mask");
  return s;
}

/// The signal frame that gives the thread back \p s (its uc_stack is
/// filled in by the cave's sigaltstack call).
SmallVector<uint8_t, 0> frameFor(const Saved &s) {
  using namespace support::endian;
  SmallVector<uint8_t, 0> f(frameWritten, 0);
  write64le(f.data() + frameSigmask, s.sigmask);
  for (unsigned i = 0; i < 31; ++i)
    write64le(f.data() + frameRegs + 8 * i, s.regs.regs[i]);
  write64le(f.data() + frameSp, s.regs.sp);
  write64le(f.data() + framePc, s.regs.pc);
  write64le(f.data() + framePstate, s.regs.pstate);
  uint8_t *fp = f.data() + frameReserved;
  write32le(fp, fpsimdMagic);
  write32le(fp + 4, fpsimdSize);
  write32le(fp + 8, s.fp.fpsr);
  write32le(fp + 12, s.fp.fpcr);
  memcpy(fp + 16, s.fp.vregs, 32 * 16);
  // The terminator (magic 0, size 0) is already zero.
  return f;
}

/// Where the frame goes: below the stack pointer, 16-aligned.
uint64_t frameAddrFor(const Saved &s) {
  return ((s.regs.sp - stackGap) & ~uint64_t(15)) - frameSize;
}

/// The cave's tail: with sp on the frame, read the alternate signal stack
/// into it, then rt_sigreturn. \p words gets the instructions.
void appendRestore(SmallVectorImpl<uint32_t> &words) {
  words.append({
      0xd2800000,                                 // mov x0, #0
      0x910003e1 | (frameUcStack << 10),          // add x1, sp, #uc_stack
      0xd2800008 | uint32_t(nrSigaltstack << 5),  // mov x8, #sigaltstack
      svc0,
      0xd2800008 | uint32_t(nrRtSigreturn << 5),  // mov x8, #rt_sigreturn
      svc0,
      brk0,                                       // never reached
  });
}

SmallVector<uint8_t, 256> bytesOf(ArrayRef<uint32_t> words) {
  SmallVector<uint8_t, 256> out(words.size() * 4);
  for (size_t i = 0; i < words.size(); ++i)
    support::endian::write32le(out.data() + 4 * i, words[i]);
  return out;
}

/// A stop the waiting loops saw.
enum class StopKind { Syscall, Other };

/// Runs \p tid with PTRACE_SYSCALL until a system-call stop whose pc is
/// \p pc (the instruction after the `svc`), at its entry or exit
/// (\p entry), and returns the registers there. System calls made on the
/// way are let through. A signal that stops the thread meanwhile is not
/// delivered into the injected code but queued again (tkill) once we are
/// done, so the program still receives it. \p last tells the caller what
/// kind of stop the thread is left in.
Expected<user_regs_struct> runToSyscallStop(int tid, uint64_t pc, bool entry,
                                            SmallVectorImpl<int> &requeue,
                                            StopKind &last, uint64_t patienceNs = 0) {
  if (ptrace(PTRACE_SYSCALL, tid, nullptr, nullptr) != 0)
    return sysErr(tid, "cannot resume the injected code");
  // System-call stops come in pairs, entry then exit: an entry is looked
  // for from an exit stop or a non-syscall stop, an exit from the entry.
  bool atEntry = !entry; // flipped at each syscall stop
  int64_t blockedIn = -1;
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
      // Waiting for a lock all this time: stop it there; the caller puts
      // the registers back, and the call never happened.
      ptrace(PTRACE_INTERRUPT, tid, nullptr, nullptr);
      while (waitpid(tid, &status, __WALL) < 0)
        if (errno != EINTR)
          return sysErr(tid, "wait failed");
      if (!WIFSTOPPED(status))
        return createStringError(std::errc::no_such_process,
                                 "thread %d exited during injected code", tid);
      last = WSTOPSIG(status) == (SIGTRAP | 0x80) ? StopKind::Syscall : StopKind::Other;
      if (last == StopKind::Other && unsigned(status) >> 16 == 0)
        requeue.push_back(WSTOPSIG(status));
      return make_error<InjectedCallStuck>(tid, patienceNs);
    }
    if (WIFEXITED(status) || WIFSIGNALED(status))
      return createStringError(std::errc::no_such_process,
                               "thread %d exited during injected code", tid);
    if (!WIFSTOPPED(status))
      continue;
    int sig = WSTOPSIG(status);
    last = sig == (SIGTRAP | 0x80) ? StopKind::Syscall : StopKind::Other;
    if (sig == (SIGTRAP | 0x80)) {
      atEntry = !atEntry;
      user_regs_struct regs;
      if (!getRegs(tid, regs))
        return sysErr(tid, "cannot read registers");
      if (regs.pc == pc && atEntry == entry)
        return regs;
      blockedIn = atEntry ? syscallNo(tid) : -1;
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

/// Brings \p tid from whatever stop it is in to an interrupt stop, before
/// it runs a user instruction: there every register reads and writes as
/// the thread's own (see the top of this block). From a system-call stop
/// the call is forgotten first: a call at its entry is skipped, one at its
/// exit is not set up to restart.
Error toInterruptStop(int tid, StopKind last, SmallVectorImpl<int> &requeue) {
  if (last == StopKind::Syscall)
    setSyscallNo(tid, -1);
  if (ptrace(PTRACE_INTERRUPT, tid, nullptr, nullptr) != 0 ||
      ptrace(PTRACE_CONT, tid, nullptr, nullptr) != 0)
    return sysErr(tid, "cannot bring the thread to a stop");
  for (;;) {
    int status = 0;
    if (waitpid(tid, &status, __WALL) < 0) {
      if (errno == EINTR)
        continue;
      return sysErr(tid, "wait failed");
    }
    if (!WIFSTOPPED(status))
      return createStringError(std::errc::no_such_process,
                               "thread %d exited during injected code", tid);
    if (unsigned(status) >> 16 == PTRACE_EVENT_STOP)
      return Error::success();
    if (unsigned(status) >> 16 == 0 && WSTOPSIG(status) != (SIGTRAP | 0x80))
      requeue.push_back(WSTOPSIG(status));
    if (ptrace(PTRACE_CONT, tid, nullptr, nullptr) != 0)
      return sysErr(tid, "cannot bring the thread to a stop");
  }
}

/// The end of every injection. The thread ran the cave's rt_sigreturn
/// (\p ranRestore) or stopped somewhere in between (an error): brought to
/// an interrupt stop either way, its registers, FP/SIMD registers and mask
/// are made exactly \p s (already so after rt_sigreturn: checked), then
/// the signals held meanwhile are queued again.
void putBack(int tid, const Saved &s, StopKind last, bool ranRestore,
             SmallVectorImpl<int> &requeue) {
  if (Error err = toInterruptStop(tid, last, requeue)) {
    consumeError(std::move(err)); // gone: nothing to put back
    return;
  }
  user_regs_struct now;
  bool same = ranRestore && getRegs(tid, now) &&
              !memcmp(&now, &s.regs, sizeof now);
  if (ranRestore && !same) // a wrong frame: what a dead hp-apply would leave
    errs() << formatv("hp-apply: warning: thread {0}: the injected code's own "
                      "restore left its registers changed; put back by ptrace\n",
                      tid);
  if (!same) {
    setRegs(tid, s.regs);
    iovec fiov = {const_cast<user_fpsimd_struct *>(&s.fp), sizeof s.fp};
    ptrace(PTRACE_SETREGSET, tid, (void *)noteFpRegs, &fiov);
    ptrace(__ptrace_request(setSigmask), tid, (void *)sizeof s.sigmask,
           const_cast<uint64_t *>(&s.sigmask));
  }
  for (int sig : requeue)
    syscall(SYS_tkill, tid, sig);
}

/// Lets the thread, stopped at the exit of the cave's handoff call, run the
/// cave's rt_sigreturn: to the entry stop of rt_sigreturn at \p sigreturnEnd
/// (the instruction after its `svc`), then its exit stop.
Error runRestore(int tid, uint64_t sigreturnEnd, SmallVectorImpl<int> &requeue,
                 StopKind &last) {
  Expected<user_regs_struct> entry =
      runToSyscallStop(tid, sigreturnEnd, true, requeue, last);
  if (!entry)
    return entry.takeError();
  // Its exit stop is the next system-call stop (pc: wherever the thread was).
  if (ptrace(PTRACE_SYSCALL, tid, nullptr, nullptr) != 0)
    return sysErr(tid, "cannot resume the injected code");
  for (;;) {
    int status = 0;
    if (waitpid(tid, &status, __WALL) < 0) {
      if (errno == EINTR)
        continue;
      return sysErr(tid, "wait failed");
    }
    if (!WIFSTOPPED(status))
      return createStringError(std::errc::no_such_process,
                               "thread %d exited during injected code", tid);
    int sig = WSTOPSIG(status);
    last = sig == (SIGTRAP | 0x80) ? StopKind::Syscall : StopKind::Other;
    if (last == StopKind::Syscall)
      return Error::success();
    if (sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGTRAP)
      return createStringError(std::errc::bad_address,
                               "thread %d: the injected rt_sigreturn failed (signal %d)",
                               tid, sig);
    if (unsigned(status) >> 16 == 0)
      requeue.push_back(sig);
    if (ptrace(PTRACE_SYSCALL, tid, nullptr, nullptr) != 0)
      return sysErr(tid, "cannot resume the injected code");
  }
}

/// A test hook: HOTPATCH_TEST_INJECT_DELAY_US holds a thread at the exit of
/// its injected system call that long, so a test can kill hp-apply there
/// for sure and see the thread restore itself.
void injectDelay() {
  static const unsigned us = [] {
    const char *v = getenv("HOTPATCH_TEST_INJECT_DELAY_US");
    return v ? unsigned(atoi(v)) : 0u;
  }();
  if (us)
    usleep(us);
}

/// Registers for code injected into a thread saved as \p s: its own, with
/// no branch-target state pending (pc is set, not branched to).
user_regs_struct injected(const Saved &s) {
  user_regs_struct r = s.regs;
  r.pstate &= ~uint64_t(3) << 10; // PSTATE.BTYPE
  return r;
}
} // namespace

Expected<int64_t> injectSyscall(int tid, uint64_t cave, uint64_t nr,
                                ArrayRef<uint64_t> args, WriteFn write) {
  Expected<Saved> saved = save(tid);
  if (!saved)
    return saved.takeError();
  uint64_t frame = frameAddrFor(*saved);
  // At the cave: the call (sp already on the frame), then the restore.
  SmallVector<uint32_t, 16> words = {svc0};
  appendRestore(words);
  uint64_t sigreturnEnd = cave + 4 * (words.size() - 1);
  if (Error err = write(frame, frameFor(*saved)))
    return std::move(err);
  if (Error err = write(cave, bytesOf(words)))
    return std::move(err);
  user_regs_struct regs = injected(*saved);
  // The kernel ABI: x8 = number; x0-x5 = arguments; the result in x0.
  regs.regs[8] = nr;
  for (size_t i = 0; i < args.size() && i < 6; ++i)
    regs.regs[i] = args[i];
  regs.sp = frame;
  regs.pc = cave;
  SmallVector<int, 2> requeue;
  StopKind last = StopKind::Other;
  bool ranRestore = false;
  auto finish = [&](auto result) -> decltype(result) {
    putBack(tid, *saved, last, ranRestore, requeue);
    return result;
  };
  if (!setRegs(tid, regs))
    return sysErr(tid, "cannot set registers");
  Expected<user_regs_struct> entry = runToSyscallStop(tid, cave + 4, true, requeue, last);
  if (!entry)
    return finish(Expected<int64_t>(entry.takeError()));
  Expected<user_regs_struct> exit = runToSyscallStop(tid, cave + 4, false, requeue, last);
  if (!exit)
    return finish(Expected<int64_t>(exit.takeError()));
  int64_t result = int64_t(exit->regs[0]);
  injectDelay();
  if (Error err = runRestore(tid, sigreturnEnd, requeue, last))
    return finish(Expected<int64_t>(std::move(err)));
  ranRestore = true;
  return finish(Expected<int64_t>(result));
}

Expected<uint64_t> injectCall(int tid, uint64_t fnAddr, ArrayRef<uint64_t> args,
                              uint64_t cave, WriteFn write, uint64_t patienceNs) {
  Expected<Saved> saved = save(tid);
  if (!saved)
    return saved.takeError();
  uint64_t frame = frameAddrFor(*saved);
  // The function returns to the cave, which hands us its result in a
  // harmless getpid() (x0 at its entry stop), puts sp back on the frame
  // and restores the thread.
  SmallVector<uint32_t, 24> words = {
      0xd2800008 | uint32_t(nrGetpid << 5), // mov x8, #getpid
      svc0,
      0, // ldr x9, frame (below)
      0x9100013f,                           // mov sp, x9
  };
  appendRestore(words);
  uint64_t sigreturnEnd = cave + 4 * (words.size() - 1);
  if (words.size() % 2)
    words.push_back(brk0); // the literal 8-aligned
  unsigned literal = words.size() * 4;
  words[2] = 0x58000009 | (((literal - 8) / 4) << 5);
  words.push_back(uint32_t(frame));
  words.push_back(uint32_t(frame >> 32));
  if (Error err = write(frame, frameFor(*saved)))
    return std::move(err);
  if (Error err = write(cave, bytesOf(words)))
    return std::move(err);
  user_regs_struct regs = injected(*saved);
  for (size_t i = 0; i < args.size() && i < 8; ++i)
    regs.regs[i] = args[i];
  regs.regs[30] = cave; // the link register: `ret` comes to the cave
  regs.sp = frame;      // the function's frames go below ours
  regs.pc = fnAddr;
  SmallVector<int, 2> requeue;
  StopKind last = StopKind::Other;
  bool ranRestore = false;
  auto finish = [&](auto result) -> decltype(result) {
    putBack(tid, *saved, last, ranRestore, requeue);
    return result;
  };
  if (!setRegs(tid, regs))
    return sysErr(tid, "cannot set registers");
  Expected<user_regs_struct> entry =
      runToSyscallStop(tid, cave + 8, true, requeue, last, patienceNs);
  if (!entry)
    return finish(Expected<uint64_t>(entry.takeError()));
  uint64_t result = entry->regs[0];
  // Let the getpid() finish (stop pairs stay in step), then the restore.
  Expected<user_regs_struct> exit = runToSyscallStop(tid, cave + 8, false, requeue, last);
  if (!exit)
    return finish(Expected<uint64_t>(exit.takeError()));
  if (Error err = runRestore(tid, sigreturnEnd, requeue, last))
    return finish(Expected<uint64_t>(std::move(err)));
  ranRestore = true;
  return finish(Expected<uint64_t>(result));
}

bool stoppedInSystemCall(int tid) {
  if (syscallNo(tid) >= 0)
    return true; // at a system-call stop
  // Interrupted in one: the kernel has set it to restart (pc on its `svc`)
  // and forgotten its number.
  user_regs_struct regs;
  if (!getRegs(tid, regs) || regs.pc % 4)
    return false;
  errno = 0;
  long word = ptrace(PTRACE_PEEKTEXT, tid, (void *)(regs.pc & ~uint64_t(7)), nullptr);
  if (errno)
    return false;
  uint32_t insn = uint32_t(uint64_t(word) >> (regs.pc & 4 ? 32 : 0));
  return insn == svc0;
}

Error unwindRegisters(int tid, UnwindRegisters &out) {
  user_regs_struct regs;
  if (!getRegs(tid, regs))
    return createStringError(std::error_code(errno, std::generic_category()),
                             "thread %d: cannot read registers", tid);
  // DWARF numbering (AArch64 DWARF ABI): x0-x30 are 0-30, sp is 31.
  out.dwarf.assign(regs.regs, regs.regs + 31);
  out.dwarf.push_back(regs.sp);
  out.pc = regs.pc;
  out.sp = regs.sp;
  out.linkRegister = regs.regs[30];
  // tpidr_el0: glibc's thread pointer, which bounds a thread's stack scan.
  uint64_t tp = 0;
  iovec iov = {&tp, sizeof tp};
  out.threadPointer =
      ptrace(PTRACE_GETREGSET, tid, (void *)noteTls, &iov) == 0 ? tp : 0;
  // Where pointer authentication puts a return address's signature (the
  // bits between the virtual address size and the top byte); none without
  // it (the regset does not exist then).
  uint64_t pacMask[2] = {0, 0};
  iov = {pacMask, sizeof pacMask};
  out.codeMask =
      ptrace(PTRACE_GETREGSET, tid, (void *)notePacMask, &iov) == 0 ? ~pacMask[1] : ~0ull;
  return Error::success();
}

} // namespace hotpatch
#endif
