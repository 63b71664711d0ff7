//===- diff/object.h - what the differ reads from a build -----*- C++ -*-===//
//
// The differ sees every build as translation units: each one an object with
// sections, symbols, relocations and its fingerprint record. An object file
// (.o) is one such unit as it is; a linked binary kept with --emit-relocs is
// cut back into one unit per record of its table (linked.cpp).
//
//===----------------------------------------------------------------------===//

#ifndef HOTPATCH_DIFF_OBJECT_H
#define HOTPATCH_DIFF_OBJECT_H

#include "errors.h"
#include "fingerprint-table.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/BinaryFormat/ELF.h"
#include "llvm/Support/Allocator.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/StringSaver.h"

#include <memory>
#include <string>
#include <vector>

namespace hotpatch {

struct Reloc {
  uint64_t offset;
  uint32_t type;
  uint32_t symbol;
  int64_t addend;
  /// From a linked binary only: another symbol the address may have meant
  /// (the end of one variable is the start of the next), 0 if none. The
  /// differ refuses when the two readings would give different patches.
  uint32_t alt = 0;
};

struct Section {
  llvm::StringRef name; // into the object's buffer, like every name here
  uint32_t type = 0;
  uint64_t flags = 0, size = 0, align = 1;
  llvm::ArrayRef<uint8_t> data;
  std::vector<Reloc> relocs;
  bool hasRel = false; // SHT_REL relocations: not produced for our targets
  /// Cut from a linked binary: the bytes under each relocation hold the
  /// linker's work, and Arch::asCompiled must put them back before use.
  bool linked = false;
};

struct Symbol {
  llvm::StringRef name;
  uint8_t binding = 0, type = 0;
  uint8_t visibility = 0; ///< STV_*
  uint32_t shndx = 0;
  uint64_t value = 0, size = 0;
};

/// One object file, parsed with LLVM's ELF library.
struct Object {
  std::string path;
  std::string name; ///< for messages; the file name when empty
  std::shared_ptr<llvm::MemoryBuffer> buf; ///< shared by the TUs of a binary
  llvm::BumpPtrAllocator alloc;
  llvm::StringSaver saver{alloc}; ///< names and bytes made here, not in buf
  uint16_t machine = 0;
  std::vector<Section> sections;
  std::vector<Symbol> symbols;
  llvm::StringMap<uint32_t> defined; // non-section defined symbol -> index
  bool hasTable = false;
  TableRecord table; // all records merged
  llvm::StringMap<const FunctionEntry *> functions;
  llvm::StringMap<const VariableEntry *> variables;
  std::vector<llvm::SmallVector<uint32_t, 2>> knownInSection; // table symbols per section

  std::string label() const {
    return name.empty() ? llvm::sys::path::filename(path).str() : name;
  }
  std::string source() const {
    return table.sourceFile.empty()
               ? label()
               : llvm::sys::path::filename(table.sourceFile).str();
  }
  bool isLocal(uint32_t sym) const {
    return symbols[sym].binding == llvm::ELF::STB_LOCAL;
  }
};

/// Fills \p obj's lookups (defined, functions, variables, knownInSection)
/// from its symbols, sections and table.
void indexObject(Object &obj);

/// Reads one relocatable object (.o) with its fingerprint table. Fails
/// with an InputError when it cannot be read, a refusal when it is not an
/// object hp-diff can compare (linked, no table).
llvm::Expected<std::unique_ptr<Object>> loadObject(llvm::StringRef path);

/// True when \p path is a linked executable or shared library (ET_EXEC or
/// ET_DYN), false for anything else, an error when it cannot be read.
llvm::Expected<bool> isLinkedBinary(llvm::StringRef path);

/// Cuts a linked binary, linked with --emit-relocs, back into one object per
/// translation unit of its fingerprint table: a section per function and
/// variable, and per piece of unnamed data its code refers to, with the
/// relocations the linker kept, rewritten as the compiler wrote them.
/// \p warnings, when given, receives what hp-diff cannot see (functions
/// built without the plugin). Fails with an InputError when the binary is
/// damaged, a refusal when it cannot be cut (stripped, no kept relocations).
llvm::Expected<std::vector<std::unique_ptr<Object>>>
loadLinked(llvm::StringRef path, std::vector<std::string> *warnings = nullptr);

} // namespace hotpatch

#endif
