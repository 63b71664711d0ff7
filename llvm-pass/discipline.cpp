//===- llvm-pass/discipline.cpp - callers never depend on a callee's body --===//
//
// LLVM's interprocedural passes read a callee's body and let its callers rely
// on what they found: FunctionAttrs infers memory(none), willreturn, nounwind,
// noreturn, nonnull returns...; IPSCCP folds a constant return value into the
// callers; DeadArgElim, ArgumentPromotion and GlobalOpt rewrite a static
// function's signature or calling convention; GlobalsAA tells a caller's
// loop that the call leaves a global alone. A live patch replaces the body
// and none of that: the caller keeps a hoisted result, a folded constant, a
// dropped landing pad. The fix then never runs, or drags a running loop into
// the patch.
//
// Every one of those passes asks the same question first: is this definition
// the one that will run (GlobalValue::isDefinitionExact)? For weak_odr and
// linkonce_odr the answer is no ("an equivalent body may be chosen at link
// time"), yet the inliner still inlines them, since any chosen body behaves
// the same. That is exactly our situation, so SealPass gives every patchable
// definition such a linkage for the length of the optimiser, and UnsealPass
// puts the real one back before code generation and before the fingerprints
// are taken. Inlining, which the fingerprints track, stays; attributes the
// programmer wrote (noreturn, nothrow, pure, const, noexcept) are part of the
// declaration and stay usable.
//
// One fact is read from bodies before any pass runs: in C++ with exceptions,
// clang marks `nounwind` a definition whose body makes no call that may
// throw, and callers emitted after it in the file rely on that. SealPass
// takes the attribute off such definitions when the front end says the TU is
// C++ with exceptions; what the programmer declared (`noexcept`, `nothrow`)
// is carried by every call site as well, so it stays usable. Calls clang
// already emitted without a landing pad stay so: the fingerprints of those
// callers show it (docs/limits.md).
//
// The original linkage rides on a function attribute, so the pair also works
// across `opt` invocations and survives clones and renames.
//
//===----------------------------------------------------------------------===//

#include "passes.h"

#include "llvm/ADT/StringSet.h"
#include "llvm/IR/Function.h"
#include "llvm/IR/Module.h"

using namespace llvm;

namespace hotpatch {

namespace {
/// Function attribute holding the linkage a sealed function had.
constexpr const char *sealedAttr = "hotpatch-sealed";
} // namespace

bool isPatchableDefinition(const Function &fn,
                           const std::vector<std::string> &exclude) {
  if (fn.isDeclarationForLinker() || fn.hasPrivateLinkage())
    return false;
  if (fn.hasFnAttribute(excludeAttr) || fn.hasFnAttribute(Attribute::Naked))
    return false;
  return !llvm::is_contained(exclude, fn.getName());
}

PreservedAnalyses SealPass::run(Module &m, ModuleAnalysisManager &) {
  bool changed = false;
  for (Function &fn : m) {
    if (!isPatchableDefinition(fn, opts.exclude))
      continue;
    if (opts.cxxExceptions && fn.hasFnAttribute(Attribute::NoUnwind)) {
      fn.removeFnAttr(Attribute::NoUnwind);
      changed = true;
    }
    // Only exact definitions need sealing: weak and linkonce bodies (C++
    // inline functions, templates) are already opaque to these passes.
    if (!fn.isDefinitionExact())
      continue;
    if (fn.hasExternalLinkage()) {
      fn.addFnAttr(sealedAttr, "external");
      fn.setLinkage(GlobalValue::WeakODRLinkage);
    } else if (fn.hasInternalLinkage()) {
      // linkonce_odr, not weak_odr: still dropped once unused, like a static.
      fn.addFnAttr(sealedAttr, "internal");
      fn.setLinkage(GlobalValue::LinkOnceODRLinkage);
    } else {
      continue;
    }
    changed = true;
  }
  return changed ? PreservedAnalyses::none() : PreservedAnalyses::all();
}

PreservedAnalyses UnsealPass::run(Module &m, ModuleAnalysisManager &) {
  bool changed = false;
  for (Function &fn : m) {
    Attribute sealed = fn.getFnAttribute(sealedAttr);
    if (!sealed.isValid())
      continue;
    fn.setLinkage(sealed.getValueAsString() == "internal"
                      ? GlobalValue::InternalLinkage
                      : GlobalValue::ExternalLinkage);
    fn.removeFnAttr(sealedAttr);
    changed = true;
  }
  return changed ? PreservedAnalyses::none() : PreservedAnalyses::all();
}

} // namespace hotpatch
