//===- build-driver/driver.cpp - the phases of hp-build -------------------===//
//
// Layout of the cache, one directory per old build (its key):
//
//   KEY/bin/    the compiler wrapper (cc, gcc, clang, c++...) and a toolchain
//               file, first in PATH and named by CC, CXX, CMAKE_TOOLCHAIN_FILE
//   KEY/tree/   where both builds run: the same path, so the same bytes
//   KEY/old/    the old build, moved here once it succeeded; kept for the
//               next fix against the same release
//   KEY/*.log   each phase's output
//
// The new build starts from a copy of the old one with its times kept, so
// make (or ninja) rebuilds only what the fix touched, and every object the
// fix did not touch is the old one, byte for byte.
//
//===----------------------------------------------------------------------===//

#include "build-driver.h"
#include "pairing.h"

#include "llvm/ADT/ScopeExit.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/SHA256.h"
#include "llvm/Support/raw_ostream.h"

#include <chrono>
#include <thread>

extern char **environ;

using namespace llvm;

namespace hotpatch {

char PhaseError::ID;
char DiffRefusedError::ID;

std::vector<std::string> lastLines(StringRef text, size_t lines) {
  if (text.ends_with("\n"))
    text = text.drop_back();
  std::vector<std::string> out;
  while (!text.empty() && out.size() < lines) {
    size_t nl = text.rfind('\n');
    StringRef line = nl == StringRef::npos ? text : text.substr(nl + 1);
    out.push_back(line.rtrim('\r').str());
    text = nl == StringRef::npos ? StringRef() : text.take_front(nl);
  }
  std::reverse(out.begin(), out.end());
  return out;
}

std::string cacheKey(ArrayRef<std::string> parts) {
  SHA256 sha;
  for (const std::string &p : parts) {
    sha.update(p);
    sha.update(StringRef("\0", 1));
  }
  return toHex(sha.final(), /*LowerCase=*/true).substr(0, 16);
}

static std::string shQuote(StringRef s) {
  if (!s.empty() && s.find_first_not_of("abcdefghijklmnopqrstuvwxyz"
                                        "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                        "0123456789_-+=./:,@%") ==
                        StringRef::npos)
    return s.str();
  std::string out = "'";
  for (char c : s)
    out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string wrapperScript(StringRef compiler, StringRef plugin,
                          StringRef tree) {
  // -Qunused-arguments: the plugin on a link, the build-id on a compile.
  // The build-id is a hash of the contents, so two builds of the same
  // bytes get the same one, and a deployed binary can be matched.
  return formatv("#!/bin/sh\n"
                 "# Written by hp-build: this build's compiles go through "
                 "clang 19 with the hotpatch plugin.\n"
                 "[ -n \"$HP_BUILD_COUNT\" ] && printf . >>\"$HP_BUILD_COUNT\"\n"
                 "unset HP_BUILD_WRAPPERS # (the exec below is the compiler's)\n"
                 "exec {0} -fplugin={1} -ffile-prefix-map={2}=. "
                 "-Qunused-arguments -Wl,--build-id=sha1 \"$@\"\n",
                 shQuote(compiler), shQuote(plugin), shQuote(tree))
      .str();
}

std::vector<std::pair<std::string, bool>> compilerNames() {
  std::vector<std::pair<std::string, bool>> names = {
      {"cc", false},  {"gcc", false},  {"clang", false},   {"c89", false},
      {"c99", false}, {"c++", true},   {"g++", true},      {"clang++", true},
      {"clang-19", false}, {"clang++-19", true}};
  // Debian's names with the host triple (what autoconf probes first).
  for (StringRef triple : {"x86_64-linux-gnu", "aarch64-linux-gnu"}) {
    names.push_back({(triple + "-gcc").str(), false});
    names.push_back({(triple + "-g++").str(), true});
    for (StringRef v : {"12", "13", "14"}) {
      names.push_back({(triple + "-gcc-" + v).str(), false});
      names.push_back({(triple + "-g++-" + v).str(), true});
    }
  }
  for (StringRef v : {"12", "13", "14"}) {
    names.push_back({("gcc-" + v).str(), false});
    names.push_back({("g++-" + v).str(), true});
  }
  return names;
}

namespace {

using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::string pathJoin(StringRef a, StringRef b) {
  SmallString<256> p(a);
  sys::path::append(p, b);
  return std::string(p);
}

Error writeFile(StringRef path, StringRef text, bool executable = false) {
  std::error_code ec;
  raw_fd_ostream os(path, ec);
  if (ec)
    return createStringError(ec, "cannot write %s: %s", path.str().c_str(),
                             ec.message().c_str());
  os << text;
  os.close();
  if (executable)
    sys::fs::setPermissions(path, sys::fs::perms(0755));
  return Error::success();
}

Error phaseError(StringRef phase, const Twine &message, StringRef log = "") {
  std::vector<std::string> tail;
  if (!log.empty())
    if (ErrorOr<std::unique_ptr<MemoryBuffer>> buf = MemoryBuffer::getFile(log))
      tail = lastLines((*buf)->getBuffer(), 20);
  return make_error<PhaseError>(phase.str(), message.str(), log.str(),
                                std::move(tail));
}

/// One hp-build run: the options, the cache paths, the report so far.
class Driver {
public:
  Driver(const BuildOptions &opts) : opts(opts) {}
  Expected<BuildReport> run();

private:
  const BuildOptions &opts;
  BuildReport report;
  std::string keyDir, binDir, tree, oldTree, epoch;
  std::string oldCommit, newCommit;
  std::string gitPrefix; // SRC_DIR inside its repository ("" at the top)
  std::string gitTop;    // the repository's top directory
  std::vector<std::string> env; // the builds' environment

  void say(const Twine &line) {
    if (opts.progress)
      opts.progress(line.str());
  }
  bool isGit() const { return !opts.oldRev.empty(); }
  Expected<std::string> capture(StringRef phase, ArrayRef<std::string> argv);
  Expected<int> runLogged(StringRef phase, ArrayRef<std::string> argv,
                          StringRef log, PhaseReport *phaseReport);
  Error prepare();
  Error writeWrapper();
  Error buildOld();
  Error applyFix();
  Error buildNew();
  Error chooseTarget(bool afterNewBuild);
  Error diff();
  bool targetChosen = false;
  Error runBuildCommand(StringRef phase, StringRef logName);
};

/// Runs \p argv to its end and returns its standard output.
Expected<std::string> Driver::capture(StringRef phase,
                                      ArrayRef<std::string> argv) {
  ErrorOr<std::string> prog = sys::findProgramByName(argv[0]);
  if (!prog)
    return phaseError(phase, argv[0] + ": not found in PATH");
  SmallString<128> out, errFile;
  sys::fs::createTemporaryFile("hp-build", "out", out);
  sys::fs::createTemporaryFile("hp-build", "err", errFile);
  std::vector<StringRef> args(argv.begin(), argv.end());
  std::optional<StringRef> redirects[] = {StringRef(""), StringRef(out),
                                          StringRef(errFile)};
  std::string errMsg;
  int rc = sys::ExecuteAndWait(*prog, args, std::nullopt, redirects, 0, 0,
                               &errMsg);
  auto text = [](StringRef path) {
    ErrorOr<std::unique_ptr<MemoryBuffer>> buf = MemoryBuffer::getFile(path);
    return buf ? (*buf)->getBuffer().str() : std::string();
  };
  std::string stdoutText = text(out), stderrText = text(errFile);
  sys::fs::remove(out);
  sys::fs::remove(errFile);
  if (rc != 0) {
    std::vector<std::string> lines = lastLines(stderrText, 1);
    return phaseError(phase, formatv("`{0}` failed: {1}",
                                     join(argv.begin(), argv.end(), " "),
                                     lines.empty() ? errMsg : lines.back()));
  }
  return stdoutText;
}

/// Runs \p argv with the builds' environment, its output into \p log, and
/// says every opts.progressEverySec how far it is. The exit code, or -1
/// when it could not run.
Expected<int> Driver::runLogged(StringRef phase, ArrayRef<std::string> argv,
                                StringRef log, PhaseReport *phaseReport) {
  std::string count = pathJoin(keyDir, (phase + ".count").str());
  for (char &c : count)
    if (c == ' ')
      c = '-';
  sys::fs::remove(count);
  std::vector<std::string> envHere = env;
  envHere.push_back("HP_BUILD_COUNT=" + count);
  std::vector<StringRef> envRefs(envHere.begin(), envHere.end());
  std::vector<StringRef> args(argv.begin(), argv.end());
  std::optional<StringRef> redirects[] = {StringRef(""), log, log};
  std::string errMsg;
  bool failed = false;
  auto start = Clock::now();
  sys::ProcessInfo pi = sys::ExecuteNoWait(argv[0], args, envRefs, redirects,
                                           0, &errMsg, &failed);
  if (failed)
    return phaseError(phase, "cannot run " + argv[0] + ": " + errMsg);
  auto runs = [&] {
    uint64_t size = 0;
    sys::fs::file_size(count, size);
    return unsigned(size);
  };
  auto nextSay = start + std::chrono::seconds(opts.progressEverySec);
  for (;;) {
    sys::ProcessInfo r = sys::Wait(pi, /*SecondsToWait=*/0, &errMsg);
    if (r.Pid != 0) {
      pi = r;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (Clock::now() >= nextSay) {
      say(formatv("{0}: {1} compiler runs, {2} s", phase, runs(),
                  int(secondsSince(start))));
      nextSay += std::chrono::seconds(opts.progressEverySec);
    }
  }
  if (phaseReport) {
    phaseReport->seconds = secondsSince(start);
    phaseReport->compilerRuns = runs();
    phaseReport->log = log.str();
  }
  return pi.ReturnCode;
}

Error Driver::prepare() {
  auto start = Clock::now();
  PhaseReport phase{"prepare"};
  SmallString<256> src(opts.sourceDir);
  if (std::error_code ec = sys::fs::make_absolute(src))
    return phaseError("prepare", opts.sourceDir + ": " + ec.message());
  std::string identity;
  if (isGit()) {
    auto rev = [&](StringRef r) -> Expected<std::string> {
      Expected<std::string> out =
          capture("prepare", {"git", "-C", std::string(src), "rev-parse",
                              "--verify", "--quiet", (r + "^{commit}").str()});
      if (!out) {
        consumeError(out.takeError());
        return phaseError("prepare", formatv("{0}: no revision '{1}' in the "
                                             "git tree",
                                             opts.sourceDir, r));
      }
      return StringRef(*out).trim().str();
    };
    Expected<std::string> o = rev(opts.oldRev);
    if (!o)
      return o.takeError();
    oldCommit = *o;
    if (!opts.newRev.empty()) {
      Expected<std::string> n = rev(opts.newRev);
      if (!n)
        return n.takeError();
      newCommit = *n;
    }
    // SRC_DIR may be a directory of a larger repository: the tree is that
    // directory of the commit, the fix the diff under it.
    Expected<std::string> prefix = capture(
        "prepare", {"git", "-C", std::string(src), "rev-parse", "--show-prefix"});
    if (!prefix)
      return prefix.takeError();
    gitPrefix = StringRef(*prefix).trim().str();
    Expected<std::string> top = capture(
        "prepare", {"git", "-C", std::string(src), "rev-parse", "--show-toplevel"});
    if (!top)
      return top.takeError();
    gitTop = StringRef(*top).trim().str();
    identity = "git " + oldCommit + ":" + gitPrefix;
    if (const char *e = getenv("SOURCE_DATE_EPOCH")) {
      epoch = e;
    } else {
      Expected<std::string> t = capture(
          "prepare", {"git", "-C", std::string(src), "log", "-1",
                      "--format=%ct", oldCommit});
      if (!t)
        return t.takeError();
      epoch = StringRef(*t).trim().str();
    }
  } else {
    Expected<SourceTree> st = hashSourceTree(src);
    if (!st)
      return phaseError("prepare", toString(st.takeError()));
    identity = "tree " + st->hash;
    const char *e = getenv("SOURCE_DATE_EPOCH");
    epoch = e ? std::string(e) : std::to_string(st->newestMtime);
  }
  // What decides the old build's bytes; the plugin by its contents, so a
  // rebuilt plugin builds the release again.
  std::string pluginHash;
  if (ErrorOr<std::unique_ptr<MemoryBuffer>> buf =
          MemoryBuffer::getFile(opts.plugin, false, false))
    pluginHash = toHex(SHA256::hash(arrayRefFromStringRef(
        (*buf)->getBuffer())));
  else
    return phaseError("prepare", opts.plugin + ": " +
                                     buf.getError().message());
  std::vector<std::string> parts = {"hp-build 2", identity, opts.clang,
                                    opts.clangxx, pluginHash, epoch};
  parts.insert(parts.end(), opts.command.begin(), opts.command.end());
  report.key = cacheKey(parts);
  SmallString<256> cache(opts.cacheDir);
  sys::fs::make_absolute(cache);
  keyDir = pathJoin(cache, report.key);
  binDir = pathJoin(keyDir, "bin");
  tree = pathJoin(keyDir, "tree");
  oldTree = pathJoin(keyDir, "old");
  report.oldTree = oldTree;
  report.newTree = tree;
  if (std::error_code ec = sys::fs::create_directories(binDir))
    return phaseError("prepare", "cannot create " + binDir + ": " +
                                     ec.message());
  if (Error err = writeWrapper())
    return phaseError("prepare", toString(std::move(err)));

  // The builds' environment: ours first in PATH, named by CC and CXX (make,
  // autotools) and by the toolchain file (CMake 3.21+ reads it from the
  // environment), and fixed dates.
  std::string path = binDir, preload;
  for (char **e = environ; *e; ++e) {
    StringRef var(*e);
    StringRef name = var.split('=').first;
    if (name == "PATH")
      path += ":" + var.split('=').second.str();
    else if (!is_contained({"CC", "CXX", "CMAKE_TOOLCHAIN_FILE",
                            "SOURCE_DATE_EPOCH", "TZ", "HP_BUILD_COUNT",
                            "HP_BUILD_WRAPPERS", "LD_PRELOAD",
                            "CCACHE_DISABLE", "GIT_CEILING_DIRECTORIES"},
                           name))
      env.push_back(var.str());
    else if (name == "LD_PRELOAD")
      preload = var.split('=').second.str();
  }
  env.push_back("PATH=" + path);
  env.push_back("CC=" + pathJoin(binDir, "cc"));
  env.push_back("CXX=" + pathJoin(binDir, "c++"));
  env.push_back("CMAKE_TOOLCHAIN_FILE=" + pathJoin(binDir, "toolchain.cmake"));
  env.push_back("SOURCE_DATE_EPOCH=" + epoch);
  env.push_back("TZ=UTC");
  // ccache runs the compiler it finds (the wrapper, through PATH or the
  // shim) but looks up by the compiler it was named: its cache may hold
  // objects built without the plugin. It only passes through.
  env.push_back("CCACHE_DISABLE=1");
  // A build that asks git about its tree (Redis' mkreleasehdr.sh: the
  // commit, a dirty count) must not find a repository the cache lies in.
  env.push_back("GIT_CEILING_DIRECTORIES=" + keyDir);
  // A compiler named by path reaches the wrapper through the exec shim.
  if (!opts.execShim.empty()) {
    env.push_back("HP_BUILD_WRAPPERS=" + binDir);
    env.push_back("LD_PRELOAD=" + opts.execShim +
                  (preload.empty() ? "" : " " + preload));
  }
  phase.seconds = secondsSince(start);
  report.phases.push_back(phase);
  say(formatv("prepare: {0} {1}, cache {2}", isGit() ? "revision" : "sources",
              isGit() ? oldCommit.substr(0, 12) : opts.sourceDir, keyDir));
  return Error::success();
}

Error Driver::writeWrapper() {
  for (const auto &[name, isCxx] : compilerNames())
    if (Error err = writeFile(pathJoin(binDir, name),
                              wrapperScript(isCxx ? opts.clangxx : opts.clang,
                                            opts.plugin, tree),
                              /*executable=*/true))
      return err;
  return writeFile(
      pathJoin(binDir, "toolchain.cmake"),
      formatv("# Written by hp-build: the compilers of this build.\n"
              "set(CMAKE_C_COMPILER \"{0}\")\n"
              "set(CMAKE_CXX_COMPILER \"{1}\")\n",
              pathJoin(binDir, "cc"), pathJoin(binDir, "c++"))
          .str());
}

Error Driver::runBuildCommand(StringRef phase, StringRef logName) {
  ErrorOr<std::string> sh = sys::findProgramByName("sh");
  if (!sh)
    return phaseError(phase, "sh not found");
  // In the tree's root: one word is a command line, more an argv.
  std::vector<std::string> argv = {*sh, "-c"};
  if (opts.command.size() == 1) {
    argv.push_back("cd -- \"$0\" || exit; eval \"$1\"");
    argv.push_back(tree);
    argv.push_back(opts.command[0]);
  } else {
    argv.push_back("cd -- \"$0\" || exit; exec \"$@\"");
    argv.push_back(tree);
    argv.insert(argv.end(), opts.command.begin(), opts.command.end());
  }
  std::string shown;
  for (const std::string &a : opts.command)
    shown += (shown.empty() ? "" : " ") +
             (opts.command.size() == 1 ? a : shQuote(a));
  std::string log = pathJoin(keyDir, logName);
  say(formatv("{0}: `{1}` in {2}", phase, shown, tree));
  PhaseReport pr{phase.str()};
  Expected<int> rc = runLogged(phase, argv, log, &pr);
  if (!rc)
    return rc.takeError();
  if (*rc != 0)
    return phaseError(phase,
                      formatv("`{0}` {1} {2}; its log is {3}", shown,
                              *rc < 0 ? "crashed or was killed" : "exited",
                              *rc < 0 ? "" : std::to_string(*rc), log),
                      log);
  report.phases.push_back(pr);
  say(formatv("{0}: done, {1} compiler runs, {2:f1} s", phase, pr.compilerRuns,
              pr.seconds));
  return Error::success();
}

Error Driver::buildOld() {
  std::string marker = pathJoin(oldTree, ".hp-build-old");
  if (sys::fs::exists(marker)) {
    PhaseReport pr{"old build"};
    pr.cached = true;
    pr.log = pathJoin(keyDir, "old-build.log");
    report.phases.push_back(pr);
    say(formatv("old build: kept from before, {0}", oldTree));
    return Error::success();
  }
  auto start = Clock::now();
  sys::fs::remove_directories(tree);
  sys::fs::remove_directories(oldTree);
  if (isGit()) {
    std::string tar = pathJoin(keyDir, "old.tar");
    if (Expected<std::string> out =
            capture("old build", {"git", "-C", gitTop, "archive",
                                  "--format=tar", "-o", tar,
                                  gitPrefix.empty() ? oldCommit
                                                    : oldCommit + ":" +
                                                          gitPrefix});
        !out)
      return out.takeError();
    sys::fs::create_directories(tree);
    if (Expected<std::string> out =
            capture("old build", {"tar", "-xf", tar, "-C", tree});
        !out)
      return out.takeError();
    sys::fs::remove(tar);
  } else if (Error err = copyTree(opts.sourceDir, tree, /*skipGit=*/true)) {
    return phaseError("old build", toString(std::move(err)));
  }
  say(formatv("old build: sources in place, {0:f1} s", secondsSince(start)));
  if (Error err = runBuildCommand("old build", "old-build.log"))
    return err;
  if (std::error_code ec = sys::fs::rename(tree, oldTree))
    return phaseError("old build", "cannot keep the old build in " + oldTree +
                                       ": " + ec.message());
  return writeFile(marker, "key " + report.key + "\n");
}

Error Driver::applyFix() {
  auto start = Clock::now();
  sys::fs::remove_directories(tree);
  if (Error err = copyTree(oldTree, tree, /*skipGit=*/false))
    return phaseError("patch", toString(std::move(err)));
  sys::fs::remove(pathJoin(tree, ".hp-build-old"));
  std::string patchFile = opts.patchFile;
  if (isGit()) {
    patchFile = pathJoin(keyDir, "fix.patch");
    Expected<std::string> diff =
        capture("patch", {"git", "-C", opts.sourceDir, "diff", "--no-color",
                          "--no-ext-diff", "--no-renames", "--relative",
                          oldCommit,
                          newCommit});
    if (!diff)
      return diff.takeError();
    if (Error err = writeFile(patchFile, *diff))
      return phaseError("patch", toString(std::move(err)));
  } else {
    SmallString<256> abs(patchFile);
    sys::fs::make_absolute(abs);
    patchFile = std::string(abs);
  }
  if (!sys::fs::exists(patchFile))
    return phaseError("patch", patchFile + ": no such file");
  ErrorOr<std::string> patch = sys::findProgramByName("patch");
  if (!patch)
    return phaseError("patch", "patch not found (Debian package patch)");
  std::string log = pathJoin(keyDir, "patch.log");
  std::vector<std::string> argv = {*patch,
                                   "-p" + std::to_string(opts.patchStrip),
                                   "--batch",
                                   "--forward",
                                   "--no-backup-if-mismatch",
                                   "-d",
                                   tree,
                                   "-i",
                                   patchFile};
  Expected<int> rc = runLogged("patch", argv, log, nullptr);
  if (!rc)
    return rc.takeError();
  if (*rc != 0)
    return phaseError("patch",
                      formatv("{0} does not apply to {1}{2}",
                              isGit() ? "the diff " + opts.oldRev + ".." +
                                            opts.newRev
                                      : opts.patchFile,
                              isGit() ? opts.sourceDir + " at " + opts.oldRev
                                      : opts.sourceDir,
                              *rc == 1 ? " (hunks rejected)" : ""),
                      log);
  PhaseReport pr{"patch"};
  pr.seconds = secondsSince(start);
  pr.log = log;
  report.phases.push_back(pr);
  say(formatv("patch: applied {0}, {1:f1} s",
              isGit() ? opts.oldRev + ".." + opts.newRev : opts.patchFile,
              pr.seconds));
  return Error::success();
}

/// Which binary of the old build the patch is for. With --target, checked
/// right after the old build, before any time goes into the new one.
Error Driver::chooseTarget(bool afterNewBuild) {
  std::vector<std::pair<std::string, std::string>> oldBins =
      findLinkedBinaries(oldTree);
  std::vector<std::pair<std::string, std::string>> newBins;
  if (afterNewBuild)
    newBins = findLinkedBinaries(tree);
  std::string targetId;
  if (!opts.target.empty()) {
    Expected<std::string> id = readBuildId(opts.target);
    if (!id)
      return phaseError("target", opts.target + ": " + toString(id.takeError()));
    targetId = *id;
  }
  Expected<std::string> binary =
      chooseBinary(oldBins, newBins, opts.target, targetId, opts.binary);
  if (!binary)
    return phaseError("target", toString(binary.takeError()));
  report.binary = *binary;
  for (const auto &[path, id] : oldBins)
    if (path == *binary)
      report.buildId = id;
  targetChosen = true;
  if (!opts.target.empty())
    say(formatv("target: {0} is {1} of the old build (build-id {2})",
                opts.target, *binary, targetId));
  return Error::success();
}

Error Driver::diff() {
  auto start = Clock::now();
  if (!targetChosen)
    if (Error err = chooseTarget(/*afterNewBuild=*/true))
      return err;
  const std::string *binary = &report.binary;
  Expected<std::vector<std::pair<std::string, std::string>>> pairs =
      pairDirectories(oldTree, tree);
  if (!pairs)
    return phaseError("diff", toString(pairs.takeError()));
  DiffOptions dopts;
  dopts.pairs = std::move(*pairs);
  // The old build's copy: unstripped, and the same build-id as the deployed
  // one when --target was checked.
  if (!binary->empty())
    dopts.target = pathJoin(oldTree, *binary);
  dopts.acceptChangedInit = opts.acceptChangedInit;
  dopts.includeLineNumberChanges = opts.includeLineNumberChanges;
  say(formatv("diff: {0} object pairs, against {1}", dopts.pairs.size(),
              binary->empty() ? std::string("no binary (the fix changed none)")
                              : *binary + " (build-id " + report.buildId +
                                    ")"));
  Expected<DiffResult> result = diffBuilds(dopts);
  if (!result) {
    std::vector<std::string> lines;
    handleAllErrors(result.takeError(), [&](const ErrorInfoBase &e) {
      lines.push_back(e.message());
    });
    return make_error<DiffRefusedError>(std::move(lines));
  }
  report.diff = std::move(*result);
  PhaseReport pr{"diff"};
  pr.seconds = secondsSince(start);
  report.phases.push_back(pr);
  return Error::success();
}

Expected<BuildReport> Driver::run() {
  if (opts.command.empty())
    return phaseError("prepare", "no build command (after --)");
  if (Error err = prepare())
    return std::move(err);
  // One hp-build at a time per old build: they share its tree.
  std::string lockPath = pathJoin(keyDir, "lock");
  int lockFd;
  if (std::error_code ec = sys::fs::openFileForReadWrite(
          lockPath, lockFd, sys::fs::CD_OpenAlways, sys::fs::OF_None))
    return phaseError("prepare", "cannot open " + lockPath + ": " +
                                     ec.message());
  auto closeLock = make_scope_exit([&] { sys::Process::SafelyCloseFileDescriptor(lockFd); });
  if (sys::fs::tryLockFile(lockFd)) {
    say("prepare: another hp-build uses this old build; waiting");
    if (std::error_code ec = sys::fs::lockFile(lockFd))
      return phaseError("prepare", "cannot lock " + lockPath + ": " +
                                       ec.message());
  }
  if (Error err = buildOld())
    return std::move(err);
  if (opts.patchFile.empty() && opts.newRev.empty())
    return std::move(report);
  if (!opts.target.empty() || !opts.binary.empty())
    if (Error err = chooseTarget(/*afterNewBuild=*/false))
      return std::move(err);
  if (Error err = applyFix())
    return std::move(err);
  if (Error err = runBuildCommand("new build", "new-build.log"))
    return std::move(err);
  if (Error err = diff())
    return std::move(err);
  return std::move(report);
}

} // namespace

Expected<BuildReport> runBuild(const BuildOptions &opts) {
  Driver driver(opts);
  return driver.run();
}

} // namespace hotpatch
