//===- runtime/new-tls.h - thread-local variables a patch adds -----*- C++ -*-===//
//
// A patch's `.hp.tls` is the initial image of the thread-local variables
// it adds. They are given to the target's dynamic loader as a library of
// their own (format/tls-module.h), loaded by dlopen on a borrowed thread
// before the image is relocated: ld.so then gives every thread its copy,
// as it does for any library whose TLS is static (initial-exec): the
// running threads' copies initialised at the load, later threads' at
// their creation, each freed with its thread. The block is static TLS, so
// its offset from the thread pointer is the same in every thread, and
// patched code reaches it with the access sequences it was compiled with.
//
// The library is named after the patch (a memfd, `hotpatch-tls-<digest>`):
// an apply finding it loaded (an earlier apply of the same patch, reverted
// or killed) takes it again rather than loading another; ld.so keeps it
// for the life of the process (DF_1_NODELETE).
//
//===----------------------------------------------------------------------===//

#ifndef HOTPATCH_RUNTIME_NEW_TLS_H
#define HOTPATCH_RUNTIME_NEW_TLS_H

#include "symbols.h"
#include "tls.h"

namespace hotpatch {

class Target;

/// Where the patch's new thread-local variables are, as a ModuleTls whose
/// symbol addresses are their offsets in `.hp.tls` (resolveSymbols gives
/// exactly that); nullopt when the patch adds none. The block's image
/// takes the addresses its relocations name first (\p symAddr: every
/// symbol's, resolveSymbols). \p moduleTls: the
/// patched module's TLS facts when the patch reaches its existing
/// variables: when its block is static too, the new variables are
/// addressed as if they were the module's (an offset from its block), so
/// that one local-dynamic base serves old and new alike. Refuses
/// (ApplyError) when the process cannot load it, with ld.so's message.
llvm::Expected<std::optional<ModuleTls>>
loadNewTls(Target &target, const Arch &arch, const PatchFile &patch,
           SymbolContext symbols, const std::vector<uint64_t> &symAddr,
           const ModuleTls *moduleTls, uint64_t &stopNs);

/// The memfd name of \p patch's TLS library.
std::string newTlsName(const PatchFile &patch);

/// Whether \p s is a variable the patch adds to thread-local storage.
inline bool isNewTls(const PatchSymbol &s) {
  return s.defined && s.section == PatchSection::Tls;
}

} // namespace hotpatch

#endif
