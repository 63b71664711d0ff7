//===- build-driver/tree.cpp - source and build trees on disk -------------===//
//
// What hp-build knows of a tree: a hash of the sources (the cache key), a
// copy that keeps times (so make rebuilds only what the fix touched), and
// the linked binaries in it with their build-ids, out of which one is the
// program the patch is for.
//
//===----------------------------------------------------------------------===//

#include "build-driver.h"
#include "elf-info.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/BinaryFormat/Magic.h"
#include "llvm/Object/ELFObjectFile.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/SHA256.h"

#include <algorithm>
#include <map>
#include <set>
#include <unistd.h>

using namespace llvm;

namespace hotpatch {

static std::string readLink(StringRef path) {
  SmallString<256> buf;
  buf.resize(4096);
  ssize_t n = ::readlink(path.str().c_str(), buf.data(), buf.size());
  return n < 0 ? std::string() : std::string(buf.data(), size_t(n));
}

/// Every file under \p dir (not directories), `.git` left out, sorted by
/// relative path so a hash does not depend on directory order.
static Expected<std::vector<std::string>> listFiles(StringRef dir) {
  std::vector<std::string> files;
  std::error_code ec;
  for (sys::fs::recursive_directory_iterator it(dir, ec, /*follow=*/false), end;
       it != end && !ec; it.increment(ec)) {
    StringRef name = sys::path::filename(it->path());
    if (name == ".git") {
      it.no_push();
      continue;
    }
    if (it->type() != sys::fs::file_type::directory_file)
      files.push_back(it->path());
  }
  if (ec)
    return createStringError(ec, "cannot read %s: %s", dir.str().c_str(),
                             ec.message().c_str());
  llvm::sort(files);
  return files;
}

Expected<SourceTree> hashSourceTree(StringRef dir) {
  if (!sys::fs::is_directory(dir))
    return createStringError(std::errc::no_such_file_or_directory,
                             "%s: no such directory", dir.str().c_str());
  Expected<std::vector<std::string>> files = listFiles(dir);
  if (!files)
    return files.takeError();
  SHA256 sha;
  SourceTree tree;
  for (const std::string &path : *files) {
    StringRef rel = StringRef(path).drop_front(dir.size()).ltrim('/');
    if (rel.ends_with(".o") || rel.ends_with(".lo"))
      return createStringError(
          std::errc::invalid_argument,
          "%s holds build outputs (%s): a tree built before is not rebuilt "
          "with the plugin; give clean sources (make distclean, git clean)",
          dir.str().c_str(), rel.str().c_str());
    sys::fs::file_status st;
    if (std::error_code ec = sys::fs::status(path, st, /*follow=*/false))
      return createStringError(ec, "%s: %s", path.c_str(), ec.message().c_str());
    sha.update(rel);
    sha.update(StringRef("\0", 1));
    sha.update(utostr(st.permissions()));
    if (st.type() == sys::fs::file_type::symlink_file) {
      sha.update(readLink(path));
    } else {
      ErrorOr<std::unique_ptr<MemoryBuffer>> buf =
          MemoryBuffer::getFile(path, /*IsText=*/false, /*Volatile=*/false);
      if (!buf)
        return createStringError(buf.getError(), "%s: %s", path.c_str(),
                                 buf.getError().message().c_str());
      sha.update(utostr((*buf)->getBufferSize()));
      sha.update(StringRef("\0", 1));
      sha.update((*buf)->getBuffer());
      tree.newestMtime = std::max<int64_t>(
          tree.newestMtime, sys::toTimeT(st.getLastModificationTime()));
    }
    ++tree.files;
  }
  tree.hash = toHex(sha.final(), /*LowerCase=*/true);
  return tree;
}

Error copyTree(StringRef from, StringRef to, bool skipGit) {
  if (std::error_code ec = sys::fs::create_directories(to))
    return createStringError(ec, "cannot create %s: %s", to.str().c_str(),
                             ec.message().c_str());
  // cp -a keeps modes, times and links: make then sees only what the fix
  // touched as newer than its outputs.
  ErrorOr<std::string> cp = sys::findProgramByName("cp");
  if (!cp)
    return createStringError(cp.getError(), "cp not found");
  std::string src = (from + "/.").str();
  std::string err;
  int rc = sys::ExecuteAndWait(*cp, {"cp", "-a", src, to}, std::nullopt, {},
                               /*SecondsToWait=*/0, /*MemoryLimit=*/0, &err);
  if (rc != 0)
    return createStringError(std::errc::io_error, "cp -a %s %s failed%s%s",
                             from.str().c_str(), to.str().c_str(),
                             err.empty() ? "" : ": ", err.c_str());
  if (skipGit) {
    SmallString<256> git(to);
    sys::path::append(git, ".git");
    if (sys::fs::exists(git))
      if (std::error_code ec = sys::fs::remove_directories(git))
        return createStringError(ec, "cannot remove %s: %s", git.c_str(),
                                 ec.message().c_str());
  }
  return Error::success();
}

Expected<std::string> readBuildId(StringRef path) {
  Expected<object::OwningBinary<object::Binary>> bin =
      object::createBinary(path);
  if (!bin)
    return bin.takeError();
  auto *elf = dyn_cast<object::ELF64LEObjectFile>(bin->getBinary());
  if (!elf)
    return createStringError(std::errc::invalid_argument,
                             "%s: not a 64-bit little-endian ELF file",
                             path.str().c_str());
  return buildIdOf(elf->getELFFile());
}

std::vector<std::pair<std::string, std::string>>
findLinkedBinaries(StringRef dir) {
  std::vector<std::pair<std::string, std::string>> bins;
  Expected<std::vector<std::string>> files = listFiles(dir);
  if (!files) {
    consumeError(files.takeError());
    return bins;
  }
  for (const std::string &path : *files) {
    file_magic magic;
    if (identify_magic(path, magic) ||
        (magic != file_magic::elf_executable &&
         magic != file_magic::elf_shared_object))
      continue;
    sys::fs::file_status st;
    if (sys::fs::status(path, st, /*follow=*/false) ||
        st.type() != sys::fs::file_type::regular_file)
      continue; // a link to a library is the library's other name
    Expected<std::string> id = readBuildId(path);
    if (!id) {
      consumeError(id.takeError());
      continue;
    }
    bins.emplace_back(StringRef(path).drop_front(dir.size()).ltrim('/').str(),
                      *id);
  }
  return bins;
}

static std::string listBinaries(
    ArrayRef<std::pair<std::string, std::string>> bins) {
  std::string s;
  for (const auto &[path, id] : bins) {
    if (bins.size() > 4 && &path != &bins.front().first &&
        s.size() > 200) {
      s += ", ...";
      break;
    }
    s += (s.empty() ? "" : ", ") + path + " " + (id.empty() ? "none" : id);
  }
  return s.empty() ? "none" : s;
}

Expected<std::string>
chooseBinary(ArrayRef<std::pair<std::string, std::string>> oldBins,
             ArrayRef<std::pair<std::string, std::string>> newBins,
             StringRef targetPath, StringRef targetBuildId, StringRef named) {
  if (!targetPath.empty()) {
    if (targetBuildId.empty())
      return createStringError(
          std::errc::invalid_argument,
          "%s has no build-id: nothing shows it was built from these sources",
          targetPath.str().c_str());
    // Copies of one program have one build-id: the one of the deployed
    // name first (redis-server, not its copy redis-check-aof).
    std::string match;
    for (const auto &[path, id] : oldBins)
      if (id == targetBuildId && (named.empty() || path == named) &&
          (match.empty() || sys::path::filename(path) ==
                                sys::path::filename(targetPath)))
        match = path;
    if (!match.empty())
      return match;
    return createStringError(
        std::errc::invalid_argument,
        "%s has build-id %s, which no binary of the old build has (%s): it "
        "was built from other sources, options or paths; nothing written",
        targetPath.str().c_str(), targetBuildId.str().c_str(),
        listBinaries(oldBins).c_str());
  }
  if (!named.empty()) {
    for (const auto &[path, id] : oldBins)
      if (path == named)
        return path;
    return createStringError(std::errc::invalid_argument,
                             "--binary %s: the old build has no such linked "
                             "binary (it has: %s)",
                             named.str().c_str(),
                             listBinaries(oldBins).c_str());
  }
  std::map<std::string, std::string> before(oldBins.begin(), oldBins.end());
  std::vector<std::string> changed;
  std::set<std::string> changedIds;
  for (const auto &[path, id] : newBins) {
    auto it = before.find(path);
    if (it != before.end() && it->second != id) {
      changed.push_back(path);
      changedIds.insert(it->second);
    }
  }
  if (changed.empty())
    return std::string();
  // Copies of one program (redis-check-rdb is redis-server) are one.
  if (changedIds.size() == 1)
    return changed.front();
  return createStringError(
      std::errc::invalid_argument,
      "the fix changed %zu binaries (%s): name the one to patch with "
      "--binary PATH or --target DEPLOYED-BINARY",
      changed.size(), join(changed, ", ").c_str());
}

} // namespace hotpatch
