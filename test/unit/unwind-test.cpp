//===- test/unit/unwind-test.cpp - the remote unwinder's table lookups ----===//

#include "unwind.h"

#include "gtest/gtest.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace hotpatch;

namespace {

/// A function with unwind tables, at the same address in a forked child.
__attribute__((noinline)) int withTables(int x) {
  volatile int y = x;
  return y + 1;
}

TEST(Unwinder, ReturnAddressSavedWhereTheTablesSay) {
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    for (;;)
      pause();
  }
  llvm::Expected<std::unique_ptr<Unwinder>> unwinder = Unwinder::create(pid);
  ASSERT_TRUE(bool(unwinder)) << llvm::toString(unwinder.takeError());
  uint64_t entry = reinterpret_cast<uint64_t>(&withTables);
  std::optional<int64_t> atEntry = (*unwinder)->returnAddressSaved(entry);
#if defined(__x86_64__)
  // The call pushed it: one word below the caller's stack pointer.
  ASSERT_TRUE(atEntry.has_value());
  EXPECT_EQ(*atEntry, -8);
#elif defined(__aarch64__)
  // Still in the link register at the first instruction.
  EXPECT_FALSE(atEntry.has_value());
#endif
  // No module there: the tables say nothing.
  EXPECT_FALSE((*unwinder)->returnAddressSaved(0x1000).has_value());
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
}

} // namespace
