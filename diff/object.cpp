//===- diff/object.cpp - read one object file ----------------------------===//

#include "object.h"

#include "elf-reader.h"


using namespace llvm;

namespace hotpatch {

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

namespace {
/// `ld -r` output holds several TUs in one object: one table, all entries.
TableRecord mergeRecords(std::vector<TableRecord> &records) {
  TableRecord table = std::move(records.front());
  for (TableRecord &r : llvm::drop_begin(records)) {
    for (FunctionEntry &fn : r.functions)
      table.functions.push_back(std::move(fn));
    for (VariableEntry &var : r.variables)
      table.variables.push_back(std::move(var));
  }
  return table;
}
} // namespace

Expected<std::unique_ptr<Object>> loadObject(StringRef path) {
  Expected<ElfImage> image = readElf(path, ElfKind::Object);
  if (!image)
    return image.takeError();
  if (image->type != ELF::ET_REL)
    return refuse(path, "a linked executable or shared library; hp-diff compares "
                        "object files (.o): pass the objects, or --old-dir and "
                        "--new-dir, and give the linked original as --target");
  if (!image->hasSymbolTable)
    return refuse(path, "no symbol table");
  if (image->records.empty())
    return refuse(path, "no fingerprint table (section .hotpatch.fp): it was "
                        "not built with -fplugin=hotpatch.so");
  auto obj = std::make_unique<Object>();
  obj->path = path.str();
  obj->buf = std::move(image->buf);
  obj->machine = image->machine;
  obj->sections.reserve(image->sections.size());
  for (ElfSection &in : image->sections) {
    Section &sec = obj->sections.emplace_back();
    sec.name = in.name;
    sec.type = in.type;
    sec.flags = in.flags;
    sec.size = in.size;
    sec.align = in.align;
    sec.data = in.data;
    sec.relocs = std::move(in.relocs);
    sec.hasRel = in.hasRel;
  }
  obj->symbols = std::move(image->symbols);
  obj->table = mergeRecords(image->records);
  obj->hasTable = true;
  indexObject(*obj);
  return obj;
}

} // namespace hotpatch
