//===- format/patch-file.cpp - write and read .hp patches with libelf ------===//

#include "patch-file.h"

#include "elf-writer.h"
#include "fingerprint-table.h"
#include "string-table.h"

#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Object/ELF.h"
#include "llvm/Support/Endian.h"
#include "llvm/Support/FormatVariadic.h"

#include <array>
#include <gelf.h>
#include <libelf.h>
#include <sys/mman.h>
#include <unistd.h>

using namespace llvm;

namespace hotpatch {

namespace {
namespace le = support::endian;

constexpr uint32_t metaHeaderSize = 64;
constexpr uint32_t funcEntrySize = 64;
constexpr uint32_t refEntrySize = 32;
constexpr uint32_t maxExpected = 24;

// .hp.meta header offsets (docs/patch-format.md).
enum : uint32_t {
  mMagic = 0,
  mVersion = 8,
  mHeaderSize = 12,
  mChecksum = 16,
  mMachine = 24,
  mFlags = 26,
  mBuildId = 28,
  mTargetName = 32,
  mProducer = 36,
  mNumFunctions = 40,
  mNumRefs = 44,
  mNumRisks = 48,
};
enum : uint16_t { metaHasBuildId = 1, metaTargetIsExec = 2 };
enum : uint32_t { funcEndlessLoop = 1 };
enum : uint32_t { refInModule = 1 };

struct SectionSpec {
  const char *name;
  uint32_t type;
  uint64_t flags;
};
constexpr SectionSpec loadable[numPatchSections] = {
    {".hp.text", SHT_PROGBITS, SHF_ALLOC | SHF_EXECINSTR},
    {".hp.plt", SHT_PROGBITS, SHF_ALLOC | SHF_EXECINSTR},
    {".hp.rodata", SHT_PROGBITS, SHF_ALLOC},
    {".hp.data", SHT_PROGBITS, SHF_ALLOC | SHF_WRITE},
    {".hp.bss", SHT_NOBITS, SHF_ALLOC | SHF_WRITE},
    {".hp.got", SHT_PROGBITS, SHF_ALLOC | SHF_WRITE},
    {".hp.tls", SHT_PROGBITS, SHF_ALLOC | SHF_WRITE | SHF_TLS},
};

template <typename T> void append(std::string &out, T value) {
  char buf[sizeof(T)];
  le::write<T, llvm::endianness::little>(buf, value);
  out.append(buf, sizeof(T));
}
} // namespace

StringRef patchSectionName(PatchSection s) {
  return loadable[unsigned(s)].name;
}

std::optional<std::pair<uint64_t, uint64_t>> signatureRange(ArrayRef<uint8_t> bytes) {
  Expected<object::ELFFile<object::ELF64LE>> file =
      object::ELFFile<object::ELF64LE>::create(toStringRef(bytes));
  if (!file) {
    consumeError(file.takeError());
    return std::nullopt;
  }
  Expected<object::ELF64LE::ShdrRange> shdrs = file->sections();
  if (!shdrs) {
    consumeError(shdrs.takeError());
    return std::nullopt;
  }
  for (const auto &sh : *shdrs) {
    Expected<StringRef> name = file->getSectionName(sh);
    if (!name) {
      consumeError(name.takeError());
      continue;
    }
    if (*name == ".hp.sig" && sh.sh_type == SHT_PROGBITS && sh.sh_offset <= bytes.size() &&
        sh.sh_size <= bytes.size() - sh.sh_offset)
      return std::make_pair(uint64_t(sh.sh_offset), uint64_t(sh.sh_size));
  }
  return std::nullopt;
}

namespace {
/// The checksum of \p bytes: every byte, the checksum field at
/// \p checksumAt and the signature's room (if any) read as zero.
uint64_t patchChecksum(ArrayRef<uint8_t> bytes, uint64_t checksumAt) {
  std::vector<uint8_t> zeroed(bytes.begin(), bytes.end());
  memset(zeroed.data() + checksumAt, 0, 8);
  if (auto sig = signatureRange(bytes))
    memset(zeroed.data() + sig->first, 0, sig->second);
  return hash64(toStringRef(ArrayRef<uint8_t>(zeroed)));
}
} // namespace

Expected<std::vector<uint8_t>> writePatch(const PatchFile &patch, bool signatureRoom) {
  ElfWriter w;
  if (Error err = w.open("hotpatch-patch"))
    return std::move(err);

  GElf_Ehdr ehdr{};
  if (!gelf_newehdr(w.elf, ELFCLASS64))
    return elfError("gelf_newehdr");
  gelf_getehdr(w.elf, &ehdr);
  ehdr.e_ident[EI_DATA] = ELFDATA2LSB;
  ehdr.e_ident[EI_OSABI] = ELFOSABI_NONE;
  ehdr.e_type = ET_REL;
  ehdr.e_machine = patch.eMachine;
  ehdr.e_version = EV_CURRENT;

  StringTable shstr, strtab, hp;
  // ELF wants local symbols before global ones: defined symbols are local,
  // references global. Map our indices to symtab indices.
  std::vector<uint32_t> elfIndex(patch.symbols.size());
  std::vector<uint32_t> order;
  for (uint32_t i = 0; i < patch.symbols.size(); ++i)
    if (patch.symbols[i].defined)
      order.push_back(i);
  uint32_t firstGlobal = order.size() + 1;
  for (uint32_t i = 0; i < patch.symbols.size(); ++i)
    if (!patch.symbols[i].defined)
      order.push_back(i);
  for (uint32_t pos = 0; pos < order.size(); ++pos)
    elfIndex[order[pos]] = pos + 1;

  // Section indices are fixed by creation order below: loadable 1..7.
  std::vector<Elf64_Rela> relas[numPatchSections];
  std::vector<Elf64_Sym> symtab(1); // index 0: the null symbol
  std::string funcs, refs, meta;
  for (uint32_t idx : order) {
    const PatchSymbol &sym = patch.symbols[idx];
    Elf64_Sym s{};
    s.st_name = strtab.add(sym.name);
    if (sym.defined) {
      s.st_info = ELF64_ST_INFO(STB_LOCAL, sym.isFunction ? STT_FUNC
                                           : sym.isSection ? STT_NOTYPE
                                                           : STT_OBJECT);
      s.st_shndx = uint16_t(sym.section) + 1;
      s.st_value = sym.value;
      s.st_size = sym.size;
    } else {
      s.st_info = ELF64_ST_INFO(STB_GLOBAL, STT_NOTYPE);
      s.st_shndx = SHN_UNDEF;
    }
    symtab.push_back(s);
  }
  for (unsigned s = 0; s < numPatchSections; ++s) {
    std::vector<PatchReloc> relocs = patch.relocs[s];
    llvm::sort(relocs, [](const PatchReloc &a, const PatchReloc &b) {
      return std::tie(a.offset, a.type, a.symbol, a.addend) <
             std::tie(b.offset, b.type, b.symbol, b.addend);
    });
    for (const PatchReloc &r : relocs) {
      if (r.symbol >= patch.symbols.size())
        return createStringError(std::errc::invalid_argument,
                                 "relocation at %s+0x%llx names symbol %u of %zu",
                                 loadable[s].name, (unsigned long long)r.offset,
                                 r.symbol, patch.symbols.size());
      Elf64_Rela rela{};
      rela.r_offset = r.offset;
      rela.r_info = ELF64_R_INFO(elfIndex[r.symbol], r.type);
      rela.r_addend = r.addend;
      relas[s].push_back(rela);
    }
  }
  for (const FunctionMapEntry &fn : patch.functions) {
    if (fn.expected.size() > maxExpected || fn.newSymbol >= patch.symbols.size())
      return createStringError(std::errc::invalid_argument,
                               "bad function map entry for '%s'",
                               fn.oldName.c_str());
    append<uint32_t>(funcs, elfIndex[fn.newSymbol]);
    append<uint32_t>(funcs, hp.add(fn.oldName));
    append<uint32_t>(funcs, hp.add(fn.oldSource));
    append<uint32_t>(funcs, fn.endlessLoop ? funcEndlessLoop : 0);
    append<uint64_t>(funcs, fn.oldOffset);
    append<uint32_t>(funcs, fn.oldSize);
    append<uint32_t>(funcs, fn.newSize);
    funcs.push_back(char(fn.siteOffset));
    funcs.push_back(char(fn.expected.size()));
    funcs.append(2, '\0');
    append<uint32_t>(funcs, hp.add(fn.why));
    std::string expected(fn.expected.begin(), fn.expected.end());
    expected.resize(maxExpected, '\0');
    funcs += expected;
  }
  uint32_t numRefs = 0;
  for (uint32_t idx : order) {
    const PatchSymbol &sym = patch.symbols[idx];
    if (sym.defined)
      continue;
    ++numRefs;
    append<uint32_t>(refs, elfIndex[idx]);
    append<uint32_t>(refs, hp.add(sym.refName));
    append<uint32_t>(refs, hp.add(sym.refSource));
    append<uint32_t>(refs, sym.refInModule ? refInModule : 0);
    append<uint64_t>(refs, sym.refOffset);
    append<uint64_t>(refs, 0);
  }
  meta.assign(metaHeaderSize, '\0');
  memcpy(&meta[mMagic], patchMagic.data(), 8);
  le::write32le(&meta[mVersion], patchFormatVersion);
  le::write32le(&meta[mHeaderSize], metaHeaderSize);
  le::write16le(&meta[mMachine], patch.eMachine);
  le::write16le(&meta[mFlags], (patch.buildId.empty() ? 0 : metaHasBuildId) |
                                   (patch.targetIsExec ? metaTargetIsExec : 0));
  le::write32le(&meta[mBuildId], hp.add(patch.buildId));
  le::write32le(&meta[mTargetName], hp.add(patch.targetName));
  le::write32le(&meta[mProducer], hp.add(patch.producer));
  le::write32le(&meta[mNumFunctions], patch.functions.size());
  le::write32le(&meta[mNumRefs], numRefs);
  le::write32le(&meta[mNumRisks], patch.acceptedRisks.size());
  for (const std::string &risk : patch.acceptedRisks)
    append<uint32_t>(meta, hp.add(risk));

  // Create sections: names first into .shstrtab (kept stable by order).
  uint32_t loadName[numPatchSections], relaName[numPatchSections];
  for (unsigned s = 0; s < numPatchSections; ++s)
    loadName[s] = shstr.add(loadable[s].name);
  for (unsigned s = 0; s < numPatchSections; ++s)
    relaName[s] = shstr.add((Twine(".rela") + loadable[s].name).str());
  uint32_t metaName = shstr.add(".hp.meta"), funcsName = shstr.add(".hp.funcs"),
           refsName = shstr.add(".hp.refs"), stringsName = shstr.add(".hp.strings"),
           symtabName = shstr.add(".symtab"), strtabName = shstr.add(".strtab"),
           shstrName = shstr.add(".shstrtab");
  uint32_t sigName = signatureRoom ? shstr.add(".hp.sig") : 0;
  static const std::array<uint8_t, signatureSectionSize> noSignature{};

  for (unsigned s = 0; s < numPatchSections; ++s) {
    bool bss = PatchSection(s) == PatchSection::Bss;
    Expected<size_t> idx =
        w.add(loadName[s], loadable[s].type, loadable[s].flags,
              bss ? nullptr : patch.sections[s].data(),
              bss ? patch.bssSize : patch.sections[s].size(), patch.align[s]);
    if (!idx)
      return idx.takeError();
  }
  // Indices: 8 .symtab, 9 .strtab, then relocation sections, then ours.
  Expected<size_t> symIdx =
      w.add(symtabName, SHT_SYMTAB, 0, symtab.data(),
            symtab.size() * sizeof(Elf64_Sym), 8, sizeof(Elf64_Sym),
            /*link=*/numPatchSections + 2, /*info=*/firstGlobal, ELF_T_SYM);
  if (!symIdx)
    return symIdx.takeError();
  if (Expected<size_t> i = w.add(strtabName, SHT_STRTAB, 0, strtab.bytes().data(),
                                 strtab.bytes().size(), 1); !i)
    return i.takeError();
  for (unsigned s = 0; s < numPatchSections; ++s) {
    if (relas[s].empty())
      continue;
    if (Expected<size_t> i = w.add(relaName[s], SHT_RELA, SHF_INFO_LINK,
                                   relas[s].data(),
                                   relas[s].size() * sizeof(Elf64_Rela), 8,
                                   sizeof(Elf64_Rela), *symIdx, s + 1, ELF_T_RELA);
        !i)
      return i.takeError();
  }
  for (auto [name, buf] : {std::pair<uint32_t, const std::string *>{metaName, &meta},
                           {funcsName, &funcs},
                           {refsName, &refs}, {stringsName, &hp.bytes()}})
    if (Expected<size_t> i = w.add(name, SHT_PROGBITS, 0, buf->data(),
                                   buf->size(), name == stringsName ? 1 : 8);
        !i)
      return i.takeError();
  if (signatureRoom)
    if (Expected<size_t> i = w.add(sigName, SHT_PROGBITS, 0, noSignature.data(),
                                   noSignature.size(), 8);
        !i)
      return i.takeError();
  Expected<size_t> shstrIdx = w.add(shstrName, SHT_STRTAB, 0, shstr.bytes().data(),
                                    shstr.bytes().size(), 1);
  if (!shstrIdx)
    return shstrIdx.takeError();
  ehdr.e_shstrndx = *shstrIdx;
  if (!gelf_update_ehdr(w.elf, &ehdr))
    return elfError("gelf_update_ehdr");
  off_t size = elf_update(w.elf, ELF_C_WRITE);
  if (size < 0)
    return elfError("elf_update");

  std::vector<uint8_t> out(size);
  if (pread(w.fd, out.data(), size, 0) != size)
    return createStringError(std::errc::io_error, "cannot read back the patch");
  // The checksum covers every byte, with its own field (and the signature's
  // room) taken as zero.
  Elf *reread = elf_memory(reinterpret_cast<char *>(out.data()), out.size());
  size_t shstrndx = 0;
  elf_getshdrstrndx(reread, &shstrndx);
  uint64_t metaOff = 0;
  for (Elf_Scn *scn = nullptr; (scn = elf_nextscn(reread, scn));) {
    GElf_Shdr shdr;
    gelf_getshdr(scn, &shdr);
    if (StringRef(elf_strptr(reread, shstrndx, shdr.sh_name)) == ".hp.meta")
      metaOff = shdr.sh_offset;
  }
  elf_end(reread);
  if (!metaOff)
    return createStringError(std::errc::io_error, "lost .hp.meta");
  le::write64le(out.data() + metaOff + mChecksum,
                patchChecksum(out, metaOff + mChecksum));
  return out;
}

bool isPatchFile(ArrayRef<uint8_t> bytes) {
  // A section named .hp.meta, not merely those bytes somewhere in the file
  // (any program may hold that string).
  Expected<object::ELFFile<object::ELF64LE>> file =
      object::ELFFile<object::ELF64LE>::create(toStringRef(bytes));
  if (!file) {
    consumeError(file.takeError());
    return false;
  }
  Expected<object::ELF64LE::ShdrRange> shdrs = file->sections();
  if (!shdrs) {
    consumeError(shdrs.takeError());
    return false;
  }
  for (const auto &sh : *shdrs) {
    Expected<StringRef> name = file->getSectionName(sh);
    if (name && *name == ".hp.meta")
      return true;
    if (!name)
      consumeError(name.takeError());
  }
  return false;
}

namespace {
/// The sections of a patch being read, by name.
struct ReadState {
  Elf *elf = nullptr;
  StringMap<Elf_Scn *> byName;
  std::string where;
  ~ReadState() {
    if (elf)
      elf_end(elf);
  }
  Error bad(const Twine &what) const {
    return createStringError(std::errc::illegal_byte_sequence,
                             "%s: not a valid patch: %s", where.c_str(),
                             what.str().c_str());
  }
  Expected<ArrayRef<uint8_t>> contents(StringRef name, bool required) const {
    auto it = byName.find(name);
    if (it == byName.end()) {
      if (required)
        return bad("missing section " + name);
      return ArrayRef<uint8_t>();
    }
    GElf_Shdr shdr;
    gelf_getshdr(it->second, &shdr);
    if (shdr.sh_type == SHT_NOBITS)
      return ArrayRef<uint8_t>();
    Elf_Data *data = elf_rawdata(it->second, nullptr);
    if (!data || data->d_size != shdr.sh_size)
      return bad("section " + name + " lies outside the file");
    return ArrayRef<uint8_t>(static_cast<const uint8_t *>(data->d_buf),
                             data->d_size);
  }
};
} // namespace

Expected<PatchFile> readPatch(ArrayRef<uint8_t> bytes, StringRef where,
                              bool verifyChecksum) {
  if (elf_version(EV_CURRENT) == EV_NONE)
    return elfError("libelf");
  std::vector<uint8_t> copy(bytes.begin(), bytes.end()); // libelf writes to it
  ReadState st;
  st.where = where.str();
  if (copy.size() < SELFMAG || memcmp(copy.data(), ELFMAG, SELFMAG) != 0)
    return st.bad("not an ELF file");
  st.elf = elf_memory(reinterpret_cast<char *>(copy.data()), copy.size());
  if (!st.elf || elf_kind(st.elf) != ELF_K_ELF)
    return st.bad("not an ELF file");
  GElf_Ehdr ehdr;
  if (!gelf_getehdr(st.elf, &ehdr) || ehdr.e_ident[EI_CLASS] != ELFCLASS64 ||
      ehdr.e_ident[EI_DATA] != ELFDATA2LSB || ehdr.e_type != ET_REL)
    return st.bad("not a 64-bit little-endian ELF relocatable file");
  size_t shstrndx = 0, shnum = 0;
  if (elf_getshdrstrndx(st.elf, &shstrndx) != 0 ||
      elf_getshdrnum(st.elf, &shnum) != 0)
    return st.bad(Twine("unreadable section headers (") + elf_errmsg(-1) + ")");
  for (Elf_Scn *scn = nullptr; (scn = elf_nextscn(st.elf, scn));) {
    GElf_Shdr shdr;
    if (!gelf_getshdr(scn, &shdr))
      return st.bad("unreadable section header");
    if (shdr.sh_type != SHT_NOBITS && (shdr.sh_offset > copy.size() ||
                                       shdr.sh_size > copy.size() - shdr.sh_offset))
      return st.bad(formatv("section {0} lies outside the file", elf_ndxscn(scn)));
    const char *name = elf_strptr(st.elf, shstrndx, shdr.sh_name);
    if (!name)
      return st.bad("bad section name");
    st.byName[name] = scn;
  }

  Expected<ArrayRef<uint8_t>> meta = st.contents(".hp.meta", true);
  if (!meta)
    return meta.takeError();
  if (meta->size() < metaHeaderSize || memcmp(meta->data(), patchMagic.data(), 8))
    return st.bad("bad .hp.meta magic");
  uint32_t version = le::read32le(meta->data() + mVersion);
  if (version != patchFormatVersion)
    return createStringError(std::errc::not_supported,
                             "%s: patch format version %u is not supported "
                             "(this tool reads version %u)",
                             st.where.c_str(), version, patchFormatVersion);
  // Checksum: every byte of the file, this field read as zero.
  uint64_t stored = le::read64le(meta->data() + mChecksum);
  if (verifyChecksum) {
    if (patchChecksum(bytes, meta->data() - copy.data() + mChecksum) != stored)
      return createStringError(std::errc::illegal_byte_sequence,
                               "%s: checksum mismatch: the patch is corrupt "
                               "or was modified", st.where.c_str());
  }

  Expected<ArrayRef<uint8_t>> hpStrings = st.contents(".hp.strings", true);
  if (!hpStrings)
    return hpStrings.takeError();
  bool badString = false;
  auto str = [&](uint32_t off) -> std::string {
    if (off >= hpStrings->size()) {
      badString = true;
      return {};
    }
    const char *begin = reinterpret_cast<const char *>(hpStrings->data()) + off;
    return std::string(begin, strnlen(begin, hpStrings->size() - off));
  };

  PatchFile patch;
  patch.checksum = stored;
  patch.eMachine = le::read16le(meta->data() + mMachine);
  if (patch.eMachine != ehdr.e_machine)
    return st.bad("e_machine and .hp.meta disagree");
  uint16_t flags = le::read16le(meta->data() + mFlags);
  patch.targetIsExec = flags & metaTargetIsExec;
  patch.buildId = str(le::read32le(meta->data() + mBuildId));
  patch.targetName = str(le::read32le(meta->data() + mTargetName));
  patch.producer = str(le::read32le(meta->data() + mProducer));
  uint32_t numFunctions = le::read32le(meta->data() + mNumFunctions);
  uint32_t numRefs = le::read32le(meta->data() + mNumRefs);
  uint32_t numRisks = le::read32le(meta->data() + mNumRisks);
  if (uint64_t(numRisks) * 4 > meta->size() - metaHeaderSize)
    return st.bad("risk list overflows .hp.meta");
  for (uint32_t i = 0; i < numRisks; ++i)
    patch.acceptedRisks.push_back(
        str(le::read32le(meta->data() + metaHeaderSize + 4 * i)));

  // Loadable sections.
  size_t scnIndex[numPatchSections];
  for (unsigned s = 0; s < numPatchSections; ++s) {
    auto it = st.byName.find(loadable[s].name);
    if (it == st.byName.end() && PatchSection(s) == PatchSection::Tls) {
      scnIndex[s] = 0; // (made before patches could add thread-local storage)
      continue;
    }
    if (it == st.byName.end())
      return st.bad(Twine("missing section ") + loadable[s].name);
    scnIndex[s] = elf_ndxscn(it->second);
    GElf_Shdr shdr;
    gelf_getshdr(it->second, &shdr);
    if (shdr.sh_type != loadable[s].type)
      return st.bad(Twine("section ") + loadable[s].name + " has the wrong type");
    patch.align[s] = shdr.sh_addralign;
    if (PatchSection(s) == PatchSection::Bss) {
      patch.bssSize = shdr.sh_size;
      continue;
    }
    Expected<ArrayRef<uint8_t>> data = st.contents(loadable[s].name, true);
    if (!data)
      return data.takeError();
    patch.sections[s].assign(data->begin(), data->end());
  }
  auto sectionOf = [&](size_t shndx) -> std::optional<PatchSection> {
    for (unsigned s = 0; s < numPatchSections; ++s)
      if (scnIndex[s] == shndx)
        return PatchSection(s);
    return std::nullopt;
  };

  // Symbols.
  auto symIt = st.byName.find(".symtab");
  if (symIt == st.byName.end())
    return st.bad("missing section .symtab");
  GElf_Shdr symShdr;
  gelf_getshdr(symIt->second, &symShdr);
  Elf_Data *symData = elf_getdata(symIt->second, nullptr);
  if (!symData || symShdr.sh_entsize != sizeof(Elf64_Sym))
    return st.bad("unreadable .symtab");
  size_t numSyms = symData->d_size / sizeof(Elf64_Sym);
  if (numSyms == 0)
    return st.bad("empty .symtab");
  for (size_t i = 1; i < numSyms; ++i) {
    GElf_Sym sym;
    if (!gelf_getsym(symData, i, &sym))
      return st.bad("unreadable symbol");
    PatchSymbol ps;
    const char *name = elf_strptr(st.elf, symShdr.sh_link, sym.st_name);
    if (!name)
      return st.bad(formatv("symbol {0} has a bad name", i));
    ps.name = name;
    ps.defined = sym.st_shndx != SHN_UNDEF;
    if (ps.defined) {
      std::optional<PatchSection> sec = sectionOf(sym.st_shndx);
      if (!sec)
        return st.bad(formatv("symbol '{0}' is in section {1}, not a patch "
                              "section", ps.name, sym.st_shndx));
      ps.section = *sec;
      ps.value = sym.st_value;
      ps.size = sym.st_size;
      ps.isFunction = GELF_ST_TYPE(sym.st_info) == STT_FUNC;
      ps.isSection = GELF_ST_TYPE(sym.st_info) == STT_NOTYPE;
      uint64_t secSize = *sec == PatchSection::Bss
                             ? patch.bssSize
                             : patch.sections[unsigned(*sec)].size();
      if (ps.value > secSize || ps.size > secSize - ps.value)
        return st.bad(formatv("symbol '{0}' lies outside its section", ps.name));
    }
    patch.symbols.push_back(std::move(ps));
  }

  // Relocations.
  for (unsigned s = 0; s < numPatchSections; ++s) {
    std::string relaName = (Twine(".rela") + loadable[s].name).str();
    auto it = st.byName.find(relaName);
    if (it == st.byName.end())
      continue;
    GElf_Shdr shdr;
    gelf_getshdr(it->second, &shdr);
    Elf_Data *data = elf_getdata(it->second, nullptr);
    if (!data || shdr.sh_type != SHT_RELA || shdr.sh_entsize != sizeof(Elf64_Rela))
      return st.bad("unreadable " + relaName);
    uint64_t limit = patch.sections[s].size();
    for (size_t i = 0; i < data->d_size / sizeof(Elf64_Rela); ++i) {
      GElf_Rela rela;
      if (!gelf_getrela(data, i, &rela))
        return st.bad("unreadable relocation");
      uint32_t sym = GELF_R_SYM(rela.r_info);
      if (sym == 0 || sym >= numSyms)
        return st.bad(formatv("relocation {0} of {1} names symbol {2}", i,
                              relaName, sym));
      if (rela.r_offset >= limit || limit - rela.r_offset < 4)
        return st.bad(formatv("relocation {0} of {1} lies outside the section",
                              i, relaName));
      patch.relocs[s].push_back(PatchReloc{rela.r_offset,
                                           uint32_t(GELF_R_TYPE(rela.r_info)),
                                           sym - 1, rela.r_addend});
    }
  }

  // Function map.
  Expected<ArrayRef<uint8_t>> funcs = st.contents(".hp.funcs", true);
  if (!funcs)
    return funcs.takeError();
  if (funcs->size() != uint64_t(numFunctions) * funcEntrySize)
    return st.bad(".hp.funcs does not match the function count");
  for (uint32_t i = 0; i < numFunctions; ++i) {
    const uint8_t *e = funcs->data() + i * funcEntrySize;
    FunctionMapEntry fn;
    uint32_t sym = le::read32le(e);
    if (sym == 0 || sym >= numSyms || !patch.symbols[sym - 1].defined)
      return st.bad(formatv("function map entry {0} names symbol {1}", i, sym));
    fn.newSymbol = sym - 1;
    fn.oldName = str(le::read32le(e + 4));
    fn.oldSource = str(le::read32le(e + 8));
    fn.endlessLoop = le::read32le(e + 12) & funcEndlessLoop;
    fn.oldOffset = le::read64le(e + 16);
    fn.oldSize = le::read32le(e + 24);
    fn.newSize = le::read32le(e + 28);
    fn.siteOffset = e[32];
    fn.why = str(le::read32le(e + 36));
    if (e[33] > maxExpected)
      return st.bad(formatv("function map entry {0}: expected bytes too long", i));
    fn.expected.assign(e + 40, e + 40 + e[33]);
    patch.functions.push_back(std::move(fn));
  }

  // References.
  Expected<ArrayRef<uint8_t>> refs = st.contents(".hp.refs", true);
  if (!refs)
    return refs.takeError();
  if (refs->size() != uint64_t(numRefs) * refEntrySize)
    return st.bad(".hp.refs does not match the reference count");
  for (uint32_t i = 0; i < numRefs; ++i) {
    const uint8_t *e = refs->data() + i * refEntrySize;
    uint32_t sym = le::read32le(e);
    if (sym == 0 || sym >= numSyms || patch.symbols[sym - 1].defined)
      return st.bad(formatv("reference {0} names symbol {1}", i, sym));
    PatchSymbol &ps = patch.symbols[sym - 1];
    ps.refName = str(le::read32le(e + 4));
    ps.refSource = str(le::read32le(e + 8));
    ps.refInModule = le::read32le(e + 12) & refInModule;
    ps.refOffset = le::read64le(e + 16);
  }
  for (const PatchSymbol &ps : patch.symbols)
    if (!ps.defined && ps.refName.empty())
      return st.bad("undefined symbol '" + ps.name + "' has no reference record");
  if (badString)
    return st.bad("a string offset lies outside .hp.strings");
  return patch;
}

} // namespace hotpatch
