//===- diff/closure.cpp - stage 3: what the changed code reaches ----------===//
//
// The patch holds the closure of the changed functions over their
// references: a reference to something changed or new is copied into the
// patch (and followed in turn), a reference to anything else reaches the
// original in the running process, so state lives on. Refused here: a
// removed function still called, anonymous writable data the patch would
// fork, an address a linked binary cannot attribute. A copied function's
// unwind tables come along (unwind.cpp).
//
//===----------------------------------------------------------------------===//

#include "differ-state.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FormatVariadic.h"

using namespace llvm;

namespace hotpatch {

Expected<Target> Differ::resolve(size_t objIndex, uint32_t symIndex) const {
  const Object &obj = *newObjs[objIndex];
  const Symbol &sym = obj.symbols[symIndex];
  Target t;
  if (sym.shndx == ELF::SHN_UNDEF) {
    t.kind = Target::Undefined;
    t.name = sym.name;
    return t;
  }
  if (sym.shndx == ELF::SHN_COMMON && obj.variables.count(sym.name)) {
    t.kind = Target::Variable;
    t.symbol = symIndex;
    t.name = sym.name;
    return t;
  }
  if (sym.shndx >= obj.sections.size())
    return refuse(obj.source(), formatv("symbol '{0}' is in special section "
                                        "{1}, which hp-diff does not handle",
                                        sym.name, sym.shndx));
  if (sym.type == ELF::STT_SECTION) {
    // LLVM refers to file-local symbols through their section: with one
    // function or variable per section, the section names it.
    const auto &known = obj.knownInSection[sym.shndx];
    const Section &sec = obj.sections[sym.shndx];
    // Read-only data several constants share (a mergeable string section
    // also holding named `static const char x[]` arrays): nothing in it
    // changes at run time, so the patch takes a copy of the whole section,
    // like a string literal's.
    bool readOnly = !(sec.flags & (ELF::SHF_WRITE | ELF::SHF_EXECINSTR)) &&
                    sec.type == ELF::SHT_PROGBITS;
    if (known.empty() || (known.size() > 1 && readOnly)) {
      t.kind = Target::Anon;
      t.section = sym.shndx;
      return t;
    }
    if (known.size() > 1) {
      SmallVector<StringRef, 4> names;
      for (uint32_t k : known)
        names.push_back(obj.symbols[k].name);
      return refuse(obj.source(),
                    formatv("code refers to section {0} by offset, and it "
                            "holds {1} symbols ({2}); hp-diff cannot tell "
                            "which is meant",
                            sym.name, known.size(), join(names, ", ")));
    }
    const Symbol &named = obj.symbols[known.front()];
    t.kind = obj.functions.count(named.name) ? Target::Function : Target::Variable;
    t.symbol = known.front();
    t.name = named.name;
    t.addendAdjust = -int64_t(named.value);
    return t;
  }
  if (obj.functions.count(sym.name)) {
    t.kind = Target::Function;
  } else if (obj.variables.count(sym.name)) {
    t.kind = Target::Variable;
  } else {
    // A symbol the table does not list (a compiler-made local): its section
    // is anonymous data.
    t.kind = Target::Anon;
    t.section = sym.shndx;
    t.addendAdjust = int64_t(sym.value);
    return t;
  }
  t.symbol = symIndex;
  t.name = sym.name;
  return t;
}

bool Differ::copies(size_t objIndex, const Target &t) const {
  switch (t.kind) {
  case Target::Function:
    return fnStatus[objIndex].lookup(t.name) != Status::Same;
  case Target::Variable:
    return copyVar[objIndex].count(t.name) > 0;
  case Target::Anon:
    return true;
  case Target::Undefined: {
    auto it = newGlobals.find(t.name);
    if (it == newGlobals.end())
      return false;
    size_t other = it->second.first;
    return fnStatus[other].count(t.name)
               ? fnStatus[other].lookup(t.name) != Status::Same
               : copyVar[other].count(t.name) > 0;
  }
  }
  return false;
}

void Differ::closure() {
  for (size_t i = 0; i < newObjs.size(); ++i)
    indexFrames(i);
  seedClosure();
  while (!work.empty()) {
    SectionRef at = work.back();
    work.pop_back();
    const Object &obj = *newObjs[at.first];
    const Section &sec = obj.sections[at.second];
    if (sec.hasRel)
      addRefusal(obj.source(), "section " + sec.name + " uses REL relocations");
    for (const Reloc &r : sec.relocs)
      follow(at, r);
    if (sec.flags & ELF::SHF_EXECINSTR)
      followUnwind(at);
  }
}

/// Every changed or new function and copied variable, once.
void Differ::seedClosure() {
  auto sectionOf = [&](size_t obj, StringRef name) -> std::optional<uint32_t> {
    auto it = newObjs[obj]->defined.find(name);
    if (it == newObjs[obj]->defined.end())
      return std::nullopt;
    uint32_t shndx = newObjs[obj]->symbols[it->second].shndx;
    if (shndx >= newObjs[obj]->sections.size())
      return std::nullopt;
    return shndx;
  };
  for (size_t i = 0; i < newObjs.size(); ++i) {
    for (auto &[name, status] : fnStatus[i]) {
      if (status == Status::Same)
        continue;
      // A global defined in several objects (C++ inline functions and
      // templates in COMDAT groups): one copy, the first object's.
      auto it = newObjs[i]->defined.find(name);
      if (it != newObjs[i]->defined.end() && !newObjs[i]->isLocal(it->second)) {
        auto owner = newGlobals.find(name);
        if (owner != newGlobals.end() && owner->second.first != i)
          continue;
      }
      if (std::optional<uint32_t> sec = sectionOf(i, name))
        enqueue(i, *sec);
    }
    for (auto &entry : copyVar[i])
      if (std::optional<uint32_t> sec = sectionOf(i, entry.getKey()))
        enqueue(i, *sec);
  }
}

/// Queues what relocation \p r of section \p at needs copied, or refuses.
void Differ::follow(SectionRef at, const Reloc &r) {
  auto [objIndex, secIndex] = at;
  const Object &obj = *newObjs[objIndex];
  Expected<Target> t = resolve(objIndex, r.symbol);
  if (!t) {
    // One refusal per symbol, however many relocations name it.
    if (refusals.isFirst(formatv("resolve {0} {1}", objIndex, r.symbol)))
      refusals.add(t.takeError());
    else
      consumeError(t.takeError());
    return;
  }
  if (r.alt)
    checkBothReadings(at, r, *t);
  switch (t->kind) {
  case Target::Function: {
    if (fnStatus[objIndex].lookup(t->name) == Status::Same)
      break;
    auto owner = newGlobals.find(t->name);
    if (!obj.isLocal(t->symbol) && owner != newGlobals.end() &&
        owner->second.first != objIndex)
      enqueue(owner->second.first,
              newObjs[owner->second.first]->symbols[owner->second.second].shndx);
    else
      enqueue(objIndex, obj.symbols[t->symbol].shndx);
    break;
  }
  case Target::Variable:
    if (copyVar[objIndex].count(t->name) &&
        obj.symbols[t->symbol].shndx < obj.sections.size())
      enqueue(objIndex, obj.symbols[t->symbol].shndx);
    break;
  case Target::Anon: {
    const Section &data = obj.sections[t->section];
    // .data.rel.ro is written once, by the dynamic loader (RELRO): the
    // compiler's constant tables of addresses, like a switch's table.
    StringRef after = data.name;
    bool relro = after.consume_front(".data.rel.ro") &&
                 (after.empty() || after[0] == '.' || after[0] == '+');
    if (isUnwindData(at)) {
      // An LSDA, or a slot an unwind table reads an address from (the
      // personality routine's, a type info's): the patch's unwind tables
      // are the only reader of the copy.
      unwindData.insert({objIndex, t->section});
      enqueue(objIndex, t->section);
    } else if (!(data.flags & ELF::SHF_WRITE) || (data.flags & ELF::SHF_EXECINSTR) ||
               relro)
      enqueue(objIndex, t->section);
    else if (refusals.isFirst(formatv("anon {0} {1}", objIndex, t->section)))
      addRefusal(obj.source(), formatv("patched code uses anonymous "
                                       "writable data (section {0}) that a "
                                       "patch cannot share with the running "
                                       "code", data.name));
    break;
  }
  case Target::Undefined: {
    auto it = newGlobals.find(t->name);
    if (it != newGlobals.end()) {
      if (copies(objIndex, *t))
        enqueue(it->second.first,
                newObjs[it->second.first]->symbols[it->second.second].shndx);
    } else if (removedFunctions.count(t->name) &&
               refusals.isFirst(formatv("removed {0} {1}", objIndex, t->name))) {
      addRefusal(obj.source(), formatv("function '{0}' was removed, but "
                                       "the new code still calls it",
                                       t->name));
    }
    break;
  }
  }
}

/// From a linked binary, an address with two readings: harmless when both
/// reach the running process (or both the patch).
void Differ::checkBothReadings(SectionRef at, const Reloc &r, const Target &t) {
  auto [objIndex, secIndex] = at;
  const Object &obj = *newObjs[objIndex];
  Expected<Target> other = resolve(objIndex, r.alt);
  if (!other) {
    consumeError(other.takeError());
    return;
  }
  if (copies(objIndex, t) == copies(objIndex, *other))
    return;
  auto name = [&](const Target &x) {
    return x.kind == Target::Anon
               ? "unnamed data in " + obj.sections[x.section].name.str()
               : "'" + x.name + "'";
  };
  if (!refusals.isFirst(formatv("alt {0} {1} {2} {3}", objIndex, secIndex,
                                r.symbol, r.alt)))
    return;
  addRefusal(obj.source(),
             formatv("{0} refers to an address that is where {1} and "
                     "{2} meet; the linked binary keeps the address, "
                     "not which one the compiler meant, and only one "
                     "of them is copied into the patch: diff the "
                     "objects instead", ownerOf(obj, secIndex),
                     name(t), name(*other)));
}

} // namespace hotpatch
