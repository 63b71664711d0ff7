//===- llvm-pass/plugin.cpp - hotpatch-passes.so, the LLVM-only plugin ----===//
//
// For `clang -fpass-plugin=`, `opt -load-pass-plugin=` and lld's LTO pipeline.
// It links the shared LLVM and nothing of clang: a pass plugin that pulls in
// libclang-cpp registers clang's options a second time and aborts `opt`.
//
//===----------------------------------------------------------------------===//

#include "passes.h"

#include "llvm/Passes/PassPlugin.h"

extern "C" LLVM_ATTRIBUTE_WEAK ::llvm::PassPluginLibraryInfo
llvmGetPassPluginInfo() {
  return {LLVM_PLUGIN_API_VERSION, "hotpatch", HOTPATCH_VERSION,
          [](llvm::PassBuilder &pb) {
            hotpatch::registerHotpatchPasses(pb, hotpatch::HotpatchOptions{});
          }};
}
