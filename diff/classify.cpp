//===- diff/classify.cpp - what changed in one translation unit -----------===//

#include "classify.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"

#include <map>
#include <set>

using namespace llvm;

namespace hotpatch {

namespace {

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

using Members = std::vector<const VariableEntry *>;

bool sameShape(const VariableEntry *a, const VariableEntry *b) {
  return a->typeHash == b->typeHash && a->initHash == b->initHash &&
         a->sizeBytes == b->sizeBytes;
}

/// Numbering follows declaration order: `f.x`, then `f.x.1`, `f.x.2`.
uint64_t declarationOrder(StringRef name) {
  StringRef rest = name.starts_with("_ZZ") ? name.rsplit('_').second
                                           : name.rsplit('.').second;
  uint64_t n = 0;
  return !rest.empty() && !rest.getAsInteger(10, n) ? n + 1 : 0;
}

void sortByDeclaration(Members &members) {
  llvm::stable_sort(members, [](const VariableEntry *a, const VariableEntry *b) {
    return declarationOrder(a->name) < declarationOrder(b->name);
  });
}

void matched(StaticMatch &m, const VariableEntry *now, const VariableEntry *was) {
  m.runningName[now->name] = was->name;
  if (now->name != was->name)
    m.renumbered.push_back({now->name, was->name});
}

/// Same count and shapes in order: renumbered in place (another family
/// member elsewhere in the file shifted the counter).
bool matchInOrder(StaticMatch &m, const Members &olds, const Members &news) {
  if (olds.size() != news.size())
    return false;
  for (size_t k = 0; k < olds.size(); ++k)
    if (!sameShape(olds[k], news[k]))
      return false;
  for (size_t k = 0; k < olds.size(); ++k)
    matched(m, news[k], olds[k]);
  return true;
}

/// A static was added or removed: match by shape, uniquely or not at all.
void matchByShape(StaticMatch &m, const std::string &family,
                  const Members &olds, const Members &news) {
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
      matched(m, nv, candidates.front());
    } else {
      ambiguous |= !candidates.empty();
      m.unmatched.insert(nv->name);
    }
  }
  if (ambiguous)
    m.ambiguous.push_back({family, olds.size(), news.size()});
}

} // namespace

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

StaticMatch matchStatics(const TableRecord &before, const TableRecord &after) {
  std::map<std::string, std::pair<Members, Members>> families;
  for (const VariableEntry &var : before.variables)
    if (var.flags & VarLocal)
      families[staticFamily(var.name).str()].first.push_back(&var);
  for (const VariableEntry &var : after.variables)
    if (var.flags & VarLocal)
      families[staticFamily(var.name).str()].second.push_back(&var);
  StaticMatch m;
  for (auto &[family, members] : families) {
    auto &[olds, news] = members;
    std::set<StringRef> oldNames, newNames;
    for (const VariableEntry *v : olds)
      oldNames.insert(v->name);
    for (const VariableEntry *v : news)
      newNames.insert(v->name);
    if (oldNames == newNames || olds.empty() || news.empty())
      continue; // the usual case: names line up
    sortByDeclaration(olds);
    sortByDeclaration(news);
    if (!matchInOrder(m, olds, news))
      matchByShape(m, family, olds, news);
  }
  return m;
}

const VariableEntry *StaticMatch::runningVariable(
    const VariableEntry &var,
    const StringMap<const VariableEntry *> &oldVars) const {
  if (auto it = runningName.find(var.name); it != runningName.end())
    return oldVars.lookup(it->second);
  if (unmatched.count(var.name))
    return nullptr;
  return oldVars.lookup(var.name);
}

} // namespace hotpatch
