//===- runtime/target.cpp - a running process we patch --------------------===//

#include "target.h"

#include "arch.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/BinaryFormat/ELF.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Object/ELF.h"
#include "llvm/Support/MemoryBuffer.h"

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <climits>
#include <cstring>
#include <ctime>
#include <dirent.h>
#include <fcntl.h>
#include <fstream>
#include <set>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

using namespace llvm;

namespace hotpatch {

uint64_t monotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + ts.tv_nsec;
}

namespace {
Error sysError(int err, const Twine &what) {
  return createStringError(std::error_code(err, std::generic_category()), "%s: %s",
                           what.str().c_str(), strerror(err));
}

std::vector<int> listThreads(int pid) {
  std::vector<int> out;
  std::string dir = formatv("/proc/{0}/task", pid).str();
  if (DIR *d = opendir(dir.c_str())) {
    while (dirent *e = readdir(d))
      if (e->d_name[0] != '.')
        out.push_back(atoi(e->d_name));
    closedir(d);
  }
  std::sort(out.begin(), out.end());
  return out;
}

/// True when thread \p tid is gone or dying (state Z or X in its stat).
bool isExiting(int pid, int tid) {
  std::string path = formatv("/proc/{0}/task/{1}/stat", pid, tid).str();
  ErrorOr<std::unique_ptr<MemoryBuffer>> stat = MemoryBuffer::getFileAsStream(path);
  if (!stat)
    return true;
  // "tid (comm) S ...": the state follows the last ')'.
  StringRef text = (*stat)->getBuffer();
  size_t close = text.rfind(')');
  if (close == StringRef::npos || close + 2 >= text.size())
    return true;
  char state = text[close + 2];
  return state == 'Z' || state == 'X';
}

} // namespace

Expected<std::unique_ptr<Target>> Target::attach(int pid) {
  std::unique_ptr<Target> t(new Target());
  t->pidValue = pid;
  preparePriorityLoan();
  if (kill(pid, 0) != 0 && errno == ESRCH)
    return createStringError(std::errc::no_such_process,
                             "process %d does not exist", pid);
  // Seize until a pass over /proc/PID/task finds no thread we do not have.
  // A thread created after the last pass is caught by stopAll(), which
  // lists again once every known thread is stopped (a stopped thread
  // creates none), and repeats until the list holds still.
  bool found = true;
  for (int round = 0; found && round < 100; ++round)
    if (Error err = t->seizeNewThreads(found))
      return std::move(err);
  if (t->tids.empty())
    return createStringError(std::errc::no_such_process,
                             "process %d has no threads (exited?)", pid);
  // A process whose main thread has exited (pthread_exit in main) keeps it
  // as a zombie, and /proc/PID/maps and /proc/PID/mem then show nothing:
  // its memory is seen through a live thread instead.
  t->procIdValue = std::binary_search(t->tids.begin(), t->tids.end(), pid)
                       ? pid
                       : t->tids.front();
  std::string mem = formatv("/proc/{0}/mem", t->procIdValue).str();
  t->memFd = open(mem.c_str(), O_RDWR | O_CLOEXEC);
  if (t->memFd < 0)
    return sysError(errno, "process " + Twine(pid) + ": cannot open " + mem);
  // (Only to count threads: stopAll() works without it.)
  std::string task = formatv("/proc/{0}/task", pid).str();
  t->taskFd = open(task.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  return std::move(t);
}

Error Target::seizeNewThreads(bool &found, size_t *leaving) {
  found = false;
  if (leaving)
    *leaving = 0;
  for (int tid : listThreads(pidValue)) {
    if (std::binary_search(tids.begin(), tids.end(), tid))
      continue;
    // TRACESYSGOOD: system-call stops (of injected code) say so.
    if (ptrace(PTRACE_SEIZE, tid, nullptr, (void *)long(PTRACE_O_TRACESYSGOOD)) != 0) {
      int err = errno;
      bool gone = err == ESRCH || // it exited meanwhile
                  // a thread on its way out cannot be traced, nor needs to be
                  (err == EPERM && isExiting(pidValue, tid));
      if (gone && leaving)
        ++*leaving;
      if (gone)
        continue;
      if (err == EPERM)
        return sysError(err, formatv("process {0}: not allowed to trace it "
                                     "(run as root, or check "
                                     "/proc/sys/kernel/yama/ptrace_scope and "
                                     "whether another debugger is attached)",
                                     pidValue));
      return sysError(err, formatv("process {0}: cannot attach to thread {1}",
                                   pidValue, tid));
    }
    tids.insert(std::upper_bound(tids.begin(), tids.end(), tid), tid);
    found = true;
  }
  return Error::success();
}

Target::~Target() {
  if (isStopped)
    resumeAll();
  for (int tid : tids) {
    // A signal that stopped the thread since we last waited (one queued
    // again after injected code, or one that just arrived) is handed over
    // with the detach, not dropped.
    int status = 0, sig = 0;
    if (waitpid(tid, &status, __WALL | WNOHANG) == tid && WIFSTOPPED(status) &&
        (unsigned(status) >> 16) == 0 && !(WSTOPSIG(status) & 0x80))
      sig = WSTOPSIG(status);
    if (ptrace(PTRACE_DETACH, tid, nullptr, (void *)long(sig)) != 0 && sig) {
      // Not in a stop we may detach from: interrupt, then detach.
      ptrace(PTRACE_INTERRUPT, tid, nullptr, nullptr);
      waitpid(tid, &status, __WALL);
      ptrace(PTRACE_DETACH, tid, nullptr, (void *)long(sig));
    }
  }
  if (memFd >= 0)
    close(memFd);
  if (taskFd >= 0)
    close(taskFd);
}

void Target::boost() {
  if (savedPolicy >= 0)
    return;
  sched_param old{};
  int policy = sched_getscheduler(0);
  if (policy < 0 || sched_getparam(0, &old) != 0 || policy == SCHED_FIFO)
    return;
  sched_param fifo{};
  fifo.sched_priority = 1;
  if (sched_setscheduler(0, SCHED_FIFO, &fifo) == 0) { // else: not permitted
    savedPolicy = policy;
    savedPriority = old.sched_priority;
  }
}

void Target::unboost() {
  if (savedPolicy < 0)
    return;
  sched_param old{};
  old.sched_priority = savedPriority;
  sched_setscheduler(0, savedPolicy, &old);
  savedPolicy = -1;
}

size_t Target::liveThreads() const {
  // procfs gives the task directory one link per live thread, plus two.
  struct stat st;
  if (taskFd < 0 || fstat(taskFd, &st) != 0 || st.st_nlink < 2)
    return SIZE_MAX;
  return st.st_nlink - 2;
}

namespace {
/// Holds SIGCHLD, which a tracee's stop sends us, blocked for its lifetime:
/// it then stays pending (even with its default action, which discards it)
/// until waitForChild() takes it, so a stop between a waitpid and the wait
/// is never missed.
class ChildSignalHeld {
public:
  ChildSignalHeld() {
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    pthread_sigmask(SIG_BLOCK, &chld, &old);
  }
  ~ChildSignalHeld() { pthread_sigmask(SIG_SETMASK, &old, nullptr); }
  /// Sleeps until a tracee changes state, or \p timeoutNs passes.
  void waitForChild(long timeoutNs) {
    timespec timeout{0, timeoutNs};
    sigtimedwait(&chld, nullptr, &timeout);
  }

private:
  sigset_t chld, old;
};
} // namespace

Expected<uint64_t> Target::stopAll() {
  ChildSignalHeld held;
  boost(); // (before the clock starts: nothing is stopped yet)
  lendPriority(tids, lent);
  uint64_t start = monotonicNs();
  std::vector<int> pending = tids; // to stop in this round
  std::vector<int> stoppedNow;
  // On failure every thread we stopped runs again (seized ones stay known).
  auto giveUp = [&](Error err) -> Error {
    for (int tid : stoppedNow)
      ptrace(PTRACE_CONT, tid, nullptr, nullptr);
    llvm::sort(tids);
    returnPriority(lent);
    unboost();
    return err;
  };
  while (!pending.empty()) {
    for (int tid : pending)
      ptrace(PTRACE_INTERRUPT, tid, nullptr, nullptr);
    // The main thread last: if it exits (pthread_exit) it stays a zombie
    // that reports nothing while other threads live, so it is polled, not
    // waited for, and by then it has usually stopped.
    auto leader = llvm::find(pending, pidValue);
    if (leader != pending.end())
      std::rotate(leader, std::next(leader), pending.end());
    for (int tid : pending) {
      for (unsigned polls = 0;; ++polls) {
        int status = 0;
        pid_t got = waitpid(tid, &status, __WALL | (tid == pidValue ? WNOHANG : 0));
        if (got == 0) {
          // (Its stat, a file read, only now and then: ~15 us each.)
          if (polls % 16 == 15 && isExiting(pidValue, tid)) {
            // Gone for good: its /proc entries show no memory now.
            procIdValue = pidValue == procIdValue && !stoppedNow.empty()
                              ? stoppedNow.front()
                              : procIdValue;
            break;
          }
          // Sleep until a tracee stops (the kernel sends us SIGCHLD), never
          // spin: we run SCHED_FIFO, and on a busy machine the thread we
          // wait for may need this very CPU to reach its stop.
          held.waitForChild(/*timeoutNs=*/200'000);
          continue;
        }
        if (got < 0) {
          if (errno == EINTR)
            continue;
          break; // gone
        }
        if (WIFEXITED(status) || WIFSIGNALED(status))
          break;
        if (WIFSTOPPED(status)) {
          unsigned event = unsigned(status) >> 16;
          if (event == PTRACE_EVENT_STOP) {
            stoppedNow.push_back(tid);
            break;
          }
          // A signal-delivery stop: deliver the signal as the kernel would
          // have (nothing is lost) and keep waiting for our interrupt stop,
          // which PTRACE_INTERRUPT keeps pending.
          int sig = WSTOPSIG(status);
          ptrace(PTRACE_CONT, tid, nullptr, (void *)(long)sig);
          continue;
        }
      }
    }
    // Threads created before their parent stopped: seize and stop them
    // too (only they are interrupted next round: an already stopped thread
    // reports no second stop). Every stopped thread is alive, so as many
    // live threads as stopped ones means there is none to look for (one
    // fstat, where listing the directory takes ~15 us). A listing ends
    // early when a thread exits while it is read, so it is read again
    // until the count agrees; threads on their way out (they cannot be
    // traced, nor run user code again) count as found.
    std::vector<int> before = stoppedNow;
    std::sort(before.begin(), before.end());
    pending.clear();
    for (unsigned tries = 0; pending.empty(); ++tries) {
      size_t live = liveThreads();
      if (live == stoppedNow.size())
        break;
      tids = before;
      bool found = false;
      size_t leaving = 0;
      if (Error err = seizeNewThreads(found, &leaving))
        return giveUp(std::move(err));
      for (int tid : tids)
        if (!std::binary_search(before.begin(), before.end(), tid))
          pending.push_back(tid);
      lendPriority(pending, lent);
      if (!pending.empty() || live == SIZE_MAX ||
          live <= stoppedNow.size() + leaving)
        break;
      if (tries == 1000)
        return giveUp(createStringError(std::errc::resource_unavailable_try_again,
                                        "process %d: its threads keep coming "
                                        "and going; cannot stop them all",
                                        pidValue));
      if (tries >= 3)
        usleep(20); // let a thread on its way out finish (we run SCHED_FIFO)
    }
  }
  std::sort(stoppedNow.begin(), stoppedNow.end());
  tids = stoppedNow;
  if (tids.empty()) {
    returnPriority(lent);
    unboost();
    return createStringError(std::errc::no_such_process,
                             "process %d exited", pidValue);
  }
  isStopped = true;
  return start;
}

Expected<uint64_t> Target::stopOne() {
  uint64_t start = monotonicNs();
  boost();
  // Borrow a thread blocked in a system call when there is one: it cannot
  // be inside an rseq critical section, which injected code would leave
  // without the kernel's abort. A few tries, then whichever stopped.
  constexpr size_t tries = 8;
  for (size_t k = 0; k < tids.size();) {
    int tid = tids[k];
    lendPriority(tid, lent);
    ptrace(PTRACE_INTERRUPT, tid, nullptr, nullptr);
    bool gone = false, stopped = false;
    for (;;) {
      int status = 0;
      pid_t got = waitpid(tid, &status, __WALL);
      if (got < 0 && errno == EINTR)
        continue;
      if (got < 0 || WIFEXITED(status) || WIFSIGNALED(status)) {
        gone = true;
        break;
      }
      if (WIFSTOPPED(status) && (unsigned(status) >> 16) == PTRACE_EVENT_STOP) {
        stopped = true;
        break;
      }
      ptrace(PTRACE_CONT, tid, nullptr, (void *)(long)WSTOPSIG(status));
    }
    if (gone) {
      tids.erase(tids.begin() + k); // borrow another thread
      returnPriority(lent);
      continue;
    }
    bool last = k + 1 == tids.size() || k + 1 == tries;
    if (stopped && (last || stoppedInSystemCall(tid))) {
      borrowed = tid;
      onlyOneStopped = true;
      isStopped = true;
      return start;
    }
    ptrace(PTRACE_CONT, tid, nullptr, nullptr);
    returnPriority(lent);
    ++k;
  }
  returnPriority(lent);
  unboost();
  return createStringError(std::errc::no_such_process, "process %d exited",
                           pidValue);
}

Expected<StoppedThreads> Target::holdAll() {
  Expected<uint64_t> start = stopAll();
  if (!start)
    return start.takeError();
  return StoppedThreads(*this, *start);
}

Expected<StoppedThreads> Target::borrowOne() {
  Expected<uint64_t> start = stopOne();
  if (!start)
    return start.takeError();
  return StoppedThreads(*this, *start);
}

uint64_t systemPageSize() {
  static const uint64_t size = uint64_t(sysconf(_SC_PAGESIZE));
  return size;
}

uint64_t Target::resumeAll() {
  if (onlyOneStopped)
    ptrace(PTRACE_CONT, borrowed, nullptr, nullptr);
  else
    for (int tid : tids)
      ptrace(PTRACE_CONT, tid, nullptr, nullptr);
  onlyOneStopped = false;
  isStopped = false;
  uint64_t end = monotonicNs();
  returnPriority(lent);
  unboost();
  return end;
}

std::vector<bool> readPieces(int pid, int memFd, ArrayRef<MemoryPiece> pieces) {
  std::vector<iovec> local, remote;
  for (const MemoryPiece &p : pieces) {
    local.push_back({p.out.data(), p.out.size()});
    remote.push_back({reinterpret_cast<void *>(p.addr), p.out.size()});
  }
  // process_vm_readv stops at the first piece it cannot read whole: that
  // one is marked, and the read goes on after it.
  std::vector<bool> read(pieces.size(), false);
  for (size_t k = 0; k < pieces.size();) {
    size_t batch = std::min<size_t>(pieces.size() - k, IOV_MAX);
    ssize_t got = process_vm_readv(pid, &local[k], batch, &remote[k], batch, 0);
    if (got < 0 && errno != EFAULT) {
      // Not permitted here (a seccomp filter), or the id is gone (a thread
      // that exited): the file works too, holding the memory itself.
      for (; k < pieces.size(); ++k)
        read[k] = pread(memFd, local[k].iov_base, local[k].iov_len,
                        off_t(pieces[k].addr)) == ssize_t(local[k].iov_len);
      break;
    }
    size_t done = got < 0 ? 0 : size_t(got);
    for (; batch && done >= local[k].iov_len; --batch, ++k) {
      done -= local[k].iov_len;
      read[k] = true;
    }
    if (batch)
      ++k; // this one failed: skip it
  }
  return read;
}

Error Target::read(uint64_t addr, MutableArrayRef<uint8_t> out) const {
  ssize_t got = pread(memFd, out.data(), out.size(), off_t(addr));
  if (got != ssize_t(out.size()))
    return sysError(got < 0 ? errno : EIO,
                    formatv("process {0}: cannot read {1} bytes at {2:x}",
                            pidValue, out.size(), addr));
  return Error::success();
}

Error Target::write(uint64_t addr, ArrayRef<uint8_t> bytes) const {
  ssize_t put = pwrite(memFd, bytes.data(), bytes.size(), off_t(addr));
  if (put != ssize_t(bytes.size()))
    return sysError(put < 0 ? errno : EIO,
                    formatv("process {0}: cannot write {1} bytes at {2:x}",
                            pidValue, bytes.size(), addr));
  return Error::success();
}

Expected<std::vector<Mapping>> Target::mappings() const {
  std::string path = formatv("/proc/{0}/maps", procIdValue).str();
  ErrorOr<std::unique_ptr<MemoryBuffer>> buf = MemoryBuffer::getFileAsStream(path);
  if (!buf)
    return sysError(buf.getError().value(), "cannot read " + path);
  std::vector<Mapping> out;
  SmallVector<StringRef, 64> lines;
  (*buf)->getBuffer().split(lines, '\n', -1, false);
  for (StringRef line : lines) {
    // start-end perms offset dev inode   path
    SmallVector<StringRef, 6> f;
    line.split(f, ' ', 5, false);
    if (f.size() < 5)
      continue;
    Mapping m;
    auto [lo, hi] = f[0].split('-');
    lo.getAsInteger(16, m.start);
    hi.getAsInteger(16, m.end);
    m.read = f[1][0] == 'r';
    m.write = f[1][1] == 'w';
    m.exec = f[1][2] == 'x';
    m.shared = f[1].size() > 3 && f[1][3] == 's';
    f[2].getAsInteger(16, m.fileOffset);
    f[4].getAsInteger(10, m.inode);
    if (f.size() > 5)
      m.path = f[5].trim().str();
    out.push_back(std::move(m));
  }
  return out;
}

std::string Target::fileOf(const Mapping &m) const {
  return formatv("/proc/{0}/map_files/{1:x-}-{2:x-}", procIdValue, m.start, m.end)
      .str();
}

namespace {
/// This process's own vDSO image (empty if it has none).
ArrayRef<uint8_t> ownVdso() {
  std::ifstream maps("/proc/self/maps");
  for (std::string line; std::getline(maps, line);) {
    uint64_t lo = 0, hi = 0;
    if (StringRef(line).ends_with("[vdso]") &&
        sscanf(line.c_str(), "%" SCNx64 "-%" SCNx64, &lo, &hi) == 2)
      return ArrayRef<uint8_t>(reinterpret_cast<const uint8_t *>(lo), hi - lo);
  }
  return {};
}
} // namespace

Expected<uint64_t> Target::caveAddr() {
  if (caveAt)
    return caveAt;
  Expected<std::vector<Mapping>> maps = mappings();
  if (!maps)
    return maps.takeError();
  // The tail of an executable mapping past the end of its ELF segment:
  // mapped, executable, and never run. Code is injected there (forced
  // writes copy the page for this process alone).
  constexpr uint64_t need = 256;
  const uint64_t page = systemPageSize();
  // (A test hook skips the files, to reach the vDSO below.)
  static const bool vdsoOnly = getenv("HOTPATCH_TEST_CAVE_IN_VDSO") != nullptr;
  for (const Mapping &m : *maps) {
    if (vdsoOnly)
      break;
    if (!m.exec || !m.read || m.shared || m.path.empty() || m.path[0] != '/')
      continue; // (a forced write into a shared mapping goes to the file)
    ErrorOr<std::unique_ptr<MemoryBuffer>> buf = MemoryBuffer::getFile(
        fileOf(m), /*IsText=*/false, /*RequiresNullTerminator=*/false);
    if (!buf)
      continue;
    Expected<object::ELF64LEFile> elf = object::ELF64LEFile::create((*buf)->getBuffer());
    if (!elf) {
      consumeError(elf.takeError());
      continue;
    }
    Expected<object::ELF64LEFile::Elf_Phdr_Range> phdrs = elf->program_headers();
    if (!phdrs) {
      consumeError(phdrs.takeError());
      continue;
    }
    for (const auto &ph : *phdrs) {
      if (ph.p_type != ELF::PT_LOAD || !(ph.p_flags & ELF::PF_X) ||
          (ph.p_offset & ~(page - 1)) != m.fileOffset)
        continue;
      uint64_t base = m.start - (ph.p_vaddr & ~(page - 1));
      uint64_t segEnd = base + ph.p_vaddr + ph.p_memsz;
      uint64_t from = alignTo(segEnd, 16);
      // Within the segment's last page: a mapping may hold the next
      // segment's live code too.
      uint64_t limit = std::min(m.end, alignTo(segEnd, page));
      if (from >= m.start && from + need <= limit)
        return caveAt = from;
    }
  }
  // No file's segment leaves room (a static program whose code ends at a
  // page's end): the vDSO, which every process has, is an ELF image whose
  // last page is padding after its segments and section headers.
  for (const Mapping &m : *maps) {
    if (m.path != "[vdso]" || !m.exec)
      continue;
    std::vector<uint8_t> image(m.end - m.start);
    if (Error err = read(m.start, image)) {
      consumeError(std::move(err));
      break;
    }
    StringRef bytes(reinterpret_cast<const char *>(image.data()), image.size());
    Expected<object::ELF64LEFile> elf = object::ELF64LEFile::create(bytes);
    if (!elf) {
      consumeError(elf.takeError());
      break;
    }
    uint64_t used = elf->getHeader().e_shoff +
                    uint64_t(elf->getHeader().e_shnum) * elf->getHeader().e_shentsize;
    Expected<object::ELF64LEFile::Elf_Phdr_Range> phdrs = elf->program_headers();
    if (!phdrs) {
      consumeError(phdrs.takeError());
      break;
    }
    for (const auto &ph : *phdrs)
      used = std::max<uint64_t>(used, ph.p_offset + ph.p_filesz);
    uint64_t from = alignTo(used, 16);
    if (from + need > image.size())
      break;
    auto zeros = [](ArrayRef<uint8_t> b) {
      return llvm::all_of(b, [](uint8_t x) { return !x; });
    };
    if (zeros(ArrayRef<uint8_t>(image).slice(from, need)))
      return caveAt = m.start + from;
    // An earlier hp-apply ran injected code there (every run takes the
    // same place). It is still padding if our own vDSO, the same kernel's
    // image, is the same up to it and has zeros there.
    ArrayRef<uint8_t> own = ownVdso();
    if (own.size() == image.size() &&
        !memcmp(own.data(), image.data(), from) && zeros(own.slice(from, need)))
      return caveAt = m.start + from;
  }
  return createStringError(std::errc::not_supported,
                           "process %d: no executable memory past the end of a "
                           "code segment, nor in the vDSO, to run injected code "
                           "from", pidValue);
}

int Target::injectInto() {
  if (onlyOneStopped)
    return borrowed;
  // All stopped: again one in a system call if there is one (see stopOne).
  for (int tid : tids)
    if (stoppedInSystemCall(tid))
      return borrowed = tid;
  return borrowed = tids.front();
}

Expected<int64_t> Target::syscall(uint64_t nr, ArrayRef<uint64_t> args) {
  assert(isStopped && "system calls are injected into a stopped thread");
  Expected<uint64_t> cave = caveAddr();
  if (!cave)
    return cave.takeError();
  return injectSyscall(injectInto(), *cave, nr, args,
                       [&](uint64_t addr, ArrayRef<uint8_t> bytes) {
                         return write(addr, bytes);
                       });
}

Expected<uint64_t> Target::call(uint64_t fn, ArrayRef<uint64_t> args,
                                uint64_t patienceNs) {
  assert(isStopped && "calls are injected into a stopped thread");
  Expected<uint64_t> cave = caveAddr();
  if (!cave)
    return cave.takeError();
  return injectCall(injectInto(), fn, args, *cave,
                    [&](uint64_t addr, ArrayRef<uint8_t> bytes) {
                      return write(addr, bytes);
                    },
                    patienceNs);
}

void Target::sleepServing(unsigned us) const {
  uint64_t until = monotonicNs() + uint64_t(us) * 1000;
  for (;;) {
    // Every stop of ours was taken before the threads were let go: what
    // stops now is a signal on its way (or a group stop), let through.
    int status = 0;
    int tid;
    while ((tid = waitpid(-1, &status, __WALL | WNOHANG)) > 0)
      if (WIFSTOPPED(status))
        ptrace(PTRACE_CONT, tid, nullptr,
               (void *)(long)(unsigned(status) >> 16 ? 0 : WSTOPSIG(status)));
    uint64_t now = monotonicNs();
    if (now >= until)
      return;
    usleep(unsigned(std::min<uint64_t>((until - now) / 1000 + 1, 200)));
  }
}

std::string blockedInSyscall(int pid, int tid) {
  std::string path = "/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid) +
                     "/syscall";
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return {};
  char buf[256];
  ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0)
    return {};
  return std::string(buf, size_t(n));
}

} // namespace hotpatch
