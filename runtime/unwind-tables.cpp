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

#include "llvm/DebugInfo/DWARF/DWARFDataExtractor.h"
#include "llvm/DebugInfo/DWARF/DWARFDebugFrame.h"
#include "llvm/Support/Casting.h"
#include "llvm/Support/Endian.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/TargetParser/Triple.h"

#include <unistd.h>

using namespace llvm;

namespace hotpatch {
namespace {

/// The size of the defined patch symbol \p name, or 0.
uint64_t definedSize(const PatchFile &patch, StringRef name) {
  for (const PatchSymbol &s : patch.symbols)
    if (s.defined && s.name == name)
      return s.size;
  return 0;
}

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

/// libunwind's (the nongnu one's) entry for the tables at \p tables: its
/// unw_dyn_info_t in the layout of libunwind 1.5 and later, format
/// UNW_INFO_FORMAT_REMOTE_TABLE, followed by the search table it reads (an
/// .eh_frame_hdr's: pairs of 32-bit offsets from the tables' start, of
/// each FDE's first address and of the FDE, sorted), for the region's
/// dynInfo room at \p at.
Expected<std::vector<uint8_t>> libunwindEntry(const Arch &arch, ArrayRef<uint8_t> tables,
                                              uint64_t tablesAddr, uint64_t at,
                                              uint64_t room) {
  // (Without the terminator: LLVM's parser reads it as one more entry.)
  DWARFDataExtractor data(tables.drop_back(4), /*IsLittleEndian=*/true,
                          /*AddressSize=*/8);
  DWARFDebugFrame frames(Triple(arch.triple()).getArch(), /*IsEH=*/true, tablesAddr);
  if (Error err = frames.parse(data))
    return std::move(err);
  std::vector<std::pair<int32_t, int32_t>> search;
  uint64_t lo = ~0ull, hi = 0;
  for (const dwarf::FrameEntry &e : frames.entries())
    if (const auto *fde = llvm::dyn_cast<dwarf::FDE>(&e)) {
      uint64_t start = fde->getInitialLocation();
      lo = std::min(lo, start);
      hi = std::max(hi, start + fde->getAddressRange());
      search.push_back({int32_t(start - tablesAddr), int32_t(fde->getOffset())});
    }
  if (search.empty())
    return std::vector<uint8_t>{};
  llvm::sort(search);
  std::vector<uint8_t> out(dynInfoHeaderSize + 8 * search.size(), 0);
  if (out.size() > room)
    return createStringError(std::errc::no_buffer_space,
                             "%zu FDEs do not fit the room for them", search.size());
  namespace le = support::endian;
  constexpr int32_t remoteTable = 2; // UNW_INFO_FORMAT_REMOTE_TABLE
  le::write64le(&out[16], lo);       // start_ip
  le::write64le(&out[24], hi);       // end_ip
  le::write32le(&out[40], remoteTable);
  le::write64le(&out[64], tablesAddr); // u.rti.segbase
  le::write64le(&out[72], search.size()); // u.rti.table_len, in words
  le::write64le(&out[80], at + dynInfoHeaderSize); // u.rti.table_data
  for (size_t i = 0; i < search.size(); ++i) {
    le::write32le(&out[dynInfoHeaderSize + 8 * i], uint32_t(search[i].first));
    le::write32le(&out[dynInfoHeaderSize + 8 * i + 4], uint32_t(search[i].second));
  }
  return out;
}

/// One registration call: the entry point and its arguments.
struct Call {
  FoundSymbol fn;
  SmallVector<uint64_t, 2> args;
  bool nongnu = false; ///< _U_dyn_register: its entry must be built first
  bool done = false;
};

/// Every unwinder of the process, with what it takes: libgcc's, which
/// exceptions, cancellation and backtrace() use (its object links into its
/// list: one libgcc takes it); LLVM's libunwind, whose
/// __register_frame_info is a stub and which takes whole tables by
/// __unw_add_dynamic_eh_frame_section; and the nongnu libunwind's list of
/// dynamic code, which it searches first (its entry, at \p dynInfo, is
/// built by prepareLibunwind).
std::vector<Call> unwindersOf(SymbolContext symbols, uint64_t tables, uint64_t object,
                              uint64_t dynInfo) {
  std::vector<FoundSymbol> llvmAdd =
      findEverywhere(symbols, "__unw_add_dynamic_eh_frame_section");
  std::vector<Call> calls;
  for (FoundSymbol &f : findEverywhere(symbols, "__register_frame_info"))
    if (llvm::none_of(llvmAdd, [&](const FoundSymbol &l) { return l.module == f.module; })) {
      calls.push_back({f, {tables, object}});
      break;
    }
  for (const FoundSymbol &f : llvmAdd)
    calls.push_back({f, {tables}});
  if (std::optional<FoundSymbol> unw = findInProcess(symbols, "_U_dyn_register"))
    calls.push_back({*unw, {dynInfo}, /*nongnu=*/true});
  return calls;
}

/// Writes the nongnu libunwind's entry for the tables at \p tables into
/// the region's room at \p dynInfo; false when there is nothing to
/// register (no FDE).
Expected<bool> prepareLibunwind(Target &target, const Arch &arch, const PatchFile &patch,
                                const Call &unw, uint64_t tables, uint64_t dynInfo,
                                uint64_t room) {
  std::vector<uint8_t> tablesBytes(definedSize(patch, ehFrameSymbol));
  if (Error err = target.read(tables, tablesBytes))
    return applyError(ApplyError::Failed, toString(std::move(err)));
  Expected<std::vector<uint8_t>> entry =
      libunwindEntry(arch, tablesBytes, tables, dynInfo, room);
  if (!entry)
    return applyError(ApplyError::Failed,
                      formatv("the patch's unwind tables for {0}: {1}", unw.fn.module,
                              toString(entry.takeError())));
  if (entry->empty())
    return false;
  if (Error err = target.write(dynInfo, *entry))
    return applyError(ApplyError::Failed, toString(std::move(err)));
  return true;
}

/// Makes each of \p calls once on a borrowed thread. An unwinder takes its
/// lock: if the thread we borrow holds it (stopped in the middle of a
/// throw), the call would wait for ever. A call that waits on a lock for a
/// second is taken back unchanged and made again after the threads ran on;
/// one that ran never is (a table registered twice would link the list into
/// a loop). \p stopNs adds how long the thread was held.
Error callEachOnce(Target &target, std::vector<Call> &calls, uint64_t &stopNs) {
  constexpr unsigned tries = 3;
  constexpr uint64_t patienceNs = 1000000000;
  for (unsigned attempt = 1;; ++attempt) {
    Expected<StoppedThreads> borrowed = target.borrowOne();
    if (!borrowed)
      return applyError(ApplyError::Gone, toString(borrowed.takeError()));
    Error err = Error::success();
    for (Call &c : calls) {
      if (c.done)
        continue;
      Expected<uint64_t> called = target.call(c.fn.addr, c.args, patienceNs);
      if (!called) {
        err = handleErrors(called.takeError(), [](const InjectedCallStuck &) {});
        if (err)
          err = applyError(ApplyError::Failed,
                           formatv("registering the patch's unwind tables with {0}: {1}",
                                   c.fn.module, toString(std::move(err))));
        break;
      }
      c.done = true;
    }
    stopNs += borrowed->resume() - borrowed->startNs();
    if (err)
      return err;
    auto stuck = llvm::find_if(calls, [](const Call &c) { return !c.done; });
    if (stuck == calls.end())
      return Error::success();
    if (attempt == tries) {
      bool none = llvm::none_of(calls, [](const Call &c) { return c.done; });
      return applyError(ApplyError::Busy,
                        formatv("the unwinder of {0} stayed locked through {1} "
                                "tries of {2} s to register the patch's unwind "
                                "tables; {3}",
                                stuck->fn.module, tries, patienceNs / 1000000000,
                                none ? "nothing was changed"
                                     : "nothing runs the patch, and its region "
                                       "stays mapped"));
    }
    target.sleepServing(10000);
  }
}

} // namespace

uint32_t unwindTablesOffset(const PatchFile &patch, const PatchLayout &layout) {
  uint64_t at = definedAt(patch, sectionAddresses(layout, 0), ehFrameSymbol);
  return uint32_t(at);
}

Expected<UnwindRegistration>
registerUnwindTables(Target &target, const Arch &arch, const PatchFile &patch,
                     uint64_t regionAddr,
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
  uint64_t dynInfo = layout.addressOf(regionAddr, layout.dynInfoOff);
  std::vector<Call> calls = unwindersOf(symbols, tables, object, dynInfo);
  if (!calls.empty() && calls.back().nongnu) {
    Expected<bool> any = prepareLibunwind(target, arch, patch, calls.back(), tables,
                                          dynInfo, layout.dynInfoSize);
    if (!any)
      return any.takeError();
    if (!*any)
      calls.pop_back();
  }
  if (calls.empty()) {
    result.outcome = UnwindOutcome::NoUnwinder;
    return result;
  }
  for (const Call &c : calls)
    result.unwinder += (result.unwinder.empty() ? "" : ", ") + c.fn.module;
  placement.markReachable();
  record.unwind = UnwindState::Registering;
  if (Error err = writeUnwindState(target, recordAddr, record.unwind))
    return std::move(err);
  registerDelay(target);
  if (Error err = callEachOnce(target, calls, result.stopNs)) {
    if (llvm::none_of(calls, [](const Call &c) { return c.done; })) {
      record.unwind = UnwindState::None; // (no call ran)
      consumeError(writeUnwindState(target, recordAddr, record.unwind));
    }
    return std::move(err);
  }
  registerDelay(target);
  record.unwind = UnwindState::Registered;
  if (Error err = writeUnwindState(target, recordAddr, record.unwind))
    return std::move(err);
  result.outcome = UnwindOutcome::Registered;
  return result;
}

Expected<std::string> registerOwnTables(Target &target, SymbolContext symbols,
                                       uint64_t tables, uint64_t object,
                                       uint64_t &stopNs) {
  std::vector<Call> calls = unwindersOf(symbols, tables, object, /*dynInfo=*/0);
  if (!calls.empty() && calls.back().nongnu)
    calls.pop_back(); // (its entry needs room of its own: not for these)
  std::string unwinders;
  for (const Call &c : calls)
    unwinders += (unwinders.empty() ? "" : ", ") + c.fn.module;
  if (Error err = callEachOnce(target, calls, stopNs))
    return std::move(err);
  return unwinders;
}

} // namespace hotpatch
