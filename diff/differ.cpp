//===- diff/differ.cpp - two builds in, one live patch out ---------------===//
//
// The fingerprint tables say which functions and variables changed; the new
// objects supply their code and data; the old objects say what the running
// process has (entry bytes, which symbols exist). This file runs the stages
// (diff/differ-state.h) and holds the first: reading the builds and pairing
// their translation units.
//
//===----------------------------------------------------------------------===//

#include "differ.h"
#include "differ-state.h"
#include "pairing.h"

#include "arch.h"
#include "fingerprint-table.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/Path.h"

#include <future>
#include <map>

using namespace llvm;

namespace hotpatch {

namespace {

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

/// Adds \p err to \p all; takes the value of \p loaded when there is one.
template <typename T>
void collect(Expected<T> loaded, T &into, Error &all) {
  if (loaded)
    into = std::move(*loaded);
  else
    all = joinErrors(std::move(all), loaded.takeError());
}

} // namespace

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
  frames.resize(n);
  for (size_t i = 0; i < n; ++i)
    compare(i);
  pullInUsersOfChangedConstants();
  closure();
  emit();
  if (!targetPath.empty())
    resolveAgainstTarget();
  if (!refusals.empty())
    return refusals.take();
  return std::move(result);
}

/// Reads every input (all of them, to say every one that is unreadable),
/// checks each pair can be compared, and indexes the builds' globals.
Error Differ::load() {
  Expected<ObjectPairs> loaded =
      opts.oldBinary.empty() ? loadObjectPairs() : loadBinaryPairs();
  if (!loaded)
    return loaded.takeError();
  for (auto &[o, n] : *loaded) {
    if (Error err = checkComparable(o.get(), *n))
      refusals.add(std::move(err));
    else if (n->machine != loaded->front().second->machine)
      addRefusal(n->label(), "the objects are for different machines");
  }
  if (!refusals.empty())
    return refusals.take(); // builds that cannot be compared: stop here
  for (auto &[o, n] : *loaded) {
    oldObjs.push_back(std::move(o));
    newObjs.push_back(std::move(n));
  }
  if (newObjs.empty())
    return createStringError(std::errc::invalid_argument, "no objects to compare");
  Expected<const Arch &> a = getArch(newObjs.front()->machine);
  if (!a)
    return refuse(newObjs.front()->label(), toString(a.takeError()));
  arch = &*a;
  patch.eMachine = arch->eMachine();
  patch.producer = "hp-diff " HOTPATCH_VERSION;
  indexGlobals();
  return Error::success();
}

Expected<Differ::ObjectPairs> Differ::loadObjectPairs() {
  ObjectPairs pairs;
  Error bad = Error::success();
  for (auto &[oldPath, newPath] : opts.pairs) {
    std::unique_ptr<Object> o, n;
    if (!oldPath.empty())
      collect(loadObject(oldPath), o, bad);
    if (!newPath.empty())
      collect(loadObject(newPath), n, bad);
    if (n)
      pairs.emplace_back(std::move(o), std::move(n));
    else if (o && newPath.empty())
      oldOnly.push_back(std::move(o)); // a deleted TU
  }
  if (bad)
    return std::move(bad);
  return std::move(pairs);
}

Expected<Differ::ObjectPairs> Differ::loadBinaryPairs() {
  using Units = std::vector<std::unique_ptr<Object>>;
  // The two binaries are read at once: most of the time is decoding code.
  std::future<Expected<Units>> reading = std::async(
      std::launch::async, [&] { return loadLinked(opts.oldBinary); });
  Expected<Units> newer = loadLinked(opts.newBinary, &result.warnings);
  Units before, after;
  Error bad = Error::success();
  collect(reading.get(), before, bad); // (only now: the two overlap)
  collect(std::move(newer), after, bad);
  if (bad)
    return std::move(bad);
  std::vector<std::string> oldKeys, newKeys;
  for (const auto &o : before)
    oldKeys.push_back(o->table.sourceFile);
  for (const auto &n : after)
    newKeys.push_back(n->table.sourceFile);
  ObjectPairs pairs;
  for (const UnitPair &p : pairUnits(oldKeys, newKeys)) {
    std::unique_ptr<Object> o = p.before ? std::move(before[*p.before]) : nullptr;
    if (p.after)
      pairs.emplace_back(std::move(o), std::move(after[*p.after]));
    else
      oldOnly.push_back(std::move(o));
  }
  return std::move(pairs);
}

/// Both builds of a TU must be for one machine, by one compiler with the
/// same options: else every function differs for reasons no patch fixes.
Error Differ::checkComparable(const Object *o, const Object &n) const {
  if (o && o->machine != n.machine)
    return refuse(n.label(),
                  formatv("is {0} but {1} is {2}; both builds must target "
                          "the same machine", machineName(n.machine),
                          o->label(), machineName(o->machine)));
  if (o && (o->table.producer != n.table.producer ||
            o->table.optionsHash != n.table.optionsHash)) {
    std::string delta = o->table.producer != n.table.producer
                            ? formatv("compiler '{0}' -> '{1}'", o->table.producer,
                                      n.table.producer).str()
                            : optionsDelta(o->table.options, n.table.options);
    return refuse(n.label(), formatv("built with a different compiler or "
                                     "options than {0} ({1}); build both "
                                     "the same way", o->label(), delta));
  }
  return Error::success();
}

/// Which object defines each global, in each build; and the global
/// functions of the old build that no new object defines.
void Differ::indexGlobals() {
  // A deleted (or renamed) file's globals may live on in a new file: the
  // running code is that file's.
  auto noteOwners = [&](const Object &old) {
    for (auto &[name, index] : old.defined)
      if (!old.isLocal(index)) {
        oldGlobals.insert(name);
        if (old.functions.count(name))
          oldFnOwner.try_emplace(name, &old);
        else if (old.variables.count(name))
          oldVarOwner.try_emplace(name, &old);
      }
  };
  for (size_t i = 0; i < newObjs.size(); ++i) {
    for (auto &[name, index] : newObjs[i]->defined)
      if (!newObjs[i]->isLocal(index)) // COMDAT copies: the first speaks for all
        newGlobals.try_emplace(name, i, index);
    if (oldObjs[i])
      noteOwners(*oldObjs[i]);
  }
  for (const auto &o : oldOnly)
    noteOwners(*o);
  auto noteRemoved = [&](const Object &old) {
    for (const FunctionEntry &fn : old.table.functions)
      if (!(fn.flags & FnLocal) && !newGlobals.count(fn.name))
        removedFunctions.insert(fn.name);
  };
  for (const auto &o : oldObjs)
    if (o)
      noteRemoved(*o);
  for (const auto &o : oldOnly)
    noteRemoved(*o);
}

Expected<DiffResult> diffBuilds(const DiffOptions &opts) {
  Differ differ(opts);
  return differ.run();
}

} // namespace hotpatch
