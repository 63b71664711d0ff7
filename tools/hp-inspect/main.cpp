//===- tools/hp-inspect/main.cpp - print fingerprint tables ----------------===//
//
// hp-inspect [--json] FILE...            the tables in objects, archives, binaries,
//                                        or the contents of .hp patches
// hp-inspect --compare [--json] OLD NEW  which symbols two builds changed
//
// Exit codes: 0 success, 1 an input could not be read, 2 bad usage.
//
//===----------------------------------------------------------------------===//

#include "inspect.h"
#include "patch-view.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/MemoryBuffer.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/WithColor.h"

using namespace llvm;
using namespace hotpatch;

static cl::OptionCategory category("hp-inspect options");
static cl::opt<bool> jsonOut("json", cl::desc("print JSON (docs/hp-inspect.md)"),
                             cl::cat(category));
static cl::opt<bool> compare("compare",
                             cl::desc("compare two builds: OLD NEW"),
                             cl::cat(category));
static cl::list<std::string> inputs(cl::Positional, cl::desc("FILE..."),
                                    cl::cat(category));

static bool report(Error err) {
  handleAllErrors(std::move(err), [](const ErrorInfoBase &e) {
    WithColor::error(errs(), "hp-inspect") << e.message() << '\n';
  });
  return false;
}

/// Prints each patch; 1 at the first that cannot be read.
static int showPatches(std::vector<std::unique_ptr<MemoryBuffer>> &buffers) {
  json::Array patches;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!buffers[i]) {
      std::error_code ec = MemoryBuffer::getFile(inputs[i]).getError();
      WithColor::error(errs(), "hp-inspect")
          << inputs[i] << ": " << ec.message() << '\n';
      return 1;
    }
    ArrayRef<uint8_t> bytes = arrayRefFromStringRef(buffers[i]->getBuffer());
    Expected<PatchFile> patch = readPatch(bytes, inputs[i]);
    if (!patch) {
      report(patch.takeError());
      return 1;
    }
    Expected<SignatureCheck> sig = checkSignature(bytes);
    if (!sig) {
      report(createStringError(std::errc::illegal_byte_sequence, "%s: %s",
                               inputs[i].c_str(), toString(sig.takeError()).c_str()));
      return 1;
    }
    if (jsonOut)
      patches.push_back(patchToJson(inputs[i], *patch, bytes.size(), *sig));
    else
      printPatch(outs(), inputs[i], *patch, bytes.size(), *sig);
  }
  if (jsonOut)
    outs() << formatv("{0:2}", json::Value(json::Object{
                                   {"format", "hotpatch-inspect"},
                                   {"version", 1},
                                   {"patches", std::move(patches)}}))
           << '\n';
  return 0;
}

/// Prints the tables of every file, or compares the two (--compare).
static int showTables() {
  std::vector<std::vector<ObjectTables>> read;
  for (const std::string &path : inputs) {
    Expected<std::vector<ObjectTables>> tables = readFingerprintTables(path);
    if (!tables) {
      report(tables.takeError());
      return 1;
    }
    read.push_back(std::move(*tables));
  }
  if (compare) {
    bool optionsDiffer = false;
    std::vector<SymbolChange> changes = compareTables(read[0], read[1], optionsDiffer);
    if (jsonOut)
      outs() << formatv("{0:2}", changesToJson(changes, optionsDiffer)) << '\n';
    else
      printChanges(outs(), changes, optionsDiffer);
    return 0;
  }
  if (!jsonOut) {
    for (const std::vector<ObjectTables> &tables : read)
      printTables(outs(), tables);
    return 0;
  }
  json::Array all;
  for (size_t i = 0; i < inputs.size(); ++i)
    all.push_back(tablesToJson(inputs[i], read[i]));
  outs() << formatv("{0:2}", json::Value(json::Object{
                                 {"format", "hotpatch-inspect"},
                                 {"version", 1},
                                 {"files", std::move(all)}}))
         << '\n';
  return 0;
}

int main(int argc, char **argv) {
  InitLLVM init(argc, argv);
  cl::HideUnrelatedOptions(category);
  cl::ParseCommandLineOptions(argc, argv,
                              "hp-inspect: print hotpatch fingerprint tables\n");
  if (inputs.empty() || (compare && inputs.size() != 2)) {
    WithColor::error(errs(), "hp-inspect")
        << (compare ? "--compare takes exactly two files: OLD NEW"
                    : "no input file (try --help)")
        << '\n';
    return 2;
  }
  // A .hp patch is shown as a patch, never as an object with no table.
  size_t numPatches = 0;
  std::vector<std::unique_ptr<MemoryBuffer>> buffers;
  for (const std::string &path : inputs) {
    ErrorOr<std::unique_ptr<MemoryBuffer>> buf = MemoryBuffer::getFile(
        path, /*IsText=*/false, /*RequiresNullTerminator=*/false);
    bool isPatch = StringRef(path).ends_with(".hp") ||
                   (buf && isPatchFile(arrayRefFromStringRef((*buf)->getBuffer())));
    numPatches += isPatch;
    buffers.push_back(buf ? std::move(*buf) : nullptr);
  }
  if (numPatches && numPatches != inputs.size()) {
    WithColor::error(errs(), "hp-inspect")
        << "give either patches or objects, not both\n";
    return 2;
  }
  if (numPatches && compare) {
    WithColor::error(errs(), "hp-inspect") << "--compare takes objects\n";
    return 2;
  }
  return numPatches ? showPatches(buffers) : showTables();
}
