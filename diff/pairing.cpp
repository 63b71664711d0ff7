//===- diff/pairing.cpp - which translation units of two builds pair ------===//

#include "pairing.h"

#include "llvm/ADT/StringMap.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"

#include <map>

using namespace llvm;

namespace hotpatch {

namespace {

/// Pairs by equal key, in order where a key repeats.
void pairByKey(ArrayRef<std::string> oldKeys, ArrayRef<std::string> newKeys,
               std::vector<std::optional<size_t>> &oldOf,
               std::vector<bool> &taken) {
  std::map<StringRef, std::vector<size_t>> oldByKey;
  for (size_t k = oldKeys.size(); k-- > 0;)
    oldByKey[oldKeys[k]].push_back(k); // reversed: back() is the first
  for (size_t n = 0; n < newKeys.size(); ++n) {
    auto it = oldByKey.find(newKeys[n]);
    if (it == oldByKey.end() || it->second.empty())
      continue;
    oldOf[n] = it->second.back();
    taken[it->second.back()] = true;
    it->second.pop_back();
  }
}

/// Pairs the leftovers by file name, where it is left over once per side.
void pairByFileName(ArrayRef<std::string> oldKeys,
                    ArrayRef<std::string> newKeys,
                    std::vector<std::optional<size_t>> &oldOf,
                    std::vector<bool> &taken) {
  StringMap<std::vector<size_t>> oldLeft, newLeft;
  for (size_t k = 0; k < oldKeys.size(); ++k)
    if (!taken[k])
      oldLeft[sys::path::filename(oldKeys[k])].push_back(k);
  for (size_t n = 0; n < newKeys.size(); ++n)
    if (!oldOf[n])
      newLeft[sys::path::filename(newKeys[n])].push_back(n);
  for (auto &[name, news] : newLeft) {
    auto it = oldLeft.find(name);
    if (news.size() != 1 || it == oldLeft.end() || it->second.size() != 1)
      continue;
    oldOf[news.front()] = it->second.front();
    taken[it->second.front()] = true;
  }
}

} // namespace

std::vector<UnitPair> pairUnits(ArrayRef<std::string> oldKeys,
                                ArrayRef<std::string> newKeys, bool lonePair) {
  std::vector<std::optional<size_t>> oldOf(newKeys.size());
  std::vector<bool> taken(oldKeys.size());
  if (lonePair && oldKeys.size() == 1 && newKeys.size() == 1) {
    oldOf[0] = 0;
    taken[0] = true;
  }
  pairByKey(oldKeys, newKeys, oldOf, taken);
  pairByFileName(oldKeys, newKeys, oldOf, taken);
  std::vector<UnitPair> pairs;
  for (size_t n = 0; n < newKeys.size(); ++n)
    pairs.push_back({oldOf[n], n});
  for (size_t k = 0; k < oldKeys.size(); ++k)
    if (!taken[k])
      pairs.push_back({k, std::nullopt});
  return pairs;
}

namespace {
/// The objects under \p root, by path relative to it, sorted.
Expected<std::vector<std::string>> objectsUnder(StringRef root) {
  if (!sys::fs::is_directory(root))
    return createStringError(std::errc::not_a_directory, "%s: not a directory",
                             root.str().c_str());
  std::vector<std::string> out;
  std::error_code ec;
  for (sys::fs::recursive_directory_iterator it(root, ec), end;
       it != end && !ec; it.increment(ec)) {
    if (!StringRef(it->path()).ends_with(".o"))
      continue;
    StringRef rel = StringRef(it->path()).drop_front(root.size());
    out.push_back(rel.ltrim('/').str());
  }
  if (ec)
    return createStringError(ec, "%s: %s", root.str().c_str(),
                             ec.message().c_str());
  llvm::sort(out);
  return out;
}
} // namespace

Expected<std::vector<std::pair<std::string, std::string>>>
pairDirectories(StringRef oldDir, StringRef newDir) {
  Expected<std::vector<std::string>> before = objectsUnder(oldDir);
  if (!before)
    return before.takeError();
  Expected<std::vector<std::string>> after = objectsUnder(newDir);
  if (!after)
    return after.takeError();
  if (after->empty())
    return createStringError(std::errc::invalid_argument,
                             "%s: no object files (.o) under it",
                             newDir.str().c_str());
  std::vector<std::pair<std::string, std::string>> pairs;
  for (const UnitPair &p : pairUnits(*before, *after))
    pairs.emplace_back(p.before ? (oldDir + "/" + (*before)[*p.before]).str() : "",
                       p.after ? (newDir + "/" + (*after)[*p.after]).str() : "");
  return pairs;
}

} // namespace hotpatch
