//===- llvm-pass/annotations.cpp - the opt-out annotation -----------------===//
//
// `__attribute__((hotpatch_exclude))` (registered by the clang plugin) and
// `__attribute__((annotate("hotpatch_exclude")))` both reach the IR as an
// entry of @llvm.global.annotations. That array keeps every function it names
// alive, so we move the fact into a function attribute and drop the entries:
// an opted-out function is then optimised exactly like any other.
//
//===----------------------------------------------------------------------===//

#include "passes.h"

#include "llvm/IR/Constants.h"
#include "llvm/IR/Function.h"
#include "llvm/IR/GlobalVariable.h"
#include "llvm/IR/Module.h"
#include "llvm/Analysis/ValueTracking.h"

using namespace llvm;

namespace hotpatch {

PreservedAnalyses AnnotationPass::run(Module &m, ModuleAnalysisManager &) {
  GlobalVariable *annotations = m.getNamedGlobal("llvm.global.annotations");
  if (!annotations || !annotations->hasInitializer())
    return PreservedAnalyses::all();
  auto *array = dyn_cast<ConstantArray>(annotations->getInitializer());
  if (!array)
    return PreservedAnalyses::all();

  SmallVector<Constant *, 16> kept;
  bool changed = false;
  for (Use &op : array->operands()) {
    auto *entry = dyn_cast<ConstantStruct>(op.get());
    StringRef text;
    Function *fn = nullptr;
    if (entry && entry->getNumOperands() >= 2) {
      fn = dyn_cast<Function>(entry->getOperand(0)->stripPointerCasts());
      getConstantStringInfo(entry->getOperand(1)->stripPointerCasts(), text);
    }
    if (fn && text == excludeAnnotation) {
      fn->addFnAttr(excludeAttr);
      changed = true;
      continue;
    }
    kept.push_back(cast<Constant>(op.get()));
  }
  if (!changed)
    return PreservedAnalyses::all();

  if (kept.empty()) {
    annotations->eraseFromParent();
  } else {
    ArrayType *type = ArrayType::get(array->getType()->getElementType(), kept.size());
    auto *replacement = new GlobalVariable(
        m, type, annotations->isConstant(), annotations->getLinkage(),
        ConstantArray::get(type, kept), "", annotations,
        annotations->getThreadLocalMode());
    replacement->setSection(annotations->getSection());
    replacement->takeName(annotations);
    annotations->eraseFromParent();
  }
  // The annotation strings may now be unused; globaldce removes them.
  return PreservedAnalyses::none();
}

} // namespace hotpatch
