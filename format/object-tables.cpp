//===- format/object-tables.cpp - find fingerprint tables in files --------===//

#include "object-tables.h"

#include "llvm/Object/Archive.h"
#include "llvm/Object/Binary.h"
#include "llvm/Object/ELFObjectFile.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MemoryBuffer.h"

using namespace llvm;
using namespace llvm::object;

namespace hotpatch {

namespace {
Error fileError(StringRef where, const Twine &what) {
  return createStringError(std::errc::invalid_argument, "%s: %s",
                           where.str().c_str(), what.str().c_str());
}

Expected<ObjectTables> readElf(const ELFObjectFileBase &elf, StringRef where) {
  ObjectTables tables;
  tables.where = where.str();
  tables.eMachine = elf.getEMachine();
  bool found = false;
  for (const SectionRef &section : elf.sections()) {
    Expected<StringRef> name = section.getName();
    if (!name)
      return fileError(where, "unreadable section name: " +
                                  toString(name.takeError()));
    if (*name != fingerprintSectionName)
      continue;
    found = true;
    Expected<StringRef> contents = section.getContents();
    if (!contents)
      return fileError(where, "cannot read section " + *name + ": " +
                                  toString(contents.takeError()));
    Expected<std::vector<TableRecord>> records =
        decodeRecords(arrayRefFromStringRef(*contents), where);
    if (!records)
      return records.takeError();
    for (TableRecord &r : *records)
      tables.records.push_back(std::move(r));
  }
  if (!found)
    return fileError(where, formatv("no fingerprint table (section {0}); was it "
                                    "built with -fplugin=hotpatch.so?",
                                    fingerprintSectionName));
  return tables;
}
} // namespace

Expected<std::vector<ObjectTables>> readFingerprintTables(StringRef path) {
  ErrorOr<std::unique_ptr<MemoryBuffer>> buf =
      MemoryBuffer::getFile(path, /*IsText=*/false,
                            /*RequiresNullTerminator=*/false);
  if (!buf)
    return fileError(path, buf.getError().message());
  Expected<std::unique_ptr<Binary>> bin = createBinary((*buf)->getMemBufferRef());
  if (!bin) {
    std::string why = toString(bin.takeError());
    return fileError(path, "not a readable ELF object, archive or binary (" +
                               why + ")");
  }

  std::vector<ObjectTables> out;
  if (auto *elf = dyn_cast<ELFObjectFileBase>(bin->get())) {
    Expected<ObjectTables> tables = readElf(*elf, path);
    if (!tables)
      return tables.takeError();
    out.push_back(std::move(*tables));
    return out;
  }
  if (auto *archive = dyn_cast<Archive>(bin->get())) {
    Error err = Error::success();
    for (const Archive::Child &child : archive->children(err)) {
      Expected<StringRef> memberName = child.getName();
      std::string where = formatv("{0}({1})", path,
                                  memberName ? *memberName : "?").str();
      if (!memberName)
        consumeError(memberName.takeError());
      Expected<std::unique_ptr<Binary>> member = child.getAsBinary();
      if (!member) {
        consumeError(member.takeError()); // not an object: a symbol index...
        continue;
      }
      auto *elf = dyn_cast<ELFObjectFileBase>(member->get());
      if (!elf)
        continue;
      Expected<ObjectTables> tables = readElf(*elf, where);
      if (!tables)
        return tables.takeError();
      out.push_back(std::move(*tables));
    }
    if (err)
      return fileError(path, "corrupt archive: " + toString(std::move(err)));
    if (out.empty())
      return fileError(path, "archive holds no ELF object");
    return out;
  }
  return fileError(path, "not an ELF object, archive or binary");
}

} // namespace hotpatch
