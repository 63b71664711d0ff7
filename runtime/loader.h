//===- runtime/loader.h - apply, list and revert patches ------------*- C++ -*-===//
//
// Applying is a transaction. Before any thread stops for the flip: find the
// module (build-id), resolve every symbol, check every entry's bytes, map
// the patch beside the module (one brief stop to inject the mmaps),
// relocate and write it, read it back. Then the flip: under `strict`, stop
// all threads, check no stack holds a replaced function (retry a bounded
// number of times, resuming in between), write the padding jumps and then
// the entry stores, resume; under `entry-only` nothing is stopped for the
// flip at all. Any failure undoes every byte and mapping.
//
// Every applied patch leaves a record at the start of its writable mapping
// (magic "HPREC001"), so any later hp-apply can list, stack and revert.
//
//===----------------------------------------------------------------------===//

#ifndef HOTPATCH_RUNTIME_LOADER_H
#define HOTPATCH_RUNTIME_LOADER_H

#include "patch-file.h"
#include "target.h"

#include "llvm/Support/Error.h"

#include <string>
#include <vector>

namespace hotpatch {

enum class Policy {
  Strict,    ///< stop all threads; refuse while a stack holds a replaced function
  EntryOnly, ///< stop nothing for the flip: running frames finish old code
  None,      ///< stop all threads for the flip, check nothing
};

struct ApplyOptions {
  Policy policy = Policy::Strict;
  unsigned retries = 20;     ///< strict: tries before giving up
  unsigned retryDelayUs = 2000;
  bool dryRun = false;       ///< check everything, change nothing
};

struct ApplyReport {
  uint32_t id = 0;
  std::string module;  ///< path of the patched module in the target
  uint64_t moduleBase = 0;
  uint64_t patchAddr = 0;
  std::vector<std::string> functions;
  unsigned threads = 0;        ///< threads in the process
  unsigned threadsStopped = 0; ///< for the flip (0 under entry-only)
  uint64_t placeStopNs = 0;    ///< the brief stop that placed the patch
  uint64_t pauseNs = 0;        ///< the flip: first stop to last resume
  uint64_t stopNs = 0;         ///< of which: stopping every thread
  uint64_t unwindNs = 0;       ///< of which: the stack check (strict)
  unsigned tries = 0;          ///< strict: stack checks made
  bool farJumps = false;       ///< some entry needed the 14-byte far jump
  unsigned viaGate = 0;        ///< functions left going through their gate
  bool dryRun = false;
};

struct RecordedFunction {
  std::string name;
  uint64_t entryAddr = 0, newAddr = 0;
};

struct AppliedPatch {
  uint32_t id = 0;
  std::string name;
  std::string buildId;
  bool active = false; ///< false once reverted
  /// Its gates send calls to its code (set by the commit store). Active
  /// and not committed: hp-apply died mid-apply; the old code runs.
  bool committed = false;
  uint64_t gatesOffset = 0; ///< in its region; 0: made before gates
  uint64_t recordAddr = 0, regionAddr = 0, regionSize = 0;
  uint64_t appliedAtNs = 0; ///< CLOCK_REALTIME
  std::vector<RecordedFunction> functions;
};

/// A patch cannot be applied: why, for a person. The target is untouched.
class ApplyError : public llvm::ErrorInfo<ApplyError> {
public:
  enum Kind { Refused, Busy, Gone, Failed };
  static char ID;
  Kind kind;
  std::string message;
  ApplyError(Kind kind, std::string message)
      : kind(kind), message(std::move(message)) {}
  void log(llvm::raw_ostream &os) const override { os << message; }
  std::error_code convertToErrorCode() const override {
    return std::make_error_code(std::errc::operation_not_permitted);
  }
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
};

/// Reverts patch \p id, which must be the newest active one touching each
/// of its functions (stacked patches revert last first).
llvm::Expected<RevertReport> revertPatch(Target &target, uint32_t id,
                                         const ApplyOptions &opts);

} // namespace hotpatch

#endif
