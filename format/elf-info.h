//===- format/elf-info.h - small facts about linked ELF files -----*- C++ -*-===//

#ifndef HOTPATCH_FORMAT_ELF_INFO_H
#define HOTPATCH_FORMAT_ELF_INFO_H

#include "llvm/ADT/SmallVector.h"
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
///
/// A global of hidden visibility (or one a version script made local) is
/// STB_LOCAL in the linked file, though a patch names it as a global. The
/// symbol table shows which locals were globals only in part: lld keeps
/// STV_HIDDEN on them, GNU ld lists them after an STT_FILE with an empty
/// name; a version script's locals linked by lld look like statics of the
/// file that defined them.
struct SymbolIndex {
  llvm::StringMap<uint64_t> globals; ///< .symtab and .dynsym
  llvm::StringMap<uint64_t> dynamic; ///< .dynsym only: what others may bind to
  std::map<std::pair<std::string, std::string>, std::vector<uint64_t>> locals;
  /// Locals the table shows to have been globals (see above), by name.
  llvm::StringMap<std::vector<uint64_t>> localized;
  std::set<uint64_t> ifuncs; ///< addresses of STT_GNU_IFUNC resolvers

  /// Where global \p name is: the global, else the globals of that name the
  /// linker made local, else (given \p definedIn, the base name of the file
  /// that defines it) that file's locals of the name, which cannot be its
  /// statics. Empty when none is; more than one when they cannot be told
  /// apart.
  llvm::SmallVector<uint64_t, 1> findGlobal(llvm::StringRef name,
                                            llvm::StringRef definedIn = "") const;
};
/// Reads both symbol tables; unreadable entries are skipped. Fails only
/// when the file has neither table.
llvm::Expected<SymbolIndex>
indexSymbols(const llvm::object::ELFFile<llvm::object::ELF64LE> &file,
             uint64_t bias);

} // namespace hotpatch

#endif
