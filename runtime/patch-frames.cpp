//===- runtime/patch-frames.cpp - applied patches as files unwinders read -===//

#include "patch-frames.h"

#include "elf-writer.h"
#include "string-table.h"

#include "llvm/Support/Endian.h"

#include <cassert>
#include <gelf.h>
#include <libelf.h>

using namespace llvm;

namespace hotpatch {
namespace {

/// The length of the .eh_frame at the start of \p bytes, its zero
/// terminator included; 0 when it does not end inside them.
size_t tablesLength(ArrayRef<uint8_t> bytes) {
  for (size_t at = 0; at + 4 <= bytes.size();) {
    uint32_t length = support::endian::read32le(bytes.data() + at);
    if (length == 0)
      return at + 4;
    if (length == 0xffffffff)
      return 0; // (hp-diff never writes 64-bit entries)
    at += 4 + uint64_t(length);
  }
  return 0;
}

} // namespace

std::vector<PatchFrames> readPatchFrames(const Target &target,
                                         const std::vector<AppliedPatch> &records) {
  std::vector<PatchFrames> out;
  for (const AppliedPatch &r : records) {
    if (!r.unwindTablesOffset || r.unwindTablesOffset >= r.regionSize)
      continue;
    PatchFrames f;
    f.id = r.id;
    f.machine = r.eMachine;
    f.regionAddr = r.regionAddr;
    f.regionSize = r.regionSize;
    f.tablesOffset = r.unwindTablesOffset;
    f.functions = r.functions;
    // The tables end inside the read-only part, before the record.
    uint64_t readOnlyEnd = std::min(r.recordAddr - r.regionAddr, r.regionSize);
    if (r.unwindTablesOffset >= readOnlyEnd)
      continue;
    std::vector<uint8_t> bytes(readOnlyEnd - r.unwindTablesOffset);
    if (bytes.empty())
      continue;
    if (Error err = target.read(r.regionAddr + r.unwindTablesOffset, bytes)) {
      consumeError(std::move(err));
      continue;
    }
    size_t length = tablesLength(bytes);
    if (!length)
      continue;
    bytes.resize(length);
    f.tables = std::move(bytes);
    out.push_back(std::move(f));
  }
  return out;
}

Expected<int> patchFramesFile(const PatchFrames &frames) {
  ElfWriter w;
  if (Error err = w.open("hotpatch-frames"))
    return std::move(err);
  if (!gelf_newehdr(w.elf, ELFCLASS64) || !gelf_newphdr(w.elf, 1))
    return elfError("gelf_newehdr");
  GElf_Ehdr ehdr;
  gelf_getehdr(w.elf, &ehdr);
  ehdr.e_ident[EI_DATA] = ELFDATA2LSB;
  ehdr.e_ident[EI_OSABI] = ELFOSABI_NONE;
  ehdr.e_type = ET_DYN;
  ehdr.e_machine = frames.machine;
  ehdr.e_version = EV_CURRENT;

  StringTable shstr, str;
  uint32_t textName = shstr.add(".text"), ehName = shstr.add(".eh_frame"),
           symName = shstr.add(".symtab"), strName = shstr.add(".strtab"),
           shstrName = shstr.add(".shstrtab");
  // The code is in the region before the tables (they are in its
  // read-only data): a .text without bytes gives the symbols a section,
  // which debuggers move with the file.
  const uint32_t textIndex = 1;
  std::vector<Elf64_Sym> syms(1); // the null symbol
  for (const RecordedFunction &fn : frames.functions) {
    if (fn.newAddr < frames.regionAddr ||
        fn.newAddr >= frames.regionAddr + frames.tablesOffset)
      continue;
    Elf64_Sym s{};
    s.st_name = str.add(fn.name);
    s.st_info = ELF64_ST_INFO(STB_GLOBAL, STT_FUNC);
    s.st_shndx = textIndex;
    s.st_value = fn.newAddr - frames.regionAddr;
    syms.push_back(s);
  }
  Expected<size_t> text = w.add(textName, SHT_NOBITS, SHF_ALLOC | SHF_EXECINSTR, nullptr,
                                frames.tablesOffset, 16);
  if (!text)
    return text.takeError();
  assert(*text == textIndex);
  Expected<size_t> eh = w.add(ehName, SHT_PROGBITS, SHF_ALLOC, frames.tables.data(),
                              frames.tables.size(), 8, 0, 0, 0, ElfWriter::byteData,
                              frames.tablesOffset);
  if (!eh)
    return eh.takeError();
  Expected<size_t> strIdx =
      w.add(strName, SHT_STRTAB, 0, str.bytes().data(), str.bytes().size(), 1);
  if (!strIdx)
    return strIdx.takeError();
  Expected<size_t> symIdx =
      w.add(symName, SHT_SYMTAB, 0, syms.data(), syms.size() * sizeof(Elf64_Sym), 8,
            sizeof(Elf64_Sym), *strIdx, 1, ELF_T_SYM);
  if (!symIdx)
    return symIdx.takeError();
  Expected<size_t> shstrIdx =
      w.add(shstrName, SHT_STRTAB, 0, shstr.bytes().data(), shstr.bytes().size(), 1);
  if (!shstrIdx)
    return shstrIdx.takeError();
  ehdr.e_shstrndx = *shstrIdx;
  if (!gelf_update_ehdr(w.elf, &ehdr))
    return elfError("gelf_update_ehdr");
  // One PT_LOAD: the whole region, from address 0 (nothing of it in the
  // file but the tables' copy in .eh_frame).
  GElf_Phdr load{};
  load.p_type = PT_LOAD;
  load.p_flags = PF_R | PF_X;
  load.p_memsz = frames.regionSize;
  load.p_align = 4096;
  if (!gelf_update_phdr(w.elf, 0, &load))
    return elfError("gelf_update_phdr");
  if (elf_update(w.elf, ELF_C_WRITE) < 0)
    return elfError("elf_update");
  return w.take();
}

} // namespace hotpatch
