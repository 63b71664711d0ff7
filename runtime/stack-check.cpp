//===- runtime/stack-check.cpp - is any thread inside replaced code? ------===//

#include "stack-check.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/FormatVariadic.h"

using namespace llvm;

namespace hotpatch {

std::string describe(const BusyThread &busy) {
  if (busy.unwalkable)
    return formatv("thread {0} may be inside a replaced function (a stack "
                   "word points into one; its stack cannot be walked to the "
                   "end)", busy.tid);
  return formatv("thread {0} is inside [{1:x}, {2:x}) (pc {3:x})", busy.tid,
                 busy.lo, busy.hi, busy.pc);
}

StackCheck::StackCheck(Unwinder &unwinder, std::vector<Unwinder::AddressRange> ranges)
    : unwinder(unwinder), ranges(std::move(ranges)) {
  llvm::sort(this->ranges);
}

void StackCheck::prepare(std::vector<Mapping> fresh, size_t threads) {
  maps = std::move(fresh);
  walk.reserve(threads);
  suspect.reserve(threads);
  complete.reserve(threads);
  if (stacks.size() < threads)
    stacks.resize(threads);
  for (std::vector<uint64_t> &s : stacks)
    s.reserve(64);
  unwinder.newStop(threads);
}

uint64_t StackCheck::stackEnd(uint64_t sp) const {
  auto m = llvm::find_if(maps, [&](const Mapping &m) {
    return m.write && sp >= m.start && sp < m.end;
  });
  if (m == maps.end())
    return 0;
  uint64_t end = m->end;
  for (auto next = std::next(m); next != maps.end() && next->write &&
                                 next->start == end && end - sp <= Unwinder::maxScan;
       ++next)
    end = next->end;
  return end; // (deeper than maxScan: walked, not scanned)
}

Expected<std::optional<BusyThread>> StackCheck::run(const Target &target) {
  const std::vector<int> &tids = target.threads();
  Expected<std::vector<Unwinder::Verdict>> verdicts = unwinder.scanStacks(
      tids, ranges, [&](uint64_t sp) { return stackEnd(sp); });
  if (!verdicts)
    return verdicts.takeError();
  walk.clear();
  suspect.clear();
  for (size_t i = 0; i < tids.size(); ++i) {
    if ((*verdicts)[i] == Unwinder::Verdict::Clear)
      continue;
    walk.push_back(tids[i]);
    suspect.push_back((*verdicts)[i] == Unwinder::Verdict::Suspect);
  }
  if (Error err = unwinder.backtraceAll(walk, stacks, &complete))
    return std::move(err);
  for (size_t i = 0; i < walk.size(); ++i) {
    for (uint64_t pc : stacks[i])
      for (auto [lo, hi] : ranges)
        if (pc >= lo && pc < hi)
          return BusyThread{walk[i], lo, hi, pc, false};
    // Its stack has a word in a replaced range and the walk stopped short
    // of the outermost frame (code without unwind tables): not clear.
    if (suspect[i] && !complete[i])
      return BusyThread{walk[i], 0, 0, 0, true};
  }
  return std::nullopt;
}

} // namespace hotpatch
