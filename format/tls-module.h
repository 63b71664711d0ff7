//===- format/tls-module.h - a library holding a patch's new TLS -*- C++ -*-===//
//
// The thread-local variables a patch adds need what only the dynamic
// loader can give: a copy in every thread, the running ones included,
// initialised as declared, made for every thread created later and freed
// with it. hp-apply gets that by handing ld.so a library of its own
// making: this one, with no code, whose PT_TLS is the patch's `.hp.tls`
// and whose two relocations ask ld.so for the facts patched code needs:
//
//   facts + 0  the TP offset of the block (R_X86_64_TPOFF64 /
//              R_AARCH64_TLS_TPREL64 against symbol 0: static TLS, so
//              the same in every thread)
//   facts + 8  its TLS module id (R_*_DTPMOD64), for __tls_get_addr
//
// Everything is one read-write PT_LOAD at address 0 (no section headers:
// ld.so reads none). docs/patch-format.md, "Thread-local storage a patch
// adds".
//
//===----------------------------------------------------------------------===//

#ifndef HOTPATCH_FORMAT_TLS_MODULE_H
#define HOTPATCH_FORMAT_TLS_MODULE_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"

#include <cstdint>
#include <vector>

namespace hotpatch {

struct TlsModuleSpec {
  uint16_t eMachine = 0;
  uint32_t tpOffsetType = 0; ///< the machine's TPOFF64 relocation
  uint32_t moduleIdType = 0; ///< the machine's DTPMOD64 relocation
  llvm::StringRef soname;
  llvm::ArrayRef<uint8_t> image; ///< the whole block, zero-initialised part included
  uint64_t align = 1;            ///< of the block
};

/// Where the two words ld.so fills lie, from the library's load address.
inline constexpr uint64_t tlsModuleFactsOffset = 288;

/// The library's bytes (a few hundred plus the image).
std::vector<uint8_t> buildTlsModule(const TlsModuleSpec &spec);

} // namespace hotpatch

#endif
