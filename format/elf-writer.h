//===- format/elf-writer.h - an ELF file built in memory -----------*- C++ -*-===//
//
// The one place hotpatch writes ELF files with libelf: the .hp patch
// (patch-file.cpp) and the symbol files of applied patches that unwinders
// read (runtime/patch-frames.cpp). The file lives in a memfd.
//
//===----------------------------------------------------------------------===//

#ifndef HOTPATCH_FORMAT_ELF_WRITER_H
#define HOTPATCH_FORMAT_ELF_WRITER_H

#include "llvm/ADT/Twine.h"
#include "llvm/Support/Error.h"

// (libelf's headers are left to the .cpp files: their <elf.h> macros
// clash with LLVM's ELF enums when included before them.)
struct Elf;

namespace hotpatch {

/// An error naming the libelf call \p what and libelf's message.
llvm::Error elfError(const llvm::Twine &what);

/// A libelf output file in memory (memfd), ended and closed on every path
/// unless the descriptor is taken.
class ElfWriter {
public:
  ElfWriter() = default;
  ElfWriter(const ElfWriter &) = delete;
  ElfWriter &operator=(const ElfWriter &) = delete;
  ~ElfWriter();
  /// Creates the memfd (named \p name in /proc) and starts the ELF file.
  llvm::Error open(const char *name);
  /// Adds a section holding \p bytes (kept alive by the caller; null for
  /// SHT_NOBITS) at address \p addr; returns its index.
  llvm::Expected<size_t> add(uint32_t nameOff, uint32_t type, uint64_t flags,
                             const void *bytes, size_t size, uint64_t align,
                             uint64_t entsize = 0, uint32_t link = 0,
                             uint32_t info = 0, int dataType = byteData,
                             uint64_t addr = 0);
  /// libelf's ELF_T_BYTE (a section of plain bytes), for dataType.
  static constexpr int byteData = 0;
  /// Ends the ELF file (written out) and hands over its descriptor.
  int take();

  int fd = -1;
  Elf *elf = nullptr;
};

} // namespace hotpatch

#endif
