//===- runtime/flip.cpp - turning the replaced functions to the patch -----===//

#include "flip.h"

#include "placement.h"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <unistd.h>

using namespace llvm;

namespace hotpatch {
namespace {

/// \p f's bytes from the padding through the entry NOP with redirect \p r.
std::vector<uint8_t> redirected(const FunctionFlip &f, const Arch::Redirect &r,
                                const PrologueShape &shape) {
  std::vector<uint8_t> out = f.before;
  std::copy(r.pad.begin(), r.pad.end(), out.begin());
  std::copy(r.site.begin(), r.site.end(), out.begin() + shape.padBefore + f.site);
  return out;
}

/// A test hook: HOTPATCH_TEST_FLIP_DELAY_US slows the entry-by-entry flip
/// down, so a test can kill hp-apply between two entries for sure.
unsigned flipDelayUs() {
  static const unsigned us = [] {
    const char *v = getenv("HOTPATCH_TEST_FLIP_DELAY_US");
    return v ? unsigned(atoi(v)) : 0u;
  }();
  return us;
}

} // namespace

FlipPlan::FlipPlan(Target &target, const Arch &arch, Placement &placement,
                   std::vector<FunctionFlip> &flips, uint64_t commitAddr,
                   bool whileStopped)
    : target(target), arch(arch), placement(placement), flips(flips),
      commitAddr(commitAddr), whileStopped(whileStopped) {
  const PrologueShape &shape = arch.prologue();
  for (const FunctionFlip &f : flips) {
    viaGate.push_back(redirected(f, f.toGate, shape));
    straight.push_back(redirected(f, f.redirect, shape));
  }
}

FlipPlan::~FlipPlan() {
  if (!committed)
    rollBack();
}

template <typename Lo, typename Bytes>
std::vector<FlipPlan::PageWrite> FlipPlan::batch(Lo lo, Bytes bytes,
                                                 bool skipStacked) const {
  const uint64_t page = systemPageSize();
  std::map<uint64_t, std::vector<size_t>> byPage;
  for (size_t i = 0; i < flips.size(); ++i)
    if (!(skipStacked && flips[i].stacked))
      byPage[lo(flips[i]) & ~(page - 1)].push_back(i);
  std::vector<PageWrite> out;
  for (auto &[pageAddr, members] : byPage) {
    uint64_t from = ~0ull, to = 0;
    for (size_t i : members) {
      from = std::min(from, lo(flips[i]));
      to = std::max(to, lo(flips[i]) + bytes(i).size());
    }
    // The bytes between them are read now and written back unchanged:
    // code does not change under us.
    PageWrite w{from, std::vector<uint8_t>(to - from)};
    if (Error err = target.read(from, w.bytes)) {
      consumeError(std::move(err));
      return {};
    }
    for (size_t i : members)
      llvm::copy(bytes(i), w.bytes.begin() + (lo(flips[i]) - from));
    out.push_back(std::move(w));
  }
  return out;
}

Error FlipPlan::retarget(const FunctionFlip &f, ArrayRef<uint8_t> from,
                         ArrayRef<uint8_t> to, bool stopped) const {
  uint64_t base = f.entryAddr - arch.prologue().padBefore;
  size_t lo = 0, hi = from.size();
  while (lo < hi && from[lo] == to[lo])
    ++lo;
  while (hi > lo && from[hi - 1] == to[hi - 1])
    --hi;
  if (lo == hi)
    return Error::success();
  if (stopped)
    return target.write(base + lo, to.slice(lo, hi - lo));
  // The smallest aligned store that holds the change: aarch64's entry `b`
  // is one 4-byte word after the padding (an 8-byte window there would
  // take bytes past the entry); x86_64's padding jump an 8-byte one.
  for (uint64_t size : {4, 8}) {
    uint64_t window = (base + lo) & ~(size - 1);
    if (base + hi <= window + size && window >= base && window + size <= base + to.size())
      return target.write(window, to.slice(window - base, size));
  }
  return createStringError(std::errc::operation_not_supported,
                           "function '%s': its redirect cannot change in "
                           "one store", f.name.c_str());
}

Error FlipPlan::toGates() {
  const PrologueShape &shape = arch.prologue();
  if (whileStopped) {
    // Steps 1 to 4 all happen in the stop: a strict apply that waits for
    // its moment (or dies waiting) has changed no byte of the program. The
    // page writes are read now: the bytes between two functions' changes
    // (another function's padding) are written back as they are.
    auto padding = [&](const FunctionFlip &f) { return f.entryAddr - shape.padBefore; };
    entryPages = batch(padding, [&](size_t i) -> ArrayRef<uint8_t> { return viaGate[i]; },
                       /*skipStacked=*/false);
    straightPages = batch(padding, [&](size_t i) -> ArrayRef<uint8_t> { return straight[i]; },
                          /*skipStacked=*/false);
    return Error::success();
  }
  // No thread runs an unpatched function's padding while its entry NOP is
  // intact; a patched function's redirect changes in one store.
  touched = true;
  for (size_t i = 0; i < flips.size(); ++i) {
    const FunctionFlip &f = flips[i];
    if (f.stacked)
      placement.markReachable();
    Error err = f.stacked ? retarget(f, f.before, viaGate[i], /*stopped=*/false)
                          : target.write(f.entryAddr - shape.padBefore, f.toGate.pad);
    if (err)
      return err;
  }
  return Error::success();
}

Error FlipPlan::enterGates() {
  placement.markReachable();
  touched = true;
  if (!entryPages.empty()) {
    for (const PageWrite &w : entryPages)
      if (Error err = target.write(w.addr, w.bytes))
        return err;
    return Error::success();
  }
  const PrologueShape &shape = arch.prologue();
  for (size_t i = 0; i < flips.size(); ++i) {
    const FunctionFlip &f = flips[i];
    // Stopped: the padding and the entry at once; running (entry-only):
    // the entry, the padding being in place since step 1.
    Error err = whileStopped ? target.write(f.entryAddr - shape.padBefore, viaGate[i])
                : f.stacked  ? Error::success()
                             : target.write(f.entryAddr + f.site, f.toGate.site);
    if (err)
      return err;
    if (flipDelayUs())
      target.sleepServing(flipDelayUs());
  }
  return Error::success();
}

Error FlipPlan::enterAndCommit() {
  static constexpr uint8_t one[] = {1};
  Error err = enterGates();
  if (!err)
    err = target.write(commitAddr, one);
  if (err) {
    rollBack(); // now, while the threads are (if they are) stopped
    return err;
  }
  committed = true;
  return Error::success();
}

unsigned FlipPlan::goStraight() {
  if (!straightPages.empty()) {
    unsigned left = 0;
    for (const PageWrite &w : straightPages)
      if (Error err = target.write(w.addr, w.bytes)) {
        consumeError(std::move(err));
        left = flips.size(); // (at most: some pages went)
      }
    return left;
  }
  unsigned left = 0;
  for (size_t i = 0; i < flips.size(); ++i)
    if (Error err = retarget(flips[i], viaGate[i], straight[i], whileStopped)) {
      consumeError(std::move(err));
      ++left;
    }
  return left;
}

void FlipPlan::rollBack() {
  if (!touched || committed || rolledBack)
    return;
  rolledBack = true;
  const PrologueShape &shape = arch.prologue();
  // Entries first: from then on no call reaches a padding we rewrite.
  for (const FunctionFlip &f : flips)
    if (!f.stacked)
      consumeError(target.write(
          f.entryAddr + f.site,
          ArrayRef<uint8_t>(f.before).slice(shape.padBefore + f.site, shape.entryNop)));
  for (size_t i = 0; i < flips.size(); ++i) {
    const FunctionFlip &f = flips[i];
    if (f.stacked)
      consumeError(retarget(f, viaGate[i], f.before, target.stopped()));
    else
      consumeError(target.write(f.entryAddr - shape.padBefore, f.before));
  }
}

std::vector<std::pair<uint64_t, uint64_t>> FlipPlan::busyRanges(uint64_t gatesLo,
                                                                uint64_t gatesHi) const {
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (const FunctionFlip &f : flips) {
    ranges.push_back({f.entryAddr - arch.prologue().padBefore,
                      f.entryAddr + std::max<uint64_t>(f.oldSize, 1)});
    if (f.stacked)
      ranges.push_back(f.previousCode);
  }
  ranges.push_back({gatesLo, gatesHi});
  return ranges;
}

std::string FlipPlan::rangeName(uint64_t lo) const {
  for (const FunctionFlip &f : flips) {
    if (lo == f.entryAddr - arch.prologue().padBefore)
      return f.name + "()";
    if (f.stacked && lo == f.previousCode.first)
      return "an earlier patch of " + f.name + "()";
  }
  return "this patch's gates";
}

} // namespace hotpatch
