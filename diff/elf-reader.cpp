//===- diff/elf-reader.cpp - one ELF file, as the differ reads it ---------===//

#include "elf-reader.h"

#include "llvm/Object/ELF.h"

using namespace llvm;
using namespace llvm::object;

namespace hotpatch {

namespace {

using ELFT = ELF64LE;

class Reader {
public:
  Reader(ElfImage &image, const ELFFile<ELFT> &file, ElfKind kind)
      : image(image), file(file), kind(kind) {}
  Error readAll() {
    if (Error err = readProgramHeaders())
      return err;
    if (Error err = readSections())
      return err;
    if (Error err = readSymbols())
      return err;
    if (Error err = readRelocations())
      return err;
    return readRecords();
  }

private:
  Error bad(const Twine &why) const { return badInput(image.path, why); }
  Error readProgramHeaders();
  Error readSections();
  Error readSymbols();
  Error readRelocations();
  Error readRecords();

  ElfImage &image;
  const ELFFile<ELFT> &file;
  ElfKind kind;
  typename ELFT::ShdrRange shdrs;
  const typename ELFT::Shdr *symtab = nullptr;
};

Error Reader::readProgramHeaders() {
  Expected<typename ELFT::PhdrRange> phdrs = file.program_headers();
  if (!phdrs)
    return bad("unreadable program headers: " + toString(phdrs.takeError()));
  for (const auto &ph : *phdrs)
    if (ph.p_type == ELF::PT_TLS)
      image.tlsStart = ph.p_vaddr;
  return Error::success();
}

Error Reader::readSections() {
  Expected<typename ELFT::ShdrRange> all = file.sections();
  if (!all)
    return bad("unreadable sections: " + toString(all.takeError()));
  shdrs = *all;
  image.sections.resize(shdrs.size());
  for (size_t i = 0; i < shdrs.size(); ++i) {
    const auto &sh = shdrs[i];
    ElfSection &sec = image.sections[i];
    Expected<StringRef> name = file.getSectionName(sh);
    if (!name)
      return bad("unreadable section name: " + toString(name.takeError()));
    sec.name = *name;
    sec.type = sh.sh_type;
    sec.flags = sh.sh_flags;
    sec.addr = sh.sh_addr;
    sec.size = sh.sh_size;
    sec.align = std::max<uint64_t>(1, sh.sh_addralign);
    if (sh.sh_type == ELF::SHT_SYMTAB)
      symtab = &sh;
    if (sh.sh_type == ELF::SHT_NOBITS || sh.sh_type == ELF::SHT_NULL)
      continue;
    Expected<ArrayRef<uint8_t>> data = file.getSectionContents(sh);
    if (!data)
      return bad("truncated section " + sec.name + ": " +
                 toString(data.takeError()));
    sec.data = *data;
  }
  return Error::success();
}

Error Reader::readSymbols() {
  if (!symtab)
    return Error::success(); // the caller says what that means for it
  image.hasSymbolTable = true;
  image.firstGlobal = symtab->sh_info;
  Expected<typename ELFT::SymRange> syms = file.symbols(symtab);
  if (!syms)
    return bad("unreadable symbols: " + toString(syms.takeError()));
  Expected<StringRef> strtab = file.getStringTableForSymtab(*symtab);
  if (!strtab)
    return bad("unreadable symbol names: " + toString(strtab.takeError()));
  image.symbols.reserve(syms->size());
  for (const auto &s : *syms) {
    Symbol sym;
    Expected<StringRef> name = s.getName(*strtab);
    if (!name)
      return bad("unreadable symbol name: " + toString(name.takeError()));
    sym.name = *name;
    sym.binding = s.getBinding();
    sym.type = s.getType();
    sym.visibility = s.getVisibility();
    sym.shndx = s.st_shndx;
    sym.value = s.st_value;
    sym.size = s.st_size;
    if (sym.type == ELF::STT_SECTION && sym.shndx < image.sections.size())
      sym.name = image.sections[sym.shndx].name;
    image.symbols.push_back(sym);
  }
  return Error::success();
}

Error Reader::readRelocations() {
  for (const auto &sh : shdrs) {
    if (sh.sh_info >= image.sections.size() || (sh.sh_flags & ELF::SHF_ALLOC))
      continue; // out of range, or dynamic relocations: not the compiler's
    ElfSection &target = image.sections[sh.sh_info];
    if (sh.sh_type == ELF::SHT_REL)
      target.hasRel = true;
    if (sh.sh_type != ELF::SHT_RELA)
      continue;
    if (kind == ElfKind::Linked &&
        (sh.sh_info == 0 || !(target.flags & ELF::SHF_ALLOC)))
      continue;
    Expected<typename ELFT::RelaRange> relas = file.relas(sh);
    if (!relas)
      return bad("unreadable relocations: " + toString(relas.takeError()));
    target.relocs.reserve(relas->size());
    for (const auto &r : *relas) {
      uint32_t symIndex = r.getSymbol(false);
      if (symIndex >= image.symbols.size())
        return bad("relocation names a symbol past the symbol table");
      target.relocs.push_back(
          Reloc{r.r_offset, r.getType(false), symIndex, r.r_addend});
    }
  }
  return Error::success();
}

Error Reader::readRecords() {
  for (const ElfSection &sec : image.sections) {
    if (sec.name != fingerprintSectionName)
      continue;
    Expected<std::vector<TableRecord>> records =
        decodeRecords(sec.data, image.path);
    if (!records)
      return records.takeError();
    for (TableRecord &r : *records)
      image.records.push_back(std::move(r));
  }
  return Error::success();
}

} // namespace

Expected<ElfImage> readElf(StringRef path, ElfKind kind) {
  ElfImage image;
  image.path = path.str();
  ErrorOr<std::unique_ptr<MemoryBuffer>> buf = MemoryBuffer::getFile(
      path, /*IsText=*/false, /*RequiresNullTerminator=*/false);
  if (!buf)
    return badInput(path, buf.getError().message());
  image.buf = std::shared_ptr<MemoryBuffer>(std::move(*buf));
  StringRef bytes = image.buf->getBuffer();
  if (bytes.size() < 16 || !bytes.starts_with("\x7f"
                                              "ELF"))
    return badInput(path, kind == ElfKind::Object ? "not an ELF object file"
                                                  : "not an ELF file");
  if (uint8_t(bytes[4]) != ELF::ELFCLASS64 ||
      uint8_t(bytes[5]) != ELF::ELFDATA2LSB)
    return refuse(path, "not a 64-bit little-endian ELF file (hotpatch "
                        "handles x86_64 and aarch64)");
  Expected<ELFFile<ELFT>> file = ELFFile<ELFT>::create(bytes);
  if (!file)
    return badInput(path, "unreadable ELF: " + toString(file.takeError()));
  image.type = file->getHeader().e_type;
  image.machine = file->getHeader().e_machine;
  if (Error err = Reader(image, *file, kind).readAll())
    return std::move(err);
  return std::move(image);
}

} // namespace hotpatch
