//===- tools/hp-apply/main.cpp - load a patch into a running process ------===//
//
// hp-apply -p PID [--policy strict|entry-only|none] [--dry-run] [--json] fix.hp
// hp-apply -p PID --list [--json]
// hp-apply -p PID --revert ID | --revert-all [--json]
//
// Exit codes (docs/hp-apply.md): 0 done, 1 refused or failed (the target is
// unchanged), 2 bad usage, 3 strict policy gave up (a thread stayed in a
// function being replaced), 4 the process is gone or may not be traced.
//
//===----------------------------------------------------------------------===//

#include "loader.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/WithColor.h"

using namespace llvm;
using namespace hotpatch;

static cl::OptionCategory category("hp-apply options");
static cl::opt<int> pid("p", cl::desc("the process to patch"), cl::value_desc("PID"),
                        cl::cat(category));
static cl::opt<std::string> patchPath(cl::Positional, cl::desc("fix.hp"),
                                      cl::cat(category));
static cl::opt<std::string>
    policy("policy",
           cl::desc("strict (default): stop all threads, refuse while a stack "
                    "holds a replaced function; entry-only: stop nothing for "
                    "the flip; none: stop all, check nothing"),
           cl::init("strict"), cl::cat(category));
static cl::opt<unsigned> retries("retries", cl::desc("strict: tries (default 20)"),
                                 cl::init(20), cl::cat(category));
static cl::opt<bool> dryRun("dry-run", cl::desc("check everything, change nothing"),
                            cl::cat(category));
static cl::opt<bool> list("list", cl::desc("list the patches applied to PID"),
                          cl::cat(category));
static cl::opt<int> revertId("revert", cl::desc("revert patch ID"), cl::init(0),
                             cl::value_desc("ID"), cl::cat(category));
static cl::opt<bool> revertAll("revert-all", cl::desc("revert every patch, last first"),
                               cl::cat(category));
static cl::opt<bool> jsonOut("json", cl::desc("print JSON"), cl::cat(category));

static int fail(Error err) {
  int code = 1;
  handleAllErrors(
      std::move(err),
      [&](const ApplyError &e) {
        code = e.kind == ApplyError::Busy ? 3 : e.kind == ApplyError::Gone ? 4 : 1;
        if (jsonOut)
          outs() << formatv("{0}", json::Value(json::Object{
                                       {"ok", false}, {"error", e.message}}))
                 << "\n";
        WithColor::error(errs(), "hp-apply") << e.message << '\n';
      },
      [&](const ErrorInfoBase &e) {
        if (jsonOut)
          outs() << formatv("{0}", json::Value(json::Object{
                                       {"ok", false}, {"error", e.message()}}))
                 << "\n";
        WithColor::error(errs(), "hp-apply") << e.message() << '\n';
      });
  return code;
}

static std::string micros(uint64_t ns) { return formatv("{0:f1} us", ns / 1000.0).str(); }

int main(int argc, char **argv) {
  InitLLVM init(argc, argv);
  cl::HideUnrelatedOptions(category);
  cl::ParseCommandLineOptions(argc, argv, "hp-apply: patch a running process\n");
  auto usage = [](const Twine &why) {
    WithColor::error(errs(), "hp-apply") << why << " (try --help)\n";
    return 2;
  };
  if (pid <= 0)
    return usage("which process? -p PID");
  int actions = list + (revertId > 0) + revertAll + !patchPath.empty();
  if (actions != 1)
    return usage("give exactly one of: a patch file, --list, --revert ID, --revert-all");
  ApplyOptions opts;
  opts.retries = retries;
  opts.dryRun = dryRun;
  if (policy == "strict")
    opts.policy = Policy::Strict;
  else if (policy == "entry-only")
    opts.policy = Policy::EntryOnly;
  else if (policy == "none")
    opts.policy = Policy::None;
  else
    return usage("--policy is strict, entry-only or none");

  PatchFile patch;
  if (!patchPath.empty()) {
    ErrorOr<std::unique_ptr<MemoryBuffer>> buf = MemoryBuffer::getFile(
        patchPath, /*IsText=*/false, /*RequiresNullTerminator=*/false);
    if (!buf)
      return fail(createStringError(buf.getError(), "%s: %s", patchPath.c_str(),
                                    buf.getError().message().c_str()));
    Expected<PatchFile> read =
        readPatch(arrayRefFromStringRef((*buf)->getBuffer()), patchPath);
    if (!read)
      return fail(read.takeError());
    patch = std::move(*read);
  }

  uint64_t wall0 = monotonicNs();
  Expected<std::unique_ptr<Target>> target = Target::attach(pid);
  if (!target) {
    handleAllErrors(target.takeError(), [&](const ErrorInfoBase &e) {
      WithColor::error(errs(), "hp-apply") << e.message() << '\n';
    });
    return 4;
  }

  if (list) {
    Expected<std::vector<AppliedPatch>> patches = listPatches(**target);
    if (!patches)
      return fail(patches.takeError());
    if (jsonOut) {
      json::Array out;
      for (const AppliedPatch &p : *patches) {
        json::Array fns;
        for (const RecordedFunction &fn : p.functions)
          fns.push_back(fn.name);
        out.push_back(json::Object{{"id", int64_t(p.id)},
                                   {"name", p.name},
                                   {"active", p.active()},
                                   {"committed", p.committed},
                                   {"build_id", p.buildId},
                                   {"functions", std::move(fns)},
                                   {"address", int64_t(p.regionAddr)}});
      }
      outs() << formatv("{0:2}", json::Value(json::Object{
                                     {"ok", true}, {"pid", int64_t(pid)},
                                     {"patches", std::move(out)}}))
             << "\n";
      return 0;
    }
    if (patches->empty())
      outs() << "process " << pid << ": no patches applied\n";
    for (const AppliedPatch &p : *patches) {
      SmallVector<std::string, 4> names;
      for (const RecordedFunction &fn : p.functions)
        names.push_back(fn.name);
      // Active but not committed: an hp-apply died before the commit
      // store; the old code runs; --revert clears it away.
      StringRef state = !p.active() ? "reverted"
                        : p.committed ? "active"
                                      : "interrupted";
      outs() << formatv("{0,3}  {1,-11}  {2}  at {3:x}: {4}\n", p.id, state,
                        p.name, p.regionAddr, join(names, ", "));
    }
    return 0;
  }

  if (revertId > 0 || revertAll) {
    std::vector<uint32_t> ids;
    if (revertAll) {
      Expected<std::vector<AppliedPatch>> patches = listPatches(**target);
      if (!patches)
        return fail(patches.takeError());
      for (auto it = patches->rbegin(); it != patches->rend(); ++it)
        if (it->active())
          ids.push_back(it->id);
    } else {
      ids.push_back(revertId);
    }
    json::Array done;
    for (uint32_t id : ids) {
      Expected<RevertReport> r = revertPatch(**target, id, opts);
      if (!r)
        return fail(r.takeError());
      if (jsonOut)
        done.push_back(json::Object{{"id", int64_t(r->id)},
                                    {"pause_ns", int64_t(r->pauseNs)}});
      else
        outs() << formatv("hp-apply: reverted patch {0} in process {1} ({2}); "
                          "pause {3}\n",
                          r->id, pid.getValue(), join(r->functions, ", "),
                          micros(r->pauseNs));
    }
    if (jsonOut)
      outs() << formatv("{0:2}", json::Value(json::Object{
                                     {"ok", true}, {"reverted", std::move(done)}}))
             << "\n";
    else if (ids.empty())
      outs() << "hp-apply: process " << pid << " has no active patch\n";
    return 0;
  }

  Expected<ApplyReport> r = applyPatch(**target, patch, patchPath, opts);
  if (!r)
    return fail(r.takeError());
  target->reset(); // let go of the target before measuring the wall time
  uint64_t wallNs = monotonicNs() - wall0;
  if (jsonOut) {
    json::Array functions;
    for (const std::string &fn : r->functions)
      functions.push_back(fn);
    outs() << formatv(
                  "{0:2}",
                  json::Value(json::Object{
                      {"ok", true},
                      {"dry_run", r->dryRun},
                      {"pid", int64_t(pid)},
                      {"id", int64_t(r->id)},
                      {"module", r->module},
                      {"patch_address", int64_t(r->patchAddr)},
                      {"functions", std::move(functions)},
                      {"policy", policy.getValue()},
                      {"threads", int64_t(r->threads)},
                      {"threads_stopped", int64_t(r->threadsStopped)},
                      {"pause_ns", int64_t(r->pauseNs)},
                      {"pause_stop_ns", int64_t(r->stopNs)},
                      {"pause_unwind_ns", int64_t(r->unwindNs)},
                      {"place_stop_ns", int64_t(r->placeStopNs)},
                      {"tries", int64_t(r->tries)},
                      {"via_gate", int64_t(r->viaGate)},
                      {"wall_ns", int64_t(wallNs)},
                  }))
           << "\n";
    return 0;
  }
  if (r->dryRun) {
    outs() << formatv("hp-apply: dry run: patch {0} would replace {1} in {2} "
                      "(process {3}); nothing was changed\n",
                      r->id, join(r->functions, ", "), r->module, pid.getValue());
    return 0;
  }
  outs() << formatv("hp-apply: applied patch {0} to process {1}: {2} in {3}\n",
                    r->id, pid.getValue(), join(r->functions, ", "), r->module);
  if (r->threadsStopped == 0)
    outs() << formatv("  flip: no thread stopped ({0} running; entry-only); "
                      "placing the patch borrowed one thread for {1}\n",
                      r->threads, micros(r->placeStopNs));
  else
    outs() << formatv("  pause: {0} for the flip ({1} threads stopped, {2} "
                      "{3}); placing the patch borrowed one thread for {4}\n",
                      micros(r->pauseNs), r->threadsStopped, r->tries,
                      r->tries == 1 ? "try" : "tries", micros(r->placeStopNs));
  if (r->viaGate)
    outs() << formatv("  {0} function(s) still reach the new code through "
                      "their gate (one jump more)\n", r->viaGate);
  outs() << formatv("  wall time: {0:f2} ms\n", wallNs / 1e6);
  return 0;
}
