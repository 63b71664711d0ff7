//===- runtime/symbols.cpp - what a patch's symbols are in the target -----===//

#include "symbols.h"

#include "apply-error.h"
#include "arch.h"

#include "llvm/Support/FormatVariadic.h"

using namespace llvm;

namespace hotpatch {
namespace {

/// \p addr, or what its resolver picked when it is an IFUNC of \p m.
uint64_t throughIfunc(const Module &m, uint64_t addr, IfuncChoices &ifuncs) {
  if (!m.symbols.ifuncs.count(addr))
    return addr;
  auto [it, inserted] = ifuncs.try_emplace(addr, 0); // to be resolved
  return inserted || !it->second ? addr : it->second;
}

/// The symbol in the patched module; nullopt when it has no such global
/// (nor one the linker made local).
Expected<std::optional<uint64_t>> inModule(const PatchSymbol &s, SymbolContext &ctx) {
  Module &mod = ctx.module;
  if (s.refOffset != unresolvedOffset)
    return mod.base + s.refOffset;
  if (!s.refSource.empty()) {
    auto it = mod.symbols.locals.find({s.refSource, s.refName});
    if (it == mod.symbols.locals.end())
      return applyError(ApplyError::Refused,
                        formatv("{0} has no file-local symbol '{1}' from {2}",
                                mod.path, s.refName, s.refSource));
    if (it->second.size() > 1)
      return applyError(ApplyError::Refused,
                        formatv("{0} has {1} file-local symbols '{2}' from "
                                "files named {3}; patch with --target to "
                                "resolve them exactly",
                                mod.path, it->second.size(), s.refName,
                                s.refSource));
    return it->second.front();
  }
  // A global of hidden visibility is local in the linked module.
  SmallVector<uint64_t, 1> found = mod.symbols.findGlobal(s.refName);
  if (found.size() > 1)
    return applyError(ApplyError::Refused,
                      formatv("{0} has {1} symbols '{2}' the linker made local "
                              "(hidden visibility); patch with --target to "
                              "resolve them exactly",
                              mod.path, found.size(), s.refName));
  if (found.size() == 1)
    return throughIfunc(mod, found.front(), ctx.ifuncs);
  return std::nullopt;
}

/// The symbol among the dynamic symbols of the other modules; \p where
/// receives the module that has it.
std::optional<uint64_t> inLibraries(const PatchSymbol &s, SymbolContext &ctx,
                                    const Module **where = nullptr) {
  for (Module &other : ctx.modules) {
    if (&other == &ctx.module)
      continue;
    loadModule(other, ctx.maps);
    auto hit = other.symbols.dynamic.find(s.refName);
    if (hit != other.symbols.dynamic.end()) {
      if (where)
        *where = &other;
      return throughIfunc(other, hit->second, ctx.ifuncs);
    }
  }
  return std::nullopt;
}

} // namespace

std::optional<FoundSymbol> findInProcess(SymbolContext ctx, StringRef name) {
  PatchSymbol s;
  s.refName = name.str();
  s.refInModule = false;
  Expected<std::optional<uint64_t>> local = inModule(s, ctx);
  if (!local)
    consumeError(local.takeError());
  else if (*local)
    return FoundSymbol{**local, ctx.module.path};
  const Module *where = nullptr;
  if (std::optional<uint64_t> outside = inLibraries(s, ctx, &where))
    return FoundSymbol{*outside, where->path};
  return std::nullopt;
}

std::vector<FoundSymbol> findEverywhere(SymbolContext ctx, StringRef name) {
  std::vector<FoundSymbol> out;
  PatchSymbol s;
  s.refName = name.str();
  s.refInModule = false;
  Expected<std::optional<uint64_t>> local = inModule(s, ctx);
  if (!local)
    consumeError(local.takeError());
  else if (*local)
    out.push_back({**local, ctx.module.path});
  for (Module &other : ctx.modules) {
    if (&other == &ctx.module)
      continue;
    loadModule(other, ctx.maps);
    auto hit = other.symbols.dynamic.find(s.refName);
    if (hit != other.symbols.dynamic.end())
      out.push_back({throughIfunc(other, hit->second, ctx.ifuncs), other.path});
  }
  return out;
}

Expected<std::vector<uint64_t>> resolveSymbols(const PatchFile &patch, SymbolContext ctx,
                                               const std::vector<uint64_t> &sectionAddr) {
  std::vector<uint64_t> addr(patch.symbols.size(), 0);
  for (size_t i = 0; i < patch.symbols.size(); ++i) {
    const PatchSymbol &s = patch.symbols[i];
    if (s.defined) {
      addr[i] = sectionAddr[unsigned(s.section)] + s.value;
      continue;
    }
    if (s.refName == tlsModuleBaseName && s.refInModule) {
      addr[i] = ctx.module.base; // the TLS block's start: block offset 0
      continue;
    }
    Expected<std::optional<uint64_t>> local = inModule(s, ctx);
    if (!local)
      return local.takeError();
    if (*local) {
      addr[i] = **local;
      continue;
    }
    std::optional<uint64_t> outside;
    if (!s.refInModule)
      outside = inLibraries(s, ctx);
    if (!outside)
      return applyError(ApplyError::Refused,
                        formatv("symbol '{0}' the patch needs is not in {1}{2}",
                                s.refName, ctx.module.path,
                                s.refInModule ? "" : " or any loaded library"));
    addr[i] = *outside;
  }
  return addr;
}

} // namespace hotpatch
