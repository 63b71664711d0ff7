//===- runtime/stack-check.h - is any thread inside replaced code? -*- C++ -*-===//
//
// Under `strict`, the flip happens only when no stopped thread has a frame
// in a function being replaced (or in an earlier patch's code for it, or
// in a gate). A thread whose stack words prove it clear is not walked
// (Unwinder::scanStacks); the others are walked by their unwind tables,
// and a walk that stops short of the outermost frame clears only a thread
// whose words never pointed into the ranges.
//
// Everything that needs memory is made ready before the stop: the ranges
// sorted, the scratch space for as many threads as the process has.
//
//===----------------------------------------------------------------------===//

#ifndef HOTPATCH_RUNTIME_STACK_CHECK_H
#define HOTPATCH_RUNTIME_STACK_CHECK_H

#include "target.h"
#include "unwind.h"

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace hotpatch {

/// A thread found inside a replaced range, or that may be.
struct BusyThread {
  int tid = 0;
  uint64_t lo = 0, hi = 0, pc = 0; ///< the range and the frame's pc
  bool unwalkable = false; ///< a stack word points in; the walk stopped short
  /// Where its outermost frame in a range returns to, as the walk restored
  /// it (the caller's pc; a signed return address keeps its signature),
  /// with that frame's stack pointer and its caller's. returnAddr is 0 when
  /// its caller is unknown or a signal frame.
  uint64_t returnAddr = 0, frameSp = 0, callerSp = 0;
  /// Where that frame keeps returnAddr by its unwind tables: an offset from
  /// callerSp (Unwinder::returnAddressSaved); none while it is in a register.
  std::optional<int64_t> savedAt;
  uint64_t codeMask = ~0ull; ///< the thread's (UnwindRegisters::codeMask)
  /// That frame is the innermost: its unwind tables may be exact at call
  /// sites only (code built without asynchronous ones), so the return
  /// address they point at must be proved (Arch::directCallInto).
  bool innermost = false;
};
/// One line for a person: "thread 12 is inside [..) (pc ..)".
std::string describe(const BusyThread &busy);

class StackCheck {
public:
  /// \p ranges: [lo, hi) address ranges no frame may be in.
  StackCheck(Unwinder &unwinder, std::vector<Unwinder::AddressRange> ranges);

  /// Before each stop: where the stacks end now (\p maps read just before),
  /// room for \p threads threads.
  void prepare(std::vector<Mapping> maps, size_t threads);

  /// Inside the stop: the first thread of \p target found busy, or nullopt;
  /// busyThreads() has them all.
  llvm::Expected<std::optional<BusyThread>> run(const Target &target);
  const std::vector<BusyThread> &busyThreads() const { return busy; }
  /// Whether stopped thread \p tid's pc is in [lo, hi) (its registers are
  /// read once a stop).
  bool pcIn(int tid, uint64_t lo, uint64_t hi) const;

  /// Threads \p passing says have left the ranges already (they are on
  /// their way out through a return gate: return-gates.h) are clear.
  void setPassing(std::function<bool(int tid, const UnwindRegisters &)> passing) {
    this->passing = std::move(passing);
  }

private:
  /// The end of the writable memory holding \p sp (adjacent writable
  /// mappings join: mlock or madvise can split a stack); 0 if none.
  uint64_t stackEnd(uint64_t sp) const;

  Unwinder &unwinder;
  std::vector<Unwinder::AddressRange> ranges; // sorted
  std::vector<Mapping> maps;
  // Scratch, sized by prepare().
  std::vector<int> walk;
  std::vector<bool> suspect, complete;
  std::vector<std::vector<uint64_t>> stacks;
  std::vector<std::vector<Unwinder::Frame>> frames;
  std::vector<BusyThread> busy;
  std::function<bool(int, const UnwindRegisters &)> passing;
};

} // namespace hotpatch

#endif
