//===- runtime/module.h - the ELF files a process has mapped -------*- C++ -*-===//
//
// What the target is made of: its executable and libraries, each with its
// load address and symbols, read from the files /proc/PID/maps names (as
// the target sees them, through /proc/PID/root). Symbols are read only for
// the modules a lookup needs.
//
//===----------------------------------------------------------------------===//

#ifndef HOTPATCH_RUNTIME_MODULE_H
#define HOTPATCH_RUNTIME_MODULE_H

#include "elf-info.h"
#include "patch-file.h"
#include "target.h"

#include "llvm/Object/ELF.h"
#include "llvm/Support/Error.h"

#include <string>
#include <vector>

namespace hotpatch {

/// One ELF file mapped into the target.
struct Module {
  std::string path;    ///< as /proc/PID/maps names it
  std::string mapFile; ///< where we can read it
  uint64_t start = ~0ull, end = 0; ///< the address range of its mappings
  uint64_t base = 0;               ///< load bias (0 for an executable)
  bool isExec = false;
  std::string buildId;
  bool loaded = false, isElf = false;
  SymbolIndex symbols;
};

/// The load bias of \p file, mapped as \p path in \p maps: the mapping
/// of file offset 0 holds the first PT_LOAD, from the start of its page;
/// 0 for an executable (ET_EXEC).
uint64_t loadBias(const llvm::object::ELFFile<llvm::object::ELF64LE> &file,
                  llvm::StringRef path, const std::vector<Mapping> &maps);

/// Every file-backed mapping grouped by file, symbols not read yet.
std::vector<Module> groupModules(const Target &target, const std::vector<Mapping> &maps);

/// Reads \p m's ELF header, build-id, load bias and symbols, once. A file
/// that cannot be read or is not ELF is left as not isElf: never a match.
void loadModule(Module &m, const std::vector<Mapping> &maps);

/// The module \p patch is for: the one with its build-id when it names one,
/// else the one module defining every replaced function; null when none.
Module *findPatchedModule(std::vector<Module> &modules, const std::vector<Mapping> &maps,
                          const PatchFile &patch);

} // namespace hotpatch

#endif
