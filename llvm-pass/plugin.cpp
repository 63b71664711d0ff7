//===- llvm-pass/plugin.cpp - hotpatch-passes.so, the LLVM-only plugin ----===//
//
// For `clang -fpass-plugin=`, `opt -load-pass-plugin=` and lld's LTO pipeline.
// It links the shared LLVM and nothing of clang: a pass plugin that pulls in
// libclang-cpp registers clang's options a second time and aborts `opt`.
//
//===----------------------------------------------------------------------===//

#include "passes.h"

#include "llvm/Passes/PassPlugin.h"
#include "llvm/Support/CommandLine.h"

// `-mllvm -hotpatch-ipo=full` (clang) or `-hotpatch-ipo=full` (opt): the
// LLVM-only spelling of hotpatch.so's -fplugin-arg-hotpatch-ipo. Defined here,
// not in the passes library, so that hotpatch.so never registers it twice.
static llvm::cl::opt<std::string>
    ipoOption("hotpatch-ipo", llvm::cl::init("inline-only"),
              llvm::cl::desc("hotpatch: how far callers may depend on a "
                             "patchable callee's body (inline-only, full)"));

extern "C" LLVM_ATTRIBUTE_WEAK ::llvm::PassPluginLibraryInfo
llvmGetPassPluginInfo() {
  return {LLVM_PLUGIN_API_VERSION, "hotpatch", HOTPATCH_VERSION,
          [](llvm::PassBuilder &pb) {
            hotpatch::HotpatchOptions opts;
            llvm::Expected<hotpatch::IpoMode> mode =
                hotpatch::parseIpoMode(ipoOption);
            if (!mode)
              llvm::report_fatal_error(mode.takeError(),
                                       /*gen_crash_diag=*/false);
            opts.ipo = *mode;
            hotpatch::registerHotpatchPasses(pb, opts);
          }};
}
