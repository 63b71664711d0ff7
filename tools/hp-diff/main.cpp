//===- tools/hp-diff/main.cpp - make a live patch from two builds ---------===//
//
// hp-diff [options] OLD.o NEW.o [OLD.o NEW.o...] -o fix.hp
// hp-diff [options] --old-dir DIR --new-dir DIR -o fix.hp
// hp-diff [options] OLD-BINARY NEW-BINARY -o fix.hp   (linked --emit-relocs)
//
// Exit codes (docs/hp-diff.md): 0 patch written, 1 refused or unreadable
// input (nothing written), 2 bad usage.
//
//===----------------------------------------------------------------------===//

#include "differ.h"
#include "objects.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/WithColor.h"
#include "llvm/Support/raw_ostream.h"

using namespace llvm;
using namespace hotpatch;

static cl::OptionCategory category("hp-diff options");
static cl::list<std::string> inputs(cl::Positional, cl::desc("OLD.o NEW.o... | OLD-BINARY NEW-BINARY"),
                                    cl::cat(category));
static cl::opt<std::string> output("o", cl::desc("the patch to write"),
                                   cl::value_desc("fix.hp"), cl::cat(category));
static cl::opt<std::string> oldDir("old-dir", cl::desc("the old build tree"),
                                   cl::value_desc("DIR"), cl::cat(category));
static cl::opt<std::string> newDir("new-dir", cl::desc("the new build tree"),
                                   cl::value_desc("DIR"), cl::cat(category));
static cl::opt<std::string>
    target("target",
           cl::desc("the linked original: resolve symbols to offsets in it "
                    "and record its build-id"),
           cl::value_desc("BINARY"), cl::cat(category));
static cl::list<std::string> acceptInit(
    "accept-changed-init",
    cl::desc("accept that variable NAME's new initializer never reaches the "
             "running process, which keeps its value (recorded in the patch)"),
    cl::value_desc("NAME"), cl::cat(category));
static cl::opt<bool> includeLines(
    "include-line-number-changes",
    cl::desc("also patch functions whose code differs only in line numbers "
             "(__LINE__ in assert() and logging macros on moved lines)"),
    cl::cat(category));
static cl::opt<bool> quiet("q", cl::desc("print only warnings and errors"),
                           cl::cat(category));

/// A linked executable or shared library (not an object); unreadable
/// files are left for the differ to report.
static bool isBinary(StringRef path) {
  Expected<bool> linked = isLinkedBinary(path);
  if (!linked) {
    consumeError(linked.takeError());
    return false;
  }
  return *linked;
}

static int usage(const Twine &why) {
  WithColor::error(errs(), "hp-diff") << why << " (try --help)\n";
  return 2;
}

int main(int argc, char **argv) {
  InitLLVM init(argc, argv);
  cl::HideUnrelatedOptions(category);
  cl::ParseCommandLineOptions(argc, argv,
                              "hp-diff: make a live patch from two builds\n");
  DiffOptions opts;
  if (output.empty())
    return usage("no output file: -o fix.hp");
  if (oldDir.empty() != newDir.empty())
    return usage("--old-dir and --new-dir go together");
  if (!oldDir.empty()) {
    if (!inputs.empty())
      return usage("give object pairs or --old-dir/--new-dir, not both");
    auto pairs = pairDirectories(oldDir, newDir);
    if (!pairs) {
      WithColor::error(errs(), "hp-diff") << toString(pairs.takeError()) << '\n';
      return 1;
    }
    opts.pairs = std::move(*pairs);
  } else if (inputs.size() == 2 && isBinary(inputs[0]) && isBinary(inputs[1])) {
    opts.oldBinary = inputs[0];
    opts.newBinary = inputs[1];
  } else {
    // A binary among objects is a mix-up, unless another input is not
    // ELF at all: that one is said first (by the differ).
    bool allElf = llvm::all_of(inputs, [](const std::string &in) {
      auto buf = MemoryBuffer::getFileSlice(in, 4, 0, false);
      return buf && (*buf)->getBuffer() == "\x7f" "ELF";
    });
    for (const std::string &in : inputs)
      if (allElf && isBinary(in))
        return usage(in + " is a linked binary: give two binaries (OLD NEW), "
                          "or object pairs, not a mix");
    if (inputs.empty() || inputs.size() % 2)
      return usage("objects come in pairs: OLD.o NEW.o [OLD.o NEW.o...]");
    for (size_t i = 0; i < inputs.size(); i += 2)
      opts.pairs.emplace_back(inputs[i], inputs[i + 1]);
  }
  opts.target = target;
  opts.acceptChangedInit.assign(acceptInit.begin(), acceptInit.end());
  opts.includeLineNumberChanges = includeLines;

  Expected<DiffResult> result = diffBuilds(opts);
  if (!result) {
    handleAllErrors(result.takeError(), [](const ErrorInfoBase &e) {
      WithColor::error(errs(), "hp-diff") << e.message() << '\n';
    });
    return 1;
  }
  for (const std::string &w : result->warnings)
    WithColor::warning(errs(), "hp-diff") << w << '\n';

  Expected<std::vector<uint8_t>> bytes = writePatch(result->patch);
  if (!bytes) {
    WithColor::error(errs(), "hp-diff") << toString(bytes.takeError()) << '\n';
    return 1;
  }
  // Write beside the destination and rename: a reader never sees half a file.
  std::string temp = output + ".tmp";
  {
    std::error_code ec;
    raw_fd_ostream os(temp, ec);
    if (ec) {
      WithColor::error(errs(), "hp-diff") << temp << ": " << ec.message() << '\n';
      return 1;
    }
    os.write(reinterpret_cast<const char *>(bytes->data()), bytes->size());
    os.close();
    if (os.has_error()) {
      WithColor::error(errs(), "hp-diff") << temp << ": write failed\n";
      sys::fs::remove(temp);
      return 1;
    }
  }
  if (std::error_code ec = sys::fs::rename(temp, output)) {
    WithColor::error(errs(), "hp-diff") << output << ": " << ec.message() << '\n';
    sys::fs::remove(temp);
    return 1;
  }
  if (quiet)
    return 0;
  const PatchFile &p = result->patch;
  auto list = [](const std::vector<std::string> &names) {
    return names.empty() ? std::string() : " (" + join(names, ", ") + ")";
  };
  auto sayLineNumbersOnly = [&] {
    if (!result->lineNumbersOnly.empty())
      outs() << "hp-diff: left out, line numbers only"
             << list(result->lineNumbersOnly)
             << "; --include-line-number-changes patches them too\n";
  };
  if (p.functions.empty() && result->added.empty() && result->newData.empty()) {
    outs() << "hp-diff: nothing to patch: the builds have the same code; wrote "
              "an empty patch to " << output << "\n";
    sayLineNumbersOnly();
    return 0;
  }
  size_t moduleRefs = 0, libraryRefs = 0;
  for (const PatchSymbol &s : p.symbols)
    if (!s.defined)
      ++(s.refInModule ? moduleRefs : libraryRefs);
  outs() << "hp-diff: wrote " << output << ": " << p.functions.size()
         << " replaced" << list(result->replaced) << ", " << result->added.size()
         << " new" << list(result->added) << ", " << result->newData.size()
         << " new or changed data" << list(result->newData) << "; "
         << moduleRefs << " references to the running module, " << libraryRefs
         << " to other libraries"
         << (p.buildId.empty() ? "" : "; target build-id " + p.buildId) << "\n";
  for (const auto &[name, why] : result->reasons)
    if (!why.empty())
      outs() << "  " << name << ": " << why << "\n";
  sayLineNumbersOnly();
  return 0;
}
