//===- test/unit/target-test.cpp - stopping every thread of a process ----===//

#include "target.h"

#include "gtest/gtest.h"

#include <dirent.h>
#include <fstream>
#include <pthread.h>
#include <signal.h>
#include <sstream>
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

/// The state letter of a thread ('t': stopped by its tracer).
char stateOf(pid_t pid, int tid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/task/" +
                   std::to_string(tid) + "/stat");
  std::stringstream text;
  text << in.rdbuf();
  std::string s = text.str();
  size_t close = s.rfind(')');
  return close == std::string::npos || close + 2 >= s.size() ? '?' : s[close + 2];
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
        EXPECT_TRUE(std::binary_search(known.begin(), known.end(), tid))
            << "round " << round << ": thread " << tid << " was not stopped";
        EXPECT_EQ(stateOf(pid, tid), 't') << "round " << round << ", thread " << tid;
      }
      (*target)->resumeAll();
      usleep(200);
    }
  }
  kill(pid, SIGKILL);
  // (Threads still traced by us, running when we let go, are reaped here:
  // their tracer is this process until it exits.)
  while (waitpid(-1, nullptr, __WALL) > 0) {
  }
}

} // namespace
