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

/// `hotpatch-prologue<exclude=a,b;ipo=full>`: the parameters `opt` tests can
/// set.
Expected<HotpatchOptions> parseParams(StringRef pass, StringRef params,
                                      HotpatchOptions opts) {
  SmallVector<StringRef, 4> parts;
  params.split(parts, ';', -1, /*KeepEmpty=*/false);
  for (StringRef part : parts) {
    auto [key, value] = part.split('=');
    if (key == "ipo") {
      Expected<IpoMode> mode = parseIpoMode(value);
      if (!mode)
        return mode.takeError();
      opts.ipo = *mode;
      continue;
    }
    if (key != "exclude")
      return createStringError(std::errc::invalid_argument,
                               "%s: unknown parameter '%s' (known: exclude, ipo)",
                               pass.str().c_str(), key.str().c_str());
    SmallVector<StringRef, 4> names;
    value.split(names, ',', -1, /*KeepEmpty=*/false);
    for (StringRef name : names)
      opts.exclude.push_back(name.str());
  }
  return opts;
}
} // namespace

const char *ipoModeName(IpoMode mode) {
  return mode == IpoMode::Full ? "full" : "inline-only";
}

Expected<IpoMode> parseIpoMode(StringRef value) {
  if (value == "inline-only")
    return IpoMode::InlineOnly;
  if (value == "full")
    return IpoMode::Full;
  return createStringError(std::errc::invalid_argument,
                           "ipo: unknown value '%s' (known: inline-only, full)",
                           value.str().c_str());
}

void registerHotpatchPasses(PassBuilder &pb, const HotpatchOptions &opts) {
  // Before anything inlines or drops functions: read the opt-out annotation.
  // Then, before any interprocedural pass: hide the patchable bodies.
  pb.registerPipelineStartEPCallback(
      [opts](ModulePassManager &mpm, OptimizationLevel) {
        mpm.addPass(AnnotationPass());
        mpm.addPass(SourcePass(opts));
        if (opts.ipo == IpoMode::InlineOnly)
          mpm.addPass(SealPass(opts));
      });
  // After all optimisation: fingerprints must see the code as it is emitted.
  pb.registerOptimizerLastEPCallback(
      [opts](ModulePassManager &mpm, OptimizationLevel level) {
        mpm.addPass(UnsealPass());
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
        if (name == "hotpatch-source") {
          mpm.addPass(SourcePass(opts));
          return true;
        }
        if (name == "hotpatch-unseal") {
          mpm.addPass(UnsealPass());
          return true;
        }
        StringRef params;
        StringRef base = name;
        if (name.consume_back(">")) {
          auto [b, p] = name.split('<');
          base = b;
          params = p;
        }
        if (base != "hotpatch-prologue" && base != "hotpatch-fingerprint" &&
            base != "hotpatch-seal")
          return false;
        Expected<HotpatchOptions> parsed = parseParams(base, params, opts);
        if (!parsed)
          report_fatal_error(parsed.takeError(), /*gen_crash_diag=*/false);
        if (base == "hotpatch-prologue")
          mpm.addPass(ProloguePass(*parsed));
        else if (base == "hotpatch-seal")
          mpm.addPass(SealPass(*parsed));
        else
          mpm.addPass(FingerprintPass({}, *parsed));
        return true;
      });
}

} // namespace hotpatch
