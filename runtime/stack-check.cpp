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
  if (stacks.size() < threads) {
    stacks.resize(threads);
    frames.resize(threads);
  }
  for (std::vector<uint64_t> &s : stacks)
    s.reserve(64);
  for (std::vector<Unwinder::Frame> &f : frames)
    f.reserve(64);
  busy.reserve(threads);
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

bool StackCheck::pcIn(int tid, uint64_t lo, uint64_t hi) const {
  if (lo == hi)
    return false;
  Expected<const UnwindRegisters *> regs = unwinder.registers(tid);
  if (!regs) {
    consumeError(regs.takeError());
    return false;
  }
  return (*regs)->pc >= lo && (*regs)->pc < hi;
}

Expected<std::optional<BusyThread>> StackCheck::run(const Target &target) {
  const std::vector<int> &tids = target.threads();
  Expected<std::vector<Unwinder::Verdict>> verdicts = unwinder.scanStacks(
      tids, ranges, [&](uint64_t sp) { return stackEnd(sp); });
  if (!verdicts)
    return verdicts.takeError();
  walk.clear();
  suspect.clear();
  busy.clear();
  for (size_t i = 0; i < tids.size(); ++i) {
    if ((*verdicts)[i] == Unwinder::Verdict::Clear)
      continue;
    if (passing) {
      Expected<const UnwindRegisters *> regs = unwinder.registers(tids[i]);
      if (!regs)
        return regs.takeError();
      if (passing(tids[i], **regs))
        continue;
    }
    walk.push_back(tids[i]);
    suspect.push_back((*verdicts)[i] == Unwinder::Verdict::Suspect);
  }
  if (Error err = unwinder.backtraceAll(walk, stacks, &complete, &frames))
    return std::move(err);
  for (size_t i = 0; i < walk.size(); ++i) {
    // The outermost frame in a range: a gate on its return catches the
    // moment the thread leaves them all.
    std::optional<size_t> outermost;
    for (size_t k = 0; k < stacks[i].size(); ++k)
      for (auto [lo, hi] : ranges)
        if (stacks[i][k] >= lo && stacks[i][k] < hi) {
          if (!outermost)
            busy.push_back(BusyThread{walk[i], lo, hi, stacks[i][k], false});
          outermost = k;
        }
    if (outermost) {
      BusyThread &b = busy.back();
      size_t k = *outermost;
      const std::vector<Unwinder::Frame> &f = frames[i];
      if (k + 1 < f.size() && !f[k + 1].activation && f[k].sp &&
          f[k + 1].sp) {
        b.returnAddr = f[k + 1].pc;
        b.frameSp = f[k].sp;
        b.callerSp = f[k + 1].sp;
        b.innermost = k == 0;
        b.savedAt = unwinder.returnAddressSaved(f[k].activation ? f[k].pc : f[k].pc - 1);
      }
      if (Expected<const UnwindRegisters *> regs = unwinder.registers(walk[i]))
        b.codeMask = (*regs)->codeMask;
      else
        consumeError(regs.takeError());
      continue;
    }
    // Its stack has a word in a replaced range and the walk stopped short
    // of the outermost frame, or took a step without unwind tables (a
    // guess: unwind.cpp): not clear.
    if (suspect[i] && !complete[i])
      busy.push_back(BusyThread{walk[i], 0, 0, 0, true});
  }
  if (busy.empty())
    return std::nullopt;
  return busy.front();
}

} // namespace hotpatch
