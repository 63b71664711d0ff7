//===- diff/emit.cpp - stage 4: the patch ---------------------------------===//
//
// Copies the sections the closure reached into the patch's text, rodata,
// data and bss, gives every copied function and variable a patch symbol,
// retargets each relocation (to the copy, to the running original by name,
// through a slot or a stub), and maps every replaced function's old entry
// to its new code. Refused here: what the copied code does that a patch
// cannot (unknown relocations, landing pads without unwind tables).
// Thread-local accesses are tls.cpp's.
//
//===----------------------------------------------------------------------===//

#include "differ-state.h"

#include "llvm/Support/FormatVariadic.h"

using namespace llvm;

namespace hotpatch {

void Differ::checkLocalName(StringRef name, StringRef source,
                            StringRef fullSource) {
  // The symbol table names a TU by its file's base name only (STT_FILE):
  // two util.c in two directories cannot be told apart there.
  auto [it, inserted] =
      refTU.try_emplace({name.str(), source.str()}, fullSource.str());
  if (!inserted && it->second != fullSource &&
      refusals.isFirst("local " + name + "\x01" + source))
    addRefusal(source, formatv("file-local '{0}' exists in {1} and in {2}; "
                               "the running program's symbol table names both "
                               "files '{3}' and cannot tell them apart (rename "
                               "one file)", name, it->second, fullSource, source));
}

uint32_t Differ::refSymbol(StringRef name, StringRef source, bool inModule,
                           StringRef fullSource) {
  auto key = std::make_pair(name.str(), source.str());
  if (!source.empty())
    checkLocalName(name, source, fullSource);
  if (auto it = refs.find(key); it != refs.end())
    return it->second;
  PatchSymbol sym;
  sym.name = source.empty() ? name.str() : (source + ":" + name).str();
  sym.refName = name.str();
  sym.refSource = source.str();
  sym.refInModule = inModule;
  patch.symbols.push_back(std::move(sym));
  return refs[key] = patch.symbols.size() - 1;
}

uint32_t Differ::slotFor(uint32_t target) {
  if (auto it = slots.find(target); it != slots.end())
    return it->second;
  auto &got = patch.sections[unsigned(PatchSection::Got)];
  PatchSymbol sym;
  sym.name = patch.symbols[target].name + "@got";
  sym.defined = true;
  sym.section = PatchSection::Got;
  sym.value = got.size();
  sym.size = 8;
  got.resize(got.size() + 8, 0);
  patch.relocs[unsigned(PatchSection::Got)].push_back(
      PatchReloc{sym.value, arch->slotFillType(), target, 0});
  patch.symbols.push_back(std::move(sym));
  return slots[target] = patch.symbols.size() - 1;
}

uint32_t Differ::stubFor(uint32_t target) {
  if (auto it = stubs.find(target); it != stubs.end())
    return it->second;
  uint32_t slot = slotFor(target);
  auto &plt = patch.sections[unsigned(PatchSection::Plt)];
  SmallVector<StubReloc, 2> relocs;
  SmallVector<uint8_t, 16> code = arch->stubCode(relocs);
  PatchSymbol sym;
  sym.name = patch.symbols[target].name + "@plt";
  sym.defined = true;
  sym.isFunction = true;
  sym.section = PatchSection::Plt;
  sym.value = plt.size();
  sym.size = code.size();
  for (const StubReloc &r : relocs)
    patch.relocs[unsigned(PatchSection::Plt)].push_back(
        PatchReloc{sym.value + r.offset, r.type, slot, r.addend});
  plt.insert(plt.end(), code.begin(), code.end());
  patch.symbols.push_back(std::move(sym));
  return stubs[target] = patch.symbols.size() - 1;
}

uint32_t Differ::copiedSymbol(size_t objIndex, uint32_t symIndex) {
  auto key = std::make_pair(objIndex, symIndex);
  if (auto it = copiedSyms.find(key); it != copiedSyms.end())
    return it->second;
  const Object &obj = *newObjs[objIndex];
  const Symbol &sym = obj.symbols[symIndex];
  auto [section, base] = placed.at({objIndex, sym.shndx});
  PatchSymbol ps;
  ps.name = sym.name;
  ps.defined = true;
  ps.section = section;
  ps.value = base + sym.value;
  ps.size = sym.size;
  ps.isFunction = sym.type == ELF::STT_FUNC;
  patch.symbols.push_back(std::move(ps));
  return copiedSyms[key] = patch.symbols.size() - 1;
}

uint32_t Differ::anonSymbol(size_t objIndex, uint32_t secIndex) {
  auto key = std::make_pair(objIndex, secIndex);
  if (auto it = anonSyms.find(key); it != anonSyms.end())
    return it->second;
  const Object &obj = *newObjs[objIndex];
  auto [section, base] = placed.at(key);
  PatchSymbol ps;
  ps.name = (obj.label() + ":" + obj.sections[secIndex].name).str();
  ps.defined = true;
  ps.isSection = true;
  ps.section = section;
  ps.value = base;
  ps.size = obj.sections[secIndex].size;
  patch.symbols.push_back(std::move(ps));
  return anonSyms[key] = patch.symbols.size() - 1;
}

void Differ::emit() {
  placeSections();
  checkLandingPads();
  emitUnwindTables();
  allocateCommons();
  // Symbols for every function and variable defined in a copied section.
  for (auto [objIndex, secIndex] : toCopy)
    if (isPlaced(objIndex, secIndex))
      for (uint32_t sym : newObjs[objIndex]->knownInSection[secIndex])
        copiedSymbol(objIndex, sym);
  retargetRelocations();
  mapFunctions();
  sortResult();
}

namespace {
PatchSection patchSectionFor(const Section &sec) {
  if (sec.flags & ELF::SHF_TLS)
    return PatchSection::Tls;
  if (sec.flags & ELF::SHF_EXECINSTR)
    return PatchSection::Text;
  if (!(sec.flags & ELF::SHF_WRITE))
    return PatchSection::Rodata;
  if (sec.type == ELF::SHT_NOBITS)
    return PatchSection::Bss;
  return PatchSection::Data;
}
} // namespace

/// Places every copied section, in a stable order: object, then section.
void Differ::placeSections() {
  for (auto [objIndex, secIndex] : toCopy) {
    const Object &obj = *newObjs[objIndex];
    const Section &sec = obj.sections[secIndex];
    PatchSection where = patchSectionFor(sec);
    unsigned s = unsigned(where);
    patch.align[s] = std::max(patch.align[s], sec.align);
    if (where == PatchSection::Tls) {
      // The block's initial image, its zero-initialised part written out.
      auto &image = patch.sections[s];
      image.resize(alignTo(image.size(), sec.align), 0);
      placed[{objIndex, secIndex}] = {where, image.size()};
      if (sec.type == ELF::SHT_NOBITS)
        image.resize(image.size() + sec.size, 0);
      else
        image.insert(image.end(), sec.data.begin(), sec.data.end());
      continue;
    }
    if (where == PatchSection::Bss) {
      patch.bssSize = alignTo(patch.bssSize, sec.align);
      placed[{objIndex, secIndex}] = {where, patch.bssSize};
      patch.bssSize += sec.size;
      continue;
    }
    auto &bytes = patch.sections[s];
    uint8_t fill = where == PatchSection::Text ? arch->fillByte() : 0;
    bytes.resize(alignTo(bytes.size(), sec.align), fill);
    placed[{objIndex, secIndex}] = {where, bytes.size()};
    bytes.insert(bytes.end(), sec.data.begin(), sec.data.end());
    if (!sec.linked)
      continue;
    // From a linked binary: the bytes as the compiler wrote them.
    MutableArrayRef<uint8_t> copy(bytes.data() + bytes.size() - sec.data.size(),
                                  sec.data.size());
    for (const Reloc &r : sec.relocs)
      if (Error err = arch->asCompiled(r.type, copy, r.offset))
        addRefusal(obj.source(), formatv("{0}: {1}", ownerOf(obj, secIndex),
                                         toString(std::move(err))));
  }
}

/// Exceptions unwind through code by its .eh_frame entry, and catch by its
/// .gcc_except_table: a function with landing pads whose tables the patch
/// cannot carry (cut from a linked binary, whose .eh_frame the linker
/// rewrote) cannot be replaced safely.
void Differ::checkLandingPads() {
  for (auto [objIndex, secIndex] : toCopy) {
    const Object &obj = *newObjs[objIndex];
    StringRef name = obj.sections[secIndex].name;
    if (!name.starts_with(".text.") || frames[objIndex].fdeOf.count(secIndex))
      continue;
    bool pads = llvm::any_of(obj.knownInSection[secIndex], [&](uint32_t sym) {
      const FunctionEntry *fn = obj.functions.lookup(obj.symbols[sym].name);
      return fn && (fn->flags & FnLandingPads);
    });
    std::string table = (".gcc_except_table." + name.drop_front(6)).str();
    if (pads ||
        llvm::any_of(obj.sections, [&](const Section &s) { return s.name == table; }))
      addRefusal(obj.source(),
                 formatv("{0} has exception landing pads (try/catch or "
                         "cleanups) but no unwind table hp-diff can carry (diff "
                         "the objects, not linked binaries), so an exception "
                         "through it would terminate the process",
                         ownerOf(obj, secIndex)));
  }
}

/// New -fcommon variables live in no section: allocate them in .hp.bss.
void Differ::allocateCommons() {
  for (size_t i = 0; i < newObjs.size(); ++i)
    for (auto &entry : copyVar[i]) {
      auto it = newObjs[i]->defined.find(entry.getKey());
      if (it == newObjs[i]->defined.end())
        continue;
      const Symbol &sym = newObjs[i]->symbols[it->second];
      if (sym.shndx != ELF::SHN_COMMON)
        continue;
      uint64_t align = std::max<uint64_t>(1, sym.value); // st_value: alignment
      patch.align[unsigned(PatchSection::Bss)] =
          std::max(patch.align[unsigned(PatchSection::Bss)], align);
      patch.bssSize = alignTo(patch.bssSize, align);
      PatchSymbol ps;
      ps.name = sym.name.str();
      ps.defined = true;
      ps.section = PatchSection::Bss;
      ps.value = patch.bssSize;
      ps.size = sym.size;
      patch.bssSize += sym.size;
      patch.symbols.push_back(std::move(ps));
      commonSyms[{i, it->second}] = patch.symbols.size() - 1;
    }
}

void Differ::retargetRelocations() {
  for (SectionRef sec : toCopy)
    if (isPlaced(sec.first, sec.second))
      for (const Reloc &r : newObjs[sec.first]->sections[sec.second].relocs)
        retarget(sec, r);
}

/// Relocation \p r of copied section \p at, as the patch has it: against
/// the patch symbol it now names, through a slot or stub where needed.
void Differ::retarget(SectionRef at, const Reloc &r) {
  auto [objIndex, secIndex] = at;
  const Object &obj = *newObjs[objIndex];
  RelocKind kind = arch->classify(r.type);
  if (kind == RelocKind::None)
    return;
  Expected<Target> t = resolve(objIndex, r.symbol);
  if (!t) {
    consumeError(t.takeError()); // refused by the closure
    return;
  }
  std::string what =
      t->kind == Target::Anon ? obj.sections[t->section].name.str() : t->name;
  if (kind == RelocKind::ThreadLocal)
    return retargetTls(at, r, *t);
  if (kind == RelocKind::Unsupported) {
    if (refusals.isFirst(formatv("reloc {0} {1} {2} {3}", objIndex, secIndex,
                                 what, r.type)))
      addRefusal(obj.source(), formatv("{0} uses relocation {1} against "
                                       "'{2}', which hp-diff does not handle",
                                       ownerOf(obj, secIndex),
                                       arch->relocName(r.type), what));
    return;
  }
  bool external = false;
  std::optional<uint32_t> target = namedTarget(at, r, *t, kind, external);
  if (!target)
    return; // refused elsewhere: nothing copied to point at
  uint32_t type = r.type;
  if (kind == RelocKind::GotLoad) {
    target = slotFor(*target);
    type = arch->slotAccessType(r.type);
  } else if (kind == RelocKind::Call && external) {
    target = stubFor(*target);
    type = arch->callType(r.type);
  }
  auto [where, base] = placed.at(at);
  if (where == PatchSection::Bss) {
    if (refusals.isFirst(formatv("bss reloc {0} {1}", objIndex, secIndex)))
      addRefusal(obj.source(), "relocation in zero-initialized data");
    return;
  }
  if (where == PatchSection::Tls && kind != RelocKind::Absolute) {
    // (hp-apply writes absolute addresses into the block's image before
    // the dynamic loader copies it; each thread's copy has its own place.)
    if (refusals.isFirst(formatv("tls reloc {0} {1}", objIndex, secIndex)))
      addRefusal(obj.source(),
                 formatv("new thread-local variable in {0} holds '{1}' by "
                         "relocation {2}, relative to where it lies; every "
                         "thread's copy lies elsewhere",
                         obj.sections[secIndex].name, what, arch->relocName(r.type)));
    return;
  }
  patch.relocs[unsigned(where)].push_back(
      PatchReloc{base + r.offset, type, *target, r.addend + t->addendAdjust});
}

/// The patch symbol relocation \p r names: a copy, or the running original.
/// \p external is set for a symbol of another library. None when what it
/// names was refused and not copied.
std::optional<uint32_t> Differ::namedTarget(SectionRef at, const Reloc &r,
                                            const Target &t, RelocKind kind,
                                            bool &external) {
  size_t objIndex = at.first;
  const Object &obj = *newObjs[objIndex];
  auto placedGlobal = [&](StringRef name) -> std::optional<uint32_t> {
    auto it = newGlobals.find(name);
    if (it == newGlobals.end() ||
        !isPlaced(it->second.first,
                  newObjs[it->second.first]->symbols[it->second.second].shndx))
      return std::nullopt;
    return copiedSymbol(it->second.first, it->second.second);
  };
  switch (t.kind) {
  case Target::Function:
  case Target::Variable: {
    // Taking a replaced function's address (not calling it, not a jump
    // into its body) must give the original entry: the process may have
    // stored that address already, and comparisons must agree. The entry
    // redirects to the new code anyway.
    int64_t offset = r.addend + t.addendAdjust;
    // (An FDE's pc_begin names the code it describes: the copy.)
    bool takesAddress =
        t.kind == Target::Function && kind != RelocKind::Call && !isUnwindData(at) &&
        fnStatus[objIndex].lookup(t.name) == Status::Changed &&
        (kind == RelocKind::GotLoad ||
         (kind == RelocKind::Absolute && offset == 0) ||
         (kind == RelocKind::PCRel && offset <= 0 && offset >= -16));
    if (auto common = commonSyms.find({objIndex, t.symbol});
        common != commonSyms.end())
      return common->second;
    if (!takesAddress && !obj.isLocal(t.symbol) &&
        newGlobals.lookup(t.name).first != objIndex)
      if (std::optional<uint32_t> copy = placedGlobal(t.name))
        return copy;
    if (!takesAddress && isPlaced(objIndex, obj.symbols[t.symbol].shndx))
      return copiedSymbol(objIndex, t.symbol);
    StringRef name = t.name;
    if (auto rn = renamed[objIndex].find(name); rn != renamed[objIndex].end())
      name = rn->second;
    bool local = obj.isLocal(t.symbol);
    return refSymbol(name, local ? oldSource(objIndex) : "",
                     /*inModule=*/true, local ? oldFullSource(objIndex) : "");
  }
  case Target::Anon:
    if (!isPlaced(objIndex, t.section))
      return std::nullopt;
    return anonSymbol(objIndex, t.section);
  case Target::Undefined: {
    if (std::optional<uint32_t> copy = placedGlobal(t.name))
      return copy;
    bool inModule = oldGlobals.count(t.name) || newGlobals.count(t.name);
    external = !inModule;
    return refSymbol(t.name, "", inModule);
  }
  }
  return std::nullopt;
}

/// The function map: every changed function's old entry goes to new code.
void Differ::mapFunctions() {
  for (size_t i = 0; i < newObjs.size(); ++i) {
    for (auto &[name, status] : fnStatus[i]) {
      if (status == Status::Added) {
        result.added.push_back(name.str());
        result.reasons.emplace_back(name.str(), fnWhy[i].lookup(name));
      } else if (status == Status::Changed) {
        mapFunction(i, name);
      }
    }
    for (auto &entry : copyVar[i])
      result.newData.push_back(entry.getKey().str());
  }
}

void Differ::mapFunction(size_t i, StringRef name) {
  const Object &n = *newObjs[i];
  const Object *o = oldObjs[i].get();
  if (auto moved = fnOldOwner[i].find(name); moved != fnOldOwner[i].end())
    o = moved->second;
  if (!o)
    return;
  auto newIt = n.defined.find(name);
  auto oldIt = o->defined.find(name);
  if (newIt == n.defined.end() || oldIt == o->defined.end())
    return; // removed by the optimizer after the table was written
  const Symbol &oldSym = o->symbols[oldIt->second];
  const FunctionEntry *before = o->functions.lookup(name);
  if (!before || !(before->flags & FnPatchable))
    return; // refused in compare()
  if (!n.isLocal(newIt->second) && newGlobals.lookup(name).first != i)
    return; // a COMDAT copy: mapped once, from the owning object
  if (!isPlaced(i, n.symbols[newIt->second].shndx))
    return; // its code was refused
  FunctionMapEntry entry;
  entry.oldName = name.str();
  entry.oldSource = o->isLocal(oldIt->second) ? o->source() : "";
  if (!entry.oldSource.empty())
    checkLocalName(name, entry.oldSource, oldFullSource(i));
  entry.newSymbol = copiedSymbol(i, newIt->second);
  entry.oldSize = oldSym.size;
  entry.newSize = n.symbols[newIt->second].size;
  entry.endlessLoop = n.functions.lookup(name)->flags & FnEndlessLoop;
  entry.why = fnWhy[i].lookup(name);
  const PrologueShape &shape = arch->prologue();
  const Section &oldSec = o->sections[oldSym.shndx];
  if (oldSym.value < shape.padBefore ||
      oldSym.value + shape.entryNop > oldSec.data.size())
    return addRefusal(o->source(), formatv("function '{0}' has no room for "
                                           "the patchable prologue", name));
  ArrayRef<uint8_t> around = oldSec.data.slice(
      oldSym.value - shape.padBefore,
      std::min<uint64_t>(shape.padBefore + 8,
                         oldSec.data.size() - oldSym.value + shape.padBefore));
  Expected<unsigned> site = arch->patchSiteOffset(around);
  if (!site)
    return addRefusal(o->source(), formatv("function '{0}': {1}", name,
                                           toString(site.takeError())));
  entry.siteOffset = *site;
  entry.expected.assign(around.begin(),
                        around.begin() + shape.padBefore + *site + shape.entryNop);
  if (entry.endlessLoop)
    result.warnings.push_back(formatv(
        "{0}: function '{1}' changed, and it never returns (an endless "
        "loop, or a call to a function of its file that never returns): a "
        "frame already inside it keeps the old code; only new calls take "
        "the fix",
        n.source(), name));
  result.replaced.push_back(name.str());
  result.reasons.emplace_back(name.str(), entry.why);
  origins[name.str() + "\x01" + entry.oldSource] = {o, oldIt->second};
  patch.functions.push_back(std::move(entry));
}

/// Same inputs, same bytes: everything said or written in a stable order.
void Differ::sortResult() {
  llvm::sort(patch.functions,
             [](const FunctionMapEntry &a, const FunctionMapEntry &b) {
               return std::tie(a.oldName, a.oldSource) <
                      std::tie(b.oldName, b.oldSource);
             });
  llvm::sort(result.replaced);
  llvm::sort(result.added);
  llvm::sort(result.reasons);
  llvm::sort(result.lineNumbersOnly);
  llvm::sort(result.newData);
}

} // namespace hotpatch
