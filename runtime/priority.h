//===- runtime/priority.h - lending target threads real-time priority --*- C++ -*-===//
//
// On a busy host a thread we interrupt must be scheduled to reach its stop,
// and a time-shared thread waits behind every CPU-bound process on its CPU:
// milliseconds, where the stop itself takes microseconds. So the threads
// we are about to stop get SCHED_FIFO (priority 1, reset on fork) for as
// long as hp-apply holds them, and their own scheduling back once they
// are resumed.
//
// A thread must never keep a priority it was lent: one left SCHED_FIFO
// could starve its CPU. A guardian process, started before the first loan
// and sharing hp-apply's memory, sees the list of loans; when hp-apply's
// end of a pipe closes (hp-apply exited, or was killed) it gives back
// what the list still says is lent.
//
//===----------------------------------------------------------------------===//

#ifndef HOTPATCH_RUNTIME_PRIORITY_H
#define HOTPATCH_RUNTIME_PRIORITY_H

#include "llvm/ADT/ArrayRef.h"

#include <vector>

namespace hotpatch {

/// The scheduling a thread had before a loan.
struct LentPriority {
  int tid = 0;
  int policy = 0; ///< as sched_getscheduler returned it (flags included)
  int priority = 0;
  unsigned slot = 0; ///< its line in the guardian's list
};

/// Starts the guardian now (tens of microseconds), so that the first loan,
/// inside a stop, does not.
void preparePriorityLoan();

/// Lends SCHED_FIFO to each of \p tids that runs time-shared and appends
/// what it had to \p lent. Does nothing where that is not permitted, or
/// when HOTPATCH_NO_PRIORITY_LOAN is set (to measure without it).
void lendPriority(llvm::ArrayRef<int> tids, std::vector<LentPriority> &lent);

/// Gives every thread in \p lent its scheduling back and empties it.
void returnPriority(std::vector<LentPriority> &lent);

} // namespace hotpatch

#endif
