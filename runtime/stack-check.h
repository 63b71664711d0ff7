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

#include <optional>
#include <string>
#include <vector>

namespace hotpatch {

/// A thread found inside a replaced range, or that may be.
struct BusyThread {
  int tid = 0;
  uint64_t lo = 0, hi = 0, pc = 0; ///< the range and the frame's pc
  bool unwalkable = false; ///< a stack word points in; the walk stopped short
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

  /// Inside the stop: the first thread of \p target found busy, or nullopt.
  llvm::Expected<std::optional<BusyThread>> run(const Target &target);

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
};

} // namespace hotpatch

#endif
