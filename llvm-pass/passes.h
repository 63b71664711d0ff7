//===- llvm-pass/passes.h - hotpatch's IR passes ------------------*- C++ -*-===//
//
// Six module passes, registered together by registerHotpatchPasses():
//   hotpatch-annotations  (pipeline start) turns the opt-out annotation into a
//                         function attribute before anything can inline or
//                         drop the function;
//   hotpatch-source       (pipeline start) hashes each function as written,
//                         for hp-diff's explanations and line-only changes;
//   hotpatch-seal         (pipeline start, unless ipo=full) hides every
//                         patchable body from interprocedural analyses;
//   hotpatch-unseal       (optimizer last) gives the bodies back their linkage;
//   hotpatch-prologue     (optimizer last) gives every defined function the
//                         patchable prologue, or records why not;
//   hotpatch-fingerprint  (optimizer last, after the prologue) hashes the
//                         final IR and writes the .hotpatch.fp table.
//
//===----------------------------------------------------------------------===//

#ifndef HOTPATCH_LLVM_PASS_PASSES_H
#define HOTPATCH_LLVM_PASS_PASSES_H

#include "prologue.h"

#include "llvm/IR/PassManager.h"
#include "llvm/Support/Error.h"

#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <vector>

namespace llvm {
class Function;
class PassBuilder;
class Triple;
} // namespace llvm

namespace hotpatch {

/// How far callers may depend on a patchable callee's body.
enum class IpoMode {
  /// Only through inlining, which the fingerprints track (the default).
  InlineOnly,
  /// Anything LLVM does (`-fplugin-arg-hotpatch-ipo=full`): a callee's fix may
  /// change its callers, which then join the patch.
  Full,
};
/// "inline-only" or "full", as in the option and the options string.
const char *ipoModeName(IpoMode mode);
/// The mode named \p value; an error naming the known values otherwise.
llvm::Expected<IpoMode> parseIpoMode(llvm::StringRef value);

/// Calls that pass `__LINE__` itself: (callee's IR name, the argument's
/// position counted from the last argument, the value).
using LineArguments = std::set<std::tuple<std::string, unsigned, uint64_t>>;

/// What the user chose, through -fplugin-arg-hotpatch-* or pass parameters.
struct HotpatchOptions {
  IpoMode ipo = IpoMode::InlineOnly;
  /// C++ with exceptions, as only the front end knows: clang has already
  /// marked `nounwind` every function whose body makes no call that may
  /// throw, a fact read from the body that SealPass takes back.
  bool cxxExceptions = false;
  /// Where the front end passed `__LINE__` straight to a function, filled
  /// once the TU is parsed (hence shared); null without the clang plugin.
  /// SourcePass adds where such a function passes that parameter on. Only
  /// such a constant can count as a line number (fingerprint.cpp).
  std::shared_ptr<LineArguments> lineArguments;
  /// Functions (symbol names as in the object) that get no prologue.
  std::vector<std::string> exclude;
  /// Facts the IR cannot show, recorded in the table's options string
  /// (e.g. "function-sections=1"); set by the clang plugin.
  std::string frontendOptions;
};

/// Function attribute marking an opted-out function; set from the source
/// annotation "hotpatch_exclude" by AnnotationPass.
inline constexpr const char *excludeAttr = "hotpatch-exclude";
inline constexpr const char *excludeAnnotation = "hotpatch_exclude";

/// The prologue (format/prologue.h) for \p triple, or null when hotpatch
/// does not support it.
const PrologueShape *prologueFor(const llvm::Triple &triple);

class AnnotationPass : public llvm::PassInfoMixin<AnnotationPass> {
public:
  llvm::PreservedAnalyses run(llvm::Module &m, llvm::ModuleAnalysisManager &);
  static bool isRequired() { return true; } // also at -O0 and on optnone
};

/// True for a definition that gets the patchable prologue: it has a symbol
/// and is not opted out (by attribute, by name in \p exclude, or as naked).
bool isPatchableDefinition(const llvm::Function &fn,
                           const std::vector<std::string> &exclude);

/// Gives every patchable, exactly-defined function an `_odr` linkage for the
/// length of the optimiser, so no interprocedural pass relies on its body
/// (discipline.cpp says why this is enough); UnsealPass undoes it.
class SealPass : public llvm::PassInfoMixin<SealPass> {
public:
  explicit SealPass(HotpatchOptions opts = {}) : opts(std::move(opts)) {}
  llvm::PreservedAnalyses run(llvm::Module &m, llvm::ModuleAnalysisManager &);
  static bool isRequired() { return true; }

private:
  HotpatchOptions opts;
};

/// Records each function as written (its source hash and the functions of
/// the TU it calls) in the named metadata `hotpatch.source`, which
/// FingerprintPass reads into the table and removes.
class SourcePass : public llvm::PassInfoMixin<SourcePass> {
public:
  explicit SourcePass(HotpatchOptions opts = {}) : opts(std::move(opts)) {}
  llvm::PreservedAnalyses run(llvm::Module &m, llvm::ModuleAnalysisManager &);
  static bool isRequired() { return true; }

private:
  HotpatchOptions opts;
};

class UnsealPass : public llvm::PassInfoMixin<UnsealPass> {
public:
  llvm::PreservedAnalyses run(llvm::Module &m, llvm::ModuleAnalysisManager &);
  static bool isRequired() { return true; }
};

class ProloguePass : public llvm::PassInfoMixin<ProloguePass> {
public:
  explicit ProloguePass(HotpatchOptions opts = {}) : opts(std::move(opts)) {}
  llvm::PreservedAnalyses run(llvm::Module &m, llvm::ModuleAnalysisManager &);
  static bool isRequired() { return true; }

private:
  HotpatchOptions opts;
};

class FingerprintPass : public llvm::PassInfoMixin<FingerprintPass> {
public:
  /// \p optLevel is recorded ("O2"); empty when unknown (opt -passes=...).
  explicit FingerprintPass(std::string optLevel = {}, HotpatchOptions opts = {})
      : optLevel(std::move(optLevel)), opts(std::move(opts)) {}
  llvm::PreservedAnalyses run(llvm::Module &m, llvm::ModuleAnalysisManager &);
  static bool isRequired() { return true; }

private:
  std::string optLevel;
  HotpatchOptions opts;
};

/// Hooks the passes into \p pb's default pipelines and makes their
/// names known to `-passes=`.
void registerHotpatchPasses(llvm::PassBuilder &pb, const HotpatchOptions &opts);

} // namespace hotpatch

#endif
