//===- runtime/loader.cpp - apply a patch: the pipeline's driver ----------===//

#include "loader.h"

#include "arch.h"
#include "area.h"
#include "elf-info.h"
#include "fingerprint-table.h"
#include "entries.h"
#include "flip.h"
#include "image.h"
#include "layout.h"
#include "module.h"
#include "placement.h"
#include "return-gates.h"
#include "stack-check.h"
#include "symbols.h"
#include "tls.h"
#include "unwind.h"
#include "new-tls.h"
#include "unwind-tables.h"


#include "llvm/Support/Endian.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdlib>
#include <ctime>
#include <unistd.h>

using namespace llvm;

namespace hotpatch {

char ApplyError::ID;

namespace {

/// The backend for \p patch, which must be this machine's.
Expected<const Arch &> archFor(const PatchFile &patch) {
  Expected<const Arch &> arch = getArch(patch.eMachine);
  if (!arch)
    return applyError(ApplyError::Refused, toString(arch.takeError()));
  Expected<const Arch &> host = hostArch();
  if (!host)
    return applyError(ApplyError::Refused, toString(host.takeError()));
  if (&*arch != &*host)
    return applyError(ApplyError::Refused,
                      formatv("the patch is for {0}, this machine is not",
                              machineName(patch.eMachine)));
  return *arch;
}

/// What the target is and holds, read before anything stops.
struct TargetView {
  std::vector<Mapping> maps;
  std::vector<Module> modules;
  Module *module = nullptr;          ///< the one the patch is for
  std::vector<AppliedPatch> earlier; ///< records of patches applied before
  std::vector<PatchArea> areas;      ///< every module's reserved patch area
  const PatchArea *area = nullptr;   ///< the patched module's, if it has one
};

Error readTarget(Target &target, const PatchFile &patch, TargetView &view) {
  Expected<std::vector<Mapping>> maps = target.mappings();
  if (!maps)
    return applyError(ApplyError::Gone, toString(maps.takeError()));
  view.maps = std::move(*maps);
  view.modules = groupModules(target, view.maps);
  view.module = findPatchedModule(view.modules, view.maps, patch);
  if (!view.module)
    return applyError(
        ApplyError::Refused,
        patch.buildId.empty()
            ? formatv("process {0} has no module defining the patched "
                      "functions; nothing was changed", target.pid()).str()
            : formatv("process {0} has no module with build-id {1} ({2}); "
                      "the patch is for another build; nothing was changed",
                      target.pid(), patch.buildId, patch.targetName).str());
  for (Module &m : view.modules)
    if (std::optional<PatchArea> a = findArea(target, m, view.maps))
      view.areas.push_back(std::move(*a));
  for (const PatchArea &a : view.areas)
    if (a.module == view.module->path)
      view.area = &a;
  Expected<std::vector<AppliedPatch>> earlier =
      readRecords(target, view.maps, areaDataRanges(view.areas));
  if (!earlier)
    return earlier.takeError();
  view.earlier = std::move(*earlier);
  return Error::success();
}

/// The record this apply leaves: its id follows every earlier one's.
AppliedPatch newRecord(const PatchFile &patch, StringRef patchName,
                       const TargetView &view, const std::vector<FunctionFlip> &flips) {
  AppliedPatch r;
  r.id = 1;
  for (const AppliedPatch &p : view.earlier)
    r.id = std::max(r.id, p.id + 1);
  r.state = RecordState::Preparing;
  r.name = sys::path::filename(patchName).str();
  r.buildId = patch.buildId;
  r.eMachine = patch.eMachine;
  r.patchDigest = uint32_t(patch.checksum);
  r.moduleBase = view.module->base;
  timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  r.appliedAtNs = uint64_t(now.tv_sec) * 1000000000ull + now.tv_nsec;
  for (const FunctionFlip &f : flips)
    r.functions.push_back({f.name, f.entryAddr, 0, f.site, f.before});
  return r;
}

/// The newest active record of this very patch, or null.
const AppliedPatch *samePatch(const std::vector<AppliedPatch> &earlier,
                              const PatchFile &patch) {
  const AppliedPatch *found = nullptr;
  for (const AppliedPatch &p : earlier)
    if (p.active() && p.patchDigest && p.patchDigest == uint32_t(patch.checksum))
      found = &p;
  return found;
}

/// The region of a reverted apply of this very patch that an apply can
/// take again instead of mapping another: same module base, same
/// functions, still mapped. Null when there is none.
const AppliedPatch *reusableRegion(const TargetView &view, const PatchFile &patch,
                                   const std::vector<FunctionFlip> &flips) {
  const AppliedPatch *found = nullptr;
  for (const AppliedPatch &p : view.earlier) {
    // (Tables an hp-apply may have died registering: not known for sure
    // whether the unwinder has them, so never registered again.)
    if (p.active() || !p.patchDigest || p.patchDigest != uint32_t(patch.checksum) ||
        p.moduleBase != view.module->base || p.functions.size() != flips.size() ||
        !p.gatesOffset || p.unwind == UnwindState::Registering)
      continue;
    bool same = true;
    for (size_t i = 0; i < flips.size(); ++i)
      same &= p.functions[i].entryAddr == flips[i].entryAddr;
    bool mapped = p.inArea || llvm::any_of(view.maps, [&](const Mapping &m) {
      return m.start == p.regionAddr && m.exec;
    });
    if (same && mapped)
      found = &p; // the newest
  }
  return found;
}

/// Writes \p bytes at \p addr and reads them back.
Error writeImage(Target &target, uint64_t addr, const std::vector<uint8_t> &image) {
  if (Error err = target.write(addr, image))
    return applyError(ApplyError::Failed, toString(std::move(err)));
  std::vector<uint8_t> check(image.size());
  if (Error err = target.read(addr, check); err || check != image) {
    consumeError(std::move(err));
    return applyError(ApplyError::Failed, "the patch read back differently");
  }
  return Error::success();
}

Error writeState(Target &target, uint64_t recordAddr, RecordState state) {
  uint8_t bytes[8];
  support::endian::write64le(bytes, uint64_t(state));
  if (Error err = target.write(recordAddr + RecordLayout::stateOffset, bytes))
    return applyError(ApplyError::Failed, toString(std::move(err)));
  return Error::success();
}

/// Handles a process that has this very patch already: applied (a second
/// run over a fleet, a child forked after its parent was patched): \p done,
/// nothing to change. Interrupted (its hp-apply died, or a child was forked
/// in the middle of its parent's apply: the old code runs): reverted, and
/// \p view read again, so that the patch is applied afresh.
Error settleSamePatch(Target &target, const PatchFile &patch, const ApplyOptions &opts,
                      TargetView &view, ApplyReport &report, bool &done) {
  const AppliedPatch *same = samePatch(view.earlier, patch);
  if (!same)
    return Error::success();
  report.id = same->id;
  if (same->committed || opts.dryRun) { // (a dry run cannot look past it)
    for (const RecordedFunction &f : same->functions)
      report.functions.push_back(f.name);
    (same->committed ? report.alreadyApplied : report.completedInterrupted) = same->id;
    done = true;
    return Error::success();
  }
  report.completedInterrupted = same->id;
  if (Expected<RevertReport> undone = revertPatch(target, same->id, opts); !undone)
    return undone.takeError();
  view = TargetView();
  return readTarget(target, patch, view);
}

/// Where the patch goes and how it is laid out.
struct Region {
  uint64_t addr = 0;
  PatchLayout layout;
  bool reused = false; ///< a reverted apply's region, of this very patch
  bool inArea = false; ///< in the module's reserved patch area (area.h)
  uint64_t recordAddr() const { return layout.addressOf(addr, layout.recordOff); }
  uint64_t commitAddr() const { return recordAddr() + RecordLayout::commitOffset; }
  uint64_t gatesAddr() const { return addr + layout.gatesOff; }
};

/// A test hook: HOTPATCH_TEST_PLACE_AT_LEAST_MIB=N places a new region at
/// least N MiB from its module (still within reach of its data), so that
/// tests reach the far entry jumps a placement next to the module never
/// needs (aarch64: beyond `b`'s 128 MiB).
uint64_t placeAtLeast() {
  static const uint64_t bytes = [] {
    const char *v = getenv("HOTPATCH_TEST_PLACE_AT_LEAST_MIB");
    return v ? strtoull(v, nullptr, 10) << 20 : 0;
  }();
  return bytes;
}

/// The layout, an address within reach of the module, and every symbol
/// resolved against it: what is missing is refused before anything is
/// mapped, and the IFUNC resolvers the placement must run are found.
Expected<Region> planRegion(const PatchFile &patch, const Arch &arch,
                            const TargetView &view, const AppliedPatch &record,
                            const AppliedPatch *reusable, SymbolContext &symbols,
                            const ApplyOptions &opts, ApplyReport &report) {
  const uint64_t page = systemPageSize();
  Region r;
  if (opts.place == Placing::Area && !view.area)
    return applyError(ApplyError::Refused,
                      formatv("{0} has no reserved patch area (linker-script/README.md), "
                              "and --place area requires one; nothing was changed",
                              view.module->path));
  if (view.area && opts.place != Placing::Mmap) {
    PatchLayout l =
        planLayout(patch, encodedRecordSize(record), arch.gateSize(), areaGranule);
    uint64_t codeSize = l.recordOff, dataSize = l.total - l.recordOff;
    AreaFree free;
    if (reusable && reusable->inArea && reusable->regionSize == codeSize &&
        reusable->gatesOffset == l.gatesOff) {
      r.addr = reusable->regionAddr;
      l.rwDelta = reusable->recordAddr - (r.addr + l.recordOff);
      r.reused = r.inArea = true;
    } else if (std::optional<AreaRoom> room =
                   findRoom(*view.area, view.earlier, codeSize, dataSize, free)) {
      r.addr = room->codeAddr;
      l.rwDelta = room->dataAddr - (r.addr + l.recordOff);
      r.inArea = true;
    } else {
      std::string full = formatv(
          "the patch area of {0} is full: the patch needs {1} KiB of code and {2} "
          "KiB of data, the largest free runs are {3} KiB and {4} KiB",
          view.area->module, codeSize / 1024, dataSize / 1024, free.code / 1024,
          free.data / 1024);
      if (opts.place == Placing::Area)
        return applyError(ApplyError::Refused,
                          full + "; nothing was changed (without --place area, "
                                 "hp-apply maps the patch next to the module instead)");
      report.placementNote = full + "; mapped next to the module instead";
    }
    if (r.inArea) {
      r.layout = l;
      Expected<std::vector<uint64_t>> planned =
          resolveSymbols(patch, symbols, sectionAddresses(r.layout, r.addr));
      if (!planned)
        return planned.takeError();
      return r;
    }
  }
  r.layout = planLayout(patch, encodedRecordSize(record), arch.gateSize(), page);
  if (reusable && !reusable->inArea && reusable->regionSize == r.layout.total &&
      reusable->gatesOffset == r.layout.gatesOff) {
    r.addr = reusable->regionAddr;
    r.reused = true;
  } else {
    std::optional<uint64_t> where =
        placeNear(view.maps, view.module->start, view.module->end, r.layout.total,
                  page, arch.userAddressEnd(), /*reach=*/1ull << 30, placeAtLeast());
    if (!where)
      return applyError(ApplyError::Failed,
                        formatv("no free address range within reach of {0}",
                                view.module->path));
    r.addr = *where;
  }
  Expected<std::vector<uint64_t>> planned =
      resolveSymbols(patch, symbols, sectionAddresses(r.layout, r.addr));
  if (!planned)
    return planned.takeError();
  return r;
}

/// A reused region takes only its gates and its record again: its code,
/// read-only data and slots must be what this apply would write (else
/// something it refers to moved: ReuseMismatch), and its data and bss keep
/// their values, as a variable of the program would across a revert and
/// an apply. Nothing but the gates is written where code runs.
class ReuseMismatch : public ErrorInfo<ReuseMismatch> {
public:
  static char ID;
  void log(raw_ostream &os) const override {
    os << "a reverted copy of this patch differs from what it would be now";
  }
  std::error_code convertToErrorCode() const override {
    return std::make_error_code(std::errc::invalid_argument);
  }
};
char ReuseMismatch::ID;

Error rewriteReused(Target &target, const Region &region,
                    const std::vector<uint8_t> &image, uint64_t gatesSize) {
  const PatchLayout &l = region.layout;
  std::vector<uint8_t> now(l.recordOff);
  // (Not the room for libunwind's entry after the slots: once registered,
  // it holds that unwinder's list links.)
  std::vector<uint8_t> slots(l.dynInfoOff - l.gotOff);
  if (Error err = target.read(region.addr, now))
    return applyError(ApplyError::Failed, toString(std::move(err)));
  if (Error err = target.read(l.addressOf(region.addr, l.gotOff), slots))
    return applyError(ApplyError::Failed, toString(std::move(err)));
  ArrayRef<uint8_t> want(image);
  auto differs = [&](uint64_t from, uint64_t to) {
    return !ArrayRef<uint8_t>(now).slice(from, to - from).equals(want.slice(from, to - from));
  };
  uint64_t gatesEnd = l.gatesOff + gatesSize;
  if (differs(0, l.gatesOff) || differs(gatesEnd, l.recordOff) ||
      !ArrayRef<uint8_t>(slots).equals(want.slice(l.gotOff, slots.size())))
    return make_error<ReuseMismatch>();
  if (differs(l.gatesOff, gatesEnd))
    if (Error err = target.write(region.gatesAddr(), want.slice(l.gatesOff, gatesSize)))
      return applyError(ApplyError::Failed, toString(std::move(err)));
  uint64_t recordEnd = l.dataOff; // (the record, then the data)
  return writeImage(target, region.recordAddr(),
                    want.slice(l.recordOff, recordEnd - l.recordOff).vec());
}

/// The placed region filled: symbols resolved (IFUNCs now chosen), the
/// redirects and gates encoded, the record completed, the image written
/// and read back.
Error writeRegion(Target &target, const PatchFile &patch, const Arch &arch,
                  const Region &region, SymbolContext &symbols,
                  std::vector<FunctionFlip> &flips, AppliedPatch &record) {
  Expected<std::vector<uint64_t>> symAddr =
      resolveSymbols(patch, symbols, sectionAddresses(region.layout, region.addr));
  if (!symAddr)
    return symAddr.takeError();
  planRedirects(flips, arch, patch, *symAddr, region.gatesAddr());
  record.regionAddr = region.addr;
  // (In an area the region is its code and read-only data; the record
  // starts the read-write part.)
  record.regionSize = region.inArea ? region.layout.recordOff : region.layout.total;
  record.inArea = region.inArea;
  record.rwSize = region.inArea ? region.layout.total - region.layout.recordOff : 0;
  record.gatesOffset = region.layout.gatesOff;
  record.unwindTablesOffset = unwindTablesOffset(patch, region.layout);
  for (size_t i = 0; i < flips.size(); ++i)
    record.functions[i].newAddr = flips[i].newAddr;
  Expected<std::vector<uint8_t>> image =
      buildImage(patch, arch, region.layout, region.addr, *symAddr, flips,
                 region.commitAddr(), encodeRecord(record), symbols.tls,
                 symbols.newTls);
  if (!image)
    return image.takeError();
  if (region.reused)
    return rewriteReused(target, region, *image, flips.size() * arch.gateSize());
  if (!region.layout.rwDelta)
    return writeImage(target, region.addr, *image);
  // In an area: the code and read-only data, then the rest where it goes.
  const uint64_t split = region.layout.recordOff;
  if (Error err = writeImage(target, region.addr,
                             std::vector<uint8_t>(image->begin(), image->begin() + split)))
    return err;
  return writeImage(target, region.recordAddr(),
                    std::vector<uint8_t>(image->begin() + split, image->end()));
}

/// `entry-only`: the flip with every thread running.
Error flipRunning(FlipPlan &plan, ApplyReport &report) {
  if (Error err = plan.enterAndCommit())
    return applyError(ApplyError::Failed, toString(std::move(err)));
  report.viaGate = plan.goStraight();
  report.pauseNs = 0;
  report.threadsStopped = 0;
  return Error::success();
}

/// A test hook: HOTPATCH_TEST_HOLD_STOP_US keeps the threads stopped that
/// long before the flip, so a test can look at them (and kill hp-apply)
/// while they are.
void holdStopDelay() {
  static const unsigned us = [] {
    const char *v = getenv("HOTPATCH_TEST_HOLD_STOP_US");
    return v ? unsigned(atoi(v)) : 0u;
  }();
  if (us)
    usleep(us);
}

/// HOTPATCH_TRACE_WAIT=1: strict says on stderr, at each try, which threads
/// were busy and whether a return gate was armed on each (to diagnose a
/// wait on a machine where the terminal is not at hand).
bool traceWait() {
  static const bool on = getenv("HOTPATCH_TRACE_WAIT") != nullptr;
  return on;
}

/// Whether strict's tries or time are up, at \p attempt.
bool waitIsOver(const ApplyOptions &opts, unsigned attempt, uint64_t start) {
  return opts.waitNs ? monotonicNs() - start >= opts.waitNs : attempt >= opts.retries;
}

/// One line on what strict waits for.
std::string waitingFor(const StoppedChange &plan, const BusyThread &busy) {
  if (busy.unwalkable)
    return describe(busy);
  return formatv("thread {0} to leave {1} (pc {2:x})", busy.tid, plan.rangeName(busy.lo),
                 busy.pc);
}

/// Strict gave up: the error, naming the thread, the function and the time.
Error gaveUp(const StoppedChange &plan, const BusyThread &busy, unsigned attempt,
             uint64_t start) {
  std::string what =
      busy.unwalkable ? describe(busy)
                      : formatv("thread {0} is inside {1} (pc {2:x})", busy.tid,
                                plan.rangeName(busy.lo), busy.pc).str();
  return applyError(ApplyError::Busy,
                    formatv("gave up after {0} tries in {1:f1} s: {2}; nothing was "
                            "changed (--wait longer, or --policy entry-only: "
                            "running frames finish the code they are in)",
                            attempt, (monotonicNs() - start) / 1e9, what));
}

/// Now and then, a word on what strict is waiting for. \p lastWord: when
/// the last word was said.
void sayWaiting(const StoppedChange &plan, const BusyThread &busy, const ApplyOptions &opts,
                uint64_t start, uint64_t &lastWord) {
  uint64_t now = monotonicNs();
  if (opts.progress && now - lastWord >= 500000000ull) {
    lastWord = now;
    opts.progress(formatv("waiting for {0}, {1:f1} s", waitingFor(plan, busy),
                          (now - start) / 1e9));
  }
}

/// After a strict try found thread \p tid inside replaced code: returns
/// when it may have left. A thread blocked in a system call (a handler
/// waiting on I/O, a timer, a lock) stays inside until that call ends: its
/// /proc entry is read every 200 us, without stopping anything, and the
/// next try comes as soon as the call is over, or at \p untilNs. Any other
/// thread gets the next try \p delayUs later.
void untilItWakes(const Target &target, int tid, unsigned delayUs, uint64_t untilNs) {
  // Just resumed, a blocked thread first goes back into its call (the
  // stop interrupted it): give it the retry delay to show it is blocked.
  auto isBlocked = [](const std::string &s) {
    return !s.empty() && !StringRef(s).starts_with("running");
  };
  uint64_t settled = monotonicNs() + uint64_t(delayUs) * 1000;
  std::string blocked = blockedInSyscall(target.procId(), tid);
  while (!isBlocked(blocked) && !blocked.empty() && monotonicNs() < settled) {
    target.sleepServing(200);
    blocked = blockedInSyscall(target.procId(), tid);
  }
  if (!isBlocked(blocked))
    return; // running (or gone): the next try now
  while (monotonicNs() < untilNs && blockedInSyscall(target.procId(), tid) == blocked)
    target.sleepServing(200);
}

/// Until every armed return gate has fired, or \p untilNs.
void untilGatesFire(const Target &target, const ReturnGates &gates, uint64_t untilNs) {
  while (monotonicNs() < untilNs && !gates.allFired())
    target.sleepServing(100);
}

} // namespace

Error flipStopped(Target &target, StoppedChange &plan, StackCheck *check, ReturnGates *gates,
                  const ApplyOptions &opts, const std::vector<Mapping> &maps,
                  ApplyReport &report) {
  uint64_t waitStart = monotonicNs(), lastWord = waitStart;
  bool gatesTried = false;
  for (unsigned attempt = 1;; ++attempt) {
    report.tries = attempt;
    if (check) {
      // Where the stacks are, as late as possible before the stop (threads
      // come and go between tries).
      Expected<std::vector<Mapping>> fresh = target.mappings();
      if (!fresh)
        consumeError(fresh.takeError());
      check->prepare(fresh ? std::move(*fresh) : maps, target.threads().size());
    }
    Expected<StoppedThreads> stopped = target.holdAll();
    if (!stopped)
      return applyError(ApplyError::Gone, toString(stopped.takeError()));
    uint64_t allStopped = monotonicNs();
    std::optional<BusyThread> busy;
    std::pair<uint64_t, uint64_t> gatePage =
        gates ? gates->codeRange() : std::pair<uint64_t, uint64_t>{};
    auto inGates = [&](int tid) {
      return check && check->pcIn(tid, gatePage.first, gatePage.second);
    };
    if (check) {
      Expected<std::optional<BusyThread>> found = check->run(target);
      report.unwindNs = monotonicNs() - allStopped;
      if (!found) {
        if (gates)
          gates->disarm(inGates);
        return applyError(ApplyError::Failed, toString(found.takeError()));
      }
      busy = *found;
    }
    if (!busy) {
      report.stopNs = allStopped - stopped->startNs();
      holdStopDelay();
      Error err = plan.enterAndCommit();
      if (!err)
        report.viaGate = plan.goStraight();
      if (gates)
        gates->disarm(inGates); // (a thread held in one lets go on resume)
      report.pauseNs = stopped->resume() - stopped->startNs();
      report.threadsStopped = target.threads().size();
      if (err)
        return applyError(ApplyError::Failed, toString(std::move(err)));
      return Error::success();
    }
    bool over = waitIsOver(opts, attempt, waitStart);
    // A gate on each busy thread's way out, while they are stopped (one
    // whose walk is not to be trusted gets none: allGated stays false).
    bool allGated = false, gateable = false;
    if (gates && !over) {
      bool someoneInGates = llvm::any_of(target.threads(), inGates);
      allGated = true;
      for (const BusyThread &b : check->busyThreads()) {
        gateable |= b.returnAddr != 0;
        bool armed = gates->arm(b, someoneInGates);
        allGated &= armed;
        if (traceWait())
          errs() << formatv("hp-apply: try {0}: thread {1} busy at pc {2:x}{3}; returns "
                            "to {4:x} (frame sp {5:x}, caller sp {6:x}); gate {7}\n",
                            attempt, b.tid, b.pc, b.unwalkable ? " (unwalkable)" : "",
                            b.returnAddr, b.frameSp, b.callerSp,
                            armed ? "armed" : "not armed");
      }
      report.returnGates = std::max(report.returnGates, gates->armedCount());
    }
    if (gates && over)
      gates->disarm(inGates);
    stopped->resume();
    if (over)
      return gaveUp(plan, *busy, attempt, waitStart);
    sayWaiting(plan, *busy, opts, waitStart, lastWord);
    uint64_t slice = std::min<uint64_t>(opts.waitNs ? waitStart + opts.waitNs : ~0ull,
                                        monotonicNs() + 500000000ull);
    if (gates && !allGated && gateable && !gatesTried) {
      // The first time a gate would help: find or make the gate page, and
      // try again at once.
      gatesTried = true;
      std::string why;
      Expected<bool> ready = gates->ready(report.placeStopNs, why);
      if (!ready)
        return ready.takeError();
      if (*ready)
        continue;
      if (opts.progress)
        opts.progress("return gates cannot be used (" + why + "); trying again "
                      "now and then");
    }
    if (allGated)
      untilGatesFire(target, *gates, slice);
    else if (!busy->unwalkable && opts.waitNs)
      untilItWakes(target, busy->tid, opts.retryDelayUs, slice);
    else
      target.sleepServing(opts.retryDelayUs);
  }
}

namespace {

/// An apply; \p mayReuse: in the region of a reverted apply of the same
/// patch when there is one.
Expected<ApplyReport> applyOnce(Target &target, const PatchFile &patch,
                                StringRef patchName, const ApplyOptions &opts,
                                bool mayReuse) {
  ApplyReport report;
  report.dryRun = opts.dryRun;
  report.threads = target.threads().size();
  Expected<const Arch &> arch = archFor(patch);
  if (!arch)
    return arch.takeError();

  // 1. Where: the module, the earlier patches, each function's entry.
  TargetView view;
  if (Error err = readTarget(target, patch, view))
    return std::move(err);
  report.module = view.module->path;
  report.moduleBase = view.module->base;
  bool done = false;
  if (Error err = settleSamePatch(target, patch, opts, view, report, done))
    return std::move(err);
  if (done)
    return report;
  Expected<std::vector<FunctionFlip>> flips =
      locateFunctions(target, patch, *view.module, *arch, view.earlier);
  if (!flips)
    return flips.takeError();
  for (const FunctionFlip &f : *flips)
    report.functions.push_back(f.name);
  AppliedPatch record = newRecord(patch, patchName, view, *flips);
  report.id = record.id;

  // 2. The plan: the region's layout and address; every symbol resolvable.
  IfuncChoices ifuncs;
  SymbolContext symbols{*view.module, view.modules, view.maps, ifuncs};
  Expected<std::optional<ModuleTls>> tls = planTls(patch, *arch, *view.module, target);
  if (!tls)
    return tls.takeError();
  symbols.tls = *tls ? &**tls : nullptr;
  const AppliedPatch *reusable = mayReuse ? reusableRegion(view, patch, *flips) : nullptr;
  Expected<Region> region =
      planRegion(patch, *arch, view, record, reusable, symbols, opts, report);
  if (!region)
    return region.takeError();
  report.inArea = region->inArea;
  // Code injected from here on (resolvers, unwind tables, new TLS, a
  // mapped region) runs in an area's room for it when there is one.
  if (!view.areas.empty())
    target.preferCave(view.areas.front().caveAddr());
  if (region->reused)
    record.unwind = reusable->unwind; // (the unwinder still has them)
  report.patchAddr = region->addr;
  std::unique_ptr<Unwinder> unwinder;
  if (opts.policy == Policy::Strict) {
    Expected<std::unique_ptr<Unwinder>> u =
        Unwinder::create(target.procId(), readPatchFrames(target, view.earlier));
    if (!u)
      return applyError(ApplyError::Failed, toString(u.takeError()));
    unwinder = std::move(*u);
  }
  if (opts.dryRun)
    return report;

  // 3. Placed, relocated, written, its unwind tables known to the
  //    target's unwinder: nothing a thread runs has changed yet.
  Expected<std::unique_ptr<Placement>> placement =
      region->inArea
          ? Placement::inArea(target, *arch, region->addr, region->layout, ifuncs,
                              report.placeStopNs, /*adopting=*/region->reused)
          : (region->reused ? Placement::adopt : Placement::create)(
                target, *arch, region->addr, region->layout, ifuncs, unwinder.get(),
                report.placeStopNs);
  if (!placement)
    return placement.takeError();
  // (New thread-local variables initialised with addresses need them now.)
  std::vector<uint64_t> tlsSymAddr;
  if (!patch.relocs[unsigned(PatchSection::Tls)].empty()) {
    Expected<std::vector<uint64_t>> addrs = resolveSymbols(
        patch, symbols, sectionAddresses(region->layout, region->addr));
    if (!addrs)
      return addrs.takeError();
    tlsSymAddr = std::move(*addrs);
  }
  Expected<std::optional<ModuleTls>> newTls = loadNewTls(
      target, *arch, patch, symbols, tlsSymAddr, symbols.tls, report.placeStopNs);
  if (!newTls)
    return newTls.takeError();
  symbols.newTls = *newTls ? &**newTls : nullptr;
  if (Error err = writeRegion(target, patch, *arch, *region, symbols, *flips, record))
    return std::move(err);
  Expected<UnwindRegistration> unwind =
      registerUnwindTables(target, *arch, patch, region->addr, region->layout, symbols,
                           **placement, region->recordAddr(), record);
  if (!unwind)
    return unwind.takeError();
  report.unwindTables = unwind->outcome;
  report.unwinder = unwind->unwinder;
  report.placeStopNs += unwind->stopNs;

  // 4. The flip (flip.h). The record says active before anything leads
  //    into the region: if hp-apply dies from here on, --list shows the
  //    patch (uncommitted: the old code runs) and --revert takes every
  //    redirect away.
  FlipPlan plan(target, *arch, **placement, *flips, region->commitAddr(),
                /*whileStopped=*/opts.policy != Policy::EntryOnly);
  if (Error err = writeState(target, region->recordAddr(), RecordState::Active))
    return std::move(err);
  if (Error err = plan.toGates())
    return applyError(ApplyError::Failed, toString(std::move(err)));
  std::optional<StackCheck> check;
  std::optional<ReturnGates> gates;
  if (unwinder) {
    check.emplace(*unwinder, plan.busyRanges(region->gatesAddr(),
                                             region->gatesAddr() +
                                                 flips->size() * arch->gateSize()));
    if (opts.waitNs && opts.returnGates) {
      gates.emplace(target, *arch, symbols);
      check->setPassing([&](int tid, const UnwindRegisters &regs) {
        return gates->passing(tid, regs);
      });
    }
  }
  Error flipped = opts.policy == Policy::EntryOnly
                      ? flipRunning(plan, report)
                      : flipStopped(target, plan, check ? &*check : nullptr,
                                    gates ? &*gates : nullptr, opts, view.maps, report);
  if (flipped)
    return std::move(flipped);
  (*placement)->keep();
  return report;
}

} // namespace

Expected<std::vector<AppliedPatch>> listPatches(Target &target) {
  Expected<std::vector<Mapping>> maps = target.mappings();
  if (!maps)
    return maps.takeError();
  return readRecords(target, *maps, areaDataRanges(findAreas(target, *maps)));
}

Expected<ApplyReport> applyPatch(Target &target, const PatchFile &patch,
                                 StringRef patchName, const ApplyOptions &opts) {
  Expected<ApplyReport> report = applyOnce(target, patch, patchName, opts, true);
  if (report)
    return report;
  // (Nothing was written: the next try maps a region of its own.)
  Error err = handleErrors(report.takeError(), [](const ReuseMismatch &) {});
  if (err)
    return std::move(err);
  return applyOnce(target, patch, patchName, opts, false);
}

} // namespace hotpatch
