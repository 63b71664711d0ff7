//===- runtime/priority.cpp - lending target threads real-time priority ---===//
//
// The guardian is a process that shares our memory (clone with CLONE_VM,
// no CLONE_THREAD): no copy of our address space to make (a fork of
// hp-apply took milliseconds, and left every page we wrote afterwards to
// be copied on write), and the list of loans is just memory both see. It
// waits for EOF on a pipe whose other end only we hold, then gives back
// what the list still says is lent. It runs on a stack of its own and
// makes raw system calls only: glibc's wrappers would write our thread's
// errno, and nothing else of glibc is safe in a process that shares our
// memory without being our thread.
//
//===----------------------------------------------------------------------===//

#include "priority.h"

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <fcntl.h>
#include <sched.h>
#include <sys/mman.h>
#include <unistd.h>

using namespace llvm;

namespace hotpatch {
namespace {

/// One loan, in the list the guardian reads. Written in this order: the
/// fields, then \c lent (release); cleared after the scheduling is back.
struct Loan {
  int32_t tid, policy, priority;
  std::atomic<int32_t> lent;
};
constexpr size_t maxLoans = 4096;
Loan loans[maxLoans];

// The guardian's system calls, raw.
#if defined(__x86_64__)
enum : long { sysRead = 0, sysClose = 3, sysSchedSetscheduler = 144, sysSetsid = 112,
              sysExit = 60, sysCloseRange = 436 };
long raw(long nr, long a = 0, long b = 0, long c = 0) {
  long ret;
  asm volatile("syscall"
               : "=a"(ret)
               : "a"(nr), "D"(a), "S"(b), "d"(c)
               : "rcx", "r11", "memory");
  return ret;
}
#elif defined(__aarch64__)
enum : long { sysRead = 63, sysClose = 57, sysSchedSetscheduler = 119, sysSetsid = 157,
              sysExit = 93, sysCloseRange = 436 };
long raw(long nr, long a = 0, long b = 0, long c = 0) {
  register long x8 asm("x8") = nr;
  register long x0 asm("x0") = a;
  register long x1 asm("x1") = b;
  register long x2 asm("x2") = c;
  asm volatile("svc #0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2) : "memory");
  return x0;
}
#endif

/// The guardian: waits for EOF on \p arg (the read end of our pipe), then
/// gives back every loan still in the list.
int guard(void *arg) {
  long in = long(intptr_t(arg));
  raw(sysSetsid); // a kill of hp-apply's process group leaves us be
  // Nothing of hp-apply's but the pipe: not its output, whose reader would
  // wait for our end too.
  if (raw(sysCloseRange, 0, in - 1, 0) < 0 || raw(sysCloseRange, in + 1, ~0u, 0) < 0)
    for (long fd = 0; fd < 1024; ++fd)
      if (fd != in)
        raw(sysClose, fd);
  char byte;
  long got;
  do // (EOF, or an error, ends the wait; an interrupted read goes on)
    got = raw(sysRead, in, long(&byte), 1);
  while (got > 0 || got == -EINTR);
  for (Loan &l : loans)
    if (l.lent.load(std::memory_order_acquire)) {
      sched_param p{};
      p.sched_priority = l.priority;
      raw(sysSchedSetscheduler, l.tid, l.policy, long(&p));
    }
  raw(sysExit, 0);
  return 0;
}

/// Starts the guardian once; false when it could not be (then nothing is
/// lent).
bool guardianRunning() {
  static const bool running = [] {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
      return false;
    constexpr size_t stackSize = 64 * 1024;
    void *stack = mmap(nullptr, stackSize, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED) {
      close(fds[0]);
      close(fds[1]);
      return false;
    }
    // It starts with every signal blocked (a Ctrl-C is for hp-apply);
    // no exit signal: nobody waits for it.
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid_t pid = clone(guard, static_cast<char *>(stack) + stackSize, CLONE_VM,
                      reinterpret_cast<void *>(intptr_t(fds[0])));
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    close(fds[0]); // ours; the guardian has its own copy
    if (pid < 0) {
      close(fds[1]);
      return false;
    }
    return true; // fds[1] stays open until we exit
  }();
  return running;
}

/// HOTPATCH_NO_PRIORITY_LOAN: nothing lent (to measure without the loan).
bool loanOff() {
  static const bool off = getenv("HOTPATCH_NO_PRIORITY_LOAN") != nullptr;
  return off;
}

} // namespace

void preparePriorityLoan() {
  if (!loanOff())
    (void)guardianRunning();
}

void lendPriority(ArrayRef<int> tids, std::vector<LentPriority> &lent) {
  if (loanOff() || tids.empty() || !guardianRunning())
    return;
  sched_param fifo{};
  fifo.sched_priority = 1;
  size_t free = 0;
  for (int tid : tids) {
    int policy = sched_getscheduler(tid);
    sched_param p{};
    if (policy < 0 || sched_getparam(tid, &p) != 0)
      continue;
    int base = policy & ~SCHED_RESET_ON_FORK;
    if (base != SCHED_OTHER && base != SCHED_BATCH && base != SCHED_IDLE)
      continue; // real-time or deadline already: theirs to keep
    while (free < maxLoans && loans[free].lent.load(std::memory_order_relaxed))
      ++free;
    if (free == maxLoans)
      return;
    // In the list before it is lent: the guardian never misses a loan.
    Loan &l = loans[free];
    l.tid = tid;
    l.policy = policy;
    l.priority = p.sched_priority;
    l.lent.store(1, std::memory_order_release);
    if (sched_setscheduler(tid, SCHED_FIFO | SCHED_RESET_ON_FORK, &fifo) != 0) {
      l.lent.store(0, std::memory_order_release); // (not permitted, or gone)
      continue;
    }
    lent.push_back({tid, policy, p.sched_priority, unsigned(free)});
  }
}

void returnPriority(std::vector<LentPriority> &lent) {
  for (const LentPriority &l : lent) {
    sched_param p{};
    p.sched_priority = l.priority;
    sched_setscheduler(l.tid, l.policy, &p);
    loans[l.slot].lent.store(0, std::memory_order_release);
  }
  lent.clear();
}

} // namespace hotpatch
