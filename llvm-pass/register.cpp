//===- llvm-pass/register.cpp - hook the passes into a PassBuilder --------===//

#include "passes.h"

#include "llvm/Passes/PassBuilder.h"
#include "llvm/Support/Error.h"

using namespace llvm;

namespace hotpatch {

namespace {
std::string levelName(OptimizationLevel level) {
  if (level == OptimizationLevel::O0)
    return "O0";
  if (level == OptimizationLevel::O1)
    return "O1";
  if (level == OptimizationLevel::O2)
    return "O2";
  if (level == OptimizationLevel::O3)
    return "O3";
  if (level == OptimizationLevel::Os)
    return "Os";
  if (level == OptimizationLevel::Oz)
    return "Oz";
  return "unknown";
}

/// `hotpatch-prologue<exclude=a,b>`: the parameters `opt` tests can set.
Expected<HotpatchOptions> parseParams(StringRef pass, StringRef params,
                                      HotpatchOptions opts) {
  SmallVector<StringRef, 4> parts;
  params.split(parts, ';', -1, /*KeepEmpty=*/false);
  for (StringRef part : parts) {
    auto [key, value] = part.split('=');
    if (key != "exclude")
      return createStringError(std::errc::invalid_argument,
                               "%s: unknown parameter '%s' (known: exclude)",
                               pass.str().c_str(), key.str().c_str());
    SmallVector<StringRef, 4> names;
    value.split(names, ',', -1, /*KeepEmpty=*/false);
    for (StringRef name : names)
      opts.exclude.push_back(name.str());
  }
  return opts;
}
} // namespace

void registerHotpatchPasses(PassBuilder &pb, const HotpatchOptions &opts) {
  // Before anything inlines or drops functions: read the opt-out annotation.
  pb.registerPipelineStartEPCallback(
      [](ModulePassManager &mpm, OptimizationLevel) {
        mpm.addPass(AnnotationPass());
      });
  // After all optimisation: fingerprints must see the code as it is emitted.
  pb.registerOptimizerLastEPCallback(
      [opts](ModulePassManager &mpm, OptimizationLevel level) {
        mpm.addPass(ProloguePass(opts));
        mpm.addPass(FingerprintPass(levelName(level), opts));
      });
  pb.registerPipelineParsingCallback(
      [opts](StringRef name, ModulePassManager &mpm,
             ArrayRef<PassBuilder::PipelineElement>) {
        if (name == "hotpatch-annotations") {
          mpm.addPass(AnnotationPass());
          return true;
        }
        StringRef params;
        StringRef base = name;
        if (name.consume_back(">")) {
          auto [b, p] = name.split('<');
          base = b;
          params = p;
        }
        if (base != "hotpatch-prologue" && base != "hotpatch-fingerprint")
          return false;
        Expected<HotpatchOptions> parsed = parseParams(base, params, opts);
        if (!parsed)
          report_fatal_error(parsed.takeError(), /*gen_crash_diag=*/false);
        if (base == "hotpatch-prologue")
          mpm.addPass(ProloguePass(*parsed));
        else
          mpm.addPass(FingerprintPass({}, *parsed));
        return true;
      });
}

} // namespace hotpatch
