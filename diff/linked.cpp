//===- diff/linked.cpp - a linked binary, cut back into its TUs -----------===//
//
// A binary linked with --emit-relocs still says, for every instruction and
// datum the linker filled in, which symbol it meant. With the fingerprint
// records (one per translation unit, concatenated by the linker) and the
// file-local symbols grouped under each STT_FILE, that is enough to cut the
// binary back into objects the differ reads like any .o:
//
//  - each function and variable of a TU becomes a section of its own, as
//    -ffunction-sections/-fdata-sections made it (a patchable function's
//    section starts at its padding, as in the object);
//  - a global of hidden visibility is local in the binary (lld lists it
//    under its file, marked hidden; GNU ld after an STT_FILE with an empty
//    name), but its TU's record lists it as a global: the TU defines it as
//    one again, as in the object;
//  - a relocation against a symbol of that TU names it; one against any
//    global names it as undefined, as in the object;
//  - a relocation against a section or an unnamed local (the compiler's
//    `.L.str`, a jump table) is followed to the address it means, and named
//    by what lives there: a function or variable, or else a piece of unnamed
//    data, which becomes a section of its own;
//  - the bytes are the binary's (Section::linked): where the differ copies
//    them into a patch, it puts back those under each relocation as the
//    compiler left them (Arch::asCompiled): the linker's value cleared,
//    relaxations undone.
//
// On x86 a PC-relative field counts from the end of its instruction, so the
// address meant is S + A plus the bytes from the field to that end: the
// Arch measures the instruction (Arch::CodeReader).
//
//===----------------------------------------------------------------------===//

#include "object.h"

#include "address-map.h"
#include "arch.h"
#include "elf-reader.h"

#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/FormatVariadic.h"

#include <map>
#include <set>

using namespace llvm;

namespace hotpatch {
namespace {

/// A section of the binary, its relocations' offsets virtual addresses.
using OutSection = ElfSection;

/// The whole binary, as read once for all its TUs.
struct Binary : AddressMap {
  std::string path, label;
  std::shared_ptr<MemoryBuffer> buf;
  uint16_t machine = 0;
  const Arch *arch = nullptr;
  std::vector<Symbol> symbols;
  /// Per STT_FILE: its name and the file-local symbols after it.
  struct Group {
    StringRef file;
    uint32_t first, last;
  };
  std::vector<Group> groups;
  StringMap<uint32_t> globals;  // defined non-local symbol -> index
  /// Local symbols that were globals (hidden visibility) -> indices.
  StringMap<SmallVector<uint32_t, 1>> localized;
  DenseMap<uint32_t, const Extent *> extentOf; // symbol -> its extent
  uint64_t tlsStart = 0;
  std::vector<TableRecord> records;
  std::unique_ptr<Arch::CodeReader> code; // measures instructions
  std::set<uint64_t> pieceStarts; // every address known to start unnamed data
};

/// What makes a readable ELF file a binary hp-diff can cut into TUs.
Error checkCuttable(const ElfImage &image) {
  StringRef path = image.path;
  if (image.type != ELF::ET_EXEC && image.type != ELF::ET_DYN)
    return refuse(path, "not a linked executable or shared library");
  if (!image.hasSymbolTable)
    return refuse(path, "has no symbol table (stripped); hp-diff needs the "
                        "unstripped build, the running copy may be stripped");
  if (image.records.empty())
    return refuse(path, "no fingerprint table (section .hotpatch.fp): it was "
                        "not built with -fplugin=hotpatch.so, or a strip "
                        "removed it");
  if (llvm::any_of(image.sections, [](const ElfSection &s) { return s.hasRel; }))
    return refuse(path, "kept REL relocations, which hp-diff does not read");
  bool kept = llvm::any_of(image.sections, [](const ElfSection &s) {
    return (s.flags & ELF::SHF_EXECINSTR) && !s.relocs.empty();
  });
  if (!kept)
    return refuse(path, "has no relocations kept by the linker; link it with "
                        "-Wl,--emit-relocs (hp-diff reads what each instruction "
                        "refers to from them), or diff its objects instead");
  return Error::success();
}

/// Checks that symbol \p sym lies inside its section: the cut sections are
/// slices of the file.
Error checkInside(const Binary &bin, const Symbol &sym) {
  if (sym.shndx == ELF::SHN_UNDEF || sym.shndx >= ELF::SHN_LORESERVE ||
      sym.type == ELF::STT_FILE)
    return Error::success();
  if (sym.shndx >= bin.sections.size())
    return badInput(bin.path, formatv("symbol '{0}' names section {1}, which "
                                      "does not exist", sym.name, sym.shndx));
  const OutSection &in = bin.sections[sym.shndx];
  uint64_t addr = sym.value + (sym.type == ELF::STT_TLS ? bin.tlsStart : 0);
  if ((in.flags & ELF::SHF_ALLOC) && sym.type != ELF::STT_SECTION &&
      (addr < in.addr || addr + sym.size < addr ||
       addr + sym.size > in.addr + in.size))
    return badInput(bin.path, formatv("symbol '{0}' lies outside its section "
                                      "{1}: the file is damaged", sym.name,
                                      in.name));
  return Error::success();
}

/// Groups the file-local symbols by STT_FILE, and indexes the globals (and
/// those the linker made local) and the sized symbols by address.
Error indexSymbols(Binary &bin, uint32_t firstGlobal) {
  bool afterUnnamedFile = false; // GNU ld's globals made local
  for (uint32_t index = 0; index < bin.symbols.size(); ++index) {
    const Symbol &sym = bin.symbols[index];
    if (sym.type == ELF::STT_FILE) {
      bin.groups.push_back({sym.name, index + 1, index + 1});
      afterUnnamedFile = sym.name.empty();
    }
    if (Error err = checkInside(bin, sym))
      return err;
    if (sym.binding != ELF::STB_LOCAL && sym.shndx != ELF::SHN_UNDEF)
      bin.globals.try_emplace(sym.name, index);
    if (sym.binding == ELF::STB_LOCAL && sym.shndx != ELF::SHN_UNDEF &&
        sym.type != ELF::STT_FILE && sym.type != ELF::STT_SECTION &&
        !sym.name.empty() &&
        (afterUnnamedFile || sym.visibility == ELF::STV_HIDDEN ||
         sym.visibility == ELF::STV_INTERNAL))
      bin.localized[sym.name].push_back(index);
    bool sized = sym.size > 0 && sym.shndx != ELF::SHN_UNDEF &&
                 sym.shndx < bin.sections.size() &&
                 (sym.type == ELF::STT_FUNC || sym.type == ELF::STT_OBJECT);
    if (sized)
      bin.extents.push_back({sym.value, sym.value + sym.size, index, sym.shndx});
  }
  // A group ends at the next STT_FILE or the first non-local symbol.
  for (size_t g = 0; g < bin.groups.size(); ++g) {
    uint32_t end = g + 1 < bin.groups.size() ? bin.groups[g + 1].first - 1
                                             : firstGlobal;
    bin.groups[g].last = std::min<uint32_t>(std::max(end, bin.groups[g].first),
                                            firstGlobal);
  }
  bin.sortExtents();
  for (const Extent &e : bin.extents)
    bin.extentOf[e.symbol] = &e;
  return Error::success();
}

/// Checks that every relocation lies inside its section (one outside was
/// dropped, and the code copied with the linker's value in it), and sorts
/// them by address.
Error sortRelocations(Binary &bin) {
  for (OutSection &sec : bin.sections) {
    for (const Reloc &r : sec.relocs)
      if (r.offset < sec.addr || r.offset >= sec.addr + sec.size)
        return badInput(bin.path, formatv("a relocation of {0} lies outside "
                                          "it: the file is damaged", sec.name));
    llvm::sort(sec.relocs, [](const Reloc &a, const Reloc &b) {
      return a.offset < b.offset;
    });
  }
  return Error::success();
}

Expected<Binary> readBinary(StringRef path) {
  Expected<ElfImage> image = readElf(path, ElfKind::Linked);
  if (!image)
    return image.takeError();
  if (Error err = checkCuttable(*image))
    return std::move(err);
  Binary bin;
  bin.path = path.str();
  bin.label = sys::path::filename(path).str();
  bin.machine = image->machine;
  Expected<const Arch &> arch = getArch(bin.machine);
  if (!arch)
    return refuse(path, toString(arch.takeError()));
  bin.arch = &*arch;
  bin.buf = std::move(image->buf);
  bin.tlsStart = image->tlsStart;
  bin.sections = std::move(image->sections);
  bin.symbols = std::move(image->symbols);
  bin.records = std::move(image->records);
  if (Error err = indexSymbols(bin, image->firstGlobal))
    return std::move(err);
  if (Error err = sortRelocations(bin))
    return std::move(err);
  Expected<std::unique_ptr<Arch::CodeReader>> code = bin.arch->makeCodeReader();
  if (!code)
    return refuse(path, toString(code.takeError()));
  bin.code = std::move(*code);
  return std::move(bin);
}

/// Builds the object of one translation unit.
class UnitBuilder {
public:
  /// \p record moves into the object's table.
  UnitBuilder(Binary &bin, TableRecord &record, const Binary::Group *group)
      : bin(bin), record(record), group(group) {}

  /// In three steps, each over every unit before the next (piece starts
  /// are the binary's, not a unit's): define, survey, finish.
  Error define();
  Error surveyCode();
  Error surveyPieces();
  Expected<std::unique_ptr<Object>> finish();

private:
  uint32_t defineSymbol(uint32_t index);
  uint32_t undefined(StringRef name);
  Expected<uint32_t> piece(uint64_t at);
  /// A stretch of one of the binary's sections: what an object section
  /// of this unit was cut from.
  struct Span {
    uint32_t out = 0;
    uint64_t start = 0, end = 0;
    bool piece = false; ///< unnamed data, not a function or variable
  };
  Expected<Span> pieceSpan(uint64_t at) const;
  Error translate(uint32_t section);
  Error referencedBy(const Span &span,
                     SmallVectorImpl<const Extent *> &out) const;
  Error retarget(const Reloc &r, const Span &span,
                 ArrayRef<const Extent *> referenced, Reloc &mine);
  Error bind(const AddressReading::Choice &choice, uint64_t addr, uint64_t sa,
             uint32_t &symbol, int64_t &addend);
  Error scan(const std::vector<Span> &spans, std::vector<uint64_t> &found);
  /// Whether relocation \p r (binary's) is followed by address.
  bool byAddress(const Reloc &r) const {
    const Symbol &s = bin.symbols[r.symbol];
    return !defined.count(r.symbol) &&
           (s.binding == ELF::STB_LOCAL || s.name.empty());
  }
  Expected<uint64_t> meant(const Reloc &r, const Span &span) const;

  Binary &bin;
  TableRecord &record; // moved into obj->table at the end of finish()
  const Binary::Group *group;
  std::unique_ptr<Object> obj;
  DenseMap<uint32_t, uint32_t> defined; // binary symbol -> object symbol
  StringMap<uint32_t> undefinedNames;
  /// Names the record lists: a function's flags, with FnListed for all.
  static constexpr uint32_t FnListed = 1u << 31;
  StringMap<uint32_t> listed;
  StringSet<> listedGlobal;             // listed, and not file-local in the TU
  std::map<uint64_t, uint32_t> pieces;  // start address -> object symbol
  std::vector<uint64_t> pending;        // piece starts not yet surveyed
  std::vector<Span> spans;              // object section -> where it was cut
  std::vector<uint32_t> work;           // object sections to translate
};

uint32_t UnitBuilder::defineSymbol(uint32_t index) {
  if (auto it = defined.find(index); it != defined.end())
    return it->second;
  const Symbol &s = bin.symbols[index];
  uint64_t addr = s.value;
  if (s.type == ELF::STT_TLS)
    addr += bin.tlsStart;
  const OutSection &out = bin.sections[s.shndx];
  // A patchable function's section begins at its padding, as in the object.
  uint64_t pad = s.type == ELF::STT_FUNC && (listed.lookup(s.name) & FnPatchable)
                     ? record.padBeforeBytes
                     : 0;
  uint64_t start = addr >= out.addr + pad ? addr - pad : addr;
  uint64_t end = std::min(addr + s.size, out.addr + out.size);
  Section sec;
  sec.name = obj->saver.save((s.type == ELF::STT_FUNC ? StringRef(".text")
                                                       : out.name) +
                             "." + s.name);
  sec.type = out.type;
  sec.flags = out.flags;
  sec.linked = true;
  sec.size = end - start;
  sec.align = std::min<uint64_t>(out.align, start ? (start & -start) : out.align);
  if (out.type != ELF::SHT_NOBITS && start >= out.addr && end <= out.addr + out.size) {
    ArrayRef<uint8_t> bytes = out.data.slice(start - out.addr, end - start);
    sec.data = bytes;
  }
  uint32_t secIndex = obj->sections.size();
  obj->sections.push_back(std::move(sec));
  spans.push_back(Span{s.shndx, start, end});
  work.push_back(secIndex);

  Symbol sym = s;
  sym.shndx = secIndex;
  sym.value = addr - start;
  if (sym.binding == ELF::STB_LOCAL && listedGlobal.count(s.name))
    sym.binding = ELF::STB_GLOBAL; // made local by the linker (hidden)
  obj->symbols.push_back(sym);
  return defined[index] = obj->symbols.size() - 1;
}

uint32_t UnitBuilder::undefined(StringRef name) {
  auto [it, inserted] = undefinedNames.try_emplace(name, obj->symbols.size());
  if (inserted) {
    Symbol sym;
    sym.name = name;
    sym.binding = ELF::STB_GLOBAL;
    sym.type = ELF::STT_NOTYPE;
    sym.shndx = ELF::SHN_UNDEF;
    obj->symbols.push_back(sym);
  }
  return it->second;
}

/// Where the piece of unnamed data starting at \p at ends: at the next
/// symbol or known piece start (a string runs on to its terminating NUL).
Expected<UnitBuilder::Span> UnitBuilder::pieceSpan(uint64_t at) const {
  int outIndex = bin.sectionAt(at);
  if (outIndex < 0)
    return refuse(record.sourceFile,
                  formatv("refers to address 0x{0}, which no section of {1} "
                          "holds", utohexstr(at, true), bin.label));
  const OutSection &out = bin.sections[outIndex];
  uint64_t end = bin.nextStart(at, out);
  if (auto next = bin.pieceStarts.upper_bound(at); next != bin.pieceStarts.end())
    end = std::min(end, *next);
  auto firstReloc = llvm::lower_bound(out.relocs, at, [](const Reloc &r, uint64_t a) {
    return r.offset < a;
  });
  bool hasRelocs = firstReloc != out.relocs.end() && firstReloc->offset < end;
  if (out.type != ELF::SHT_NOBITS && !(out.flags & ELF::SHF_WRITE) &&
      !(out.flags & ELF::SHF_EXECINSTR) && !hasRelocs) {
    // Merged strings overlap: a piece that ends mid-string runs on to its
    // NUL. (Not a table of addresses or offsets: that has relocations.)
    uint64_t limit = out.addr + out.size;
    while (end < limit && end > at && out.data[end - 1 - out.addr] != 0)
      ++end;
  }
  return Span{uint32_t(outIndex), at, end, /*piece=*/true};
}

/// The object symbol of the piece of unnamed data at \p at, made on first use.
Expected<uint32_t> UnitBuilder::piece(uint64_t at) {
  if (auto it = pieces.find(at); it != pieces.end())
    return it->second;
  Expected<Span> span = pieceSpan(at);
  if (!span)
    return span.takeError();
  const OutSection &out = bin.sections[span->out];
  uint64_t end = span->end;
  Section sec;
  sec.name = obj->saver.save(formatv("{0}+0x{1}", out.name,
                                     utohexstr(at - out.addr, true)).str());
  sec.type = out.type;
  sec.flags = out.flags;
  sec.linked = true;
  sec.size = end - at;
  sec.align = std::min<uint64_t>(out.align, at ? (at & -at) : out.align);
  if (out.type != ELF::SHT_NOBITS) {
    ArrayRef<uint8_t> bytes = out.data.slice(at - out.addr, end - at);
    sec.data = bytes;
  }
  uint32_t secIndex = obj->sections.size();
  obj->sections.push_back(std::move(sec));
  spans.push_back(*span);
  work.push_back(secIndex);

  Symbol sym;
  sym.name = obj->sections[secIndex].name;
  sym.binding = ELF::STB_LOCAL;
  sym.type = ELF::STT_SECTION;
  sym.shndx = secIndex;
  obj->symbols.push_back(sym);
  return pieces[at] = obj->symbols.size() - 1;
}

/// The address relocation \p r, in \p span, means (not the S + A it
/// computes: see the file comment).
Expected<uint64_t> UnitBuilder::meant(const Reloc &r, const Span &span) const {
  const Symbol &s = bin.symbols[r.symbol];
  uint64_t sa = s.value + r.addend;
  RelocKind kind = bin.arch->classify(r.type);
  if (kind != RelocKind::PCRel && kind != RelocKind::Call)
    return sa;
  const OutSection &out = bin.sections[span.out];
  if (!(out.flags & ELF::SHF_EXECINSTR)) {
    // PC-relative unnamed data is a table whose entries count from its
    // start (a jump table, a relative lookup table); elsewhere the field
    // counts from itself.
    return span.piece ? sa - (r.offset - span.start) : sa;
  }
  auto [first, last] = bin.arch->pcRelFieldReach();
  if (first == last)
    return sa + first;
  // When every candidate lies in one named symbol, that names it without
  // decoding.
  const Extent *lo = bin.extentAt(sa + first);
  if (lo && lo == bin.extentAt(sa + last))
    return sa + first;
  Expected<unsigned> reach = bin.code->fieldReach(
      out.data.slice(span.start - out.addr, span.end - span.start), span.start,
      r.offset - span.start);
  if (!reach)
    return refuse(record.sourceFile,
                  formatv("{0}+0x{1}: {2}", out.name,
                          utohexstr(r.offset - out.addr, true),
                          toString(reach.takeError())));
  return sa + *reach;
}

/// The relocations of \p out in [\p start, \p end).
ArrayRef<Reloc> relocsIn(const OutSection &out, uint64_t start, uint64_t end) {
  auto first = llvm::lower_bound(out.relocs, start, [](const Reloc &r, uint64_t a) {
    return r.offset < a;
  });
  auto last = std::find_if(first, out.relocs.end(),
                           [&](const Reloc &r) { return r.offset >= end; });
  return ArrayRef<Reloc>(out.relocs)
      .slice(first - out.relocs.begin(), last - first);
}

/// Adds to the binary's piece starts every unnamed address the relocations
/// of \p spans refer to; \p found receives the new ones.
Error UnitBuilder::scan(const std::vector<Span> &spans,
                        std::vector<uint64_t> &found) {
  for (const Span &span : spans) {
    for (const Reloc &r : relocsIn(bin.sections[span.out], span.start, span.end)) {
      if (!byAddress(r) || bin.arch->classify(r.type) == RelocKind::None)
        continue;
      Expected<uint64_t> addr = meant(r, span);
      if (!addr)
        return addr.takeError();
      if (!bin.extentAt(*addr) && bin.pieceStarts.insert(*addr).second)
        found.push_back(*addr);
    }
  }
  return Error::success();
}

/// The named data the code of \p span refers to (a loop's end pointer
/// comes with a reference to the array itself).
Error UnitBuilder::referencedBy(const Span &span,
                                SmallVectorImpl<const Extent *> &out) const {
  for (const Reloc &r : relocsIn(bin.sections[span.out], span.start, span.end)) {
    if (!byAddress(r) || bin.arch->classify(r.type) == RelocKind::None) {
      if (auto d = bin.extentOf.find(r.symbol); d != bin.extentOf.end())
        out.push_back(d->second);
      continue;
    }
    Expected<uint64_t> addr = meant(r, span);
    if (!addr)
      return addr.takeError();
    if (const Extent *e = bin.extentAt(*addr))
      out.push_back(e);
  }
  return Error::success();
}

/// Names \p choice, for an address \p addr the code computes as \p sa.
Error UnitBuilder::bind(const AddressReading::Choice &choice, uint64_t addr,
                        uint64_t sa, uint32_t &symbol, int64_t &addend) {
  if (choice.extent) {
    const Symbol &holder = bin.symbols[choice.extent->symbol];
    auto d = defined.find(choice.extent->symbol);
    symbol = d != defined.end() ? d->second : undefined(holder.name);
    addend = int64_t(sa - holder.value);
    return Error::success();
  }
  Expected<uint32_t> p = piece(addr);
  if (!p)
    return p.takeError();
  symbol = *p;
  addend = int64_t(sa - addr);
  return Error::success();
}

/// Relocation \p r (binary's) as the object has it: against this unit's
/// symbol, a global by name, or what the address it means names.
Error UnitBuilder::retarget(const Reloc &r, const Span &span,
                            ArrayRef<const Extent *> referenced, Reloc &mine) {
  const Symbol &s = bin.symbols[r.symbol];
  if (auto d = defined.find(r.symbol); d != defined.end()) {
    mine.symbol = d->second;
    return Error::success();
  }
  if (!byAddress(r)) {
    // GNU ld names what a shared library defines with its version
    // (`puts@GLIBC_2.2.5`); the object named it plainly.
    StringRef name = s.shndx == ELF::SHN_UNDEF ? s.name.split('@').first : s.name;
    mine.symbol = undefined(name);
    return Error::success();
  }
  // A section, an unnamed local, a local the linker made: by address.
  Expected<uint64_t> addr = meant(r, span);
  if (!addr)
    return addr.takeError();
  uint64_t sa = s.value + r.addend;
  bool inCode = bin.sections[span.out].flags & ELF::SHF_EXECINSTR;
  AddressReading reading = readAddress(bin, *addr, referenced, inCode);
  if (Error err = bind(reading.primary, *addr, sa, mine.symbol, mine.addend))
    return err;
  int64_t unused;
  if (reading.hasAlt)
    return bind(reading.alt, *addr, sa, mine.alt, unused);
  return Error::success();
}

Error UnitBuilder::translate(uint32_t section) {
  Span span = spans[section]; // a copy: piece() below grows `spans`
  SmallVector<const Extent *, 8> referenced;
  if (Error err = referencedBy(span, referenced))
    return err;
  std::vector<Reloc> relocs;
  for (const Reloc &r : relocsIn(bin.sections[span.out], span.start, span.end)) {
    if (bin.arch->classify(r.type) == RelocKind::None)
      continue;
    Reloc mine{r.offset - span.start, r.type, 0, r.addend};
    if (Error err = retarget(r, span, referenced, mine))
      return err;
    relocs.push_back(mine);
  }
  obj->sections[section].relocs = std::move(relocs);
  return Error::success();
}

Error UnitBuilder::define() {
  obj = std::make_unique<Object>();
  obj->path = bin.path;
  obj->name = formatv("{0}({1})", bin.label,
                      sys::path::filename(record.sourceFile)).str();
  obj->buf = bin.buf;
  obj->machine = bin.machine;
  obj->hasTable = true;
  obj->sections.emplace_back(); // index 0: SHN_UNDEF
  obj->symbols.emplace_back();
  spans.emplace_back();

  std::vector<StringRef> order; // the table's order: sorted, so stable
  bool hasLocals = false;
  for (const FunctionEntry &fn : record.functions) {
    listed[fn.name] = fn.flags | FnListed;
    order.push_back(fn.name);
    hasLocals |= fn.flags & FnLocal;
    if (!(fn.flags & FnLocal))
      listedGlobal.insert(fn.name);
  }
  for (const VariableEntry &var : record.variables) {
    listed[var.name] |= FnListed;
    order.push_back(var.name);
    hasLocals |= var.flags & VarLocal;
    if (!(var.flags & VarLocal))
      listedGlobal.insert(var.name);
  }
  if (hasLocals && !group)
    return refuse(bin.label, formatv("the symbol table has no file-local "
                                     "symbols for {0}, though its table "
                                     "lists some", record.sourceFile));
  auto definable = [&](const Symbol &s) {
    return s.shndx != ELF::SHN_UNDEF && s.shndx < bin.sections.size() &&
           (s.type == ELF::STT_FUNC || s.type == ELF::STT_OBJECT ||
            s.type == ELF::STT_TLS) &&
           (s.size > 0 || listed.count(s.name));
  };
  // In address order: the order the object had its sections in.
  std::vector<uint32_t> mine;
  if (group)
    for (uint32_t i = group->first; i < group->last; ++i)
      if (definable(bin.symbols[i]))
        mine.push_back(i);
  for (StringRef name : order) {
    auto it = bin.globals.find(name);
    if (it != bin.globals.end()) {
      if (definable(bin.symbols[it->second]))
        mine.push_back(it->second);
      continue;
    }
    // Hidden, so made local; one per name, as globals are (lld lists it
    // under the file that has it first, so the group above may hold it).
    auto made = bin.localized.find(name);
    if (listedGlobal.count(name) && made != bin.localized.end() &&
        made->second.size() == 1 && definable(bin.symbols[made->second[0]]))
      mine.push_back(made->second[0]);
  }
  llvm::sort(mine, [&](uint32_t a, uint32_t b) {
    return std::tie(bin.symbols[a].value, a) < std::tie(bin.symbols[b].value, b);
  });
  mine.erase(std::unique(mine.begin(), mine.end()), mine.end());
  for (uint32_t index : mine)
    defineSymbol(index);
  return Error::success();
}

// Where the code refers to unnamed data: each such address starts a piece,
// and ends the piece before it, whichever file's it is. The code's own
// references of every file come first (jump tables, lookup tables,
// strings), so that pieces have their final extent when their relocations
// (a table of string pointers) are surveyed in turn.
Error UnitBuilder::surveyCode() {
  return scan(std::vector<Span>(spans.begin() + 1, spans.end()), pending);
}

Error UnitBuilder::surveyPieces() {
  while (!pending.empty()) {
    std::vector<Span> queue;
    for (uint64_t at : pending) {
      Expected<Span> span = pieceSpan(at);
      if (!span)
        return span.takeError();
      queue.push_back(*span);
    }
    pending.clear();
    if (Error err = scan(queue, pending))
      return err;
  }
  return Error::success();
}

Expected<std::unique_ptr<Object>> UnitBuilder::finish() {
  // Relocations, in the order sections were made; pieces add to the list.
  for (size_t k = 0; k < work.size(); ++k)
    if (Error err = translate(work[k]))
      return std::move(err);
  if (obj->sections.size() >= ELF::SHN_LORESERVE)
    return refuse(obj->name, "too many functions and variables in one file");
  obj->table = std::move(record); // last: everything above reads it
  indexObject(*obj);
  return std::move(obj);
}

} // namespace

Expected<bool> isLinkedBinary(StringRef path) {
  ErrorOr<std::unique_ptr<MemoryBuffer>> buf = MemoryBuffer::getFileSlice(
      path, /*MapSize=*/64, /*Offset=*/0, /*IsVolatile=*/false);
  if (!buf)
    return createStringError(buf.getError(), "%s: %s", path.str().c_str(),
                             buf.getError().message().c_str());
  StringRef bytes = (*buf)->getBuffer();
  if (bytes.size() < 18 || !bytes.starts_with("\x7f" "ELF"))
    return false;
  uint16_t type = uint8_t(bytes[16]) | uint16_t(uint8_t(bytes[17])) << 8;
  return type == ELF::ET_EXEC || type == ELF::ET_DYN;
}

namespace {

/// Code no record lists was built without the plugin: hp-diff cannot see
/// a change in it. The C runtime's start-up files are not news.
void warnUnlisted(const Binary &bin, std::vector<std::string> &warnings) {
  static constexpr StringLiteral cRuntime[] = {
      "_start", "_init", "_fini", "_dl_relocate_static_pie",
      "__libc_csu_init", "__libc_csu_fini"};
  StringSet<> listed;
  for (const TableRecord &r : bin.records)
    for (const FunctionEntry &fn : r.functions)
      listed.insert(fn.name);
  std::vector<StringRef> unseen;
  for (const Symbol &s : bin.symbols)
    if (s.type == ELF::STT_FUNC && s.size > 0 && s.binding != ELF::STB_LOCAL &&
        s.shndx != ELF::SHN_UNDEF && !listed.count(s.name) &&
        !llvm::is_contained(cRuntime, s.name))
      unseen.push_back(s.name);
  if (unseen.empty())
    return;
  llvm::sort(unseen);
  size_t shown = std::min<size_t>(unseen.size(), 8);
  std::string names = join(unseen.begin(), unseen.begin() + shown, ", ");
  if (shown < unseen.size())
    names += formatv(" and {0} more", unseen.size() - shown).str();
  warnings.push_back(formatv("{0}: {1} {2} in no fingerprint table (built "
                             "without the plugin), so a change to {3} is "
                             "not seen: {4}", bin.label, unseen.size(),
                             unseen.size() == 1 ? "function is" : "functions are",
                             unseen.size() == 1 ? "it" : "them", names));
}

/// The STT_FILE group of \p record's file name that holds its file-local
/// names (two files may share a name, one built without the plugin);
/// among equals, the first unused one (both are in link order). Null when
/// none holds them.
const Binary::Group *groupOf(const Binary &bin, const TableRecord &record,
                             std::vector<bool> &used) {
  std::string file = sys::path::filename(record.sourceFile).str();
  StringSet<> locals;
  for (const FunctionEntry &fn : record.functions)
    if (fn.flags & FnLocal)
      locals.insert(fn.name);
  for (const VariableEntry &var : record.variables)
    if (var.flags & VarLocal)
      locals.insert(var.name);
  std::optional<size_t> best;
  size_t bestScore = 0;
  for (size_t g = 0; g < bin.groups.size(); ++g) {
    if (used[g] || sys::path::filename(bin.groups[g].file) != file)
      continue;
    size_t score = 0;
    for (uint32_t i = bin.groups[g].first; i < bin.groups[g].last; ++i)
      score += locals.count(bin.symbols[i].name);
    if (!best || score > bestScore) {
      best = g;
      bestScore = score;
    }
  }
  if (!best || (!locals.empty() && bestScore == 0))
    return nullptr; // none holds them: refused by UnitBuilder::define
  used[*best] = true;
  return &bin.groups[*best];
}

/// Runs \p step of every builder, each over all units before the next
/// step (piece starts are the binary's, not a unit's).
Error forEach(std::vector<std::unique_ptr<UnitBuilder>> &builders,
              Error (UnitBuilder::*step)()) {
  for (auto &b : builders)
    if (Error err = (*b.*step)())
      return err;
  return Error::success();
}

} // namespace

Expected<std::vector<std::unique_ptr<Object>>>
loadLinked(StringRef path, std::vector<std::string> *warnings) {
  Expected<Binary> bin = readBinary(path);
  if (!bin)
    return bin.takeError();
  if (warnings)
    warnUnlisted(*bin, *warnings);
  std::vector<std::unique_ptr<UnitBuilder>> builders;
  std::vector<bool> used(bin->groups.size());
  for (TableRecord &record : bin->records)
    builders.push_back(std::make_unique<UnitBuilder>(
        *bin, record, groupOf(*bin, record, used)));
  for (auto step : {&UnitBuilder::define, &UnitBuilder::surveyCode,
                    &UnitBuilder::surveyPieces})
    if (Error err = forEach(builders, step))
      return std::move(err);
  std::vector<std::unique_ptr<Object>> units;
  for (auto &b : builders) {
    Expected<std::unique_ptr<Object>> unit = b->finish();
    if (!unit)
      return unit.takeError();
    units.push_back(std::move(*unit));
  }
  return units;
}

} // namespace hotpatch
