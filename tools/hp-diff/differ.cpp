//===- tools/hp-diff/differ.cpp - two builds in, one live patch out -------===//
//
// The fingerprint tables say which functions and variables changed; the new
// objects supply their code and data; the old objects say what the running
// process has (entry bytes, which symbols exist). What the patch contains is
// the closure of the changed functions over their references: a reference to
// something changed or new is copied into the patch, a reference to anything
// else reaches the original in the running process, so state lives on.
//
//===----------------------------------------------------------------------===//

#include "differ.h"
#include "objects.h"

#include "arch.h"
#include "elf-info.h"
#include "explain.h"
#include "fingerprint-table.h"

#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Object/ELF.h"
#include "llvm/Object/ELFObjectFile.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include <future>
#include <map>
#include <set>

using namespace llvm;
using namespace llvm::object;

namespace hotpatch {

char RefusalError::ID;

namespace {

using ELFT = ELF64LE;

/// The differing `key=value` parts of two options strings, for a message.
std::string optionsDelta(StringRef before, StringRef after) {
  SmallVector<StringRef, 16> a, b;
  before.split(a, ';');
  after.split(b, ';');
  std::map<std::string, std::pair<std::string, std::string>> keys;
  for (StringRef kv : a)
    keys[kv.split('=').first.str()].first = kv.split('=').second.str();
  for (StringRef kv : b)
    keys[kv.split('=').first.str()].second = kv.split('=').second.str();
  SmallVector<std::string, 4> parts;
  for (auto &[key, vals] : keys)
    if (vals.first != vals.second)
      parts.push_back(formatv("{0}={1} -> {0}={2}", key,
                              vals.first.empty() ? "(none)" : vals.first,
                              vals.second.empty() ? "(none)" : vals.second));
  return join(parts, ", ");
}

/// `name.12` -> `name`: the compiler's numbering of file-local statics.
StringRef withoutNumber(StringRef name) {
  size_t dot = name.rfind('.');
  if (dot == StringRef::npos || dot + 1 == name.size())
    return name;
  for (char c : name.drop_front(dot + 1))
    if (!isDigit(c))
      return name;
  return name.take_front(dot);
}

/// The family of a file-local static's name: what is left without the
/// compiler's numbering (`f.x.12` -> `f.x`, `_ZZ1fvE1x_0` -> `_ZZ1fvE1x`).
StringRef staticFamily(StringRef name) {
  if (name.starts_with("_ZZ")) {
    size_t under = name.rfind('_');
    if (under != StringRef::npos && under > 3 && under + 1 < name.size() &&
        llvm::all_of(name.drop_front(under + 1), isDigit))
      return name.take_front(under);
    return name;
  }
  return withoutNumber(name);
}


enum class Status { Same, Changed, Added };

/// What a relocation in the new code points at.
struct Target {
  enum Kind { Function, Variable, Anon, Undefined } kind;
  uint32_t symbol = 0;  // in the object: the named symbol (Function, Variable)
  uint32_t section = 0; // Anon: the section copied whole
  int64_t addendAdjust = 0;
  std::string name;
};

class Differ {
public:
  Differ(const DiffOptions &opts)
      : opts(opts), targetPath(opts.target.empty() ? opts.oldBinary : opts.target) {}
  Expected<DiffResult> run();

private:
  Error load();
  void compare(size_t pair);
  Expected<Target> resolve(size_t obj, uint32_t symIndex) const;
  /// Whether the patch takes its own copy of what \p t names.
  bool copies(size_t obj, const Target &t) const;
  void pullInUsersOfChangedConstants();
  void closure();
  Error emit();
  Error resolveAgainstTarget();

  // What a symbol of a new object is in the patch (index into symbols).
  uint32_t copiedSymbol(size_t obj, uint32_t sym);
  uint32_t anonSymbol(size_t obj, uint32_t section);
  uint32_t refSymbol(StringRef name, StringRef source, bool inModule,
                     StringRef fullSource = "");
  void checkLocalName(StringRef name, StringRef source, StringRef fullSource);
  uint32_t slotFor(uint32_t target);
  uint32_t stubFor(uint32_t target);

  /// Each refusal once, in the order found.
  void addRefusal(StringRef file, const Twine &why) {
    std::string text = (file + ": " + why).str();
    if (refusalTexts.insert(text).second)
      refusals = joinErrors(std::move(refusals), refuse(file, why));
  }
  /// "function 'f'" or "variable 'v'" for the symbol a section holds.
  static std::string ownerOf(const Object &obj, uint32_t sec) {
    const auto &known = obj.knownInSection[sec];
    if (known.size() != 1)
      return ("section " + obj.sections[sec].name).str();
    StringRef name = obj.symbols[known.front()].name;
    return (obj.functions.count(name) ? "function '" : "variable '") + name.str() + "'";
  }

  /// The TU of pair \p i as the running program's symbol table names it.
  std::string oldSource(size_t i) const {
    return oldObjs[i] ? oldObjs[i]->source() : newObjs[i]->source();
  }
  std::string oldFullSource(size_t i) const {
    const Object &o = oldObjs[i] ? *oldObjs[i] : *newObjs[i];
    return o.table.sourceFile.empty() ? o.path : o.table.sourceFile;
  }

  const DiffOptions &opts;
  std::string targetPath; // --target, or the old binary
  const Arch *arch = nullptr;
  std::set<std::string> refusalTexts;
  std::vector<std::unique_ptr<Object>> oldObjs, newObjs; // by pair; old may be null
  Error refusals = Error::success();
  DiffResult result;

  // Per new object: status of each table function and variable by name.
  std::vector<StringMap<Status>> fnStatus, varStatus;
  // Per new object: why a changed or new function is in the patch.
  std::vector<StringMap<std::string>> fnWhy;
  // Per new object: changed functions whose source and callees are the
  // same (a constant folded into them changed, most likely).
  std::vector<StringSet<>> contextChanged;
  // Per new object: variables copied into the patch (new or changed const).
  std::vector<StringSet<>> copyVar;
  // Per new object: local variable renamed by the compiler: new -> old name.
  std::vector<StringMap<std::string>> renamed;
  // Global symbols defined by the new objects: name -> (object, symbol).
  StringMap<std::pair<size_t, uint32_t>> newGlobals;
  StringSet<> oldGlobals;
  StringSet<> removedFunctions;

  // Sections of new objects copied into the patch, and where they went.
  std::set<std::pair<size_t, uint32_t>> toCopy;
  std::map<std::pair<size_t, uint32_t>, std::pair<PatchSection, uint64_t>> placed;
  std::map<std::pair<size_t, uint32_t>, uint32_t> copiedSyms, anonSyms;
  std::map<std::pair<std::string, std::string>, uint32_t> refs;
  std::map<std::pair<std::string, std::string>, std::string> refTU;
  // Replaced function -> its old object and symbol (for --target checks).
  std::map<std::string, std::pair<const Object *, uint32_t>> origins;
  // New -fcommon variables, allocated in .hp.bss: (object, symbol) -> index.
  std::map<std::pair<size_t, uint32_t>, uint32_t> commonSyms;
  // Global symbols of the old build: which pair's old object defines them.
  StringMap<const Object *> oldFnOwner, oldVarOwner;
  // Per new object: functions whose old code is in another pair's object.
  std::vector<StringMap<const Object *>> fnOldOwner;
  // Objects only in the old tree (a TU that was deleted).
  std::vector<std::unique_ptr<Object>> oldOnly;
  DenseMap<uint32_t, uint32_t> slots, stubs;
  PatchFile &patch = result.patch;
};

void Differ::compare(size_t pair) {
  Object *o = oldObjs[pair].get();
  Object &n = *newObjs[pair];
  StringMap<Status> &fns = fnStatus[pair];
  StringMap<Status> &vars = varStatus[pair];
  static const TableRecord noRecord;

  for (const FunctionEntry &fn : n.table.functions) {
    const FunctionEntry *before = o ? o->functions.lookup(fn.name) : nullptr;
    const TableRecord *beforeRecord = o ? &o->table : &noRecord;
    if (!before && !(fn.flags & FnLocal)) {
      // Moved from another file: the running code is that file's.
      auto it = oldFnOwner.find(fn.name);
      if (it != oldFnOwner.end()) {
        before = it->second->functions.lookup(fn.name);
        beforeRecord = &it->second->table;
        fnOldOwner[pair][fn.name] = it->second;
      }
    }
    FunctionChange change =
        classifyFunction(before, fn, *beforeRecord, n.table);
    if (change.kind == FunctionChange::New) {
      fns[fn.name] = Status::Added;
      fnWhy[pair][fn.name] = change.describe();
      continue;
    }
    if (change.kind == FunctionChange::LineNumbersOnly &&
        !opts.includeLineNumberChanges) {
      result.lineNumbersOnly.push_back(fn.name);
      fns[fn.name] = Status::Same;
      continue;
    }
    if (change.kind == FunctionChange::Same) {
      fns[fn.name] = Status::Same;
      continue;
    }
    fns[fn.name] = Status::Changed;
    fnWhy[pair][fn.name] = change.describe();
    if (change.kind == FunctionChange::ContextChanged)
      contextChanged[pair].insert(fn.name);
    // Callers pulled in by another function's change under ipo=full: the
    // price of letting callers rely on callee bodies, said every time.
    if (change.kind == FunctionChange::CalleeChanged && change.fullIpo)
      result.warnings.push_back(
          formatv("{0}: function '{1}' is patched only because '{2}' "
                  "changed: {3}",
                  n.source(), fn.name, change.culprit, change.describe()));
    if (!(before->flags & FnPatchable))
      addRefusal(n.source(), formatv("function '{0}' changed, but the running "
                                     "code has no patchable prologue ({1})",
                                     fn.name, before->reason));
    if (StringRef(fn.name).starts_with("_GLOBAL__sub_I_") ||
        StringRef(fn.name).starts_with("__cxx_global_var_init"))
      addRefusal(n.source(), formatv("static initializer '{0}' changed; it ran "
                                     "when the program started and a live "
                                     "patch cannot run it again", fn.name));
  }

  // Variables. The compiler numbers file-local statics of the same name
  // (C: `f.x`, `f.x.1`; C++: `_ZZ1fvE1x`, `_ZZ1fvE1x_0`), so adding one can
  // shift the names of the others. Where a family of such names differs
  // between the builds, match its members by type and initializer instead
  // of by name, and refuse when that is ambiguous.
  StringMap<std::string> matchedOld; // new name -> old name, for families
  StringSet<> unmatchedNew;
  if (o) {
    std::map<std::string, std::pair<std::vector<const VariableEntry *>,
                                    std::vector<const VariableEntry *>>>
        families;
    for (const VariableEntry &var : o->table.variables)
      if (var.flags & VarLocal)
        families[staticFamily(var.name).str()].first.push_back(&var);
    for (const VariableEntry &var : n.table.variables)
      if (var.flags & VarLocal)
        families[staticFamily(var.name).str()].second.push_back(&var);
    for (auto &familyEntry : families) {
      const std::string &family = familyEntry.first;
      std::vector<const VariableEntry *> &olds = familyEntry.second.first;
      std::vector<const VariableEntry *> &news = familyEntry.second.second;
      std::set<std::string> oldNames, newNames;
      for (const VariableEntry *v : olds)
        oldNames.insert(v->name);
      for (const VariableEntry *v : news)
        newNames.insert(v->name);
      if (oldNames == newNames || olds.empty() || news.empty())
        continue; // the usual case: names line up
      auto sameShape = [](const VariableEntry *a, const VariableEntry *b) {
        return a->typeHash == b->typeHash && a->initHash == b->initHash &&
               a->sizeBytes == b->sizeBytes;
      };
      // Numbering follows declaration order: `f.x`, then `f.x.1`, `f.x.2`.
      auto number = [](StringRef name) -> uint64_t {
        StringRef rest = name.starts_with("_ZZ") ? name.rsplit('_').second
                                                  : name.rsplit('.').second;
        uint64_t n = 0;
        return !rest.empty() && !rest.getAsInteger(10, n) ? n + 1 : 0;
      };
      auto byNumber = [&](const VariableEntry *a, const VariableEntry *b) {
        return number(a->name) < number(b->name);
      };
      std::sort(olds.begin(), olds.end(), byNumber);
      std::sort(news.begin(), news.end(), byNumber);
      // Same count: renumbered in place (another family member elsewhere in
      // the file shifted the counter). Pair in order when shapes agree.
      bool inOrder = olds.size() == news.size();
      for (size_t k = 0; inOrder && k < olds.size(); ++k)
        inOrder = sameShape(olds[k], news[k]);
      if (inOrder) {
        for (size_t k = 0; k < olds.size(); ++k) {
          matchedOld[news[k]->name] = olds[k]->name;
          if (news[k]->name != olds[k]->name)
            result.warnings.push_back(formatv(
                "{0}: static variable '{1}' is the running process's '{2}' "
                "(renumbered by the compiler)", n.source(), news[k]->name,
                olds[k]->name));
        }
        continue;
      }
      // A static was added or removed: match by shape, uniquely or not at all.
      bool ambiguous = false;
      for (const VariableEntry *nv : news) {
        SmallVector<const VariableEntry *, 2> candidates;
        for (const VariableEntry *ov : olds)
          if (sameShape(nv, ov))
            candidates.push_back(ov);
        size_t rivals = llvm::count_if(news, [&](const VariableEntry *other) {
          return llvm::any_of(candidates, [&](const VariableEntry *ov) {
            return sameShape(other, ov);
          });
        });
        if (candidates.size() == 1 && rivals == 1) {
          matchedOld[nv->name] = candidates.front()->name;
          if (nv->name != candidates.front()->name)
            result.warnings.push_back(formatv(
                "{0}: static variable '{1}' is the running process's '{2}' "
                "(renumbered by the compiler)", n.source(), nv->name,
                candidates.front()->name));
        } else {
          ambiguous |= !candidates.empty();
          unmatchedNew.insert(nv->name);
        }
      }
      if (ambiguous)
        addRefusal(n.source(),
                   formatv("static variable '{0}': the running program has {1} "
                           "of that name, the new build {2}, and a new one has "
                           "the same type and initializer as a running one, so "
                           "which holds the running state cannot be told; give "
                           "the new one another name", family, olds.size(),
                           news.size()));
    }
  }
  for (const VariableEntry &var : n.table.variables) {
    const VariableEntry *before = nullptr;
    if (auto m = matchedOld.find(var.name); m != matchedOld.end()) {
      before = o->variables.lookup(m->second);
      if (m->second != var.name)
        renamed[pair][var.name] = m->second;
    } else if (!unmatchedNew.count(var.name) && o) {
      before = o->variables.lookup(var.name);
    }
    if (!before && !(var.flags & VarLocal)) {
      auto it = oldVarOwner.find(var.name);
      if (it != oldVarOwner.end())
        before = it->second->variables.lookup(var.name);
    }
    if (!before) {
      vars[var.name] = Status::Added;
      if (var.flags & VarTLS)
        addRefusal(n.source(), formatv("new thread-local variable '{0}': a "
                                       "patch cannot add thread-local storage",
                                       var.name));
      copyVar[pair].insert(var.name);
      continue;
    }
    if (before->fingerprint == var.fingerprint) {
      vars[var.name] = Status::Same;
      continue;
    }
    vars[var.name] = Status::Changed;
    StringRef what = (var.flags & VarLocal) ? "static variable" : "global variable";
    if ((var.flags & VarConstant) && (before->flags & VarConstant)) {
      // Read-only: a fresh copy in the patch, and every user switches to it.
      copyVar[pair].insert(var.name);
      continue;
    }
    if (before->sizeBytes != var.sizeBytes) {
      addRefusal(n.source(), formatv("{0} '{1}' changed size ({2} -> {3} "
                                     "bytes); a live patch cannot migrate it",
                                     what, var.name, before->sizeBytes,
                                     var.sizeBytes));
    } else if (before->typeHash != var.typeHash ||
               (before->flags & ~(VarZeroInit | VarCommon)) !=
                   (var.flags & ~(VarZeroInit | VarCommon)) ||
               before->alignBytes != var.alignBytes) {
      addRefusal(n.source(), formatv("{0} '{1}' changed its type or layout "
                                     "(same size); a live patch cannot migrate "
                                     "it", what, var.name));
    } else if (llvm::is_contained(opts.acceptChangedInit, var.name)) {
      patch.acceptedRisks.push_back(formatv(
          "{0}: {1} '{2}' changed its initializer; the running process keeps "
          "its current value (--accept-changed-init)", n.source(), what,
          var.name));
    } else {
      addRefusal(n.source(),
                 formatv("{0} '{1}' changed its initializer; the running "
                         "process keeps its current value, so the change would "
                         "not take effect (--accept-changed-init={1} keeps the "
                         "live value and patches the rest)", what, var.name));
    }
  }
}

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

void Differ::pullInUsersOfChangedConstants() {
  // Globals whose contents changed: users anywhere (other TUs) must switch.
  StringSet<> changedConstGlobals;
  for (size_t i = 0; i < newObjs.size(); ++i)
    for (auto &entry : copyVar[i]) {
      const VariableEntry *var = newObjs[i]->variables.lookup(entry.getKey());
      if (varStatus[i].lookup(entry.getKey()) == Status::Changed &&
          !(var->flags & VarLocal))
        changedConstGlobals.insert(entry.getKey());
    }
  for (size_t i = 0; i < newObjs.size(); ++i) {
    Object &obj = *newObjs[i];
    // Most patches change no constant: then there is nothing to scan here.
    bool anyChangedConst = !changedConstGlobals.empty() ||
                           llvm::any_of(copyVar[i], [&](const auto &entry) {
                             return varStatus[i].lookup(entry.getKey()) ==
                                    Status::Changed;
                           });
    if (!anyChangedConst)
      continue;
    for (auto &entry : fnStatus[i]) {
      // (Not a structured binding: on a StringMapEntry it binds a copy.)
      StringRef name = entry.getKey();
      Status &status = entry.second;
      // Also the changed functions nothing else explains: say which
      // constant it is.
      bool unexplained = contextChanged[i].contains(name);
      if (status != Status::Same && !unexplained)
        continue;
      auto it = obj.defined.find(name);
      if (it == obj.defined.end())
        continue;
      const Symbol &fsym = obj.symbols[it->second];
      if (fsym.shndx >= obj.sections.size())
        continue;
      for (const Reloc &r : obj.sections[fsym.shndx].relocs) {
        Expected<Target> t = resolve(i, r.symbol);
        if (!t) {
          consumeError(t.takeError()); // reported when the code is copied
          continue;
        }
        bool changedConst =
            (t->kind == Target::Variable && copyVar[i].count(t->name) &&
             varStatus[i].lookup(t->name) == Status::Changed) ||
            (t->kind == Target::Undefined && changedConstGlobals.count(t->name));
        if (!changedConst)
          continue;
        fnWhy[i][name] = formatv("it reads the changed constant '{0}'", t->name);
        if (unexplained)
          break;
        status = Status::Changed;
        const FunctionEntry *before =
            oldObjs[i] ? oldObjs[i]->functions.lookup(name) : nullptr;
        if (before && !(before->flags & FnPatchable))
          addRefusal(obj.source(),
                     formatv("function '{0}' reads the changed constant '{1}', "
                             "but has no patchable prologue ({2})",
                             name, t->name, before->reason));
        result.warnings.push_back(formatv(
            "{0}: function '{1}' is patched too: it reads the changed "
            "constant '{2}'", obj.source(), name, t->name));
        break;
      }
    }
  }
}

void Differ::checkLocalName(StringRef name, StringRef source,
                            StringRef fullSource) {
  // The symbol table names a TU by its file's base name only (STT_FILE):
  // two util.c in two directories cannot be told apart there.
  auto [it, inserted] =
      refTU.try_emplace({name.str(), source.str()}, fullSource.str());
  if (!inserted && it->second != fullSource)
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

void Differ::closure() {
  std::vector<std::pair<size_t, uint32_t>> work;
  auto enqueue = [&](size_t obj, uint32_t sec) {
    if (toCopy.insert({obj, sec}).second)
      work.push_back({obj, sec});
  };
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
  while (!work.empty()) {
    auto [objIndex, secIndex] = work.back();
    work.pop_back();
    Object &obj = *newObjs[objIndex];
    const Section &sec = obj.sections[secIndex];
    if (sec.hasRel)
      addRefusal(obj.source(), "section " + sec.name +
                                                     " uses REL relocations");
    for (const Reloc &r : sec.relocs) {
      Expected<Target> t = resolve(objIndex, r.symbol);
      if (!t) {
        refusals = joinErrors(std::move(refusals), t.takeError());
        continue;
      }
      if (r.alt) {
        // From a linked binary, an address with two readings: harmless
        // when both reach the running process (or both the patch).
        Expected<Target> other = resolve(objIndex, r.alt);
        if (!other) {
          consumeError(other.takeError());
        } else if (copies(objIndex, *t) != copies(objIndex, *other)) {
          auto name = [&](const Target &x) {
            return x.kind == Target::Anon
                       ? "unnamed data in " + obj.sections[x.section].name.str()
                       : "'" + x.name + "'";
          };
          addRefusal(obj.source(),
                     formatv("{0} refers to an address that is where {1} and "
                             "{2} meet; the linked binary keeps the address, "
                             "not which one the compiler meant, and only one "
                             "of them is copied into the patch: diff the "
                             "objects instead", ownerOf(obj, secIndex),
                             name(*t), name(*other)));
        }
      }
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
        if ((data.flags & ELF::SHF_WRITE) && !(data.flags & ELF::SHF_EXECINSTR) &&
            !relro)
          addRefusal(obj.source(), formatv("patched code uses anonymous "
                                           "writable data (section {0}) that a "
                                           "patch cannot share with the running "
                                           "code", data.name));
        else
          enqueue(objIndex, t->section);
        break;
      }
      case Target::Undefined: {
        auto it = newGlobals.find(t->name);
        if (it != newGlobals.end()) {
          auto [other, sym] = it->second;
          StringRef name = t->name;
          bool copied = fnStatus[other].count(name)
                            ? fnStatus[other].lookup(name) != Status::Same
                            : copyVar[other].count(name) > 0;
          if (copied)
            enqueue(other, newObjs[other]->symbols[sym].shndx);
        } else if (removedFunctions.count(t->name)) {
          addRefusal(obj.source(), formatv("function '{0}' was removed, but "
                                           "the new code still calls it",
                                           t->name));
        }
        break;
      }
      }
    }
  }
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

Error Differ::emit() {
  // Place every copied section, in a stable order: object, then section.
  for (auto [objIndex, secIndex] : toCopy) {
    const Section &sec = newObjs[objIndex]->sections[secIndex];
    PatchSection where;
    if (sec.flags & ELF::SHF_TLS)
      return refuse(newObjs[objIndex]->source(),
                    "patched code needs thread-local section " + sec.name);
    if (sec.flags & ELF::SHF_EXECINSTR)
      where = PatchSection::Text;
    else if (!(sec.flags & ELF::SHF_WRITE))
      where = PatchSection::Rodata;
    else if (sec.type == ELF::SHT_NOBITS)
      where = PatchSection::Bss;
    else
      where = PatchSection::Data;
    unsigned s = unsigned(where);
    patch.align[s] = std::max(patch.align[s], sec.align);
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
    if (sec.linked) {
      // From a linked binary: the bytes as the compiler wrote them.
      MutableArrayRef<uint8_t> copy(bytes.data() + bytes.size() - sec.data.size(),
                                    sec.data.size());
      for (const Reloc &r : sec.relocs)
        if (Error err = arch->asCompiled(r.type, copy, r.offset))
          addRefusal(newObjs[objIndex]->source(),
                     formatv("{0}: {1}", ownerOf(*newObjs[objIndex], secIndex),
                             toString(std::move(err))));
    }
  }

  // Exceptions unwind through code by its .eh_frame entry, and catch by its
  // .gcc_except_table: a patch carries neither yet, so a function with
  // landing pads cannot be replaced safely.
  for (auto [objIndex, secIndex] : toCopy) {
    const Object &obj = *newObjs[objIndex];
    StringRef name = obj.sections[secIndex].name;
    if (!name.starts_with(".text."))
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
                         "cleanups); patches do not carry unwind tables yet, so "
                         "an exception through it would terminate the process",
                         ownerOf(obj, secIndex)));
  }
  if (refusals)
    return Error::success();

  // New -fcommon variables live in no section: allocate them in .hp.bss.
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

  // Symbols for every function and variable defined in a copied section.
  for (auto [objIndex, secIndex] : toCopy)
    for (uint32_t sym : newObjs[objIndex]->knownInSection[secIndex])
      copiedSymbol(objIndex, sym);

  // Relocations, retargeted.
  for (auto [objIndex, secIndex] : toCopy) {
    Object &obj = *newObjs[objIndex];
    auto [where, base] = placed.at({objIndex, secIndex});
    for (const Reloc &r : obj.sections[secIndex].relocs) {
      RelocKind kind = arch->classify(r.type);
      Expected<Target> t = resolve(objIndex, r.symbol);
      if (!t)
        return t.takeError();
      std::string what = t->kind == Target::Anon
                             ? obj.sections[t->section].name.str()
                             : t->name;
      std::string inSection = ownerOf(obj, secIndex);
      if (kind == RelocKind::None)
        continue;
      if (kind == RelocKind::ThreadLocal) {
        addRefusal(obj.source(), formatv("{0} accesses thread-local variable "
                                         "'{1}' ({2}); patches cannot reach "
                                         "thread-local storage yet",
                                         inSection, what, arch->relocName(r.type)));
        continue;
      }
      if (kind == RelocKind::Unsupported) {
        addRefusal(obj.source(), formatv("{0} uses relocation {1} against "
                                         "'{2}', which hp-diff does not handle",
                                         inSection, arch->relocName(r.type), what));
        continue;
      }
      // The patch symbol the relocation now names.
      uint32_t target = 0;
      bool external = false;
      int64_t addend = r.addend + t->addendAdjust;
      switch (t->kind) {
      case Target::Function:
      case Target::Variable: {
        const Symbol &sym = obj.symbols[t->symbol];
        auto owner = newGlobals.find(t->name);
        bool elsewhere = !obj.isLocal(t->symbol) && owner != newGlobals.end() &&
                         owner->second.first != objIndex &&
                         placed.count({owner->second.first,
                                       newObjs[owner->second.first]
                                           ->symbols[owner->second.second]
                                           .shndx});
        // Taking a replaced function's address (not calling it, not a jump
        // into its body) must give the original entry: the process may
        // have stored that address already, and comparisons must agree.
        // The entry redirects to the new code anyway.
        int64_t offset = addend;
        bool takesAddress =
            t->kind == Target::Function && kind != RelocKind::Call &&
            fnStatus[objIndex].lookup(t->name) == Status::Changed &&
            (kind == RelocKind::GotLoad ||
             (kind == RelocKind::Absolute && offset == 0) ||
             (kind == RelocKind::PCRel && offset <= 0 && offset >= -16));
        if (auto common = commonSyms.find({objIndex, t->symbol});
            common != commonSyms.end()) {
          target = common->second;
        } else if (elsewhere && !takesAddress) {
          target = copiedSymbol(owner->second.first, owner->second.second);
        } else if (placed.count({objIndex, sym.shndx}) && !takesAddress) {
          target = copiedSymbol(objIndex, t->symbol);
        } else {
          StringRef name = t->name;
          auto rn = renamed[objIndex].find(name);
          if (rn != renamed[objIndex].end())
            name = rn->second;
          bool local = obj.isLocal(t->symbol);
          target = refSymbol(name, local ? oldSource(objIndex) : "",
                             /*inModule=*/true, local ? oldFullSource(objIndex) : "");
        }
        break;
      }
      case Target::Anon:
        target = anonSymbol(objIndex, t->section);
        break;
      case Target::Undefined: {
        auto it = newGlobals.find(t->name);
        if (it != newGlobals.end() &&
            placed.count({it->second.first,
                          newObjs[it->second.first]->symbols[it->second.second].shndx})) {
          target = copiedSymbol(it->second.first, it->second.second);
        } else {
          bool inModule = oldGlobals.count(t->name) || newGlobals.count(t->name);
          external = !inModule;
          target = refSymbol(t->name, "", inModule);
        }
        break;
      }
      }
      uint32_t type = r.type;
      if (kind == RelocKind::GotLoad) {
        target = slotFor(target);
        type = arch->slotAccessType(r.type);
      } else if (kind == RelocKind::Call && external) {
        target = stubFor(target);
        type = arch->callType(r.type);
      }
      PatchSection relocIn = where;
      if (where == PatchSection::Bss)
        return refuse(obj.source(), "relocation in zero-initialized data");
      patch.relocs[unsigned(relocIn)].push_back(
          PatchReloc{base + r.offset, type, target, addend});
    }
  }

  // The function map: every changed function's old entry goes to new code.
  for (size_t i = 0; i < newObjs.size(); ++i) {
    Object &n = *newObjs[i];
    for (auto &[name, status] : fnStatus[i]) {
      if (status == Status::Added) {
        result.added.push_back(name.str());
        result.reasons.emplace_back(name.str(), fnWhy[i].lookup(name));
        continue;
      }
      Object *o = oldObjs[i].get();
      if (auto moved = fnOldOwner[i].find(name); moved != fnOldOwner[i].end())
        o = const_cast<Object *>(moved->second);
      if (status != Status::Changed || !o)
        continue;
      auto newIt = n.defined.find(name);
      auto oldIt = o->defined.find(name);
      if (newIt == n.defined.end() || oldIt == o->defined.end())
        continue; // removed by the optimizer after the table was written
      const Symbol &oldSym = o->symbols[oldIt->second];
      const FunctionEntry *before = o->functions.lookup(name);
      if (!before || !(before->flags & FnPatchable))
        continue; // refused in compare()
      if (!n.isLocal(newIt->second) &&
          newGlobals.lookup(name).first != i)
        continue; // a COMDAT copy: mapped once, from the owning object
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
        return refuse(o->source(), formatv("function '{0}' has no room for the "
                                           "patchable prologue", name));
      ArrayRef<uint8_t> around = oldSec.data.slice(
          oldSym.value - shape.padBefore,
          std::min<uint64_t>(shape.padBefore + 8,
                             oldSec.data.size() - oldSym.value + shape.padBefore));
      Expected<unsigned> site = arch->patchSiteOffset(around);
      if (!site)
        return refuse(o->source(), formatv("function '{0}': {1}", name,
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
    for (auto &entry : copyVar[i])
      result.newData.push_back(entry.getKey().str());
  }
  llvm::sort(patch.functions, [](const FunctionMapEntry &a, const FunctionMapEntry &b) {
    return std::tie(a.oldName, a.oldSource) < std::tie(b.oldName, b.oldSource);
  });
  llvm::sort(result.replaced);
  llvm::sort(result.added);
  llvm::sort(result.reasons);
  llvm::sort(result.lineNumbersOnly);
  llvm::sort(result.newData);
  return Error::success();
}

Error Differ::load() {
  std::vector<std::pair<std::unique_ptr<Object>, std::unique_ptr<Object>>> loaded;
  if (!opts.oldBinary.empty()) {
    // The two binaries are read at once: most of the time is decoding code.
    std::future<Expected<std::vector<std::unique_ptr<Object>>>> reading =
        std::async(std::launch::async, [&] { return loadLinked(opts.oldBinary); });
    Expected<std::vector<std::unique_ptr<Object>>> after =
        loadLinked(opts.newBinary, &result.warnings);
    Expected<std::vector<std::unique_ptr<Object>>> before = reading.get();
    if (!after) {
      consumeError(before.takeError());
      return after.takeError();
    }
    if (!before)
      return before.takeError();
    // TUs pair by source path, then by file name where that is unique.
    std::map<std::string, std::vector<size_t>> oldByPath, oldByName;
    for (size_t k = 0; k < before->size(); ++k) {
      const std::string &src = (*before)[k]->table.sourceFile;
      oldByPath[src].push_back(k);
      oldByName[sys::path::filename(src).str()].push_back(k);
    }
    std::map<std::string, int> newByName;
    for (const auto &n : *after)
      ++newByName[sys::path::filename(n->table.sourceFile).str()];
    std::vector<bool> taken(before->size());
    auto take = [&](const std::vector<size_t> &candidates) -> std::unique_ptr<Object> {
      for (size_t k : candidates)
        if (!taken[k]) {
          taken[k] = true;
          return std::move((*before)[k]);
        }
      return nullptr;
    };
    std::vector<std::unique_ptr<Object>> unpaired;
    for (auto &n : *after) {
      auto it = oldByPath.find(n->table.sourceFile);
      std::unique_ptr<Object> o = it != oldByPath.end() ? take(it->second) : nullptr;
      if (!o)
        unpaired.push_back(std::move(n));
      else
        loaded.emplace_back(std::move(o), std::move(n));
    }
    for (auto &n : unpaired) {
      std::string name = sys::path::filename(n->table.sourceFile).str();
      std::unique_ptr<Object> o;
      auto it = oldByName.find(name);
      if (it != oldByName.end() && newByName[name] == 1 &&
          llvm::count_if(it->second, [&](size_t k) { return !taken[k]; }) == 1)
        o = take(it->second);
      loaded.emplace_back(std::move(o), std::move(n));
    }
    for (size_t k = 0; k < before->size(); ++k)
      if (!taken[k])
        oldOnly.push_back(std::move((*before)[k]));
  } else {
    for (auto &[oldPath, newPath] : opts.pairs) {
      if (newPath.empty()) {
        Expected<std::unique_ptr<Object>> gone = loadObject(oldPath);
        if (!gone)
          return gone.takeError();
        oldOnly.push_back(std::move(*gone));
        continue;
      }
      Expected<std::unique_ptr<Object>> n = loadObject(newPath);
      if (!n)
        return n.takeError();
      std::unique_ptr<Object> o;
      if (!oldPath.empty()) {
        Expected<std::unique_ptr<Object>> old = loadObject(oldPath);
        if (!old)
          return old.takeError();
        o = std::move(*old);
      }
      loaded.emplace_back(std::move(o), std::move(*n));
    }
  }
  for (auto &[o, newObj] : loaded) {
    std::unique_ptr<Object> *n = &newObj;
    if (o && o->machine != (*n)->machine)
      return refuse((*n)->label(),
                    formatv("is {0} but {1} is {2}; both builds must target "
                            "the same machine", machineName((*n)->machine),
                            o->label(), machineName(o->machine)));
    if (o && (o->table.producer != (*n)->table.producer ||
              o->table.optionsHash != (*n)->table.optionsHash)) {
      std::string delta = o->table.producer != (*n)->table.producer
                              ? formatv("compiler '{0}' -> '{1}'", o->table.producer,
                                        (*n)->table.producer).str()
                              : optionsDelta(o->table.options, (*n)->table.options);
      return refuse((*n)->label(), formatv("built with a different compiler or "
                                           "options than {0} ({1}); build both "
                                           "the same way", o->label(), delta));
    }
    if (!newObjs.empty() && newObjs.front()->machine != (*n)->machine)
      return refuse((*n)->label(), "the objects are for different machines");
    oldObjs.push_back(std::move(o));
    newObjs.push_back(std::move(*n));
  }
  if (newObjs.empty())
    return createStringError(std::errc::invalid_argument, "no objects to compare");
  Expected<const Arch &> a = getArch(newObjs.front()->machine);
  if (!a)
    return refuse(newObjs.front()->label(), toString(a.takeError()));
  arch = &*a;
  patch.eMachine = arch->eMachine();
  patch.producer = "hp-diff " HOTPATCH_VERSION;

  for (size_t i = 0; i < newObjs.size(); ++i) {
    for (auto &[name, index] : newObjs[i]->defined)
      if (!newObjs[i]->isLocal(index)) {
        auto [it, inserted] = newGlobals.try_emplace(name, i, index);
        (void)it;
        (void)inserted; // COMDAT copies: the first one speaks for all
      }
    if (oldObjs[i])
      for (auto &[name, index] : oldObjs[i]->defined)
        if (!oldObjs[i]->isLocal(index)) {
          oldGlobals.insert(name);
          if (oldObjs[i]->functions.count(name))
            oldFnOwner.try_emplace(name, oldObjs[i].get());
          else if (oldObjs[i]->variables.count(name))
            oldVarOwner.try_emplace(name, oldObjs[i].get());
        }
  }
  // Global functions of the old build that no new object defines.
  auto noteRemoved = [&](const Object &old) {
    for (const FunctionEntry &fn : old.table.functions)
      if (!(fn.flags & FnLocal) && !newGlobals.count(fn.name))
        removedFunctions.insert(fn.name);
    for (auto &[name, index] : old.defined)
      if (!old.isLocal(index))
        oldGlobals.insert(name);
  };
  for (const auto &o : oldObjs)
    if (o)
      noteRemoved(*o);
  for (const auto &o : oldOnly) {
    noteRemoved(*o);
    // A deleted (or renamed) file's globals may live on in a new file: the
    // running code is this file's.
    for (auto &[name, index] : o->defined)
      if (!o->isLocal(index)) {
        if (o->functions.count(name))
          oldFnOwner.try_emplace(name, o.get());
        else if (o->variables.count(name))
          oldVarOwner.try_emplace(name, o.get());
      }
  }
  return Error::success();
}

Error Differ::resolveAgainstTarget() {
  ErrorOr<std::unique_ptr<MemoryBuffer>> buf = MemoryBuffer::getFile(
      targetPath, /*IsText=*/false, /*RequiresNullTerminator=*/false);
  if (!buf)
    return createStringError(buf.getError(), "%s: %s", targetPath.c_str(),
                             buf.getError().message().c_str());
  Expected<ELFFile<ELFT>> file = ELFFile<ELFT>::create((*buf)->getBuffer());
  if (!file)
    return refuse(targetPath, "not a readable ELF file: " + toString(file.takeError()));
  const auto &hdr = file->getHeader();
  if (hdr.e_type != ELF::ET_EXEC && hdr.e_type != ELF::ET_DYN)
    return refuse(targetPath, "not a linked executable or shared library");
  if (hdr.e_machine != patch.eMachine)
    return refuse(targetPath, formatv("is {0}, the patch is for {1}",
                                       machineName(hdr.e_machine),
                                       machineName(patch.eMachine)));
  patch.buildId = buildIdOf(*file);
  patch.targetName = sys::path::filename(targetPath).str();
  patch.targetIsExec = hdr.e_type == ELF::ET_EXEC;

  // Symbols: globals by name; file-local ones by (STT_FILE, name).
  Expected<typename ELFT::ShdrRange> shdrs = file->sections();
  if (!shdrs)
    return refuse(targetPath, "unreadable sections");
  const typename ELFT::Shdr *symtab = nullptr;
  for (const auto &sh : *shdrs)
    if (sh.sh_type == ELF::SHT_SYMTAB)
      symtab = &sh;
  if (!symtab)
    return refuse(targetPath, "has no symbol table (stripped); give the "
                               "unstripped build as --target, the running copy "
                               "may be stripped");
  Expected<SymbolIndex> index = indexSymbols(*file, /*bias=*/0);
  if (!index)
    return refuse(targetPath, "unreadable symbol table: " +
                                   toString(index.takeError()));
  const StringMap<uint64_t> &globals = index->globals;
  const auto &locals = index->locals;
  auto lookup = [&](StringRef name, StringRef source) -> Expected<uint64_t> {
    if (source.empty()) {
      auto it = globals.find(name);
      if (it != globals.end())
        return it->second;
      return refuse(targetPath, formatv("has no global symbol '{0}'", name));
    }
    auto it = locals.find({source.str(), name.str()});
    if (it == locals.end())
      return refuse(targetPath,
                    formatv("has no file-local symbol '{0}' from {1}", name, source));
    if (it->second.size() > 1)
      return refuse(targetPath,
                    formatv("has {0} file-local symbols '{1}' from files named "
                            "{2}; they cannot be told apart",
                            it->second.size(), name, source));
    return it->second.front();
  };
  // Bytes of the target at a virtual address (for the entry check).
  auto bytesAt = [&](uint64_t addr, size_t len) -> std::optional<ArrayRef<uint8_t>> {
    for (const auto &sh : *shdrs) {
      if (!(sh.sh_flags & ELF::SHF_ALLOC) || sh.sh_type == ELF::SHT_NOBITS ||
          addr < sh.sh_addr || addr + len > sh.sh_addr + sh.sh_size)
        continue;
      Expected<ArrayRef<uint8_t>> data = file->getSectionContents(sh);
      if (!data) {
        consumeError(data.takeError());
        return std::nullopt;
      }
      return data->slice(addr - sh.sh_addr, len);
    }
    return std::nullopt;
  };

  for (PatchSymbol &sym : patch.symbols) {
    if (sym.defined || !sym.refInModule)
      continue;
    Expected<uint64_t> off = lookup(sym.refName, sym.refSource);
    if (!off)
      return off.takeError();
    sym.refOffset = *off;
  }
  for (FunctionMapEntry &fn : patch.functions) {
    Expected<uint64_t> entry = lookup(fn.oldName, fn.oldSource);
    if (!entry)
      return entry.takeError();
    fn.oldOffset = *entry;
    uint64_t start = *entry - arch->prologue().padBefore;
    std::optional<ArrayRef<uint8_t>> bytes = bytesAt(start, fn.expected.size());
    bool same = bytes && bytes->equals(fn.expected);
    // The whole old function must be what the target has, but for the
    // bytes the linker fills in (relocations) or may rewrite (relaxation).
    auto origin = origins.find(fn.oldName + "\x01" + fn.oldSource);
    bool targetIsOld = targetPath == opts.oldBinary;
    if (same && origin != origins.end() && !targetIsOld) {
      const Object &o = *origin->second.first;
      const Symbol &sym = o.symbols[origin->second.second];
      const Section &sec = o.sections[sym.shndx];
      std::optional<ArrayRef<uint8_t>> linked = bytesAt(*entry, sym.size);
      if (!linked || sym.value + sym.size > sec.data.size()) {
        same = false;
      } else {
        std::vector<uint8_t> want(sec.data.begin() + sym.value,
                                  sec.data.begin() + sym.value + sym.size);
        std::vector<uint8_t> have(linked->begin(), linked->end());
        for (const Reloc &r : sec.relocs) {
          auto [before, after] = arch->relocExtent(r.type);
          for (int64_t k = int64_t(r.offset) - before;
               k < int64_t(r.offset + after); ++k) {
            int64_t at = k - int64_t(sym.value);
            if (at >= 0 && at < int64_t(want.size()))
              want[at] = have[at] = 0;
          }
        }
        same = want == have;
      }
    }
    if (!same)
      return refuse(targetPath,
                    formatv("function '{0}' is not the code the old objects "
                            "have: the target is a different build", fn.oldName));
  }
  return Error::success();
}

Expected<DiffResult> Differ::run() {
  if (Error err = load())
    return std::move(err);
  size_t n = newObjs.size();
  fnStatus.resize(n);
  fnWhy.resize(n);
  contextChanged.resize(n);
  varStatus.resize(n);
  copyVar.resize(n);
  renamed.resize(n);
  fnOldOwner.resize(n);
  for (size_t i = 0; i < n; ++i)
    compare(i);
  pullInUsersOfChangedConstants();
  closure();
  if (refusals)
    return std::move(refusals);
  if (Error err = emit())
    return joinErrors(std::move(refusals), std::move(err));
  if (refusals)
    return std::move(refusals);
  if (!targetPath.empty())
    if (Error err = resolveAgainstTarget())
      return std::move(err);
  return std::move(result);
}

} // namespace

Expected<std::vector<std::pair<std::string, std::string>>>
pairDirectories(StringRef oldDir, StringRef newDir) {
  auto objectsUnder = [](StringRef root) -> Expected<std::set<std::string>> {
    if (!sys::fs::is_directory(root))
      return createStringError(std::errc::not_a_directory,
                               "%s: not a directory", root.str().c_str());
    std::set<std::string> out;
    std::error_code ec;
    for (sys::fs::recursive_directory_iterator it(root, ec), end;
         it != end && !ec; it.increment(ec)) {
      if (!StringRef(it->path()).ends_with(".o"))
        continue;
      StringRef rel = StringRef(it->path()).drop_front(root.size());
      out.insert(rel.ltrim('/').str());
    }
    if (ec)
      return createStringError(ec, "%s: %s", root.str().c_str(),
                               ec.message().c_str());
    return out;
  };
  Expected<std::set<std::string>> before = objectsUnder(oldDir);
  if (!before)
    return before.takeError();
  Expected<std::set<std::string>> after = objectsUnder(newDir);
  if (!after)
    return after.takeError();
  if (after->empty())
    return createStringError(std::errc::invalid_argument,
                             "%s: no object files (.o) under it",
                             newDir.str().c_str());
  // By relative path; then an object left over on each side pairs by file
  // name when that is unambiguous (a source moved to another directory).
  std::map<std::string, std::vector<std::string>> oldByName;
  for (const std::string &rel : *before)
    if (!after->count(rel))
      oldByName[sys::path::filename(rel).str()].push_back(rel);
  std::map<std::string, int> newLeftByName;
  for (const std::string &rel : *after)
    if (!before->count(rel))
      ++newLeftByName[sys::path::filename(rel).str()];
  std::vector<std::pair<std::string, std::string>> pairs;
  for (const std::string &rel : *after) {
    std::string oldPath;
    if (before->count(rel)) {
      oldPath = (oldDir + "/" + rel).str();
    } else {
      std::string name = sys::path::filename(rel).str();
      auto it = oldByName.find(name);
      if (it != oldByName.end() && it->second.size() == 1 && newLeftByName[name] == 1)
        oldPath = (oldDir + "/" + it->second.front()).str();
    }
    pairs.emplace_back(oldPath, (newDir + "/" + rel).str());
  }
  // Objects only in the old tree: a deleted TU. Its functions must not be
  // called by the new code.
  std::set<std::string> pairedOld;
  for (auto &[o, n] : pairs)
    if (!o.empty())
      pairedOld.insert(o);
  for (const std::string &rel : *before) {
    std::string oldPath = (oldDir + "/" + rel).str();
    if (!pairedOld.count(oldPath))
      pairs.emplace_back(oldPath, "");
  }
  return pairs;
}

Expected<DiffResult> diffBuilds(const DiffOptions &opts) {
  Differ differ(opts);
  return differ.run();
}

} // namespace hotpatch
