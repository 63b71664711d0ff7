//===- runtime/module.cpp - the ELF files a process has mapped ------------===//

#include "module.h"

#include "llvm/ADT/StringMap.h"
#include "llvm/Object/ELF.h"
#include "llvm/Support/MemoryBuffer.h"

#include <algorithm>

using namespace llvm;
using namespace llvm::object;

namespace hotpatch {

std::vector<Module> groupModules(const Target &target, const std::vector<Mapping> &maps) {
  std::vector<Module> out;
  StringMap<size_t> byPath;
  for (const Mapping &m : maps) {
    if (m.path.empty() || m.path[0] != '/' || m.inode == 0)
      continue;
    auto [it, inserted] = byPath.try_emplace(m.path, out.size());
    if (inserted) {
      out.emplace_back();
      out.back().path = m.path;
      out.back().mapFile = target.fileOf(m);
    }
    Module &mod = out[it->second];
    mod.start = std::min(mod.start, m.start);
    mod.end = std::max(mod.end, m.end);
  }
  return out;
}

uint64_t loadBias(const ELFFile<ELF64LE> &file, StringRef path,
                  const std::vector<Mapping> &maps) {
  if (file.getHeader().e_type == ELF::ET_EXEC)
    return 0;
  const uint64_t page = systemPageSize();
  uint64_t firstVaddr = 0;
  if (Expected<ELF64LE::PhdrRange> phdrs = file.program_headers()) {
    for (const auto &ph : *phdrs)
      if (ph.p_type == ELF::PT_LOAD) {
        firstVaddr = ph.p_vaddr & ~(page - 1);
        break;
      }
  } else {
    consumeError(phdrs.takeError());
  }
  uint64_t firstMap = ~0ull;
  for (const Mapping &map : maps)
    if (map.path == path && map.fileOffset == 0)
      firstMap = std::min(firstMap, map.start);
  return firstMap - firstVaddr;
}

void loadModule(Module &m, const std::vector<Mapping> &maps) {
  if (m.loaded)
    return;
  m.loaded = true;
  ErrorOr<std::unique_ptr<MemoryBuffer>> buf =
      MemoryBuffer::getFile(m.mapFile, /*IsText=*/false, false);
  if (!buf)
    return; // not readable: not a candidate
  Expected<ELFFile<ELF64LE>> file = ELFFile<ELF64LE>::create((*buf)->getBuffer());
  if (!file) {
    consumeError(file.takeError());
    return;
  }
  m.isElf = true;
  m.isExec = file->getHeader().e_type == ELF::ET_EXEC;
  m.buildId = buildIdOf(*file);
  m.base = loadBias(*file, m.path, maps);

  Expected<SymbolIndex> index = indexSymbols(*file, m.base);
  if (!index) {
    consumeError(index.takeError());
    return;
  }
  m.symbols = std::move(*index);
}

Module *findPatchedModule(std::vector<Module> &modules, const std::vector<Mapping> &maps,
                          const PatchFile &patch) {
  for (Module &m : modules) {
    loadModule(m, maps);
    if (!m.isElf)
      continue;
    if (!patch.buildId.empty()) {
      if (m.buildId == patch.buildId)
        return &m;
      continue;
    }
    bool all = !patch.functions.empty();
    for (const FunctionMapEntry &fn : patch.functions)
      all &= fn.oldSource.empty()
                 ? !m.symbols.findGlobal(fn.oldName).empty()
                 : m.symbols.locals.count({fn.oldSource, fn.oldName}) > 0;
    if (all)
      return &m;
  }
  return nullptr;
}

} // namespace hotpatch
