//===- llvm-pass/prologue.cpp - the patchable prologue ---------------------===//
//
// LLVM already knows how to emit padding before and a NOP at a function's
// entry ("patchable-function-prefix"/"patchable-function-entry", what
// -fpatchable-function-entry=N,M sets); we set them on every defined function
// so `-fpass-plugin=` and `opt` give the same result as hotpatch.so. The
// padding is emitted right after the function's alignment, so aligning the
// function to 16 bytes aligns the padding (format/prologue.h).
//
//===----------------------------------------------------------------------===//

#include "passes.h"

#include "llvm/ADT/StringSet.h"
#include "llvm/IR/Function.h"
#include "llvm/IR/Module.h"
#include "llvm/TargetParser/Triple.h"

using namespace llvm;

namespace hotpatch {

const PrologueShape *prologueFor(const Triple &triple) {
  if (!triple.isOSBinFormatELF())
    return nullptr;
  switch (triple.getArch()) {
  case Triple::x86_64:
    return triple.isX32() ? nullptr : &x86_64Prologue;
  case Triple::aarch64:
    return &aarch64Prologue;
  default:
    return nullptr;
  }
}

PreservedAnalyses ProloguePass::run(Module &m, ModuleAnalysisManager &) {
  const PrologueShape *shape = prologueFor(Triple(m.getTargetTriple()));
  if (!shape) {
    m.getContext().emitError(
        "hotpatch: target '" + m.getTargetTriple() +
        "' is not supported; hotpatch patches x86_64 and aarch64 ELF code");
    return PreservedAnalyses::all();
  }
  StringSet<> excluded;
  for (const std::string &name : opts.exclude)
    excluded.insert(name);
  std::string prefix = std::to_string(shape->prefixNops);
  std::string entry = std::to_string(shape->entryNops);

  for (Function &fn : m) {
    if (fn.isDeclarationForLinker())
      continue;
    if (fn.hasFnAttribute(excludeAttr) || excluded.contains(fn.getName()) ||
        fn.hasFnAttribute(Attribute::Naked)) {
      // The table records why (FingerprintPass reads the same facts).
      fn.removeFnAttr("patchable-function-entry");
      fn.removeFnAttr("patchable-function-prefix");
      continue;
    }
    fn.addFnAttr("patchable-function-prefix", prefix);
    fn.addFnAttr("patchable-function-entry", entry);
    // -Os and -ffunction-sections would otherwise leave the padding unaligned,
    // and the 2-byte entry store must not straddle a 16-byte line.
    if (!fn.getAlign() || *fn.getAlign() < Align(16))
      fn.setAlignment(Align(16));
  }
  return PreservedAnalyses::none();
}

} // namespace hotpatch
