//===- runtime/unwind-tables.cpp - the patch's frames, made known ---------===//
//
// Why registering is safe while other threads throw: the unwinder links
// the object into its list under its own lock, as it does for any
// registration; a throw on another thread searches the list before or
// after, and either way finds what it needs, because no thread can be in
// the patch's code before the commit, which comes after. Why a killed
// hp-apply leaves nothing half done: the call runs to its end in the
// target whatever happens to us (the injected return path puts the
// thread's registers back itself), and from the moment it may start, the
// region is never unmapped.
//
//===----------------------------------------------------------------------===//

#include "unwind-tables.h"

#include "apply-error.h"
#include "image.h"

#include "llvm/Support/FormatVariadic.h"

#include <unistd.h>

using namespace llvm;

namespace hotpatch {
namespace {

/// The address of the defined patch symbol \p name, or 0.
uint64_t definedAt(const PatchFile &patch, const std::vector<uint64_t> &sectionAddr,
                   StringRef name) {
  for (const PatchSymbol &s : patch.symbols)
    if (s.defined && s.name == name)
      return sectionAddr[unsigned(s.section)] + s.value;
  return 0;
}

/// A test hook: HOTPATCH_TEST_REGISTER_DELAY_US makes hp-apply wait that
/// long once the record says `registering` (before the call) and again
/// after the call (before `registered`), so a test can kill it there.
void registerDelay(const Target &target) {
  static const unsigned us = [] {
    const char *v = getenv("HOTPATCH_TEST_REGISTER_DELAY_US");
    return v ? unsigned(atoi(v)) : 0u;
  }();
  if (us)
    target.sleepServing(us);
}

Error writeUnwindState(Target &target, uint64_t recordAddr, UnwindState state) {
  uint8_t byte = uint8_t(state);
  if (Error err = target.write(recordAddr + RecordLayout::unwindOffset, {&byte, 1}))
    return applyError(ApplyError::Failed, toString(std::move(err)));
  return Error::success();
}

} // namespace

uint32_t unwindTablesOffset(const PatchFile &patch, const PatchLayout &layout) {
  uint64_t at = definedAt(patch, sectionAddresses(layout, 0), ehFrameSymbol);
  return uint32_t(at);
}

Expected<UnwindRegistration>
registerUnwindTables(Target &target, const PatchFile &patch, uint64_t regionAddr,
                     const PatchLayout &layout, SymbolContext symbols,
                     Placement &placement, uint64_t recordAddr, AppliedPatch &record) {
  UnwindRegistration result;
  std::vector<uint64_t> sectionAddr = sectionAddresses(layout, regionAddr);
  uint64_t tables = definedAt(patch, sectionAddr, ehFrameSymbol);
  uint64_t object = definedAt(patch, sectionAddr, unwindObjectSymbol);
  if (!tables || !object)
    return result;
  if (record.unwind == UnwindState::Registered) {
    result.outcome = UnwindOutcome::Kept;
    return result;
  }
  std::optional<FoundSymbol> fn = findInProcess(symbols, "__register_frame_info");
  if (!fn) {
    result.outcome = UnwindOutcome::NoUnwinder;
    return result;
  }
  result.unwinder = fn->module;
  placement.markReachable();
  record.unwind = UnwindState::Registering;
  if (Error err = writeUnwindState(target, recordAddr, record.unwind))
    return std::move(err);
  registerDelay(target);
  // The unwinder takes its lock: if the thread we borrow holds it (stopped
  // in the middle of a throw), the call would wait for ever. A call that
  // waits on a lock for a second is taken back unchanged and tried again
  // after the threads ran on.
  constexpr unsigned tries = 3;
  constexpr uint64_t patienceNs = 1000000000;
  for (unsigned attempt = 1;; ++attempt) {
    Expected<StoppedThreads> borrowed = target.borrowOne();
    if (!borrowed)
      return applyError(ApplyError::Gone, toString(borrowed.takeError()));
    Expected<uint64_t> done = target.call(fn->addr, {tables, object}, patienceNs);
    result.stopNs += borrowed->resume() - borrowed->startNs();
    if (done)
      break;
    // (Stuck on the lock: try again. Anything else: give up.)
    Error err = handleErrors(done.takeError(), [](const InjectedCallStuck &) {});
    if (err)
      return applyError(ApplyError::Failed,
                        formatv("registering the patch's unwind tables with {0}: {1}",
                                fn->module, toString(std::move(err))));
    if (attempt == tries) {
      record.unwind = UnwindState::None; // (the call never ran)
      consumeError(writeUnwindState(target, recordAddr, record.unwind));
      return applyError(ApplyError::Busy,
                        formatv("the unwinder of {0} stayed locked through {1} "
                                "tries of {2} s to register the patch's unwind "
                                "tables; nothing was changed",
                                fn->module, tries, patienceNs / 1000000000));
    }
    target.sleepServing(10000);
  }
  registerDelay(target);
  record.unwind = UnwindState::Registered;
  if (Error err = writeUnwindState(target, recordAddr, record.unwind))
    return std::move(err);
  result.outcome = UnwindOutcome::Registered;
  return result;
}

} // namespace hotpatch
