//===- bench/stop-floor.cpp - the floor for hp-apply's pause ----------------===//
//
// Seizes every thread of PID, then stops and resumes them ROUNDS times with
// ptrace and nothing else, printing each pause in nanoseconds, one a line:
// what any patcher that stops the world pays at least.
//
//===----------------------------------------------------------------------===//

#include "target.h"

#include "llvm/Support/raw_ostream.h"

#include <unistd.h>

using namespace hotpatch;

int main(int argc, char **argv) {
  if (argc != 3) {
    llvm::errs() << "usage: stop-floor PID ROUNDS\n";
    return 2;
  }
  auto target = Target::attach(atoi(argv[1]));
  if (!target) {
    llvm::errs() << llvm::toString(target.takeError()) << "\n";
    return 1;
  }
  std::vector<uint64_t> pauses;
  for (int i = 0, n = atoi(argv[2]); i < n; ++i) {
    auto t0 = (*target)->stopAll();
    if (!t0) {
      llvm::errs() << llvm::toString(t0.takeError()) << "\n";
      return 1;
    }
    pauses.push_back((*target)->resumeAll() - *t0);
    usleep(1000);
  }
  for (uint64_t p : pauses)
    llvm::outs() << p << "\n";
  return 0;
}
