//===- tools/hp-build/main.cpp - a source fix in, a live patch out --------===//
//
// hp-build -C SRC_DIR --patch FIX.patch -o fix.hp -- BUILD-COMMAND...
// hp-build -C GIT_TREE --old REV --new REV -o fix.hp -- BUILD-COMMAND...
// hp-build -C SRC_DIR -- BUILD-COMMAND...      (the old build alone, kept)
//
// Exit codes (docs/hp-build.md): 0 patch written (or the old build kept), 1
// a phase failed or the differ refused (nothing written), 2 bad usage.
//
//===----------------------------------------------------------------------===//

#include "build-driver.h"
#include "patch-signature.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/WithColor.h"
#include "llvm/Support/raw_ostream.h"

#include <chrono>

using namespace llvm;
using namespace hotpatch;

static cl::OptionCategory category("hp-build options");
static cl::opt<std::string> sourceDir("C", cl::desc("the source tree of the running release"),
                                      cl::value_desc("SRC_DIR"), cl::cat(category));
static cl::opt<std::string> patchFile("patch", cl::desc("the fix, a unified diff applied with patch"),
                                      cl::value_desc("FIX.patch"), cl::cat(category));
static cl::opt<unsigned> strip("p", cl::desc("strip N leading path components from the patch's file names (1)"),
                               cl::value_desc("N"), cl::init(1), cl::Prefix, cl::cat(category));
static cl::opt<std::string> oldRev("old", cl::desc("the running release: a revision of the git tree SRC_DIR"),
                                   cl::value_desc("REV"), cl::cat(category));
static cl::opt<std::string> newRev("new", cl::desc("the fixed revision of the git tree SRC_DIR"),
                                   cl::value_desc("REV"), cl::cat(category));
static cl::opt<std::string> output("o", cl::desc("the patch to write"),
                                   cl::value_desc("fix.hp"), cl::cat(category));
static cl::opt<std::string> target(
    "target",
    cl::desc("the deployed binary: its build-id must be the old build's, "
             "or nothing is written"),
    cl::value_desc("BINARY"), cl::cat(category));
static cl::opt<std::string> binary(
    "binary",
    cl::desc("the program to patch, a path in the build tree (default: the "
             "one binary the fix changes)"),
    cl::value_desc("PATH"), cl::cat(category));
static cl::opt<std::string> cacheDir(
    "cache",
    cl::desc("where old builds are kept (default: $XDG_CACHE_HOME/hotpatch/"
             "hp-build or ~/.cache/hotpatch/hp-build)"),
    cl::value_desc("DIR"), cl::cat(category));
static cl::opt<std::string> jsonFile("json", cl::desc("write a summary as JSON to FILE"),
                                     cl::value_desc("FILE"), cl::cat(category));
static cl::list<std::string> acceptInit(
    "accept-changed-init",
    cl::desc("as hp-diff: accept that variable NAME's new initializer never "
             "reaches the running process"),
    cl::value_desc("NAME"), cl::cat(category));
static cl::opt<bool> includeLines(
    "include-line-number-changes",
    cl::desc("as hp-diff: also patch functions whose code differs only in "
             "line numbers"),
    cl::cat(category));
static cl::opt<unsigned> progressEvery(
    "progress-every",
    cl::desc("seconds between two progress lines of a running build (10)"),
    cl::value_desc("N"), cl::init(10), cl::cat(category));
static cl::opt<std::string>
    signKey("sign",
            cl::desc("sign the patch with this Ed25519 private key (PEM), as "
                     "hp-diff --sign does"),
            cl::value_desc("KEY"), cl::cat(category));
static cl::opt<bool> quiet("q", cl::desc("print only warnings and errors"),
                           cl::cat(category));
static cl::list<std::string> command(cl::Positional, cl::desc("-- BUILD-COMMAND..."),
                                     cl::cat(category));

static int usage(const Twine &why) {
  WithColor::error(errs(), "hp-build") << why << " (try --help)\n";
  return 2;
}

static std::string defaultCache() {
  SmallString<256> dir;
  if (std::optional<std::string> xdg = sys::Process::GetEnv("XDG_CACHE_HOME"))
    dir = *xdg;
  else if (!sys::path::home_directory(dir))
    return "/tmp/hotpatch-hp-build";
  else
    sys::path::append(dir, ".cache");
  sys::path::append(dir, "hotpatch", "hp-build");
  return std::string(dir);
}

/// \p file beside this hp-build: <build>/lib/FILE in a build tree,
/// <prefix>/lib/hotpatch/FILE when installed.
static std::string findLib(const char *argv0, StringRef file) {
  std::string exe = sys::fs::getMainExecutable(argv0, (void *)&findLib);
  StringRef prefix = sys::path::parent_path(sys::path::parent_path(exe));
  for (StringRef dir : {"lib/hotpatch", "lib"}) {
    SmallString<256> p(prefix);
    sys::path::append(p, dir, file);
    if (sys::fs::exists(p))
      return std::string(p);
  }
  return "";
}

static json::Array strings(ArrayRef<std::string> v) {
  json::Array a;
  for (const std::string &s : v)
    a.push_back(s);
  return a;
}

static void writeJson(json::Object summary) {
  if (jsonFile.empty())
    return;
  std::error_code ec;
  raw_fd_ostream os(jsonFile, ec);
  if (ec) {
    WithColor::error(errs(), "hp-build")
        << jsonFile << ": " << ec.message() << '\n';
    return;
  }
  os << formatv("{0:2}", json::Value(std::move(summary))) << '\n';
}

/// Says \p err: one line `hp-build: error: PHASE: what`, then the end of
/// the log; the differ's refusals as hp-diff says them.
static int fail(Error err) {
  json::Object summary{{"ok", false}};
  handleAllErrors(
      std::move(err),
      [&](const DiffRefusedError &e) {
        for (const std::string &line : e.lines)
          WithColor::error(errs(), "hp-diff") << line << '\n';
        WithColor::error(errs(), "hp-build") << e.message() << '\n';
        summary["phase"] = "diff";
        summary["error"] = e.message();
        summary["refusals"] = strings(e.lines);
      },
      [&](const PhaseError &e) {
        WithColor::error(errs(), "hp-build") << e.message() << '\n';
        if (!e.logTail.empty()) {
          errs() << "hp-build: the last "
                 << (e.logTail.size() == 1
                         ? std::string("line")
                         : std::to_string(e.logTail.size()) + " lines")
                 << " of " << e.logFile << ":\n";
          for (const std::string &line : e.logTail)
            errs() << "  " << line << '\n';
        }
        summary["phase"] = e.phase;
        summary["error"] = e.message();
        summary["log"] = e.logFile;
        summary["log_tail"] = strings(e.logTail);
      },
      [&](const ErrorInfoBase &e) {
        WithColor::error(errs(), "hp-build") << e.message() << '\n';
        summary["error"] = e.message();
      });
  writeJson(std::move(summary));
  return 1;
}

int main(int argc, char **argv) {
  InitLLVM init(argc, argv);
  cl::HideUnrelatedOptions(category);
  cl::ParseCommandLineOptions(
      argc, argv, "hp-build: build the old and the fixed tree with the "
                  "plugin and make the live patch\n");
  auto start = std::chrono::steady_clock::now();
  if (sourceDir.empty())
    return usage("no source tree: -C SRC_DIR");
  if (command.empty())
    return usage("no build command: -- BUILD-COMMAND...");
  if (!patchFile.empty() && (!oldRev.empty() || !newRev.empty()))
    return usage("give --patch or --old/--new, not both");
  if (!newRev.empty() && oldRev.empty())
    return usage("--new needs --old");
  bool makesPatch = !patchFile.empty() || !newRev.empty();
  if (makesPatch && output.empty())
    return usage("no output file: -o fix.hp");
  if (!makesPatch && !output.empty())
    return usage("-o needs a fix: --patch FILE or --old REV --new REV");

  BuildOptions opts;
  opts.sourceDir = sourceDir;
  opts.patchFile = patchFile;
  opts.patchStrip = strip;
  opts.oldRev = oldRev;
  opts.newRev = newRev;
  opts.command.assign(command.begin(), command.end());
  opts.output = output;
  opts.target = target;
  opts.binary = binary;
  opts.cacheDir = cacheDir.empty() ? defaultCache() : std::string(cacheDir);
  opts.clang = HOTPATCH_CLANG_PATH;
  opts.clangxx = HOTPATCH_CLANGXX_PATH;
  opts.plugin = findLib(argv[0], "hotpatch.so");
  opts.execShim = findLib(argv[0], "hotpatch-exec.so");
  if (opts.plugin.empty())
    return fail(make_error<PhaseError>(
        "prepare", "hotpatch.so not found beside hp-build (lib/hotpatch/ or "
                   "lib/ of its prefix)"));
  opts.progressEverySec = std::max(1u, unsigned(progressEvery));
  opts.acceptChangedInit.assign(acceptInit.begin(), acceptInit.end());
  opts.includeLineNumberChanges = includeLines;
  if (!quiet)
    opts.progress = [](StringRef line) {
      errs() << "hp-build: " << line << '\n';
    };

  // (The key first: a bad one should not cost two builds.)
  std::optional<SigningKey> key;
  if (!signKey.empty()) {
    Expected<SigningKey> k = SigningKey::load(signKey);
    if (!k)
      return fail(make_error<PhaseError>("prepare", toString(k.takeError())));
    key.emplace(std::move(*k));
  }

  Expected<BuildReport> report = runBuild(opts);
  if (!report)
    return fail(report.takeError());

  json::Object summary{{"ok", true},
                       {"key", report->key},
                       {"old_tree", report->oldTree},
                       {"new_tree", report->newTree}};
  json::Array phases;
  for (const PhaseReport &p : report->phases)
    phases.push_back(json::Object{{"name", p.name},
                                  {"seconds", p.seconds},
                                  {"compiler_runs", p.compilerRuns},
                                  {"cached", p.cached},
                                  {"log", p.log}});
  summary["phases"] = std::move(phases);
  double total = std::chrono::duration<double>(
                     std::chrono::steady_clock::now() - start)
                     .count();
  summary["seconds"] = total;

  if (!report->diff) { // the old build alone
    if (!quiet)
      outs() << "hp-build: old build kept in " << report->oldTree << " ("
             << formatv("{0:f1}", total) << " s)\n";
    writeJson(std::move(summary));
    return 0;
  }
  const DiffResult &result = *report->diff;
  for (const std::string &w : result.warnings)
    WithColor::warning(errs(), "hp-diff") << w << '\n';
  Expected<std::vector<uint8_t>> bytes = writePatch(result.patch, key.has_value());
  if (!bytes)
    return fail(make_error<PhaseError>("write", toString(bytes.takeError())));
  if (key)
    if (Error err = key->sign(*bytes))
      return fail(make_error<PhaseError>("write", toString(std::move(err))));
  if (Error err = writeToOutput(output, [&](raw_ostream &os) {
        os.write(reinterpret_cast<const char *>(bytes->data()), bytes->size());
        return Error::success();
      }))
    return fail(make_error<PhaseError>("write", output + ": " +
                                                    toString(std::move(err))));
  if (!quiet) {
    printSummary(outs(), result, output);
    std::string times;
    for (const PhaseReport &p : report->phases)
      if (p.name != "prepare")
        times += formatv("{0}{1} {2:f1} s{3}", times.empty() ? "" : ", ",
                         p.name, p.seconds, p.cached ? " (kept)" : "")
                     .str();
    outs() << "hp-build: wrote " << output << " for "
           << (report->binary.empty() ? std::string("no binary")
                                      : report->binary)
           << " in " << formatv("{0:f1}", total) << " s (" << times << ")\n";
    if (key)
      outs() << "hp-build: signed with key " << keyId(key->publicKey()) << " (ed25519)\n";
  }
  summary["output"] = output;
  summary["binary"] = report->binary;
  summary["target"] = std::string(target);
  summary["build_id"] = report->buildId;
  summary["signed_by"] = key ? json::Value(keyId(key->publicKey())) : json::Value(nullptr);
  summary["replaced"] = strings(result.replaced);
  summary["added"] = strings(result.added);
  summary["new_data"] = strings(result.newData);
  summary["warnings"] = strings(result.warnings);
  summary["line_numbers_only"] = strings(result.lineNumbersOnly);
  writeJson(std::move(summary));
  return 0;
}
