//===- build-driver/build-driver.h - a source fix in, a live patch out -*- C++ -*-===//
//
// What hp-build does (docs/hp-build.md): build the old tree once and keep it,
// build the fixed tree at the same path with the same compiler wrapper, pair
// the two trees' objects, find the binary the patch is for, and make the
// patch with the differ. Each step is a phase with a name; a failure says
// which, with the end of the build log. Nothing here prints: progress goes
// to a callback.
//
//===----------------------------------------------------------------------===//

#ifndef HOTPATCH_BUILD_DRIVER_BUILD_DRIVER_H
#define HOTPATCH_BUILD_DRIVER_BUILD_DRIVER_H

#include "differ.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace hotpatch {

struct BuildOptions {
  std::string sourceDir;  ///< -C: the old source tree, or a git work tree
  std::string patchFile;  ///< --patch: the fix, applied with patch -pN
  unsigned patchStrip = 1; ///< -p
  std::string oldRev, newRev; ///< --old/--new: two revisions of sourceDir
  /// The build command: one word is a shell command line, more are an argv.
  /// Run in the tree's root.
  std::vector<std::string> command;
  std::string output;  ///< -o: the patch; empty: build the old tree only
  std::string target;  ///< --target: the deployed binary (build-id checked)
  std::string binary;  ///< --binary: the program, relative to the tree
  std::string cacheDir; ///< where old builds are kept, one per key
  /// What the wrapper runs: clang-19, clang++-19 and the plugin.
  std::string clang, clangxx, plugin;
  /// hotpatch-exec.so: preloaded into the builds so that a compiler run by
  /// path (/usr/bin/gcc) runs the wrapper. Empty: not preloaded.
  std::string execShim;
  /// Seconds between two progress lines of a running build.
  unsigned progressEverySec = 10;
  std::vector<std::string> acceptChangedInit;
  bool includeLineNumberChanges = false;
  /// Called with each progress line (no "hp-build: " prefix, no newline).
  std::function<void(llvm::StringRef)> progress;
};

/// One phase as it ran.
struct PhaseReport {
  explicit PhaseReport(std::string name = "") : name(std::move(name)) {}
  std::string name; ///< "old build", "patch", "new build", "diff"...
  double seconds = 0;
  unsigned compilerRuns = 0; ///< builds: how many times the wrapper ran
  bool cached = false;       ///< old build: taken from the cache
  std::string log;           ///< builds and patch: the log file
};

struct BuildReport {
  std::string key;     ///< the cache key of the old build
  std::string oldTree; ///< the kept old build
  std::string newTree; ///< the fixed build (the shared build path)
  std::string binary;  ///< relative path of the program patched, or ""
  std::string buildId; ///< its build-id
  std::vector<PhaseReport> phases;
  std::optional<DiffResult> diff; ///< when a patch was made
};

/// A phase failed. \p logTail is the end of its log, when it has one.
class PhaseError : public llvm::ErrorInfo<PhaseError> {
public:
  static char ID;
  std::string phase, what, logFile;
  std::vector<std::string> logTail;
  PhaseError(std::string phase, std::string what, std::string logFile = "",
             std::vector<std::string> logTail = {})
      : phase(std::move(phase)), what(std::move(what)),
        logFile(std::move(logFile)), logTail(std::move(logTail)) {}
  void log(llvm::raw_ostream &os) const override {
    os << phase << ": " << what;
  }
  std::error_code convertToErrorCode() const override {
    return std::make_error_code(std::errc::invalid_argument);
  }
};

/// The differ refused the fix (or could not read a build): its lines as
/// hp-diff says them, each `FILE: reason`.
class DiffRefusedError : public llvm::ErrorInfo<DiffRefusedError> {
public:
  static char ID;
  std::vector<std::string> lines;
  explicit DiffRefusedError(std::vector<std::string> lines)
      : lines(std::move(lines)) {}
  void log(llvm::raw_ostream &os) const override {
    os << "diff: the fix was refused (" << lines.size()
       << (lines.size() == 1 ? " refusal" : " refusals") << "); nothing written";
  }
  std::error_code convertToErrorCode() const override {
    return std::make_error_code(std::errc::not_supported);
  }
};

/// Runs every phase. Fails with a PhaseError naming the phase, or a
/// DiffRefusedError; the patch is then not written. The caller writes the
/// patch (BuildReport::diff) to `output`.
llvm::Expected<BuildReport> runBuild(const BuildOptions &opts);

// The pieces, for the tests.

/// The last \p lines lines of \p text (fewer when it has fewer); a last line
/// without a newline counts.
std::vector<std::string> lastLines(llvm::StringRef text, size_t lines);

/// The cache key of an old build: a hex digest of what decides its bytes
/// (the source identity, the command, the compilers and plugin, the epoch).
std::string cacheKey(llvm::ArrayRef<std::string> parts);

/// The contents of the compiler wrapper for \p compiler: a shell script that
/// counts its run (a byte appended to $HP_BUILD_COUNT, when set) and execs
/// the compiler with the plugin, the file-prefix map of \p tree and a
/// build-id.
std::string wrapperScript(llvm::StringRef compiler, llvm::StringRef plugin,
                          llvm::StringRef tree);

/// The names a build may call a C or C++ compiler by (cc, gcc, clang, c++,
/// g++, clang++, the host-prefixed gcc...), each with true when it is C++.
std::vector<std::pair<std::string, bool>> compilerNames();

struct SourceTree {
  std::string hash;        ///< hex
  int64_t newestMtime = 0; ///< seconds: SOURCE_DATE_EPOCH when none is given
  size_t files = 0;
};
/// A hash of the files under \p dir (paths, modes, contents; .git left
/// out). Fails naming a build output (an object file) found there, since
/// a tree built before would not be rebuilt with the plugin.
llvm::Expected<SourceTree> hashSourceTree(llvm::StringRef dir);

/// Copies \p from to \p to (created), keeping modes, times and symlinks;
/// `.git` is left out when \p skipGit.
llvm::Error copyTree(llvm::StringRef from, llvm::StringRef to, bool skipGit);

/// The linked ELF files (executables, shared libraries) under \p dir,
/// relative paths with their build-ids, sorted by path.
std::vector<std::pair<std::string, std::string>>
findLinkedBinaries(llvm::StringRef dir);

/// Which binary the patch is for, out of the binaries of the old and the
/// new build: the one whose build-id is \p targetBuildId when given (else
/// an error naming the mismatch), else \p named, else the one binary the
/// fix changed. "" when the fix changed none.
llvm::Expected<std::string>
chooseBinary(llvm::ArrayRef<std::pair<std::string, std::string>> oldBins,
             llvm::ArrayRef<std::pair<std::string, std::string>> newBins,
             llvm::StringRef targetPath, llvm::StringRef targetBuildId,
             llvm::StringRef named);

/// The build-id of the linked ELF file \p path ("" when it has none).
llvm::Expected<std::string> readBuildId(llvm::StringRef path);

} // namespace hotpatch

#endif
