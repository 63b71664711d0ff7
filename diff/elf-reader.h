//===- diff/elf-reader.h - one ELF file, as the differ reads it -*- C++ -*-===//
//
// Objects (.o) and linked binaries are read by the same code, with LLVM's
// ELF library: header, sections, symbols, relocations and the fingerprint
// records. What each kind then makes of them is object.cpp's and
// linked.cpp's. A file that cannot be read this far is an InputError; a
// readable file hp-diff cannot use (32-bit, no symbol table) is a refusal.
//
//===----------------------------------------------------------------------===//

#ifndef HOTPATCH_DIFF_ELF_READER_H
#define HOTPATCH_DIFF_ELF_READER_H

#include "object.h"

namespace hotpatch {

struct ElfSection {
  llvm::StringRef name;
  uint32_t type = 0;
  uint64_t flags = 0, addr = 0, size = 0, align = 1;
  llvm::ArrayRef<uint8_t> data;
  std::vector<Reloc> relocs; ///< from its SHT_RELA section, in file order
  bool hasRel = false;       ///< an SHT_REL section applies to it
};

struct ElfImage {
  std::string path;
  std::shared_ptr<llvm::MemoryBuffer> buf;
  uint16_t type = 0, machine = 0;
  uint64_t tlsStart = 0; ///< PT_TLS's address (linked binaries)
  std::vector<ElfSection> sections;
  bool hasSymbolTable = false;
  /// STT_SECTION symbols take their section's name.
  std::vector<Symbol> symbols;
  uint32_t firstGlobal = 0; ///< the symbol table's sh_info
  std::vector<TableRecord> records; ///< every record of .hotpatch.fp
};

enum class ElfKind {
  Object, ///< relocations of every section
  /// Relocations kept by --emit-relocs, of allocated sections only (not of
  /// debug information: nothing a patch copies); dynamic ones are skipped.
  Linked,
};

/// Reads \p path. Fails with an InputError when it is missing, not ELF or
/// damaged, and with a refusal when it is not 64-bit little-endian.
llvm::Expected<ElfImage> readElf(llvm::StringRef path, ElfKind kind);

} // namespace hotpatch

#endif
