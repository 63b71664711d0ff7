//===- tools/hp-diff/objects.cpp - read one object file -------------------===//

#include "objects.h"

#include "differ.h"

#include "llvm/Object/ELF.h"

using namespace llvm;
using namespace llvm::object;

namespace hotpatch {

using ELFT = ELF64LE;

Error refuse(StringRef file, const Twine &why) {
  return make_error<RefusalError>(file.str(), why.str());
}

void indexObject(Object &obj) {
  for (uint32_t index = 0; index < obj.symbols.size(); ++index) {
    const Symbol &sym = obj.symbols[index];
    if (sym.shndx != ELF::SHN_UNDEF && sym.type != ELF::STT_SECTION &&
        sym.type != ELF::STT_FILE && !sym.name.empty())
      obj.defined.try_emplace(sym.name, index);
  }
  for (const FunctionEntry &fn : obj.table.functions)
    obj.functions[fn.name] = &fn;
  for (const VariableEntry &var : obj.table.variables)
    obj.variables[var.name] = &var;
  obj.knownInSection.assign(obj.sections.size(), {});
  for (auto &[name, index] : obj.defined) {
    const Symbol &sym = obj.symbols[index];
    if ((obj.functions.count(name) || obj.variables.count(name)) &&
        sym.shndx < obj.sections.size())
      obj.knownInSection[sym.shndx].push_back(index);
  }
  for (auto &list : obj.knownInSection)
    llvm::sort(list);
}

Expected<std::unique_ptr<Object>> loadObject(StringRef path) {
  auto obj = std::make_unique<Object>();
  obj->path = path.str();
  ErrorOr<std::unique_ptr<MemoryBuffer>> buf =
      MemoryBuffer::getFile(path, /*IsText=*/false, /*RequiresNullTerminator=*/false);
  if (!buf)
    return createStringError(buf.getError(), "%s: %s", path.str().c_str(),
                             buf.getError().message().c_str());
  obj->buf = std::shared_ptr<MemoryBuffer>(std::move(*buf));
  StringRef bytes = obj->buf->getBuffer();
  if (bytes.size() < 16 || !bytes.starts_with("\x7f" "ELF"))
    return refuse(path, "not an ELF object file");
  if (uint8_t(bytes[4]) != ELF::ELFCLASS64 || uint8_t(bytes[5]) != ELF::ELFDATA2LSB)
    return refuse(path, "not a 64-bit little-endian ELF file (hotpatch handles "
                        "x86_64 and aarch64)");
  Expected<ELFFile<ELFT>> file = ELFFile<ELFT>::create(bytes);
  if (!file)
    return refuse(path, "unreadable ELF: " + toString(file.takeError()));
  const auto &hdr = file->getHeader();
  if (hdr.e_type != ELF::ET_REL)
    return refuse(path, "a linked executable or shared library; hp-diff compares "
                        "object files (.o): pass the objects, or --old-dir and "
                        "--new-dir, and give the linked original as --target");
  obj->machine = hdr.e_machine;

  Expected<typename ELFT::ShdrRange> shdrs = file->sections();
  if (!shdrs)
    return refuse(path, "unreadable sections: " + toString(shdrs.takeError()));
  obj->sections.resize(shdrs->size());
  obj->symbols.reserve(4096);
  const typename ELFT::Shdr *symtab = nullptr;
  for (size_t i = 0; i < shdrs->size(); ++i) {
    const auto &sh = (*shdrs)[i];
    Section &sec = obj->sections[i];
    Expected<StringRef> name = file->getSectionName(sh);
    if (!name)
      return refuse(path, "unreadable section name: " + toString(name.takeError()));
    sec.name = *name;
    sec.type = sh.sh_type;
    sec.flags = sh.sh_flags;
    sec.size = sh.sh_size;
    sec.align = std::max<uint64_t>(1, sh.sh_addralign);
    if (sh.sh_type == ELF::SHT_SYMTAB)
      symtab = &sh;
    if (sh.sh_type != ELF::SHT_NOBITS && sh.sh_type != ELF::SHT_NULL) {
      Expected<ArrayRef<uint8_t>> data = file->getSectionContents(sh);
      if (!data)
        return refuse(path, "truncated section " + sec.name + ": " +
                                toString(data.takeError()));
      sec.data = *data;
    }
  }
  if (!symtab)
    return refuse(path, "no symbol table");
  Expected<typename ELFT::SymRange> syms = file->symbols(symtab);
  if (!syms)
    return refuse(path, "unreadable symbols: " + toString(syms.takeError()));
  Expected<StringRef> strtab = file->getStringTableForSymtab(*symtab);
  if (!strtab)
    return refuse(path, "unreadable symbol names: " + toString(strtab.takeError()));
  for (const auto &s : *syms) {
    Symbol sym;
    Expected<StringRef> name = s.getName(*strtab);
    if (!name)
      return refuse(path, "unreadable symbol name: " + toString(name.takeError()));
    sym.name = *name;
    sym.binding = s.getBinding();
    sym.type = s.getType();
    sym.shndx = s.st_shndx;
    sym.value = s.st_value;
    sym.size = s.st_size;
    if (sym.type == ELF::STT_SECTION && sym.shndx < obj->sections.size())
      sym.name = obj->sections[sym.shndx].name;
    obj->symbols.push_back(std::move(sym));
  }
  for (size_t i = 0; i < shdrs->size(); ++i) {
    const auto &sh = (*shdrs)[i];
    if (sh.sh_type == ELF::SHT_REL && sh.sh_info < obj->sections.size())
      obj->sections[sh.sh_info].hasRel = true;
    if (sh.sh_type != ELF::SHT_RELA || sh.sh_info >= obj->sections.size())
      continue;
    Expected<typename ELFT::RelaRange> relas = file->relas(sh);
    if (!relas)
      return refuse(path, "unreadable relocations: " + toString(relas.takeError()));
    for (const auto &r : *relas) {
      uint32_t symIndex = r.getSymbol(false);
      if (symIndex >= obj->symbols.size())
        return refuse(path, "relocation names a symbol past the symbol table");
      obj->sections[sh.sh_info].relocs.push_back(
          Reloc{r.r_offset, r.getType(false), symIndex, r.r_addend});
    }
  }

  for (const Section &sec : obj->sections) {
    if (sec.name != fingerprintSectionName)
      continue;
    Expected<std::vector<TableRecord>> records = decodeRecords(sec.data, path);
    if (!records)
      return records.takeError();
    for (TableRecord &r : *records) {
      if (!obj->hasTable) {
        obj->table = std::move(r);
        obj->hasTable = true;
        continue;
      }
      // `ld -r` output: several TUs in one object. Keep all entries.
      for (FunctionEntry &fn : r.functions)
        obj->table.functions.push_back(std::move(fn));
      for (VariableEntry &var : r.variables)
        obj->table.variables.push_back(std::move(var));
    }
  }
  if (!obj->hasTable)
    return refuse(path, "no fingerprint table (section .hotpatch.fp): it was "
                        "not built with -fplugin=hotpatch.so");
  indexObject(*obj);
  return obj;
}


} // namespace hotpatch
