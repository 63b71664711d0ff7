//===- runtime/tls.h - the patched module's thread-local storage --*- C++ -*-===//
//
// Patched code reaches the module's thread-local variables through the
// values its relocations name (Arch::tlsValue): a variable's offset in the
// module's TLS block (its st_value), the block's offset from the thread
// pointer (static TLS), and the module's TLS id (for __tls_get_addr).
// The last two are decided by ld.so at run time; they are found without
// reading any of its private structures (docs/hp-apply.md, "Thread-local
// storage"):
//
//  - the main program: module id 1 and the TP offset the ABI fixes, which
//    the linker already hard-coded into the program's own local-exec code;
//  - a library: the values ld.so wrote into the library's own GOT for its
//    own dynamic TLS relocations (DTPMOD64, TPOFF64, and TLSDESC
//    descriptors whose function returns its argument), read from the
//    process.
//
//===----------------------------------------------------------------------===//

#ifndef HOTPATCH_RUNTIME_TLS_H
#define HOTPATCH_RUNTIME_TLS_H

#include "arch.h"
#include "module.h"

#include "llvm/ADT/STLFunctionalExtras.h"

#include <optional>
#include <string>
#include <vector>

namespace hotpatch {

/// The TLS facts of one module, each known or not with the reason.
struct ModuleTls {
  uint64_t base = 0; ///< load bias: a TLS symbol's resolved value - base = its block offset
  std::optional<uint64_t> moduleId;
  std::string noModuleId; ///< why moduleId is unknown
  std::optional<int64_t> tpOffset; ///< of the block's start
  std::string noTpOffset;          ///< why tpOffset is unknown

  /// What a relocation storing \p v computes for a symbol resolved to
  /// \p symAddr (before the addend). Fails naming the missing fact.
  llvm::Expected<uint64_t> value(TlsValue v, uint64_t symAddr) const;
};

/// One of the module's own dynamic TLS relocations, as ld.so resolved it.
struct TlsGotEntry {
  TlsFill kind;       ///< ModuleId, TpOffset or Descriptor
  uint64_t addr;      ///< its GOT entry in the process
  uint64_t dtpOffset; ///< the variable's block offset plus the addend
};

/// Reads up to \p len bytes of the process at \p addr; nullopt if unreadable.
using ReadTarget =
    llvm::function_ref<std::optional<std::vector<uint8_t>>(uint64_t, size_t)>;

/// The module's TLS facts from its PT_TLS (\p pVaddr, \p pMemsz, \p pAlign),
/// whether it is the main program, and its own GOT entries read through
/// \p read. Pure but for \p read.
ModuleTls deduceModuleTls(const Arch &arch, bool isMain, uint64_t pVaddr,
                          uint64_t pMemsz, uint64_t pAlign,
                          llvm::ArrayRef<TlsGotEntry> own, ReadTarget read);

/// The auxiliary vector entry \p type of \p auxv (the bytes of
/// /proc/PID/auxv), or nullopt.
std::optional<uint64_t> auxvValue(llvm::ArrayRef<uint8_t> auxv, uint64_t type);

/// When \p patch holds TLS relocations: the TLS facts of \p module in
/// \p target. Refuses (ApplyError) when the module has no TLS block, or
/// when a value a relocation needs cannot be found, naming its symbol and
/// the reason. nullopt when the patch has no TLS relocation.
llvm::Expected<std::optional<ModuleTls>>
planTls(const PatchFile &patch, const Arch &arch, const Module &module,
        const Target &target);

} // namespace hotpatch

#endif
