//===- tools/hp-apply/main.cpp - load a patch into running processes ------===//
//
// hp-apply WHO [--policy strict|entry-only|none] [--place auto|area|mmap]
//              [--dry-run] [--json] fix.hp
// hp-apply WHO --list [--json]
// hp-apply WHO --revert ID | --revert-all [--json]
//   WHO: -p PID[,PID...] (repeatable) | --exe PATH | --tree PID
//
// Exit codes (docs/hp-apply.md): one process: 0 done, 1 refused or failed
// (the target is unchanged), 2 bad usage, 3 strict policy gave up (a thread
// stayed in a function being replaced), 4 the process is gone or may not
// be traced. Several: 0 all done, 5 some, 6 none.
//
//===----------------------------------------------------------------------===//

#include "loader.h"
#include "patch-frames.h"
#include "processes.h"
#if HOTPATCH_HAVE_SIGNATURES
#include "signature-policy.h"
#else
namespace hotpatch {
struct SignaturePolicy {
  bool required = false;
  std::string requiredBy, trustedKeysDir, keysFrom;
};
inline constexpr const char *defaultPolicyPath = "/etc/hotpatch/policy";
} // namespace hotpatch
#endif

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/WithColor.h"

#include <optional>
#include <set>
#include <unistd.h>

using namespace llvm;
using namespace hotpatch;

static cl::OptionCategory category("hp-apply options");
static cl::list<int> pids("p", cl::desc("the process to patch (repeat, or PID,PID,...)"),
                          cl::value_desc("PID"), cl::CommaSeparated, cl::cat(category));
static cl::opt<std::string>
    exePath("exe", cl::desc("every process running this program (same build-id)"),
            cl::value_desc("PATH"), cl::cat(category));
static cl::opt<int> treeRoot("tree", cl::desc("a process and all its descendants"),
                             cl::value_desc("PID"), cl::init(0), cl::cat(category));
static cl::opt<std::string> patchPath(cl::Positional, cl::desc("fix.hp"),
                                      cl::cat(category));
static cl::opt<std::string>
    policy("policy",
           cl::desc("strict (default): stop all threads, refuse while a stack "
                    "holds a replaced function; entry-only: stop nothing for "
                    "the flip; none: stop all, check nothing"),
           cl::init("strict"), cl::cat(category));
static cl::opt<std::string>
    waitFor("wait",
            cl::desc("strict: how long to keep trying while a thread is inside "
                     "a replaced function (default 2s; ms, s)"),
            cl::value_desc("DURATION"), cl::init("2s"), cl::cat(category));
static cl::opt<bool> noReturnGates(
    "no-return-gates",
    cl::desc("strict: only try again now and then; never divert a waiting "
             "thread's return through a gate"),
    cl::cat(category));
static cl::opt<unsigned> retries("retries",
                                 cl::desc("strict: try this many times instead"),
                                 cl::init(20), cl::cat(category));
static cl::opt<std::string>
    place("place",
          cl::desc("auto (default): in the module's reserved patch area when it "
                   "has one with room, else mapped next to it; area: there or "
                   "refuse; mmap: mapped even with an area"),
          cl::init("auto"), cl::cat(category));
static cl::opt<bool> dryRun("dry-run", cl::desc("check everything, change nothing"),
                            cl::cat(category));
static cl::opt<bool> list("list", cl::desc("list the patches applied to PID"),
                          cl::cat(category));
static cl::opt<std::string>
    symbolFiles("symbol-files",
                cl::desc("with --list: write each patch's unwind tables and "
                         "function names into DIR, as files a debugger loads"),
                cl::value_desc("DIR"), cl::cat(category));
static cl::opt<int> revertId("revert", cl::desc("revert patch ID"), cl::init(0),
                             cl::value_desc("ID"), cl::cat(category));
static cl::opt<bool> revertAll("revert-all", cl::desc("revert every patch, last first"),
                               cl::cat(category));
static cl::opt<bool> jsonOut("json", cl::desc("print JSON"), cl::cat(category));
static cl::opt<bool> requireSignature(
    "require-signature",
    cl::desc("refuse a patch not signed by a trusted key (see --trusted-keys; "
             "the host's policy file may require it for every hp-apply)"),
    cl::cat(category));
static cl::opt<std::string>
    trustedKeys("trusted-keys",
                cl::desc("the Ed25519 public keys (*.pem) whose signatures are "
                         "trusted"),
                cl::value_desc("DIR"), cl::cat(category));

namespace {

/// What happened to one process: its exit code (as if it were alone) and
/// its JSON object. Its lines for people are printed as they come.
struct Outcome {
  int code = 0;
  json::Object json;
};

std::string micros(uint64_t ns) { return formatv("{0:f1} us", ns / 1000.0).str(); }

Outcome failure(Error err) {
  Outcome o;
  o.code = 1;
  std::string message;
  handleAllErrors(
      std::move(err),
      [&](const ApplyError &e) {
        o.code = e.kind == ApplyError::Busy ? 3 : e.kind == ApplyError::Gone ? 4 : 1;
        message = e.message;
      },
      [&](const ErrorInfoBase &e) { message = e.message(); });
  WithColor::error(errs(), "hp-apply") << message << '\n';
  o.json = json::Object{{"ok", false}, {"error", message}};
  return o;
}

/// --symbol-files: each patch's tables as a file (runtime/patch-frames.h),
/// and the gdb command that loads it.
Error writeSymbolFiles(Target &target, const std::vector<AppliedPatch> &patches, int pid,
                       json::Array &files) {
  for (const PatchFrames &f : readPatchFrames(target, patches)) {
    Expected<int> fd = patchFramesFile(f);
    if (!fd)
      return fd.takeError();
    std::string path = (symbolFiles + "/hotpatch-" + Twine(pid) + "-" + Twine(f.id) + ".debug").str();
    ErrorOr<std::unique_ptr<MemoryBuffer>> bytes =
        MemoryBuffer::getOpenFile(sys::fs::convertFDToNativeFile(*fd), "memfd",
                                  /*FileSize=*/-1);
    close(*fd);
    if (!bytes)
      return createStringError(bytes.getError(), "reading back the symbol file");
    std::error_code ec;
    raw_fd_ostream file(path, ec);
    if (ec)
      return createStringError(ec, "%s: cannot write", path.c_str());
    file << (*bytes)->getBuffer();
    file.close();
    if (file.has_error())
      return createStringError(file.error(), "%s: cannot write", path.c_str());
    std::string command = formatv("add-symbol-file {0} -o {1:x}", path, f.regionAddr);
    if (!jsonOut)
      outs() << formatv("  patch {0}: {1}\n", f.id, command);
    files.push_back(json::Object{{"id", int64_t(f.id)}, {"path", path}, {"gdb", command}});
  }
  return Error::success();
}

Outcome listIn(Target &target, int pid) {
  Expected<std::vector<AppliedPatch>> patches = listPatches(target);
  if (!patches)
    return failure(patches.takeError());
  json::Array out;
  for (const AppliedPatch &p : *patches) {
    json::Array fns;
    SmallVector<std::string, 4> names;
    for (const RecordedFunction &fn : p.functions) {
      fns.push_back(fn.name);
      names.push_back(fn.name);
    }
    out.push_back(json::Object{{"id", int64_t(p.id)},
                               {"name", p.name},
                               {"active", p.active()},
                               {"committed", p.committed},
                               {"build_id", p.buildId},
                               {"functions", std::move(fns)},
                               {"address", int64_t(p.regionAddr)},
                               {"placement", p.inArea ? "area" : "mmap"}});
    // Active but not committed: an hp-apply died before the commit store;
    // the old code runs; --revert clears it away.
    StringRef state = !p.active() ? "reverted" : p.committed ? "active" : "interrupted";
    if (!jsonOut)
      outs() << formatv("{0,3}  {1,-11}  {2}  at {3:x}: {4}\n", p.id, state, p.name,
                        p.regionAddr, join(names, ", "));
  }
  if (!jsonOut && patches->empty())
    outs() << "process " << pid << ": no patches applied\n";
  json::Array files;
  if (!symbolFiles.empty())
    if (Error err = writeSymbolFiles(target, *patches, pid, files))
      return failure(std::move(err));
  Outcome o;
  o.json = json::Object{{"ok", true}, {"pid", int64_t(pid)}, {"patches", std::move(out)}};
  if (!symbolFiles.empty())
    o.json["symbol_files"] = std::move(files);
  return o;
}

Outcome revertIn(Target &target, int pid, const ApplyOptions &opts) {
  std::vector<uint32_t> ids;
  if (revertAll) {
    Expected<std::vector<AppliedPatch>> patches = listPatches(target);
    if (!patches)
      return failure(patches.takeError());
    for (auto it = patches->rbegin(); it != patches->rend(); ++it)
      if (it->active())
        ids.push_back(it->id);
  } else {
    ids.push_back(revertId);
  }
  json::Array done;
  for (uint32_t id : ids) {
    Expected<RevertReport> r = revertPatch(target, id, opts);
    if (!r)
      return failure(r.takeError());
    done.push_back(json::Object{{"id", int64_t(r->id)},
                                {"pause_ns", int64_t(r->pauseNs)},
                                {"tries", int64_t(r->tries)},
                                {"return_gates", int64_t(r->returnGates)}});
    if (!jsonOut)
      outs() << formatv("hp-apply: reverted patch {0} in process {1} ({2}); pause {3}\n",
                        r->id, pid, join(r->functions, ", "), micros(r->pauseNs));
  }
  if (!jsonOut && ids.empty())
    outs() << "hp-apply: process " << pid << " has no active patch\n";
  Outcome o;
  o.json = json::Object{{"ok", true}, {"pid", int64_t(pid)}, {"reverted", std::move(done)}};
  return o;
}

StringRef unwindName(UnwindOutcome u) {
  switch (u) {
  case UnwindOutcome::NoTables:
    return "none";
  case UnwindOutcome::NoUnwinder:
    return "no-unwinder";
  case UnwindOutcome::Registered:
    return "registered";
  case UnwindOutcome::Kept:
    return "kept";
  }
  return "none";
}

void describe(const ApplyReport &r, int pid, uint64_t wallNs) {
  if (r.alreadyApplied) {
    outs() << formatv("hp-apply: process {0} already runs this patch (patch {1}: "
                      "{2}); nothing was changed\n",
                      pid, r.alreadyApplied, join(r.functions, ", "));
    return;
  }
  if (r.dryRun) {
    outs() << formatv("hp-apply: dry run: patch {0} would replace {1} in {2} "
                      "(process {3}){4}; nothing was changed\n",
                      r.id, join(r.functions, ", "), r.module, pid,
                      r.completedInterrupted
                          ? formatv(", after reverting its interrupted apply {0}",
                                    r.completedInterrupted).str()
                          : "");
    return;
  }
  if (r.completedInterrupted)
    outs() << formatv("hp-apply: process {0}: patch {1}, an interrupted apply of "
                      "this patch, was reverted first\n",
                      pid, r.completedInterrupted);
  outs() << formatv("hp-apply: applied patch {0} to process {1}: {2} in {3}\n", r.id,
                    pid, join(r.functions, ", "), r.module);
  outs() << formatv("  placed {0} at {1:x}\n",
                    r.inArea ? "in the module's reserved patch area"
                             : "in memory mapped next to the module",
                    r.patchAddr);
  if (!r.placementNote.empty())
    outs() << "  " << r.placementNote << "\n";
  std::string borrowed =
      r.placeStopNs ? formatv("placing the patch borrowed one thread for {0}",
                              micros(r.placeStopNs)).str()
                    : std::string("placing the patch stopped no thread");
  if (r.threadsStopped == 0)
    outs() << formatv("  flip: no thread stopped ({0} running; entry-only); {1}\n",
                      r.threads, borrowed);
  else
    outs() << formatv("  pause: {0} for the flip ({1} {2} stopped, {3} "
                      "{4}); {5}\n",
                      micros(r.pauseNs), r.threadsStopped,
                      r.threadsStopped == 1 ? "thread" : "threads", r.tries,
                      r.tries == 1 ? "try" : "tries", borrowed);
  if (r.returnGates)
    outs() << formatv("  waited for {0} {1} to return (return gates)\n", r.returnGates,
                      r.returnGates == 1 ? "frame" : "frames");
  if (r.unwindTables == UnwindOutcome::Registered)
    outs() << formatv("  unwind tables: registered with {0}\n", r.unwinder);
  else if (r.unwindTables == UnwindOutcome::NoUnwinder)
    outs() << "  unwind tables: not registered, no unwinder is loaded (an "
              "unwinder the process loads later will not see the patch's "
              "frames)\n";
  if (r.viaGate)
    outs() << formatv("  {0} function(s) still reach the new code through "
                      "their gate (one jump more)\n", r.viaGate);
  outs() << formatv("  wall time: {0:f2} ms\n", wallNs / 1e6);
}

Outcome applyIn(std::unique_ptr<Target> &target, int pid, const PatchFile &patch,
                const ApplyOptions &opts, uint64_t wall0) {
  Expected<ApplyReport> r = applyPatch(*target, patch, patchPath, opts);
  if (!r)
    return failure(r.takeError());
  target.reset(); // let go of the target before measuring the wall time
  uint64_t wallNs = monotonicNs() - wall0;
  if (!jsonOut)
    describe(*r, pid, wallNs);
  json::Array functions;
  for (const std::string &fn : r->functions)
    functions.push_back(fn);
  Outcome o;
  o.json = json::Object{
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
      {"placement", r->alreadyApplied ? "" : r->inArea ? "area" : "mmap"},
      {"placement_note", r->placementNote},
      {"tries", int64_t(r->tries)},
      {"return_gates", int64_t(r->returnGates)},
      {"via_gate", int64_t(r->viaGate)},
      {"unwind_tables", unwindName(r->unwindTables)},
      {"unwinder", r->unwinder},
      {"already_applied", int64_t(r->alreadyApplied)},
      {"completed_interrupted", int64_t(r->completedInterrupted)},
      {"wall_ns", int64_t(wallNs)},
  };
  return o;
}

/// One process, one transaction: attach, do, detach.
Outcome runOn(int pid, const PatchFile &patch, const ApplyOptions &opts) {
  uint64_t wall0 = monotonicNs();
  Expected<std::unique_ptr<Target>> target = Target::attach(pid);
  if (!target) {
    Outcome o = failure(target.takeError());
    o.code = 4;
    return o;
  }
  if (list)
    return listIn(**target, pid);
  if (revertId > 0 || revertAll)
    return revertIn(**target, pid, opts);
  return applyIn(*target, pid, patch, opts, wall0);
}

/// Whether \p pid is gone, or is within \p ms milliseconds.
bool goneWithin(int pid, unsigned ms) {
  for (unsigned waited = 0;; waited += 10) {
    if (processGone(pid))
      return true;
    if (waited >= ms)
      return false;
    usleep(10000);
  }
}

/// The processes --exe or --tree name now.
Expected<std::vector<int>> selected() {
  if (!exePath.empty())
    return processesRunning(exePath);
  return processTree(treeRoot);
}

/// Several processes: each its own transaction, reported as it ends; with
/// --exe and --tree, processes that appear meanwhile (a pre-forking server
/// forks on) are taken too, for a few rounds.
int runOnMany(std::vector<int> initial, const PatchFile &patch, const ApplyOptions &opts) {
  bool follow = !exePath.empty() || treeRoot > 0;
  std::set<int> seen;
  json::Array results;
  unsigned done = 0, failed = 0, gone = 0;
  std::vector<int> round = std::move(initial);
  for (unsigned r = 0; !round.empty(); ++r) {
    for (int pid : round) {
      seen.insert(pid);
      Outcome o = runOn(pid, patch, opts);
      // One that exited meanwhile (a worker ending its life) needs no patch,
      // whatever the failure it caused. (An exit in progress has lost its
      // memory and threads before it is a zombie: give it a moment.)
      if (o.code && goneWithin(pid, 200)) {
        o.json["gone"] = true;
        ++gone;
      } else if (o.code)
        ++failed;
      else
        ++done;
      o.json.try_emplace("pid", int64_t(pid));
      results.push_back(std::move(o.json));
    }
    round.clear();
    if (!follow || r == 4)
      break;
    Expected<std::vector<int>> now = selected();
    if (!now) {
      consumeError(now.takeError()); // (the root exited: its tree is done)
      break;
    }
    for (int pid : *now)
      if (!seen.count(pid))
        round.push_back(pid);
    if (!round.empty() && !jsonOut)
      outs() << formatv("hp-apply: {0} more process(es) appeared meanwhile\n",
                        round.size());
  }
  unsigned total = done + failed;
  int code = failed == 0 ? 0 : done ? 5 : 6;
  StringRef verb = list ? "listed" : revertId > 0 || revertAll ? "reverted in" : "patched";
  if (jsonOut)
    outs() << formatv("{0:2}", json::Value(json::Object{
                                   {"ok", code == 0},
                                   {"processes", std::move(results)},
                                   {"done", int64_t(done)},
                                   {"failed", int64_t(failed)},
                                   {"gone", int64_t(gone)}}))
           << "\n";
  else
    outs() << formatv("hp-apply: {0} {1} of {2} process(es){3}\n", verb, done, total,
                      gone ? formatv("; {0} exited meanwhile", gone).str() : "");
  return code;
}

/// "500ms", "3s", "1.5s" in ns; nullopt when it is none of those.
std::optional<uint64_t> parseDuration(StringRef text) {
  double scale = text.consume_back("ms") ? 1e6 : text.consume_back("s") ? 1e9 : 0;
  double value = 0;
  if (!scale || text.empty() || text.getAsDouble(value) || value < 0 || value > 3600)
    return std::nullopt;
  return uint64_t(value * scale);
}

int usage(const Twine &why) {
  WithColor::error(errs(), "hp-apply") << why << " (try --help)\n";
  return 2;
}

/// The host's policy file (HOTPATCH_POLICY names another) and the options.
Expected<SignaturePolicy> signaturePolicy() {
  const char *env = getenv("HOTPATCH_POLICY");
  std::string path = env && *env ? env : defaultPolicyPath;
  SignaturePolicy policy;
#if HOTPATCH_HAVE_SIGNATURES
  Expected<SignaturePolicy> file = readPolicyFile(path);
  if (!file)
    return file.takeError();
  policy = std::move(*file);
#else
  if (sys::fs::exists(path))
    return createStringError(std::errc::not_supported,
                             "%s exists, but this hp-apply was built without "
                             "signature support (OpenSSL); it applies nothing",
                             path.c_str());
#endif
  if (requireSignature && !policy.required) {
    policy.required = true;
    policy.requiredBy = "--require-signature";
  }
  if (!trustedKeys.empty()) {
    if (!policy.trustedKeysDir.empty() && policy.trustedKeysDir != trustedKeys)
      return createStringError(std::errc::invalid_argument,
                               "--trusted-keys %s: %s names the trusted keys "
                               "(%s), which the command line cannot replace",
                               trustedKeys.c_str(), policy.keysFrom.c_str(),
                               policy.trustedKeysDir.c_str());
    policy.trustedKeysDir = trustedKeys;
    policy.keysFrom = "--trusted-keys";
  }
  return policy;
}

/// Whether the patch \p bytes may be applied under \p policy.
Error checkTrust(ArrayRef<uint8_t> bytes, const SignaturePolicy &policy) {
#if HOTPATCH_HAVE_SIGNATURES
  return enforceSignature(bytes, patchPath, policy);
#else
  if (policy.required || !policy.trustedKeysDir.empty())
    return createStringError(std::errc::not_supported,
                             "%s: this hp-apply was built without signature "
                             "support (OpenSSL) and cannot check one",
                             patchPath.c_str());
  return Error::success();
#endif
}

} // namespace

int main(int argc, char **argv) {
  InitLLVM init(argc, argv);
  cl::HideUnrelatedOptions(category);
  cl::ParseCommandLineOptions(argc, argv, "hp-apply: patch running processes\n");
  int who = !pids.empty() + !exePath.empty() + (treeRoot > 0);
  if (who != 1)
    return usage("which processes? one of -p PID, --exe PATH, --tree PID");
  for (int pid : pids)
    if (pid <= 0)
      return usage(formatv("-p {0}: not a process id", pid));
  int actions = list + (revertId > 0) + revertAll + !patchPath.empty();
  if (actions != 1)
    return usage("give exactly one of: a patch file, --list, --revert ID, --revert-all");
  ApplyOptions opts;
  opts.retries = retries;
  opts.returnGates = !noReturnGates;
  if (!retries.getNumOccurrences()) {
    std::optional<uint64_t> ns = parseDuration(waitFor);
    if (!ns)
      return usage("--wait " + waitFor + ": a duration such as 500ms or 3s");
    opts.waitNs = *ns;
  }
  if (sys::Process::StandardErrIsDisplayed())
    opts.progress = [](const std::string &line) {
      errs() << "hp-apply: " << line << "\n";
    };
  opts.dryRun = dryRun;
  if (policy == "strict")
    opts.policy = Policy::Strict;
  else if (policy == "entry-only")
    opts.policy = Policy::EntryOnly;
  else if (policy == "none")
    opts.policy = Policy::None;
  else
    return usage("--policy is strict, entry-only or none");
  // A revert checks stacks only when asked: by default it must always go
  // through, also while a thread runs the patch's code for ever.
  if ((revertId > 0 || revertAll) && !policy.getNumOccurrences())
    opts.policy = Policy::None;
  if (place == "auto")
    opts.place = Placing::Auto;
  else if (place == "area")
    opts.place = Placing::Area;
  else if (place == "mmap")
    opts.place = Placing::Mmap;
  else
    return usage("--place is auto, area or mmap");

  PatchFile patch;
  if (!patchPath.empty()) {
    // (Read only to apply: a policy file gone wrong never blocks --revert.)
    Expected<SignaturePolicy> signatures = signaturePolicy();
    if (!signatures) {
      WithColor::error(errs(), "hp-apply") << toString(signatures.takeError()) << '\n';
      return 2;
    }
    ErrorOr<std::unique_ptr<MemoryBuffer>> buf = MemoryBuffer::getFile(
        patchPath, /*IsText=*/false, /*RequiresNullTerminator=*/false);
    // Its signature before anything else reads it: a tampered patch is
    // told as such, not as a corrupt one.
    Error trusted = buf ? checkTrust(arrayRefFromStringRef((*buf)->getBuffer()),
                                     *signatures)
                        : Error::success();
    Expected<PatchFile> read =
        trusted ? Expected<PatchFile>(std::move(trusted))
        : buf   ? readPatch(arrayRefFromStringRef((*buf)->getBuffer()), patchPath)
                : Expected<PatchFile>(createStringError(buf.getError(), "%s: %s",
                                                        patchPath.c_str(),
                                                        buf.getError().message().c_str()));
    if (!read) {
      Outcome o = failure(read.takeError());
      if (jsonOut)
        outs() << formatv("{0}", json::Value(std::move(o.json))) << "\n";
      return 1;
    }
    patch = std::move(*read);
  }

  if (pids.size() == 1) { // one process: its own output and exit code
    Outcome o = runOn(pids.front(), patch, opts);
    if (jsonOut)
      outs() << formatv(o.code ? "{0}" : "{0:2}", json::Value(std::move(o.json))) << "\n";
    return o.code;
  }
  std::vector<int> initial(pids.begin(), pids.end());
  if (initial.empty()) {
    Expected<std::vector<int>> now = selected();
    if (!now) {
      WithColor::error(errs(), "hp-apply") << toString(now.takeError()) << '\n';
      return 6;
    }
    if (now->empty()) {
      WithColor::error(errs(), "hp-apply")
          << "no process runs " << exePath << "; nothing was changed\n";
      return 6;
    }
    initial = std::move(*now);
  }
  return runOnMany(std::move(initial), patch, opts);
}
