//===- runtime/processes.cpp - which processes to patch -------------------===//

#include "processes.h"

#include "elf-info.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Object/ELF.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MemoryBuffer.h"

#include <csignal>
#include <dirent.h>
#include <map>
#include <sys/stat.h>
#include <unistd.h>

using namespace llvm;

namespace hotpatch {
namespace {

/// Every pid in /proc, sorted.
std::vector<int> allProcesses() {
  std::vector<int> out;
  if (DIR *d = opendir("/proc")) {
    while (dirent *e = readdir(d)) {
      int pid = 0;
      if (to_integer(StringRef(e->d_name), pid, 10) && pid > 0)
        out.push_back(pid);
    }
    closedir(d);
  }
  llvm::sort(out);
  return out;
}

/// The build-id of the ELF file at \p path; empty if none or unreadable.
std::string buildIdAt(const std::string &path) {
  ErrorOr<std::unique_ptr<MemoryBuffer>> buf =
      MemoryBuffer::getFile(path, /*IsText=*/false, /*RequiresNullTerminator=*/false);
  if (!buf)
    return "";
  Expected<object::ELF64LEFile> elf = object::ELF64LEFile::create((*buf)->getBuffer());
  if (!elf) {
    consumeError(elf.takeError());
    return "";
  }
  return buildIdOf(*elf);
}

/// The state and the parent of \p pid from /proc/PID/stat ("pid (comm) S
/// ppid ..."); false when it is gone.
bool readStat(int pid, char &state, int &ppid) {
  // (A stream: /proc files say they are empty.)
  ErrorOr<std::unique_ptr<MemoryBuffer>> stat =
      MemoryBuffer::getFileAsStream(formatv("/proc/{0}/stat", pid).str());
  if (!stat)
    return false;
  StringRef text = (*stat)->getBuffer();
  size_t close = text.rfind(')'); // (comm may hold spaces and parentheses)
  if (close == StringRef::npos)
    return false;
  SmallVector<StringRef, 4> fields;
  text.drop_front(close + 1).trim().split(fields, ' ', 2);
  if (fields.size() < 2 || fields[0].size() != 1 || !to_integer(fields[1], ppid, 10))
    return false;
  state = fields[0][0];
  return true;
}

int parentOf(int pid) {
  char state;
  int ppid;
  return readStat(pid, state, ppid) ? ppid : -1;
}

} // namespace

Expected<std::vector<int>> processesRunning(StringRef exe) {
  struct stat want;
  if (stat(exe.str().c_str(), &want) != 0)
    return createStringError(std::error_code(errno, std::generic_category()),
                             "%s: %s", exe.str().c_str(), strerror(errno));
  std::string wantId = buildIdAt(exe.str());
  // Files seen, by device and inode: most processes run a few programs.
  std::map<std::pair<dev_t, ino_t>, bool> matches;
  std::vector<int> out;
  for (int pid : allProcesses()) {
    if (pid == getpid())
      continue;
    std::string link = formatv("/proc/{0}/exe", pid).str();
    struct stat st;
    if (stat(link.c_str(), &st) != 0)
      continue; // a kernel thread, gone, or not ours to see
    auto [it, inserted] = matches.try_emplace({st.st_dev, st.st_ino}, false);
    if (inserted)
      it->second = wantId.empty()
                       ? st.st_dev == want.st_dev && st.st_ino == want.st_ino
                       : buildIdAt(link) == wantId;
    if (it->second)
      out.push_back(pid);
  }
  return out;
}

bool processGone(int pid) {
  char state;
  int ppid;
  return !readStat(pid, state, ppid) || state == 'Z' || state == 'X';
}

Expected<std::vector<int>> processTree(int root) {
  if (kill(root, 0) != 0 && errno == ESRCH)
    return createStringError(std::errc::no_such_process, "process %d does not exist",
                             root);
  std::map<int, std::vector<int>> children;
  for (int pid : allProcesses())
    children[parentOf(pid)].push_back(pid);
  std::vector<int> out = {root};
  for (size_t i = 0; i < out.size(); ++i) // breadth first
    for (int child : children[out[i]])
      out.push_back(child);
  llvm::sort(out.begin() + 1, out.end());
  return out;
}

} // namespace hotpatch
