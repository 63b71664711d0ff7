//===- runtime/loader.h - apply, list and revert patches ------------*- C++ -*-===//
//
// Applying is a transaction, run as a pipeline of stages (each in its own
// file; docs/architecture.md walks through them):
//
//   module.cpp       which mapped file the patch is for (build-id)
//   record.cpp       the records earlier patches left: what is stacked
//   entries.cpp      each replaced function: where, and its bytes checked
//   layout.cpp       the region's layout, and an address near the module
//   symbols.cpp      every symbol the patch uses, resolved in the target
//   placement.cpp    the region mapped (one thread borrowed briefly)
//   image.cpp        relocated, with gates and record, written, read back
//   flip.cpp         redirects: to the gates, then the commit
//   stack-check.cpp  strict: no stopped thread inside replaced code
//
// Before the flip nothing a thread runs has changed. Undo is by scope: a
// Placement unmaps its region and a FlipPlan takes its redirects back when
// destroyed before the commit; stopped threads resume when their guard
// goes. Every applied patch leaves a record (record.h), so any later
// hp-apply can list, stack and revert.
//
//===----------------------------------------------------------------------===//

#ifndef HOTPATCH_RUNTIME_LOADER_H
#define HOTPATCH_RUNTIME_LOADER_H

#include "apply-error.h"
#include "patch-file.h"
#include "record.h"
#include "target.h"

#include "llvm/Support/Error.h"

#include <functional>
#include <string>
#include <vector>

namespace hotpatch {

enum class Policy {
  Strict,    ///< stop all threads; refuse while a stack holds a replaced function
  EntryOnly, ///< stop nothing for the flip: running frames finish old code
  None,      ///< stop all threads for the flip, check nothing
};

/// Where a patch goes (runtime/area.h).
enum class Placing {
  Auto, ///< the module's reserved patch area when it has one with room, else mapped
  Area, ///< the reserved patch area, or refuse
  Mmap, ///< mapped next to the module by injected mmaps, even with an area
};

struct ApplyOptions {
  Policy policy = Policy::Strict;
  Placing place = Placing::Auto;
  unsigned retries = 20;     ///< strict: tries before giving up...
  /// ...or, when non-zero, how long to keep trying instead (ns).
  uint64_t waitNs = 0;
  unsigned retryDelayUs = 2000;
  /// Called now and then while strict waits for a thread to leave a
  /// replaced function: one line for a person. May be empty.
  std::function<void(const std::string &)> progress;
  bool dryRun = false;       ///< check everything, change nothing
  /// strict with waitNs: a return gate on each busy thread's way out
  /// (return-gates.h), not only tries now and then.
  bool returnGates = true;
};

/// What became of a patch's unwind tables (runtime/unwind-tables.h).
enum class UnwindOutcome {
  NoTables,   ///< its code has none (built without unwind tables)
  NoUnwinder, ///< no unwinder is loaded: nothing in the process unwinds
  Registered, ///< made known now
  Kept,       ///< already known (a reverted region taken again)
};

struct ApplyReport {
  uint32_t id = 0;
  std::string module;  ///< path of the patched module in the target
  uint64_t moduleBase = 0;
  uint64_t patchAddr = 0;
  std::vector<std::string> functions;
  unsigned threads = 0;        ///< threads in the process
  unsigned threadsStopped = 0; ///< for the flip (0 under entry-only)
  uint64_t placeStopNs = 0;    ///< the brief stops that placed the patch
  /// Placed in the module's reserved patch area (no mmap); else mapped.
  bool inArea = false;
  /// Why a module with an area had the patch mapped instead (area full).
  std::string placementNote;
  /// What became of the patch's unwind tables, and whose unwinder took them.
  UnwindOutcome unwindTables = UnwindOutcome::NoTables;
  std::string unwinder;
  uint64_t pauseNs = 0;        ///< the flip: first stop to last resume
  uint64_t stopNs = 0;         ///< of which: stopping every thread
  uint64_t unwindNs = 0;       ///< of which: the stack check (strict)
  unsigned tries = 0;          ///< strict: stack checks made
  unsigned returnGates = 0;    ///< strict: most return gates armed at once
  unsigned viaGate = 0;        ///< functions left going through their gate
  bool dryRun = false;
  /// The process already ran this very patch (its record's id): nothing
  /// was changed. 0 otherwise.
  uint32_t alreadyApplied = 0;
  /// An earlier apply of this patch was interrupted (its hp-apply died
  /// before the commit); it was reverted first (its id). 0 otherwise.
  uint32_t completedInterrupted = 0;
};

llvm::Expected<ApplyReport> applyPatch(Target &target, const PatchFile &patch,
                                       llvm::StringRef patchName,
                                       const ApplyOptions &opts);

/// Every patch ever applied to the process, oldest first (reverted ones
/// included, marked inactive).
llvm::Expected<std::vector<AppliedPatch>> listPatches(Target &target);

struct RevertReport {
  uint32_t id = 0;
  std::vector<std::string> functions;
  uint64_t pauseNs = 0;
  unsigned tries = 1; ///< stops made (strict tries again while a thread is inside)
  unsigned returnGates = 0; ///< gates armed on threads inside the patch (strict)
};

/// Reverts patch \p id, which must be the newest active one touching each
/// of its functions (stacked patches revert last first). Under strict,
/// only while no thread is inside the patch's code, waited for as an apply
/// waits.
llvm::Expected<RevertReport> revertPatch(Target &target, uint32_t id,
                                         const ApplyOptions &opts);

} // namespace hotpatch

#endif
