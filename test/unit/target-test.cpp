//===- test/unit/target-test.cpp - stopping every thread of a process ----===//

#include "target.h"

#include "gtest/gtest.h"

#include <dirent.h>
#include <fstream>
#include <pthread.h>
#include <signal.h>
#include <sstream>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace hotpatch;

namespace {

void *shortLived(void *) { return nullptr; }

void *spawner(void *) {
  for (;;) {
    pthread_t t;
    if (pthread_create(&t, nullptr, shortLived, nullptr) == 0)
      pthread_join(t, nullptr);
  }
  return nullptr;
}

/// A child process whose threads create short-lived threads without pause.
pid_t startSpawning() {
  pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL); // (gone with the test, whatever happens)
    pthread_t t[3];
    for (pthread_t &one : t)
      pthread_create(&one, nullptr, spawner, nullptr);
    pause();
    _exit(0);
  }
  return pid;
}

std::vector<int> listTasks(pid_t pid) {
  std::vector<int> out;
  std::string dir = "/proc/" + std::to_string(pid) + "/task";
  if (DIR *d = opendir(dir.c_str())) {
    while (dirent *e = readdir(d))
      if (e->d_name[0] != '.')
        out.push_back(atoi(e->d_name));
    closedir(d);
  }
  std::sort(out.begin(), out.end());
  return out;
}

/// A thread's state letter ('t': stopped by its tracer) and its flags.
struct TaskState {
  char state = '?';
  unsigned long flags = 0;
  /// Gone ('?': no stat to read), dead, or on its way out (PF_EXITING): it
  /// runs no user code again.
  bool exiting() const {
    return state == '?' || state == 'Z' || state == 'X' || (flags & 0x4);
  }
};
TaskState stateOf(pid_t pid, int tid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/task/" +
                   std::to_string(tid) + "/stat");
  std::stringstream text;
  text << in.rdbuf();
  std::string s = text.str();
  TaskState out;
  size_t close = s.rfind(')');
  if (close == std::string::npos || close + 2 >= s.size())
    return out;
  // "tid (comm) S ppid pgrp session tty_nr tpgid flags ...": flags is the
  // sixth field after the state.
  std::istringstream fields(s.substr(close + 2));
  std::string skip;
  fields >> out.state >> skip >> skip >> skip >> skip >> skip >> out.flags;
  return out;
}

// While threads are created all the time, every stop must hold every
// thread: none created during the stop may run on unseen.
TEST(Target, StopAllCatchesThreadsCreatedMeanwhile) {
  pid_t pid = startSpawning();
  ASSERT_GT(pid, 0);
  usleep(20000);
  {
    auto target = Target::attach(pid);
    ASSERT_TRUE(bool(target)) << llvm::toString(target.takeError());
    for (int round = 0; round < 200; ++round) {
      auto t0 = (*target)->stopAll();
      ASSERT_TRUE(bool(t0)) << llvm::toString(t0.takeError());
      std::vector<int> known = (*target)->threads();
      for (int tid : listTasks(pid)) {
        TaskState st = stateOf(pid, tid);
        if (st.exiting())
          continue; // (listed until it is gone; it cannot be traced)
        EXPECT_TRUE(std::binary_search(known.begin(), known.end(), tid))
            << "round " << round << ": thread " << tid << " was not stopped"
            << " (state " << st.state << ", flags " << std::hex << st.flags << ")";
        EXPECT_EQ(st.state, 't') << "round " << round << ", thread " << tid;
      }
      (*target)->resumeAll();
      usleep(200);
    }
  }
  kill(pid, SIGKILL);
  // (Threads still traced by us, running when we let go, are reaped here:
  // their tracer is this process until it exits.)
  for (int status = 0;;) {
    pid_t got = waitpid(-1, &status, __WALL);
    if (got < 0 || (got == pid && (WIFEXITED(status) || WIFSIGNALED(status))))
      break;
  }
}

void *spin(void *) {
  for (;;)
    usleep(100);
  return nullptr;
}

// The main thread calls pthread_exit while we stop the process again and
// again: it becomes a zombie that never reports a stop; the stops must go
// on without it (not wait forever), and the memory be read through a
// live thread.
TEST(Target, StopAllGoesOnWhenTheMainThreadExits) {
  pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL); // (gone with the test, whatever happens)
    pthread_t t;
    pthread_create(&t, nullptr, spin, nullptr);
    usleep(50000);
    syscall(SYS_exit, 0); // this thread only, as pthread_exit (no unwinding)
  }
  ASSERT_GT(pid, 0);
  {
    auto target = Target::attach(pid);
    ASSERT_TRUE(bool(target)) << llvm::toString(target.takeError());
    alarm(20); // a hang ends the test instead of the run
    for (int round = 0; round < 400; ++round) {
      auto t0 = (*target)->stopAll();
      ASSERT_TRUE(bool(t0)) << llvm::toString(t0.takeError());
      (*target)->resumeAll();
      usleep(500);
    }
    alarm(0);
    EXPECT_EQ(stateOf(pid, pid).state, 'Z');
    EXPECT_NE((*target)->procId(), pid);
    EXPECT_TRUE(bool((*target)->mappings()) && !(*target)->mappings()->empty());
  }
  kill(pid, SIGKILL);
  for (int status = 0;;) {
    pid_t got = waitpid(-1, &status, __WALL);
    if (got < 0 || (got == pid && (WIFEXITED(status) || WIFSIGNALED(status))))
      break;
  }
}

} // namespace
