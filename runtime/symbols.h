//===- runtime/symbols.h - what a patch's symbols are in the target -*- C++ -*-===//
//
// A patch names what it uses: its own sections, or symbols of the module
// it patches (by offset when hp-diff read the target build, by file-local
// name with its source file, by global name), or of any library the
// process has loaded. An IFUNC (strlen, memcpy) resolves to what its
// resolver picks for this CPU: the resolver runs in the target, in the
// placement stop, so the first resolution only collects them.
//
//===----------------------------------------------------------------------===//

#ifndef HOTPATCH_RUNTIME_SYMBOLS_H
#define HOTPATCH_RUNTIME_SYMBOLS_H

#include "module.h"

#include <map>

namespace hotpatch {

/// IFUNC resolver address -> the implementation it picked (0 until run).
using IfuncChoices = std::map<uint64_t, uint64_t>;

struct ModuleTls;

struct SymbolContext {
  Module &module;                  ///< the patched module
  std::vector<Module> &modules;    ///< every module, for outside references
  const std::vector<Mapping> &maps;
  IfuncChoices &ifuncs;
  const ModuleTls *tls = nullptr;  ///< when the patch accesses TLS (tls.h)
  const ModuleTls *newTls = nullptr; ///< when it adds some (new-tls.h)
};

/// The address of every symbol of \p patch, its sections placed at
/// \p sectionAddr (indexed by PatchSection). Refuses (ApplyError) naming
/// the first symbol the target does not have.
llvm::Expected<std::vector<uint64_t>>
resolveSymbols(const PatchFile &patch, SymbolContext ctx,
               const std::vector<uint64_t> &sectionAddr);

struct FoundSymbol {
  uint64_t addr = 0;
  std::string module; ///< the path of the module that defines it
};
/// Where the process finds global \p name: the patched module first (all
/// of its globals), then the dynamic symbols of every other module, in
/// the order they were loaded. Nullopt when none defines it.
std::optional<FoundSymbol> findInProcess(SymbolContext ctx, llvm::StringRef name);
/// Every module's global \p name, in the same order: the patched module's
/// (any global), then each other module's dynamic symbol.
std::vector<FoundSymbol> findEverywhere(SymbolContext ctx, llvm::StringRef name);

} // namespace hotpatch

#endif
