//===- format/elf-info.h - small facts about linked ELF files -----*- C++ -*-===//

#ifndef HOTPATCH_FORMAT_ELF_INFO_H
#define HOTPATCH_FORMAT_ELF_INFO_H

#include "llvm/ADT/StringMap.h"
#include "llvm/Object/ELF.h"

#include <map>
#include <set>
#include <string>
#include <vector>

namespace hotpatch {

/// The GNU build-id note of \p file as lower-case hex, or "" when it has none.
std::string buildIdOf(const llvm::object::ELFFile<llvm::object::ELF64LE> &file);

/// The defined symbols of a linked ELF file, as a patch names them: globals
/// by name, file-local ones by (STT_FILE base name, name). Values are
/// st_value plus \p bias (the load address of a shared object or PIE).
struct SymbolIndex {
  llvm::StringMap<uint64_t> globals; ///< .symtab and .dynsym
  llvm::StringMap<uint64_t> dynamic; ///< .dynsym only: what others may bind to
  std::map<std::pair<std::string, std::string>, std::vector<uint64_t>> locals;
  std::set<uint64_t> ifuncs; ///< addresses of STT_GNU_IFUNC resolvers
};
/// Reads both symbol tables; unreadable entries are skipped. Fails only
/// when the file has neither table.
llvm::Expected<SymbolIndex>
indexSymbols(const llvm::object::ELFFile<llvm::object::ELF64LE> &file,
             uint64_t bias);

} // namespace hotpatch

#endif
