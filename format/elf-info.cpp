//===- format/elf-info.cpp - small facts about linked ELF files -----------===//

#include "elf-info.h"

#include "llvm/ADT/StringExtras.h"

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

} // namespace hotpatch
