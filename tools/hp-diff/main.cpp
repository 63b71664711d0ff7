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
#include "object.h"
#include "pairing.h"
#include "patch-signature.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/WithColor.h"
#include "llvm/Support/raw_ostream.h"

#include <optional>

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
static cl::opt<std::string>
    signKey("sign",
            cl::desc("sign the patch with this Ed25519 private key (PEM, as "
                     "`openssl genpkey -algorithm ed25519` writes it)"),
            cl::value_desc("KEY"), cl::cat(category));

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

/// Every error, one line each, `FILE: what`. The differ fails with an
/// InputError per build input it could not read (then nothing was
/// compared), or else with every refusal of every stage.
static int fail(Error err) {
  handleAllErrors(std::move(err), [](const ErrorInfoBase &e) {
    WithColor::error(errs(), "hp-diff") << e.message() << '\n';
  });
  return 1;
}

/// The inputs as the differ takes them, or a usage error (exit code 2).
static std::optional<int> readInputs(DiffOptions &opts) {
  if (output.empty())
    return usage("no output file: -o fix.hp");
  if (oldDir.empty() != newDir.empty())
    return usage("--old-dir and --new-dir go together");
  if (!oldDir.empty()) {
    if (!inputs.empty())
      return usage("give object pairs or --old-dir/--new-dir, not both");
    auto pairs = pairDirectories(oldDir, newDir);
    if (!pairs)
      return fail(pairs.takeError());
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
  return std::nullopt;
}

static std::string listed(const std::vector<std::string> &names) {
  return names.empty() ? std::string() : " (" + join(names, ", ") + ")";
}

static void printSummary(const DiffResult &result) {
  const PatchFile &p = result.patch;
  auto sayLineNumbersOnly = [&] {
    if (!result.lineNumbersOnly.empty())
      outs() << "hp-diff: left out, line numbers only"
             << listed(result.lineNumbersOnly)
             << "; --include-line-number-changes patches them too\n";
  };
  if (p.functions.empty() && result.added.empty() && result.newData.empty()) {
    outs() << "hp-diff: nothing to patch: the builds have the same code; wrote "
              "an empty patch to " << output << "\n";
    sayLineNumbersOnly();
    return;
  }
  size_t moduleRefs = 0, libraryRefs = 0;
  for (const PatchSymbol &s : p.symbols)
    if (!s.defined)
      ++(s.refInModule ? moduleRefs : libraryRefs);
  outs() << "hp-diff: wrote " << output << ": " << p.functions.size()
         << " replaced" << listed(result.replaced) << ", " << result.added.size()
         << " new" << listed(result.added) << ", " << result.newData.size()
         << " new or changed data" << listed(result.newData) << "; "
         << moduleRefs << " references to the running module, " << libraryRefs
         << " to other libraries"
         << (p.buildId.empty() ? "" : "; target build-id " + p.buildId) << "\n";
  for (const auto &[name, why] : result.reasons)
    if (!why.empty())
      outs() << "  " << name << ": " << why << "\n";
  sayLineNumbersOnly();
}

int main(int argc, char **argv) {
  InitLLVM init(argc, argv);
  cl::HideUnrelatedOptions(category);
  cl::ParseCommandLineOptions(argc, argv,
                              "hp-diff: make a live patch from two builds\n");
  DiffOptions opts;
  if (std::optional<int> exitCode = readInputs(opts))
    return *exitCode;
  // (The key first: a bad one should not cost a whole diff.)
  std::optional<SigningKey> key;
  if (!signKey.empty()) {
    Expected<SigningKey> k = SigningKey::load(signKey);
    if (!k)
      return fail(k.takeError());
    key.emplace(std::move(*k));
  }
  Expected<DiffResult> result = diffBuilds(opts);
  if (!result)
    return fail(result.takeError());
  for (const std::string &w : result->warnings)
    WithColor::warning(errs(), "hp-diff") << w << '\n';
  Expected<std::vector<uint8_t>> bytes = writePatch(result->patch, key.has_value());
  if (!bytes)
    return fail(bytes.takeError());
  if (key)
    if (Error err = key->sign(*bytes))
      return fail(std::move(err));
  // Written beside the destination and renamed: a reader never sees half
  // a file.
  if (Error err = writeToOutput(output, [&](raw_ostream &os) {
        os.write(reinterpret_cast<const char *>(bytes->data()), bytes->size());
        return Error::success();
      }))
    return fail(std::move(err));
  if (!quiet) {
    printSummary(*result);
    if (key)
      outs() << "hp-diff: signed with key " << keyId(key->publicKey()) << " (ed25519)\n";
  }
  return 0;
}
