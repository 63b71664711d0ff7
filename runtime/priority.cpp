//===- runtime/priority.cpp - lending target threads real-time priority ---===//

#include "priority.h"

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace llvm;

namespace hotpatch {
namespace {

/// One line of the guardian's list: \c lent 1 when lent, 0 when given back.
struct Message {
  int32_t tid, policy, priority, lent;
};

/// The guardian's list, allocated before the fork: the child of a process
/// that may have threads calls nothing that allocates.
constexpr size_t maxEntries = 16384;
Message table[maxEntries];

void giveBack(const Message &m) {
  sched_param p{};
  p.sched_priority = m.priority;
  sched_setscheduler(m.tid, m.policy, &p);
}

/// The guardian: reads the list from \p in until hp-apply's end closes,
/// then gives back whatever is still lent.
[[noreturn]] void guard(int in) {
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGTSTP})
    signal(sig, SIG_IGN);
  setsid(); // a kill of hp-apply's process group leaves us be
  size_t used = 0, have = 0;
  alignas(Message) char buf[sizeof(Message) * 256];
  for (;;) {
    ssize_t n = read(in, buf + have, sizeof buf - have);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    have += size_t(n);
    size_t whole = have / sizeof(Message);
    for (size_t k = 0; k < whole; ++k) {
      Message m;
      __builtin_memcpy(&m, buf + k * sizeof m, sizeof m);
      size_t i = 0;
      while (i < used && table[i].tid != m.tid)
        ++i;
      if (i == used && used < maxEntries)
        ++used;
      if (i < used)
        table[i] = m;
    }
    __builtin_memmove(buf, buf + whole * sizeof(Message), have - whole * sizeof(Message));
    have -= whole * sizeof(Message);
  }
  for (size_t i = 0; i < used; ++i)
    if (table[i].lent)
      giveBack(table[i]);
  _exit(0);
}

class Guardian {
public:
  /// The guardian of this process, started on first use; null when it
  /// cannot be (then nothing is lent).
  static Guardian *get() {
    static Guardian g;
    return g.fd >= 0 ? &g : nullptr;
  }
  /// Tells the guardian \p ms; false when it did not hear them whole.
  bool tell(ArrayRef<Message> ms) {
    // Messages in whole batches, so the guardian never reads half of one.
    constexpr size_t batch = 4096 / sizeof(Message);
    for (size_t k = 0; k < ms.size(); k += batch) {
      size_t bytes = std::min(batch, ms.size() - k) * sizeof(Message);
      const char *p = reinterpret_cast<const char *>(ms.data() + k);
      while (bytes) {
        ssize_t n = send(fd, p, bytes, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
          continue;
        if (n <= 0)
          return false;
        p += n;
        bytes -= size_t(n);
      }
    }
    return true;
  }

private:
  Guardian() {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
      return;
    pid_t child = fork();
    if (child == 0) {
      dup2(sv[1], 0); // (dup2 leaves close-on-exec off the copy)
      closefrom(1);   // not hp-apply's output: a reader waits for its end
      guard(0);
    }
    close(sv[1]);
    if (child < 0) {
      close(sv[0]);
      return;
    }
    fd = sv[0];
  }
  int fd = -1;
};

} // namespace

void lendPriority(ArrayRef<int> tids, std::vector<LentPriority> &lent) {
  static const bool off = getenv("HOTPATCH_NO_PRIORITY_LOAN") != nullptr;
  if (off || tids.empty())
    return;
  std::vector<Message> told;
  for (int tid : tids) {
    int policy = sched_getscheduler(tid);
    sched_param p{};
    if (policy < 0 || sched_getparam(tid, &p) != 0)
      continue;
    int base = policy & ~SCHED_RESET_ON_FORK;
    if (base != SCHED_OTHER && base != SCHED_BATCH && base != SCHED_IDLE)
      continue; // real-time or deadline already: theirs to keep
    told.push_back({tid, policy, p.sched_priority, 1});
  }
  Guardian *guardian = Guardian::get();
  if (told.empty() || !guardian || !guardian->tell(told))
    return; // never lent without the guardian knowing first
  sched_param fifo{};
  fifo.sched_priority = 1;
  std::vector<Message> refused;
  for (Message &m : told) {
    if (sched_setscheduler(m.tid, SCHED_FIFO | SCHED_RESET_ON_FORK, &fifo) == 0) {
      lent.push_back({m.tid, m.policy, m.priority});
      continue;
    }
    m.lent = 0; // (not permitted, or the thread is gone)
    refused.push_back(m);
  }
  if (!refused.empty())
    guardian->tell(refused);
}

void returnPriority(std::vector<LentPriority> &lent) {
  if (lent.empty())
    return;
  std::vector<Message> told;
  for (const LentPriority &l : lent) {
    Message m{l.tid, l.policy, l.priority, 0};
    giveBack(m);
    told.push_back(m);
  }
  lent.clear();
  if (Guardian *guardian = Guardian::get())
    guardian->tell(told);
}

} // namespace hotpatch
