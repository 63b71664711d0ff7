//===- format/elf-info.cpp - small facts about linked ELF files -----------===//

#include "elf-info.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/Path.h"

using namespace llvm;
using namespace llvm::object;

namespace hotpatch {

std::string buildIdOf(const ELFFile<ELF64LE> &file) {
  // Program headers first (what the loader sees), then section headers.
  if (Expected<ELF64LE::PhdrRange> phdrs = file.program_headers()) {
    for (const auto &ph : *phdrs) {
      if (ph.p_type != ELF::PT_NOTE)
        continue;
      Error err = Error::success();
      for (const auto &note : file.notes(ph, err))
        if (note.getType() == ELF::NT_GNU_BUILD_ID && note.getName() == "GNU") {
          consumeError(std::move(err));
          return toHex(note.getDesc(ph.p_align), /*LowerCase=*/true);
        }
      consumeError(std::move(err));
    }
  } else {
    consumeError(phdrs.takeError());
  }
  if (Expected<ELF64LE::ShdrRange> shdrs = file.sections()) {
    for (const auto &sh : *shdrs) {
      if (sh.sh_type != ELF::SHT_NOTE)
        continue;
      Error err = Error::success();
      for (const auto &note : file.notes(sh, err))
        if (note.getType() == ELF::NT_GNU_BUILD_ID && note.getName() == "GNU") {
          consumeError(std::move(err));
          return toHex(note.getDesc(sh.sh_addralign), /*LowerCase=*/true);
        }
      consumeError(std::move(err));
    }
  } else {
    consumeError(shdrs.takeError());
  }
  return "";
}

Expected<SymbolIndex> indexSymbols(const ELFFile<ELF64LE> &file, uint64_t bias) {
  SymbolIndex index;
  Expected<ELF64LE::ShdrRange> shdrs = file.sections();
  if (!shdrs)
    return shdrs.takeError();
  bool any = false;
  for (const auto &sh : *shdrs) {
    if (sh.sh_type != ELF::SHT_SYMTAB && sh.sh_type != ELF::SHT_DYNSYM)
      continue;
    bool dyn = sh.sh_type == ELF::SHT_DYNSYM;
    Expected<ELF64LE::SymRange> syms = file.symbols(&sh);
    Expected<StringRef> strtab = file.getStringTableForSymtab(sh);
    if (!syms || !strtab) {
      if (!syms)
        consumeError(syms.takeError());
      if (!strtab)
        consumeError(strtab.takeError());
      continue;
    }
    any = true;
    std::string currentFile;
    bool afterUnnamedFile = false; // GNU ld's globals made local
    for (const auto &s : *syms) {
      Expected<StringRef> name = s.getName(*strtab);
      if (!name) {
        consumeError(name.takeError());
        continue;
      }
      if (s.getType() == ELF::STT_FILE) {
        currentFile = sys::path::filename(*name).str();
        afterUnnamedFile = name->empty();
        continue;
      }
      if (s.st_shndx == ELF::SHN_UNDEF || s.getType() == ELF::STT_SECTION ||
          name->empty())
        continue;
      uint64_t addr = bias + s.st_value;
      if (s.getType() == ELF::STT_GNU_IFUNC)
        index.ifuncs.insert(addr);
      if (s.getBinding() == ELF::STB_LOCAL) {
        if (dyn)
          continue;
        index.locals[{currentFile, name->str()}].push_back(addr);
        uint8_t visibility = s.getVisibility();
        if (afterUnnamedFile || visibility == ELF::STV_HIDDEN ||
            visibility == ELF::STV_INTERNAL)
          index.localized[*name].push_back(addr);
        continue;
      }
      StringRef clean = name->split('@').first; // versioned: name@@VER
      index.globals.try_emplace(clean, addr);
      if (dyn)
        index.dynamic.try_emplace(clean, addr);
    }
  }
  if (!any)
    return createStringError(std::errc::invalid_argument, "no symbol table");
  return index;
}

SmallVector<uint64_t, 1> SymbolIndex::findGlobal(StringRef name,
                                                 StringRef definedIn) const {
  if (auto it = globals.find(name); it != globals.end())
    return {it->second};
  if (auto it = localized.find(name); it != localized.end())
    return SmallVector<uint64_t, 1>(it->second.begin(), it->second.end());
  if (definedIn.empty())
    return {};
  // A file defining global `name` has no static of that name: whatever it
  // lists under it is the global.
  auto it = locals.find({definedIn.str(), name.str()});
  if (it == locals.end())
    return {};
  return SmallVector<uint64_t, 1>(it->second.begin(), it->second.end());
}

} // namespace hotpatch
