//===- runtime/flip.h - turning the replaced functions to the patch -*- C++ -*-===//
//
// The flip, in four steps; hp-apply may die at any point and the process
// runs either the old code or the new, never some of each:
//  1. (running) every entry's padding, or a patched entry's redirect, goes
//     to the function's gate, which goes back to what runs now;
//  2. the entries of unpatched functions jump to their padding: one aligned
//     store each; every function still runs what it ran;
//  3. commit: the one byte the gates read; every function at once;
//  4. each redirect goes straight to the new code (the gates then matter
//     only to a revert).
// Under `entry-only`, every step happens while the threads run. Under
// `strict` and `none`, all four happen with every thread stopped, so a
// strict apply that waits for its moment, or is killed while it waits,
// has changed no byte of the program.
//
// A FlipPlan computes every byte it will write before the stop (the
// stopped steps write whole pages of entries at once: each /proc/PID/mem
// write costs microseconds of the pause), and undoes what it wrote when it
// is destroyed before the commit.
//
//===----------------------------------------------------------------------===//

#ifndef HOTPATCH_RUNTIME_FLIP_H
#define HOTPATCH_RUNTIME_FLIP_H

#include "arch.h"
#include "target.h"

#include <string>
#include <utility>
#include <vector>

namespace hotpatch {

class Placement;

/// One replaced function: where it is, what it runs now, where it goes.
struct FunctionFlip {
  std::string name;
  uint64_t entryAddr = 0;
  unsigned site = 0;    ///< the entry NOP, from the entry
  uint64_t oldSize = 0; ///< of the code being replaced
  /// The bytes now in the target from the padding through the entry NOP
  /// (and what follows, as far as the patch checks).
  std::vector<uint8_t> before;
  uint64_t back = 0;    ///< what the function runs until the commit
  bool stacked = false; ///< an earlier patch's redirect is in place
  std::pair<uint64_t, uint64_t> previousCode; ///< stacked: that patch's code

  // Once the patch is placed:
  uint64_t newAddr = 0, gateAddr = 0;
  Arch::Redirect redirect; ///< to the new code: the end state
  Arch::Redirect toGate;   ///< to the gate: until the patch commits
};

/// A change made with every thread stopped, once no stack holds its ranges
/// (under strict): an apply's flip, a revert's restore (flipStopped).
class StoppedChange {
public:
  virtual ~StoppedChange() = default;
  /// The change itself, inside the final stop.
  virtual llvm::Error enterAndCommit() = 0;
  /// After it, still stopped: best-effort work (FlipPlan::goStraight).
  virtual unsigned goStraight() { return 0; }
  /// What the busy range starting at \p lo is, for a person.
  virtual std::string rangeName(uint64_t lo) const = 0;
};

class FlipPlan : public StoppedChange {
public:
  /// \p commitAddr: the byte the gates read. \p whileStopped: steps 2 to 4
  /// run with every thread stopped (`strict`, `none`).
  FlipPlan(Target &target, const Arch &arch, Placement &placement,
           std::vector<FunctionFlip> &flips, uint64_t commitAddr, bool whileStopped);
  /// Before the commit: every redirect written so far is taken back.
  ~FlipPlan() override;
  FlipPlan(const FlipPlan &) = delete;
  FlipPlan &operator=(const FlipPlan &) = delete;

  /// Step 1 (entry-only: threads running); under strict and none, only
  /// the page writes of the stopped steps are read.
  llvm::Error toGates();
  /// Steps 2 and 3 (with step 1, under strict and none): entries to their
  /// gates, then the commit. After it the patch is in effect and nothing
  /// is undone.
  llvm::Error enterAndCommit() override;
  /// Step 4, best effort: how many functions still go through their gate
  /// (a redirect left on its gate runs the new code one jump later).
  unsigned goStraight() override;

  /// The ranges no stack may hold at the flip (strict): every replaced
  /// function with its padding, the earlier patches' code of stacked ones,
  /// and the gates (a thread between a gate's test and its jump would take
  /// the old way after the commit).
  std::vector<std::pair<uint64_t, uint64_t>> busyRanges(uint64_t gatesLo,
                                                        uint64_t gatesHi) const;
  /// What the busy range starting at \p lo is, for a person: a function's
  /// name, an earlier patch of one, or the gates.
  std::string rangeName(uint64_t lo) const override;

private:
  struct PageWrite {
    uint64_t addr;
    std::vector<uint8_t> bytes;
  };
  /// Per page, the stores of \p flips' bytes [lo(f), lo(f) + bytes(f).size()),
  /// with what lies between read from the target now; empty when a read
  /// fails (the steps then write one function at a time).
  template <typename Lo, typename Bytes>
  std::vector<PageWrite> batch(Lo lo, Bytes bytes, bool skipStacked) const;
  /// Changes the padding of \p f from \p from to \p to: with threads
  /// running, only as one aligned 8-byte store; stopped, any write.
  llvm::Error retarget(const FunctionFlip &f, llvm::ArrayRef<uint8_t> from,
                       llvm::ArrayRef<uint8_t> to, bool stopped) const;
  llvm::Error enterGates();
  void rollBack();

  Target &target;
  const Arch &arch;
  Placement &placement;
  std::vector<FunctionFlip> &flips;
  uint64_t commitAddr;
  bool whileStopped;
  bool touched = false;    // step 1 began: there is something to undo
  bool committed = false;  // the patch is in effect: nothing to undo
  bool rolledBack = false;
  // Per function: its padding through the entry NOP going to the gate, and
  // going to the new code.
  std::vector<std::vector<uint8_t>> viaGate, straight;
  std::vector<PageWrite> entryPages, straightPages; // (whileStopped)
};

class StackCheck;
class ReturnGates;
struct ApplyOptions;
struct ApplyReport;

/// \p change with every thread stopped (`strict` with \p check, `none`
/// without): under strict, tried again while a thread is inside its ranges,
/// up to opts' --wait, with a return gate (\p gates, when given) on each
/// such thread's way out; then refused (ApplyError::Busy), nothing changed.
/// \p report gets the tries, the stop's figures and the gates (loader.cpp).
llvm::Error flipStopped(Target &target, StoppedChange &change, StackCheck *check,
                        ReturnGates *gates, const ApplyOptions &opts,
                        const std::vector<Mapping> &maps, ApplyReport &report);

} // namespace hotpatch

#endif
