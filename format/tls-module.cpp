//===- format/tls-module.cpp - a library holding a patch's new TLS --------===//

#include "tls-module.h"

#include "llvm/BinaryFormat/ELF.h"
#include "llvm/Support/MathExtras.h"

#include <array>
#include <cstring>
#include <string>

using namespace llvm;

namespace hotpatch {

namespace {
/// Appends \p value's bytes to \p out at an offset aligned to \p align;
/// returns the offset.
template <typename T>
uint64_t put(std::vector<uint8_t> &out, const T &value, uint64_t align = 8) {
  out.resize(alignTo(out.size(), align), 0);
  uint64_t at = out.size();
  const uint8_t *p = reinterpret_cast<const uint8_t *>(&value);
  out.insert(out.end(), p, p + sizeof(T));
  return at;
}
template <typename T> void patchAt(std::vector<uint8_t> &out, uint64_t at, const T &v) {
  memcpy(out.data() + at, &v, sizeof(T));
}
} // namespace

std::vector<uint8_t> buildTlsModule(const TlsModuleSpec &spec) {
  using namespace ELF;
  constexpr unsigned numPhdrs = 4; // LOAD, DYNAMIC, TLS, GNU_STACK
  static_assert(sizeof(Elf64_Ehdr) + numPhdrs * sizeof(Elf64_Phdr) ==
                tlsModuleFactsOffset);
  std::vector<uint8_t> out(tlsModuleFactsOffset + 16, 0);
  uint64_t facts = tlsModuleFactsOffset;

  Elf64_Sym null{};
  uint64_t symtab = put(out, null);
  std::string strings = std::string(1, '\0') + spec.soname.str() + '\0';
  uint64_t strtab = out.size();
  out.insert(out.end(), strings.begin(), strings.end());

  Elf64_Rela tp{}, id{};
  tp.r_offset = facts;
  tp.setSymbolAndType(0, spec.tpOffsetType);
  id.r_offset = facts + 8;
  id.setSymbolAndType(0, spec.moduleIdType);
  uint64_t rela = put(out, tp);
  put(out, id);

  // A hash table with one bucket and symbol 0 alone: nothing to look up.
  uint64_t hash = put(out, std::array<uint32_t, 4>{1, 1, 0, 0});

  std::vector<Elf64_Dyn> dyn = {
      {DT_HASH, {hash}},          {DT_STRTAB, {strtab}},
      {DT_SYMTAB, {symtab}},      {DT_STRSZ, {strings.size()}},
      {DT_SYMENT, {sizeof(Elf64_Sym)}},
      {DT_RELA, {rela}},          {DT_RELASZ, {2 * sizeof(Elf64_Rela)}},
      {DT_RELAENT, {sizeof(Elf64_Rela)}},
      {DT_SONAME, {1}},           {DT_FLAGS, {DF_STATIC_TLS}},
      {DT_FLAGS_1, {DF_1_NODELETE}}, {DT_NULL, {0}}};
  out.resize(alignTo(out.size(), 8), 0);
  uint64_t dynamic = out.size();
  for (const Elf64_Dyn &d : dyn)
    put(out, d);
  uint64_t dynamicSize = out.size() - dynamic;

  uint64_t align = std::max<uint64_t>(1, spec.align);
  out.resize(alignTo(out.size(), align), 0);
  uint64_t image = out.size();
  out.insert(out.end(), spec.image.begin(), spec.image.end());

  Elf64_Ehdr eh{};
  memcpy(eh.e_ident, ElfMagic, strlen(ElfMagic));
  eh.e_ident[EI_CLASS] = ELFCLASS64;
  eh.e_ident[EI_DATA] = ELFDATA2LSB;
  eh.e_ident[EI_VERSION] = EV_CURRENT;
  eh.e_ident[EI_OSABI] = ELFOSABI_NONE;
  eh.e_type = ET_DYN;
  eh.e_machine = spec.eMachine;
  eh.e_version = EV_CURRENT;
  eh.e_phoff = sizeof(Elf64_Ehdr);
  eh.e_ehsize = sizeof(Elf64_Ehdr);
  eh.e_phentsize = sizeof(Elf64_Phdr);
  eh.e_phnum = numPhdrs;
  eh.e_shentsize = sizeof(Elf64_Shdr);
  patchAt(out, 0, eh);

  Elf64_Phdr load{}, dynamicPh{}, tls{}, stack{};
  load.p_type = PT_LOAD;
  load.p_flags = PF_R | PF_W;
  load.p_filesz = load.p_memsz = out.size();
  load.p_align = 1 << 16; // (a multiple of every page size)
  dynamicPh.p_type = PT_DYNAMIC;
  dynamicPh.p_flags = PF_R | PF_W;
  dynamicPh.p_offset = dynamicPh.p_vaddr = dynamicPh.p_paddr = dynamic;
  dynamicPh.p_filesz = dynamicPh.p_memsz = dynamicSize;
  dynamicPh.p_align = 8;
  tls.p_type = PT_TLS;
  tls.p_flags = PF_R;
  tls.p_offset = tls.p_vaddr = tls.p_paddr = image;
  tls.p_filesz = tls.p_memsz = spec.image.size();
  tls.p_align = align;
  stack.p_type = PT_GNU_STACK; // (without it ld.so makes every stack executable)
  stack.p_flags = PF_R | PF_W;
  stack.p_align = 16;
  uint64_t ph = sizeof(Elf64_Ehdr);
  for (const Elf64_Phdr &p : {load, dynamicPh, tls, stack}) {
    patchAt(out, ph, p);
    ph += sizeof(Elf64_Phdr);
  }
  return out;
}

} // namespace hotpatch
