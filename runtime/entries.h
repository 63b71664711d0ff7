//===- runtime/entries.h - where each replaced function is ---------*- C++ -*-===//
//
// Before anything is written: each function the patch replaces is found in
// the module (by offset, file-local name with its file, or global name),
// its prologue bytes are read and compared with what the patch expects,
// and what it runs now is settled: its own code, or the code of the newest
// active patch stacked on it (whose record saved the original bytes).
//
//===----------------------------------------------------------------------===//

#ifndef HOTPATCH_RUNTIME_ENTRIES_H
#define HOTPATCH_RUNTIME_ENTRIES_H

#include "arch.h"
#include "flip.h"
#include "module.h"
#include "record.h"

namespace hotpatch {

/// One FunctionFlip per function of \p patch, in its order; refuses
/// (ApplyError) naming the first function that cannot be patched.
llvm::Expected<std::vector<FunctionFlip>>
locateFunctions(const Target &target, const PatchFile &patch, const Module &module,
                const Arch &arch, const std::vector<AppliedPatch> &earlier);

} // namespace hotpatch

#endif
