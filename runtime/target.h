//===- runtime/target.h - a running process we patch ---------------*- C++ -*-===//
//
// Attach to every thread (PTRACE_SEIZE: attaching stops nothing), stop and
// resume them as a group, read and write memory in bulk through
// /proc/PID/mem, and list what is mapped. Undo lives in destructors: a
// Target detaches from every thread it seized, whatever happened: at once
// from a stopped one; a running one (detaching needs a stop) is let go by
// the kernel when this process exits, which costs it no stop at all.
//
//===----------------------------------------------------------------------===//

#ifndef HOTPATCH_RUNTIME_TARGET_H
#define HOTPATCH_RUNTIME_TARGET_H

#include "priority.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace hotpatch {

struct Mapping {
  uint64_t start = 0, end = 0, fileOffset = 0;
  bool read = false, write = false, exec = false, shared = false;
  std::string path; ///< empty for anonymous memory
  uint64_t inode = 0;
};

/// A piece of a process's memory and where to put it.
struct MemoryPiece {
  uint64_t addr;
  llvm::MutableArrayRef<uint8_t> out;
};
/// Reads every piece of process \p pid's memory in as few system calls as
/// the kernel allows: process_vm_readv, or \p memFd (its /proc/PID/mem)
/// where that is refused. Which pieces were read whole, in order.
std::vector<bool> readPieces(int pid, int memFd, llvm::ArrayRef<MemoryPiece> pieces);

class StoppedThreads;

/// The size of a page of memory on this machine (and so in every process
/// on it): 4 KiB on x86_64; 4, 16 or 64 KiB on aarch64 kernels.
uint64_t systemPageSize();

class Target {
public:
  /// Seizes every thread of \p pid, catching threads created meanwhile.
  /// Fails with one line when the process is gone or may not be traced.
  static llvm::Expected<std::unique_ptr<Target>> attach(int pid);
  ~Target(); // detaches from every stopped thread (see above)

  int pid() const { return pidValue; }
  /// The id under which /proc and process_vm_readv see the process's
  /// memory: the pid, or a live thread's id when the main thread is gone.
  int procId() const { return procIdValue; }
  const std::vector<int> &threads() const { return tids; }

  /// Stops every thread (PTRACE_INTERRUPT) and waits until all are stopped.
  /// Returns the monotonic time in ns when the first stop was requested.
  /// While threads are stopped, this process runs under SCHED_FIFO when it
  /// may: resuming a thread then cannot preempt us before the next one is
  /// resumed (on 2 cores that was most of the pause). The threads are lent
  /// SCHED_FIFO too until they are resumed (priority.h): on a busy host a
  /// thread interrupted at normal priority waits behind CPU-bound processes
  /// to reach its stop.
  llvm::Expected<uint64_t> stopAll();
  /// Resumes every stopped thread; returns the monotonic time in ns after
  /// the last one was resumed. Signals that arrived meanwhile stay pending.
  uint64_t resumeAll();
  bool stopped() const { return isStopped; }
  /// Stops one thread (to run injected system calls while the others keep
  /// running), preferably one blocked in a system call; resumeAll()
  /// resumes it. Returns the stop time.
  llvm::Expected<uint64_t> stopOne();
  /// The thread stopOne() stopped.
  int borrowedThread() const { return borrowed; }

  /// stopAll() and stopOne() with a guard that resumes on scope exit.
  llvm::Expected<StoppedThreads> holdAll();
  llvm::Expected<StoppedThreads> borrowOne();

  /// While the threads run and hp-apply waits (between strict tries, in a
  /// test hook): a signal the target receives stops its thread in a
  /// signal-delivery stop until we let it on. Sleeps \p us microseconds,
  /// delivering every such signal as the kernel would have, at once.
  void sleepServing(unsigned us) const;

  llvm::Error read(uint64_t addr, llvm::MutableArrayRef<uint8_t> out) const;
  /// Reads many pieces at once (see readPieces); which were read whole.
  std::vector<bool> readMany(llvm::ArrayRef<MemoryPiece> pieces) const {
    return readPieces(procIdValue, memFd, pieces);
  }
  llvm::Error write(uint64_t addr, llvm::ArrayRef<uint8_t> bytes) const;

  llvm::Expected<std::vector<Mapping>> mappings() const;
  /// A path under which this process sees the file \p m maps (its mount
  /// namespace may differ from ours).
  std::string fileOf(const Mapping &m) const;

  /// Runs a system call in the borrowed (stopped) thread; see injectSyscall.
  llvm::Expected<int64_t> syscall(uint64_t nr, llvm::ArrayRef<uint64_t> args);
  /// Runs injected code at \p addr from now on: room a reserved patch area
  /// keeps for it (runtime/area.h), preferred to any caveAddr() finds.
  void preferCave(uint64_t addr) { caveAt = addr; }
  /// Calls a function in the borrowed (stopped) thread; see injectCall.
  llvm::Expected<uint64_t> call(uint64_t fn, llvm::ArrayRef<uint64_t> args,
                                uint64_t patienceNs = 0);

private:
  Target() = default;
  /// Seizes the threads /proc/PID/task lists that we do not have yet;
  /// \p leaving (if given) counts those left out as gone or exiting.
  llvm::Error seizeNewThreads(bool &found, size_t *leaving = nullptr);
  /// How many threads the process has now (SIZE_MAX if unknown).
  size_t liveThreads() const;
  /// The stopped thread injected code runs in.
  int injectInto();
  /// Where injected code runs: see caveAddr() in target.cpp.
  llvm::Expected<uint64_t> caveAddr();

  int pidValue = 0;
  int procIdValue = 0;
  int memFd = -1;
  int taskFd = -1; // /proc/PID/task, for liveThreads()
  std::vector<int> tids;
  bool isStopped = false;
  bool onlyOneStopped = false;
  int borrowed = 0; // by stopOne()
  /// Our scheduling before the boost, to restore on resume.
  int savedPolicy = -1;
  int savedPriority = 0;
  /// What the target's threads had before we lent them SCHED_FIFO.
  std::vector<LentPriority> lent;
  void boost();
  void unboost();
  uint64_t caveAt = 0;
};

uint64_t monotonicNs();

/// What /proc/PID/task/TID/syscall says of a running thread: the system
/// call it is blocked in, with its arguments, stack pointer and pc (the
/// same text as long as it stays blocked there); "running" when it is in
/// no system call; empty when the thread is gone.
std::string blockedInSyscall(int pid, int tid);

/// Threads held stopped (every one, or the one borrowed): they run again
/// when this goes out of scope, whatever path leaves it, unless resume()
/// ran them already.
class [[nodiscard]] StoppedThreads {
public:
  StoppedThreads(Target &target, uint64_t startNs)
      : target(&target), start(startNs) {}
  StoppedThreads(StoppedThreads &&other)
      : target(std::exchange(other.target, nullptr)), start(other.start) {}
  StoppedThreads &operator=(StoppedThreads &&) = delete;
  ~StoppedThreads() {
    if (target)
      target->resumeAll();
  }
  /// When the first stop was requested (monotonic ns).
  uint64_t startNs() const { return start; }
  /// Resumes now; the monotonic time after the last thread was resumed.
  uint64_t resume() { return std::exchange(target, nullptr)->resumeAll(); }

private:
  Target *target;
  uint64_t start;
};

} // namespace hotpatch

#endif
