//===- diff/compare.cpp - stage 2: what changed, and what cannot ----------===//
//
// Reads the fingerprint records of each pair of TUs (diff/classify.h) and
// marks every function and variable of the new build same, changed or
// added. Refuses here what no patch can carry whatever code it copies: a
// changed function without a patchable prologue, a changed static
// initializer, a mutable variable that changed.
//
//===----------------------------------------------------------------------===//

#include "classify.h"
#include "differ-state.h"

#include "explain.h"

#include "llvm/Support/FormatVariadic.h"

using namespace llvm;

namespace hotpatch {

void Differ::compare(size_t pair) {
  compareFunctions(pair);
  compareVariables(pair);
}

void Differ::compareFunctions(size_t pair) {
  Object *o = oldObjs[pair].get();
  Object &n = *newObjs[pair];
  StringMap<Status> &fns = fnStatus[pair];
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
    FunctionChange change = classifyFunction(before, fn, *beforeRecord, n.table);
    bool linesOnly = change.kind == FunctionChange::LineNumbersOnly;
    if (linesOnly && !opts.includeLineNumberChanges)
      result.lineNumbersOnly.push_back(fn.name);
    if (!change.isChange() && !(linesOnly && opts.includeLineNumberChanges)) {
      fns[fn.name] = Status::Same;
      continue;
    }
    fnWhy[pair][fn.name] = change.describe();
    if (change.kind == FunctionChange::New) {
      fns[fn.name] = Status::Added;
      continue;
    }
    fns[fn.name] = Status::Changed;
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
}

void Differ::compareVariables(size_t pair) {
  Object *o = oldObjs[pair].get();
  Object &n = *newObjs[pair];
  StaticMatch statics;
  if (o)
    statics = matchStatics(o->table, n.table);
  for (const StaticMatch::Renumbered &r : statics.renumbered)
    result.warnings.push_back(formatv("{0}: static variable '{1}' is the "
                                      "running process's '{2}' (renumbered by "
                                      "the compiler)",
                                      n.source(), r.newName, r.oldName));
  for (const StaticMatch::Ambiguous &a : statics.ambiguous)
    addRefusal(n.source(),
               formatv("static variable '{0}': the running program has {1} "
                       "of that name, the new build {2}, and a new one has "
                       "the same type and initializer as a running one, so "
                       "which holds the running state cannot be told; give "
                       "the new one another name", a.family, a.olds, a.news));
  for (auto &[newName, oldName] : statics.runningName)
    if (newName != oldName)
      renamed[pair][newName] = oldName;

  static const StringMap<const VariableEntry *> none;
  for (const VariableEntry &var : n.table.variables) {
    const VariableEntry *before =
        statics.runningVariable(var, o ? o->variables : none);
    if (!before && !(var.flags & VarLocal)) {
      auto it = oldVarOwner.find(var.name);
      if (it != oldVarOwner.end())
        before = it->second->variables.lookup(var.name);
    }
    if (!before) {
      varStatus[pair][var.name] = Status::Added;
      // (A thread-local one goes to .hp.tls: every thread gets its copy.)
      copyVar[pair].insert(var.name);
      continue;
    }
    if (before->fingerprint == var.fingerprint) {
      varStatus[pair][var.name] = Status::Same;
      continue;
    }
    varStatus[pair][var.name] = Status::Changed;
    checkChangedVariable(pair, *before, var);
  }
}

/// A read-only variable gets a fresh copy in the patch, and every user
/// switches to it; the running process keeps a mutable one as it is, so
/// any change to it is refused, or an initializer accepted.
void Differ::checkChangedVariable(size_t pair, const VariableEntry &before,
                                  const VariableEntry &var) {
  const Object &n = *newObjs[pair];
  StringRef what = (var.flags & VarLocal) ? "static variable" : "global variable";
  if ((var.flags & VarConstant) && (before.flags & VarConstant)) {
    copyVar[pair].insert(var.name);
    return;
  }
  if (before.sizeBytes != var.sizeBytes) {
    addRefusal(n.source(), formatv("{0} '{1}' changed size ({2} -> {3} "
                                   "bytes); a live patch cannot migrate it",
                                   what, var.name, before.sizeBytes,
                                   var.sizeBytes));
  } else if (before.typeHash != var.typeHash ||
             (before.flags & ~(VarZeroInit | VarCommon)) !=
                 (var.flags & ~(VarZeroInit | VarCommon)) ||
             before.alignBytes != var.alignBytes) {
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

/// Globals whose contents changed: users anywhere (other TUs) must switch.
StringSet<> Differ::changedConstGlobals() const {
  StringSet<> out;
  for (size_t i = 0; i < newObjs.size(); ++i)
    for (auto &entry : copyVar[i]) {
      const VariableEntry *var = newObjs[i]->variables.lookup(entry.getKey());
      if (varStatus[i].lookup(entry.getKey()) == Status::Changed &&
          !(var->flags & VarLocal))
        out.insert(entry.getKey());
    }
  return out;
}

void Differ::pullInUsersOfChangedConstants() {
  StringSet<> changedGlobals = changedConstGlobals();
  for (size_t i = 0; i < newObjs.size(); ++i) {
    // Most patches change no constant: then there is nothing to scan here.
    bool anyChangedConst = !changedGlobals.empty() ||
                           llvm::any_of(copyVar[i], [&](const auto &entry) {
                             return varStatus[i].lookup(entry.getKey()) ==
                                    Status::Changed;
                           });
    if (anyChangedConst)
      pullInUsers(i, changedGlobals);
  }
}

void Differ::pullInUsers(size_t i, const StringSet<> &changedGlobals) {
  Object &obj = *newObjs[i];
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
        consumeError(t.takeError()); // refused when the code is copied
        continue;
      }
      bool changedConst =
          (t->kind == Target::Variable && copyVar[i].count(t->name) &&
           varStatus[i].lookup(t->name) == Status::Changed) ||
          (t->kind == Target::Undefined && changedGlobals.count(t->name));
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

} // namespace hotpatch
