//===- runtime/patch-frames.cpp - applied patches as files unwinders read -===//

#include "patch-frames.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/Endian.h"

#include <cassert>
#include <gelf.h>
#include <libelf.h>
#include <sys/mman.h>
#include <unistd.h>

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

Error elfError(const char *what) {
  return createStringError(std::errc::io_error, "%s: %s", what, elf_errmsg(-1));
}

/// A string table being built; offset 0 is the empty name.
struct Strings {
  std::string bytes = std::string(1, '\0');
  uint32_t add(StringRef s) {
    uint32_t at = bytes.size();
    bytes.append(s.begin(), s.end());
    bytes.push_back('\0');
    return at;
  }
};

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
  if (elf_version(EV_CURRENT) == EV_NONE)
    return elfError("libelf");
  int fd = memfd_create("hotpatch-frames", MFD_CLOEXEC);
  if (fd < 0)
    return createStringError(std::error_code(errno, std::generic_category()),
                             "cannot create an in-memory file");
  Elf *elf = elf_begin(fd, ELF_C_WRITE, nullptr);
  auto fail = [&](Error err) -> Expected<int> {
    if (elf)
      elf_end(elf);
    close(fd);
    return std::move(err);
  };
  if (!elf)
    return fail(elfError("elf_begin"));
  if (!gelf_newehdr(elf, ELFCLASS64) || !gelf_newphdr(elf, 1))
    return fail(elfError("gelf_newehdr"));
  GElf_Ehdr ehdr;
  gelf_getehdr(elf, &ehdr);
  ehdr.e_ident[EI_DATA] = ELFDATA2LSB;
  ehdr.e_ident[EI_OSABI] = ELFOSABI_NONE;
  ehdr.e_type = ET_DYN;
  ehdr.e_machine = frames.machine;
  ehdr.e_version = EV_CURRENT;

  Strings shstr, str;
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
  auto add = [&](uint32_t name, uint32_t type, uint64_t flags, uint64_t addr,
                 const void *bytes, size_t size, uint64_t align, Elf_Type dataType,
                 uint32_t link = 0, uint32_t info = 0,
                 uint64_t entsize = 0) -> Expected<size_t> {
    Elf_Scn *scn = elf_newscn(elf);
    Elf_Data *data = scn ? elf_newdata(scn) : nullptr;
    if (!data)
      return elfError("elf_newscn");
    data->d_buf = const_cast<void *>(bytes);
    data->d_size = size;
    data->d_align = align;
    data->d_type = dataType;
    GElf_Shdr shdr{};
    gelf_getshdr(scn, &shdr);
    shdr.sh_name = name;
    shdr.sh_type = type;
    shdr.sh_flags = flags;
    shdr.sh_addr = addr;
    shdr.sh_addralign = align;
    shdr.sh_size = size;
    shdr.sh_link = link;
    shdr.sh_info = info;
    shdr.sh_entsize = entsize;
    if (!gelf_update_shdr(scn, &shdr))
      return elfError("gelf_update_shdr");
    return elf_ndxscn(scn);
  };
  Expected<size_t> text = add(textName, SHT_NOBITS, SHF_ALLOC | SHF_EXECINSTR, 0,
                              nullptr, frames.tablesOffset, 16, ELF_T_BYTE);
  if (!text)
    return fail(text.takeError());
  assert(*text == textIndex);
  Expected<size_t> eh = add(ehName, SHT_PROGBITS, SHF_ALLOC, frames.tablesOffset,
                            frames.tables.data(), frames.tables.size(), 8, ELF_T_BYTE);
  if (!eh)
    return fail(eh.takeError());
  Expected<size_t> strIdx =
      add(strName, SHT_STRTAB, 0, 0, str.bytes.data(), str.bytes.size(), 1, ELF_T_BYTE);
  if (!strIdx)
    return fail(strIdx.takeError());
  Expected<size_t> symIdx =
      add(symName, SHT_SYMTAB, 0, 0, syms.data(), syms.size() * sizeof(Elf64_Sym), 8,
          ELF_T_SYM, *strIdx, 1, sizeof(Elf64_Sym));
  if (!symIdx)
    return fail(symIdx.takeError());
  Expected<size_t> shstrIdx = add(shstrName, SHT_STRTAB, 0, 0, shstr.bytes.data(),
                                  shstr.bytes.size(), 1, ELF_T_BYTE);
  if (!shstrIdx)
    return fail(shstrIdx.takeError());
  ehdr.e_shstrndx = *shstrIdx;
  if (!gelf_update_ehdr(elf, &ehdr))
    return fail(elfError("gelf_update_ehdr"));
  // One PT_LOAD: the whole region, from address 0 (nothing of it in the
  // file but the tables' copy in .eh_frame).
  GElf_Phdr load{};
  load.p_type = PT_LOAD;
  load.p_flags = PF_R | PF_X;
  load.p_vaddr = load.p_paddr = 0;
  load.p_memsz = frames.regionSize;
  load.p_align = 4096;
  if (!gelf_update_phdr(elf, 0, &load))
    return fail(elfError("gelf_update_phdr"));
  if (elf_update(elf, ELF_C_WRITE) < 0)
    return fail(elfError("elf_update"));
  elf_end(elf);
  elf = nullptr;
  return fd;
}

} // namespace hotpatch
