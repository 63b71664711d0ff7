//===- format/prologue.h - the patchable prologue, defined once ----*- C++ -*-===//
//
// Every patchable function starts with padding and a NOP at its entry. The
// pass asks LLVM for them ("patchable-function-prefix"/"-entry", counted in
// NOPs: bytes on x86_64, instructions on aarch64); the runtime writes a
// redirect into the same bytes; hp-diff expects them. All three read the
// shape from here. The fingerprint table records padBefore and entryNop of
// the build, so a patch never meets a prologue of another shape.
//
// The function is aligned to 16 bytes and the padding is emitted right
// after the alignment, so the padding starts 8-aligned: the 8-byte store
// that retargets a running redirect and the entry store never straddle a
// cache line (docs/architecture.md, "The prologue").
//
//===----------------------------------------------------------------------===//

#ifndef HOTPATCH_FORMAT_PROLOGUE_H
#define HOTPATCH_FORMAT_PROLOGUE_H

#include "llvm/BinaryFormat/ELF.h"

#include <cstdint>

namespace hotpatch {

struct PrologueShape {
  uint16_t eMachine;
  unsigned prefixNops, entryNops; ///< what LLVM's attributes are given
  unsigned padBefore;             ///< bytes of padding before the entry
  unsigned entryNop;              ///< bytes of the NOP at the patch site
};

/// x86_64: 14 one-byte NOPs, then `66 90` at the entry (after an
/// `endbr64` under CET).
inline constexpr PrologueShape x86_64Prologue{llvm::ELF::EM_X86_64, 14, 2, 14, 2};
/// aarch64: 4 NOPs (16 bytes), then one at the entry (after a `bti` or
/// `paciasp` landing pad when there is one).
inline constexpr PrologueShape aarch64Prologue{llvm::ELF::EM_AARCH64, 4, 1, 16, 4};

/// The shape for an ELF machine, or null when hotpatch does not support it.
inline const PrologueShape *prologueForMachine(uint16_t eMachine) {
  switch (eMachine) {
  case llvm::ELF::EM_X86_64:
    return &x86_64Prologue;
  case llvm::ELF::EM_AARCH64:
    return &aarch64Prologue;
  default:
    return nullptr;
  }
}

} // namespace hotpatch

#endif
