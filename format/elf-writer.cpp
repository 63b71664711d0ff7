//===- format/elf-writer.cpp - an ELF file built in memory ----------------===//

#include "elf-writer.h"

#include <gelf.h>
#include <libelf.h>
#include <sys/mman.h>
#include <unistd.h>

using namespace llvm;

namespace hotpatch {

static_assert(ElfWriter::byteData == ELF_T_BYTE, "libelf's ELF_T_BYTE");

Error elfError(const Twine &what) {
  return createStringError(std::errc::io_error, "%s: %s", what.str().c_str(),
                           elf_errmsg(-1));
}

ElfWriter::~ElfWriter() {
  if (elf)
    elf_end(elf);
  if (fd >= 0)
    close(fd);
}

Error ElfWriter::open(const char *name) {
  if (elf_version(EV_CURRENT) == EV_NONE)
    return elfError("libelf");
  fd = memfd_create(name, MFD_CLOEXEC);
  if (fd < 0)
    return createStringError(std::error_code(errno, std::generic_category()),
                             "cannot create an in-memory file");
  elf = elf_begin(fd, ELF_C_WRITE, nullptr);
  if (!elf)
    return elfError("elf_begin");
  return Error::success();
}

Expected<size_t> ElfWriter::add(uint32_t nameOff, uint32_t type, uint64_t flags,
                                const void *bytes, size_t size, uint64_t align,
                                uint64_t entsize, uint32_t link, uint32_t info,
                                int dataType, uint64_t addr) {
  Elf_Scn *scn = elf_newscn(elf);
  if (!scn)
    return elfError("elf_newscn");
  Elf_Data *data = elf_newdata(scn);
  if (!data)
    return elfError("elf_newdata");
  data->d_buf = const_cast<void *>(bytes);
  data->d_size = size;
  data->d_align = align;
  data->d_type = Elf_Type(dataType);
  GElf_Shdr shdr{};
  gelf_getshdr(scn, &shdr);
  shdr.sh_name = nameOff;
  shdr.sh_type = type;
  shdr.sh_flags = flags;
  shdr.sh_addr = addr;
  shdr.sh_addralign = align;
  shdr.sh_entsize = entsize;
  shdr.sh_link = link;
  shdr.sh_info = info;
  shdr.sh_size = size;
  if (!gelf_update_shdr(scn, &shdr))
    return elfError("gelf_update_shdr");
  return elf_ndxscn(scn);
}

int ElfWriter::take() {
  elf_end(elf);
  elf = nullptr;
  int taken = fd;
  fd = -1;
  return taken;
}

} // namespace hotpatch
