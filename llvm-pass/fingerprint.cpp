//===- llvm-pass/fingerprint.cpp - hash final IR, write .hotpatch.fp ------===//
//
// Runs last in the optimisation pipeline, so what it hashes is what code
// generation will see: inlined callees, propagated constants and inferred
// attributes are all part of a function's fingerprint.
//
// The hash must move with the machine code and with nothing else. So it takes
// every instruction, operand, type, flag, attribute and non-debug metadata,
// but never a local value's name (values are numbered in order), never debug
// locations or records, and never the name of a private constant like
// `.str.12` (its contents are hashed instead, so renumbering is invisible but
// an edited literal is not). Named globals are hashed by their symbol name:
// that is what the code refers to, with what decides how the code reaches it
// (linkage, visibility, dso_local, TLS model). A file-local *constant* is
// hashed by name and contents, because the compiler may have folded its value
// into the code; inside an initializer, named globals count by name only.
// Strings in TBAA and alias-scope metadata are numbered, not read: they name
// types and inlined functions, which do not change code.
// Types are hashed by shape, not by name (`%struct.S.1` and `%struct.S` are
// the same layout).
//
// The table is emitted as module-level assembly into a non-allocated section:
// an IR `section` attribute would make an allocated one that --gc-sections
// can drop (docs/fingerprint-format.md).
//
//===----------------------------------------------------------------------===//

#include "passes.h"

#include "fingerprint-table.h"

#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/IR/CFG.h"
#include "llvm/IR/Constants.h"
#include "llvm/IR/DebugInfoMetadata.h"
#include "llvm/IR/Function.h"
#include "llvm/IR/GlobalVariable.h"
#include "llvm/IR/InlineAsm.h"
#include "llvm/IR/Instructions.h"
#include "llvm/IR/IntrinsicInst.h"
#include "llvm/IR/Mangler.h"
#include "llvm/IR/Module.h"
#include "llvm/IR/Operator.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/TargetParser/Triple.h"

#include <algorithm>

using namespace llvm;

namespace hotpatch {

namespace {

/// Tags keep different kinds of item from hashing alike ("i32 7" vs "@7").
enum Tag : uint8_t {
  tFunction = 1,
  tBlock,
  tInst,
  tArg,
  tLocal,
  tConstInt,
  tConstFP,
  tConstNullish,
  tConstData,
  tConstAggregate,
  tConstExpr,
  tBlockAddress,
  tGlobalByName,
  tGlobalByContent,
  tInlineAsm,
  tMetadata,
  tMDString,
  tMDNode,
  tMDBackRef,
  tMDDebug,
  tMDNull,
  tMDValue,
  tAttr,
  tType,
  tOther,
  tRecursion,
  tDSOLocalEquivalent,
  tNoCFI,
  tPtrAuth,
  tLine, // a line number (__LINE__ passed to a call), when masked
};

/// How IRHasher reads a function.
struct HashMode {
  /// Hash `__LINE__` constants as "a line number" rather than by value.
  bool maskLines = false;
  /// The function as written: named constants by name only, since a changed
  /// `static const` is a change of the constant, not of its readers' source.
  bool sourceOnly = false;
};

/// Appends a canonical byte encoding of IR to `buf`; the caller hashes it.
/// One object per module: the content hashes of globals are cached across
/// functions.
class IRHasher {
public:
  /// \p lineArgs: where the front end passed `__LINE__` to a function; null
  /// when unknown (no constant is then ever taken for a line number).
  IRHasher(const Module &m, const LineArguments *lineArgs)
      : lineArgs(lineArgs) {
    m.getContext().getMDKindNames(mdKindNames);
  }

  Fingerprint hashFunction(const Function &fn, HashMode mode = {});
  /// After hashFunction: whether some constant was a line number (so that
  /// hashing with maskLines would give another result).
  bool sawLineNumber() const { return sawLine; }
  /// Shape of \p ty alone.
  uint64_t hashTypeOnly(Type *ty);
  /// \p c alone (an initializer).
  uint64_t hashConstantOnly(const Constant &c);
  /// Everything about a variable: type, size, flags, initializer.
  Fingerprint hashVariable(const GlobalVariable &gv);

private:
  void u8(uint8_t v) { buf.push_back(v); }
  void u32(uint32_t v) {
    for (int i = 0; i < 4; ++i)
      buf.push_back(uint8_t(v >> (8 * i)));
  }
  void u64(uint64_t v) {
    for (int i = 0; i < 8; ++i)
      buf.push_back(uint8_t(v >> (8 * i)));
  }
  void str(StringRef s) {
    u32(s.size());
    buf.append(s.bytes_begin(), s.bytes_end());
  }
  void apint(const APInt &v) {
    u32(v.getBitWidth());
    for (unsigned i = 0; i < v.getNumWords(); ++i)
      u64(v.getRawData()[i]);
  }

  void type(Type *ty);
  void attributes(AttributeList list);
  void attribute(Attribute a);
  void value(const Value *v);
  void constant(const Constant *c);
  void globalRef(const GlobalValue *gv);
  void metadata(const Metadata *md);
  void instruction(const Instruction &inst);
  void globalContents(const GlobalVariable &gv);
  uint64_t contentHash(const GlobalVariable &gv);
  static bool isDebugMetadata(const Metadata *md);
  static bool isOnlyDebugLoop(const MDNode *loop);

  bool isLineNumber(const ConstantInt &ci) const;

  SmallVector<uint8_t, 0> buf;
  SmallVector<StringRef, 64> mdKindNames;
  const LineArguments *lineArgs;
  HashMode mode;
  // The call whose operand `operandNo` is being hashed, if any.
  const CallBase *curCall = nullptr;
  unsigned operandNo = 0;
  bool sawLine = false;
  // Per function: local values numbered in order of appearance.
  DenseMap<const Value *, unsigned> locals;
  // Per function: metadata nodes already hashed (handles cycles).
  DenseMap<const MDNode *, unsigned> mdSeen;
  // Per function: strings hashed by first appearance, not by text.
  DenseMap<const MDString *, unsigned> opaqueNumbers;
  bool opaqueStrings = false;
  // Inside a global's initializer: named globals are hashed by name only, so
  // constants that point at each other hash the same in any order.
  unsigned contentDepth = 0;
  bool hitCycle = false;
  // Per module: content hashes of globals referenced by content.
  DenseMap<const GlobalVariable *, uint64_t> contentCache;
  SmallPtrSet<const GlobalVariable *, 8> inProgress;
};

void IRHasher::type(Type *ty) {
  u8(tType);
  u8(ty->getTypeID());
  switch (ty->getTypeID()) {
  case Type::IntegerTyID:
    u32(ty->getIntegerBitWidth());
    break;
  case Type::PointerTyID:
    u32(ty->getPointerAddressSpace());
    break;
  case Type::ArrayTyID:
    u64(ty->getArrayNumElements());
    type(ty->getArrayElementType());
    break;
  case Type::FixedVectorTyID:
  case Type::ScalableVectorTyID: {
    auto *vt = cast<VectorType>(ty);
    u32(vt->getElementCount().getKnownMinValue());
    type(vt->getElementType());
    break;
  }
  case Type::StructTyID: {
    // By shape: opaque pointers make struct types non-recursive.
    auto *st = cast<StructType>(ty);
    u8(st->isPacked());
    u8(st->isOpaque());
    u32(st->getNumElements());
    for (Type *elem : st->elements())
      type(elem);
    break;
  }
  case Type::FunctionTyID: {
    auto *ft = cast<FunctionType>(ty);
    u8(ft->isVarArg());
    type(ft->getReturnType());
    u32(ft->getNumParams());
    for (Type *param : ft->params())
      type(param);
    break;
  }
  case Type::TargetExtTyID: {
    auto *tt = cast<TargetExtType>(ty);
    str(tt->getName());
    for (Type *param : tt->type_params())
      type(param);
    for (unsigned i : tt->int_params())
      u32(i);
    break;
  }
  default: // void, label, metadata, token, floating-point kinds: ID says all
    break;
  }
}

void IRHasher::attribute(Attribute a) {
  u8(tAttr);
  if (a.isStringAttribute()) {
    u8(0);
    str(a.getKindAsString());
    str(a.getValueAsString());
    return;
  }
  u8(1);
  u32(a.getKindAsEnum());
  if (a.isIntAttribute()) {
    u64(a.getValueAsInt());
  } else if (a.isTypeAttribute()) {
    if (Type *ty = a.getValueAsType())
      type(ty);
  } else if (a.isConstantRangeAttribute()) {
    const ConstantRange &range = a.getValueAsConstantRange();
    apint(range.getLower());
    apint(range.getUpper());
  } else if (a.isConstantRangeListAttribute()) {
    for (const ConstantRange &range : a.getValueAsConstantRangeList()) {
      apint(range.getLower());
      apint(range.getUpper());
    }
  }
}

void IRHasher::attributes(AttributeList list) {
  u32(list.getNumAttrSets());
  for (AttributeSet set : list) {
    u32(set.getNumAttributes());
    for (Attribute a : set)
      attribute(a);
  }
}

void IRHasher::globalRef(const GlobalValue *gv) {
  auto *var = dyn_cast<GlobalVariable>(gv);
  if (var && (var->hasPrivateLinkage() || !var->hasName())) {
    // `.str.12` and friends: no symbol, so only the contents can matter.
    u8(tGlobalByContent);
    u64(contentHash(*var));
    return;
  }
  u8(tGlobalByName);
  str(gv->getName());
  // How the code may reach the symbol: GOT or direct, which TLS sequence.
  u8(gv->getLinkage());
  u8(gv->getVisibility());
  u8(gv->isDSOLocal());
  u8(uint8_t(gv->getThreadLocalMode()));
  u8(gv->isDeclaration());
  if (var && contentDepth == 0 && !mode.sourceOnly && var->hasLocalLinkage() &&
      var->isConstant() && var->hasInitializer())
    u64(contentHash(*var)); // its value may be folded into the code
}

uint64_t IRHasher::contentHash(const GlobalVariable &gv) {
  if (auto it = contentCache.find(&gv); it != contentCache.end())
    return it->second;
  if (!inProgress.insert(&gv).second) {
    // A cycle of private constants: mark it, and cache nothing computed
    // inside it, so each hash depends only on where it starts.
    hitCycle = true;
    return 0;
  }
  // Hash into a private buffer: the caller is in the middle of its own.
  SmallVector<uint8_t, 0> saved = std::move(buf);
  bool outerCycle = hitCycle;
  hitCycle = false;
  buf.clear();
  ++contentDepth;
  globalContents(gv);
  --contentDepth;
  uint64_t h = hash64(toStringRef(ArrayRef<uint8_t>(buf)));
  buf = std::move(saved);
  inProgress.erase(&gv);
  if (!hitCycle)
    contentCache[&gv] = h;
  hitCycle = hitCycle || outerCycle;
  return h;
}

void IRHasher::globalContents(const GlobalVariable &gv) {
  type(gv.getValueType());
  u8(gv.isConstant());
  u8(uint8_t(gv.getThreadLocalMode()));
  u32(gv.getAddressSpace());
  u64(gv.getAlign() ? gv.getAlign()->value() : 0);
  str(gv.getSection());
  u8(gv.isExternallyInitialized());
  u8(gv.hasInitializer());
  if (gv.hasInitializer())
    constant(gv.getInitializer());
}

void IRHasher::constant(const Constant *c) {
  if (auto *gv = dyn_cast<GlobalValue>(c)) {
    globalRef(gv);
    return;
  }
  type(c->getType());
  if (auto *ci = dyn_cast<ConstantInt>(c)) {
    if (isLineNumber(*ci)) {
      sawLine = true;
      if (mode.maskLines) {
        u8(tLine);
        return;
      }
    }
    u8(tConstInt);
    apint(ci->getValue());
  } else if (auto *cf = dyn_cast<ConstantFP>(c)) {
    u8(tConstFP);
    apint(cf->getValueAPF().bitcastToAPInt());
  } else if (isa<ConstantPointerNull>(c) || isa<ConstantAggregateZero>(c) ||
             isa<UndefValue>(c) || isa<ConstantTokenNone>(c) ||
             isa<ConstantTargetNone>(c)) {
    u8(tConstNullish);
    u8(c->getValueID()); // undef, poison and zero differ
  } else if (auto *cds = dyn_cast<ConstantDataSequential>(c)) {
    u8(tConstData);
    str(cds->getRawDataValues());
  } else if (isa<ConstantAggregate>(c)) {
    u8(tConstAggregate);
    u32(c->getNumOperands());
    for (const Use &op : c->operands())
      constant(cast<Constant>(op.get()));
  } else if (auto *ce = dyn_cast<ConstantExpr>(c)) {
    u8(tConstExpr);
    u32(ce->getOpcode());
    u8(ce->getRawSubclassOptionalData());
    if (auto *gep = dyn_cast<GEPOperator>(ce)) {
      type(gep->getSourceElementType());
      if (std::optional<ConstantRange> range = gep->getInRange()) {
        apint(range->getLower());
        apint(range->getUpper());
      }
    }
    u32(ce->getNumOperands());
    for (const Use &op : ce->operands())
      constant(cast<Constant>(op.get()));
  } else if (auto *ba = dyn_cast<BlockAddress>(c)) {
    u8(tBlockAddress);
    globalRef(ba->getFunction());
    unsigned index = 0;
    for (const BasicBlock &bb : *ba->getFunction()) {
      if (&bb == ba->getBasicBlock())
        break;
      ++index;
    }
    u32(index);
  } else if (auto *eq = dyn_cast<DSOLocalEquivalent>(c)) {
    u8(tDSOLocalEquivalent);
    globalRef(eq->getGlobalValue());
  } else if (auto *nocfi = dyn_cast<NoCFIValue>(c)) {
    u8(tNoCFI);
    globalRef(nocfi->getGlobalValue());
  } else if (isa<ConstantPtrAuth>(c)) {
    u8(tPtrAuth);
    for (const Use &op : c->operands())
      constant(cast<Constant>(op.get()));
  } else {
    // A constant kind this version does not know: never hash it as equal to
    // anything else of the same type, so fall back to its printed form.
    u8(tOther);
    std::string text;
    raw_string_ostream os(text);
    c->print(os);
    str(text);
  }
}

void IRHasher::metadata(const Metadata *md) {
  if (!md) {
    u8(tMDNull);
    return;
  }
  if (auto *s = dyn_cast<MDString>(md)) {
    u8(tMDString);
    if (!opaqueStrings) {
      str(s->getString());
      return;
    }
    // A TBAA type or alias-scope name only tells nodes apart: number it by
    // first appearance, so renaming `struct point` to `struct coord` (or an
    // inlined helper) changes nothing while two distinct names stay distinct.
    auto [it, inserted] = opaqueNumbers.try_emplace(s, opaqueNumbers.size());
    u32(it->second);
    return;
  }
  if (auto *vam = dyn_cast<ValueAsMetadata>(md)) {
    u8(tMDValue);
    value(vam->getValue());
    return;
  }
  if (isDebugMetadata(md)) {
    u8(tMDDebug); // debug info never changes machine code
    return;
  }
  auto *node = dyn_cast<MDNode>(md);
  if (!node) {
    u8(tOther);
    return;
  }
  if (auto it = mdSeen.find(node); it != mdSeen.end()) {
    u8(tMDBackRef);
    u32(it->second);
    return;
  }
  mdSeen[node] = mdSeen.size();
  u8(tMDNode);
  u8(node->isDistinct());
  // Debug operands (the source range in !llvm.loop) exist only under -g:
  // leave them out entirely, count included.
  SmallVector<const Metadata *, 8> ops;
  for (const MDOperand &op : node->operands())
    if (!isDebugMetadata(op.get()))
      ops.push_back(op.get());
  u32(ops.size());
  for (const Metadata *op : ops)
    metadata(op);
}

/// A line number is a constant argument of a direct call that the front end
/// saw written as `__LINE__` at the same argument position (counted from the
/// last, which survives a `this` or an sret pointer in front) of a call to
/// the same function with the same value: what assert() and logging macros
/// pass. An ordinary constant is never taken for one unless the program also
/// passes `__LINE__` in that very place and it has that very value.
bool IRHasher::isLineNumber(const ConstantInt &ci) const {
  // (Most TUs pass no __LINE__: then no name is built for any constant.)
  if (!lineArgs || lineArgs->empty() || !curCall || contentDepth != 0 ||
      ci.getBitWidth() > 64 ||
      operandNo >= curCall->arg_size() ||
      curCall->getArgOperand(operandNo) != &ci)
    return false;
  const Function *callee = curCall->getCalledFunction();
  if (!callee)
    return false;
  unsigned fromEnd = curCall->arg_size() - 1 - operandNo;
  return lineArgs->count({callee->getName().str(), fromEnd, ci.getZExtValue()});
}

bool IRHasher::isDebugMetadata(const Metadata *md) {
  return md && (isa<DINode>(md) || isa<DILocation>(md) ||
                isa<DIExpression>(md) || isa<DIArgList>(md));
}

bool IRHasher::isOnlyDebugLoop(const MDNode *loop) {
  // `distinct !{!self, !DILocation, !DILocation}`: what -g alone attaches.
  for (const MDOperand &op : loop->operands())
    if (op.get() != loop && !isDebugMetadata(op.get()))
      return false;
  return true;
}

void IRHasher::value(const Value *v) {
  if (auto it = locals.find(v); it != locals.end()) {
    u8(tLocal);
    u32(it->second);
    return;
  }
  if (auto *c = dyn_cast<Constant>(v)) {
    constant(c);
    return;
  }
  if (auto *ia = dyn_cast<InlineAsm>(v)) {
    u8(tInlineAsm);
    str(ia->getAsmString());
    str(ia->getConstraintString());
    u8(ia->hasSideEffects());
    u8(ia->isAlignStack());
    u8(ia->getDialect());
    u8(ia->canThrow());
    type(ia->getFunctionType());
    return;
  }
  if (auto *mav = dyn_cast<MetadataAsValue>(v)) {
    u8(tMetadata);
    metadata(mav->getMetadata());
    return;
  }
  u8(tOther); // a local we did not number: cannot happen in verified IR
}

void IRHasher::instruction(const Instruction &inst) {
  u8(tInst);
  u32(inst.getOpcode());
  type(inst.getType());
  u8(inst.getRawSubclassOptionalData()); // nsw, exact, fast-math, inbounds...

  if (auto *cmp = dyn_cast<CmpInst>(&inst)) {
    u32(cmp->getPredicate());
  } else if (auto *ai = dyn_cast<AllocaInst>(&inst)) {
    type(ai->getAllocatedType());
    u64(ai->getAlign().value());
    u32(ai->getAddressSpace());
    u8(ai->isUsedWithInAlloca());
    u8(ai->isSwiftError());
  } else if (auto *li = dyn_cast<LoadInst>(&inst)) {
    u64(li->getAlign().value());
    u8(li->isVolatile());
    u8(uint8_t(li->getOrdering()));
    u8(li->getSyncScopeID());
  } else if (auto *si = dyn_cast<StoreInst>(&inst)) {
    u64(si->getAlign().value());
    u8(si->isVolatile());
    u8(uint8_t(si->getOrdering()));
    u8(si->getSyncScopeID());
  } else if (auto *rmw = dyn_cast<AtomicRMWInst>(&inst)) {
    u32(rmw->getOperation());
    u64(rmw->getAlign().value());
    u8(rmw->isVolatile());
    u8(uint8_t(rmw->getOrdering()));
    u8(rmw->getSyncScopeID());
  } else if (auto *cx = dyn_cast<AtomicCmpXchgInst>(&inst)) {
    u64(cx->getAlign().value());
    u8(cx->isVolatile());
    u8(cx->isWeak());
    u8(uint8_t(cx->getSuccessOrdering()));
    u8(uint8_t(cx->getFailureOrdering()));
    u8(cx->getSyncScopeID());
  } else if (auto *fence = dyn_cast<FenceInst>(&inst)) {
    u8(uint8_t(fence->getOrdering()));
    u8(fence->getSyncScopeID());
  } else if (auto *gep = dyn_cast<GetElementPtrInst>(&inst)) {
    type(gep->getSourceElementType());
  } else if (auto *call = dyn_cast<CallBase>(&inst)) {
    u32(call->getCallingConv());
    type(call->getFunctionType());
    attributes(call->getAttributes());
    if (auto *ci = dyn_cast<CallInst>(call))
      u8(ci->getTailCallKind());
    u32(call->getNumOperandBundles());
    for (unsigned i = 0; i < call->getNumOperandBundles(); ++i) {
      OperandBundleUse bundle = call->getOperandBundleAt(i);
      str(bundle.getTagName());
      u32(bundle.Inputs.size());
    }
  } else if (auto *phi = dyn_cast<PHINode>(&inst)) {
    for (const BasicBlock *bb : phi->blocks())
      value(bb);
  } else if (auto *ev = dyn_cast<ExtractValueInst>(&inst)) {
    for (unsigned i : ev->indices())
      u32(i);
  } else if (auto *iv = dyn_cast<InsertValueInst>(&inst)) {
    for (unsigned i : iv->indices())
      u32(i);
  } else if (auto *sv = dyn_cast<ShuffleVectorInst>(&inst)) {
    for (int i : sv->getShuffleMask())
      u32(uint32_t(i));
  } else if (auto *lp = dyn_cast<LandingPadInst>(&inst)) {
    u8(lp->isCleanup());
  }

  // The scope list a noalias.scope.decl names is alias-scope metadata too.
  auto *intrinsic = dyn_cast<IntrinsicInst>(&inst);
  opaqueStrings = intrinsic && intrinsic->getIntrinsicID() ==
                                   Intrinsic::experimental_noalias_scope_decl;
  u32(inst.getNumOperands());
  curCall = lineArgs && !lineArgs->empty() ? dyn_cast<CallBase>(&inst) : nullptr;
  for (const Use &op : inst.operands()) {
    operandNo = op.getOperandNo();
    value(op.get());
  }
  curCall = nullptr;
  opaqueStrings = false;

  // Non-debug metadata can steer code generation (!range, !prof, !tbaa,
  // !llvm.loop...); !srcloc encodes source lines and
  // !heapallocsite names a debug type; both are skipped.
  SmallVector<std::pair<unsigned, MDNode *>, 4> mds;
  inst.getAllMetadataOtherThanDebugLoc(mds);
  for (auto &[kind, node] : mds) {
    if (kind == LLVMContext::MD_DIAssignID)
      continue;
    StringRef kindName = kind < mdKindNames.size() ? mdKindNames[kind] : "";
    if (kindName == "srcloc" || kindName == "heapallocsite")
      continue;
    if (kind == LLVMContext::MD_loop && isOnlyDebugLoop(node))
      continue;
    str(kindName);
    opaqueStrings = kind == LLVMContext::MD_tbaa ||
                    kind == LLVMContext::MD_tbaa_struct ||
                    kind == LLVMContext::MD_alias_scope ||
                    kind == LLVMContext::MD_noalias;
    metadata(node);
    opaqueStrings = false;
  }
}

Fingerprint IRHasher::hashFunction(const Function &fn, HashMode how) {
  mode = how;
  sawLine = false;
  buf.clear();
  locals.clear();
  mdSeen.clear();
  opaqueNumbers.clear();
  // Number arguments, blocks and instructions first: PHIs refer forward.
  unsigned next = 0;
  for (const Argument &arg : fn.args())
    locals[&arg] = next++;
  for (const BasicBlock &bb : fn) {
    locals[&bb] = next++;
    for (const Instruction &inst : bb)
      if (!isa<DbgInfoIntrinsic>(inst))
        locals[&inst] = next++;
  }

  u8(tFunction);
  type(fn.getFunctionType());
  u32(fn.getCallingConv());
  u8(fn.getLinkage());
  u8(fn.getVisibility());
  u8(uint8_t(fn.getUnnamedAddr()));
  u8(fn.isDSOLocal());
  str(fn.getSection());
  u64(fn.getAlign() ? fn.getAlign()->value() : 0);
  str(fn.hasGC() ? fn.getGC() : "");
  attributes(fn.getAttributes());
  for (const Constant *extra :
       {fn.hasPersonalityFn() ? fn.getPersonalityFn() : nullptr,
        fn.hasPrefixData() ? fn.getPrefixData() : nullptr,
        fn.hasPrologueData() ? fn.getPrologueData() : nullptr}) {
    u8(extra != nullptr);
    if (extra)
      constant(extra);
  }

  for (const BasicBlock &bb : fn) {
    u8(tBlock);
    for (const Instruction &inst : bb)
      if (!isa<DbgInfoIntrinsic>(inst))
        instruction(inst);
  }
  mode = {};
  return hash128(buf);
}

uint64_t IRHasher::hashTypeOnly(Type *ty) {
  buf.clear();
  type(ty);
  return hash64(toStringRef(ArrayRef<uint8_t>(buf)));
}

uint64_t IRHasher::hashConstantOnly(const Constant &c) {
  buf.clear();
  locals.clear();
  ++contentDepth;
  constant(&c);
  --contentDepth;
  return hash64(toStringRef(ArrayRef<uint8_t>(buf)));
}

Fingerprint IRHasher::hashVariable(const GlobalVariable &gv) {
  buf.clear();
  locals.clear();
  mdSeen.clear();
  u8(gv.getLinkage());
  u8(gv.getVisibility());
  u64(gv.getDataLayout().getTypeAllocSize(gv.getValueType()));
  ++contentDepth;
  globalContents(gv);
  --contentDepth;
  return hash128(buf);
}

bool hasEndlessLoop(const Function &fn, SmallPtrSetImpl<const Function *> &seen);

/// Whether \p bb ends the function's frame: a return, a resume, or an
/// `unreachable` -- except after a call to a function of this TU that never
/// returns because it stays (a thread's service loop): that frame stays for
/// ever too. A call to a declaration (exit, abort, a throw) or to a function
/// that leaves by longjmp or a throw ends the frame.
bool isFrameExit(const BasicBlock &bb, SmallPtrSetImpl<const Function *> &seen) {
  if (!succ_empty(&bb))
    return false;
  if (!isa<UnreachableInst>(bb.getTerminator()))
    return true;
  const Instruction *prev = bb.getTerminator()->getPrevNonDebugInstruction();
  auto *call = dyn_cast_or_null<CallBase>(prev);
  const Function *callee = call ? call->getCalledFunction() : nullptr;
  if (!callee || callee->isDeclaration() || !call->doesNotReturn())
    return true;
  return !hasEndlessLoop(*callee, seen);
}

/// True when some block can reach no exit (return, resume, unreachable): a
/// `for (;;)` server loop, or a call to a function of this TU that stays
/// for ever. A frame running it never returns, so a patch of its function
/// only reaches new calls; hp-diff warns about it. \p seen breaks cycles of
/// such calls (a function already being asked about counts as leaving).
bool hasEndlessLoop(const Function &fn, SmallPtrSetImpl<const Function *> &seen) {
  if (!seen.insert(&fn).second)
    return false;
  SmallVector<const BasicBlock *, 16> work;
  SmallPtrSet<const BasicBlock *, 32> reachesExit;
  for (const BasicBlock &bb : fn)
    if (isFrameExit(bb, seen) && reachesExit.insert(&bb).second)
      work.push_back(&bb);
  while (!work.empty())
    for (const BasicBlock *pred : predecessors(work.pop_back_val()))
      if (reachesExit.insert(pred).second)
        work.push_back(pred);
  seen.erase(&fn);
  return reachesExit.size() != fn.size();
}

bool hasEndlessLoop(const Function &fn) {
  SmallPtrSet<const Function *, 4> seen;
  return hasEndlessLoop(fn, seen);
}

uint32_t linkageFlags(const GlobalValue &gv, uint32_t local, uint32_t weak,
                      uint32_t comdat) {
  uint32_t flags = 0;
  if (gv.hasLocalLinkage())
    flags |= local;
  if (gv.isWeakForLinker() && !gv.hasCommonLinkage())
    flags |= weak;
  if (gv.hasComdat())
    flags |= comdat;
  return flags;
}

/// The options string: what makes two builds' code comparable at all.
std::string describeOptions(const Module &m, StringRef optLevel,
                            const HotpatchOptions &opts,
                            const PrologueShape &shape) {
  std::string out;
  raw_string_ostream os(out);
  os << "triple=" << m.getTargetTriple();
  os << ";datalayout=" << m.getDataLayoutStr();
  os << ";opt=" << (optLevel.empty() ? StringRef("unknown") : optLevel);
  os << ";prologue=" << shape.padBefore << "+" << shape.entryNop;
  // Whether callers may depend on callee bodies decides which functions a
  // fix changes: builds made both ways cannot be diffed.
  os << ";ipo=" << ipoModeName(opts.ipo);
  if (!opts.frontendOptions.empty())
    os << ";" << opts.frontendOptions;
  // Module flags carry PIC/PIE level, code model, CET/BTI/PAC and the like.
  // Debug-info flags are left out: -g does not change the code.
  SmallVector<std::string, 16> flags;
  SmallVector<Module::ModuleFlagEntry, 16> entries;
  m.getModuleFlagsMetadata(entries);
  for (const Module::ModuleFlagEntry &e : entries) {
    StringRef key = e.Key->getString();
    if (key == "Debug Info Version" || key == "Dwarf Version" ||
        key == "CodeView" || key == "debug-info-assignment-tracking")
      continue;
    std::string val;
    if (auto *c = mdconst::dyn_extract_or_null<ConstantInt>(e.Val))
      val = std::to_string(c->getSExtValue());
    else if (auto *s = dyn_cast_or_null<MDString>(e.Val))
      val = s->getString().str();
    else
      val = "?";
    flags.push_back(("flag:" + key + "=" + val).str());
  }
  llvm::sort(flags);
  for (const std::string &f : flags)
    os << ";" << f;
  std::vector<std::string> excluded = opts.exclude;
  llvm::sort(excluded);
  if (!excluded.empty())
    os << ";exclude=" << join(excluded, ",");
  return out;
}

std::string producerOf(const Module &m) {
  std::string out;
  if (NamedMDNode *ident = m.getNamedMetadata("llvm.ident")) {
    SmallVector<std::string, 2> idents;
    for (const MDNode *node : ident->operands())
      if (node->getNumOperands() > 0)
        if (auto *s = dyn_cast<MDString>(node->getOperand(0)))
          idents.push_back(s->getString().str());
    llvm::sort(idents);
    idents.erase(std::unique(idents.begin(), idents.end()), idents.end());
    out = join(idents, "; ");
  }
  if (!out.empty())
    out += "; ";
  return out + "LLVM " LLVM_VERSION_STRING;
}

/// `.ascii` lines for \p bytes; printable characters stay readable in -S.
void emitAscii(raw_ostream &os, StringRef bytes) {
  constexpr size_t perLine = 64;
  for (size_t at = 0; at < bytes.size(); at += perLine) {
    os << "\t.ascii\t\"";
    for (char ch : bytes.substr(at, perLine)) {
      auto b = uint8_t(ch);
      if (b >= 0x20 && b < 0x7f && ch != '"' && ch != '\\')
        os << ch;
      else
        os << '\\' << char('0' + (b >> 6)) << char('0' + ((b >> 3) & 7))
           << char('0' + (b & 7));
    }
    os << "\"\n";
  }
}

constexpr const char *sourceMDName = "hotpatch.source";

/// The functions of this TU that \p fn calls directly, by symbol name,
/// sorted: as written (SourcePass) or as emitted (FingerprintPass).
std::vector<std::string>
directCallees(const Function &fn,
              function_ref<std::string(const GlobalValue &)> symbolName) {
  std::vector<std::string> out;
  for (const BasicBlock &bb : fn)
    for (const Instruction &inst : bb)
      if (auto *call = dyn_cast<CallBase>(&inst))
        if (const Function *callee = call->getCalledFunction())
          if (callee != &fn && !callee->isDeclarationForLinker() &&
              !callee->hasPrivateLinkage())
            out.push_back(symbolName(*callee));
  llvm::sort(out);
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

/// A global's name as it will be in the ELF symbol table.
class SymbolNamer {
public:
  std::string operator()(const GlobalValue &gv) {
    SmallString<128> name;
    mangler.getNameWithPrefix(name, &gv, /*CannotUsePrivateLabel=*/false);
    return std::string(name);
  }

private:
  Mangler mangler;
};

/// What SourcePass recorded of one function as written.
struct AsWritten {
  uint64_t sourceHash = 0;
  uint32_t flags = 0;
  std::vector<std::string> callees;
  bool emitted = false; // still defined at the end
};

} // namespace

/// The calls in \p fn that pass on its parameter \p arg unchanged, as the
/// front end emits it before optimisation: the parameter stored once into
/// its own slot, loaded, maybe widened or narrowed, and passed. Gives
/// (callee, argument position from the last) for each.
SmallVector<std::pair<const Function *, unsigned>, 4>
passedOn(const Argument &arg) {
  SmallVector<const Value *, 8> copies{&arg};
  for (const User *u : arg.users()) {
    auto *store = dyn_cast<StoreInst>(u);
    auto *slot = store ? dyn_cast<AllocaInst>(store->getPointerOperand()) : nullptr;
    if (!slot || store->getValueOperand() != &arg)
      continue;
    // Only a slot nothing else writes keeps the parameter's value.
    if (llvm::any_of(slot->users(), [&](const User *w) {
          return w != store && !isa<LoadInst>(w);
        }))
      continue;
    for (const User *w : slot->users())
      if (isa<LoadInst>(w))
        copies.push_back(w);
  }
  for (size_t i = 0; i < copies.size(); ++i)
    for (const User *u : copies[i]->users())
      if (isa<CastInst>(u) && llvm::is_contained(
                                  {Instruction::SExt, Instruction::ZExt,
                                   Instruction::Trunc},
                                  cast<CastInst>(u)->getOpcode()))
        copies.push_back(u);
  SmallVector<std::pair<const Function *, unsigned>, 4> out;
  for (const Value *copy : copies)
    for (const Use &use : copy->uses()) {
      auto *call = dyn_cast<CallBase>(use.getUser());
      if (!call || !call->isArgOperand(&use) || !call->getCalledFunction())
        continue;
      out.emplace_back(call->getCalledFunction(),
                       call->arg_size() - 1 - call->getArgOperandNo(&use));
    }
  return out;
}

/// Adds to \p lines where a function that receives `__LINE__` passes it on
/// (assert-like wrappers: `sqlite3CorruptError(__LINE__)` logs its
/// `lineno`), until nothing more is found: once such a wrapper is inlined,
/// its caller's line number stands in the wrapper's inner call.
void followLineParameters(const Module &m, LineArguments &lines) {
  for (bool grew = true; grew;) {
    grew = false;
    for (const Function &fn : m) {
      if (fn.isDeclaration())
        continue;
      for (const Argument &arg : fn.args()) {
        unsigned fromEnd = fn.arg_size() - 1 - arg.getArgNo();
        auto first = lines.lower_bound({fn.getName().str(), fromEnd, 0});
        if (first == lines.end() || std::get<0>(*first) != fn.getName() ||
            std::get<1>(*first) != fromEnd)
          continue;
        SmallVector<uint64_t, 8> values;
        for (auto it = first; it != lines.end() && std::get<0>(*it) == fn.getName() &&
                              std::get<1>(*it) == fromEnd;
             ++it)
          values.push_back(std::get<2>(*it));
        for (auto [callee, calleeFromEnd] : passedOn(arg))
          for (uint64_t v : values)
            grew |= lines.emplace(callee->getName().str(), calleeFromEnd, v).second;
      }
    }
  }
}

PreservedAnalyses SourcePass::run(Module &m, ModuleAnalysisManager &) {
  if (opts.lineArguments && !opts.lineArguments->empty())
    followLineParameters(m, *opts.lineArguments);
  IRHasher hasher(m, opts.lineArguments.get());
  SymbolNamer symbolName;
  LLVMContext &ctx = m.getContext();
  Type *i64 = Type::getInt64Ty(ctx);
  Type *i32 = Type::getInt32Ty(ctx);
  NamedMDNode *md = m.getOrInsertNamedMetadata(sourceMDName);
  for (const Function &fn : m) {
    if (fn.isDeclarationForLinker() || fn.hasPrivateLinkage())
      continue;
    Fingerprint h =
        hasher.hashFunction(fn, HashMode{/*maskLines=*/true, /*sourceOnly=*/true});
    std::vector<std::string> callees = directCallees(fn, symbolName);
    md->addOperand(MDTuple::get(
        ctx, {MDString::get(ctx, symbolName(fn)),
              ConstantAsMetadata::get(ConstantInt::get(i64, h.lo)),
              ConstantAsMetadata::get(ConstantInt::get(
                  i32, linkageFlags(fn, FnLocal, FnWeak, FnComdat))),
              MDString::get(ctx, join(callees, ","))}));
  }
  return PreservedAnalyses::all();
}

PreservedAnalyses FingerprintPass::run(Module &m, ModuleAnalysisManager &) {
  Triple triple(m.getTargetTriple());
  const PrologueShape *shape = prologueFor(triple);
  if (!shape) {
    m.getContext().emitError(
        "hotpatch: target '" + m.getTargetTriple() +
        "' is not supported; hotpatch patches x86_64 and aarch64 ELF code");
    return PreservedAnalyses::all();
  }
  // Under -flto this hook runs before the link-time optimiser rewrites the
  // code, so the table would describe code that never exists: refuse.
  if (m.getModuleFlag("ThinLTO") || m.getModuleFlag("EnableSplitLTOUnit")) {
    m.getContext().emitError(
        "hotpatch: -flto is not supported: link-time optimisation changes "
        "functions after their fingerprints are taken, so patches made from "
        "them would be wrong; build without -flto");
    return PreservedAnalyses::all();
  }

  IRHasher hasher(m, opts.lineArguments.get());
  SymbolNamer symbolName;

  // What SourcePass saw before optimisation, if it ran.
  StringMap<AsWritten> asWritten;
  if (NamedMDNode *md = m.getNamedMetadata(sourceMDName)) {
    for (const MDNode *node : md->operands()) {
      if (node->getNumOperands() != 4)
        continue;
      auto *name = dyn_cast<MDString>(node->getOperand(0));
      auto *hash = mdconst::dyn_extract<ConstantInt>(node->getOperand(1));
      auto *flags = mdconst::dyn_extract<ConstantInt>(node->getOperand(2));
      auto *callees = dyn_cast<MDString>(node->getOperand(3));
      if (!name || !hash || !flags || !callees)
        continue;
      AsWritten &w = asWritten[name->getString()];
      w.sourceHash = hash->getZExtValue();
      w.flags = uint32_t(flags->getZExtValue());
      SmallVector<StringRef, 8> parts;
      callees->getString().split(parts, ',', -1, /*KeepEmpty=*/false);
      for (StringRef p : parts)
        w.callees.push_back(p.str());
    }
    m.eraseNamedMetadata(md);
  }

  TableRecord record;
  record.eMachine = shape->eMachine;
  record.padBeforeBytes = shape->padBefore;
  record.entryNopBytes = shape->entryNop;
  record.sourceFile = m.getSourceFileName();
  record.producer = producerOf(m);
  record.options = describeOptions(m, optLevel, opts, *shape);
  record.optionsHash = hash64(record.producer + "\n" + record.options);

  for (const Function &fn : m) {
    // Private functions have no symbol to patch through; their callers'
    // fingerprints still cover calls to them.
    if (fn.isDeclarationForLinker() || fn.hasPrivateLinkage())
      continue;
    FunctionEntry entry;
    entry.name = symbolName(fn);
    entry.flags = linkageFlags(fn, FnLocal, FnWeak, FnComdat);
    if (fn.hasComdat())
      entry.comdat = fn.getComdat()->getName().str();
    if (fn.hasFnAttribute("patchable-function-entry")) {
      entry.flags |= FnPatchable;
    } else {
      entry.flags |= FnOptedOut;
      if (fn.hasFnAttribute(excludeAttr))
        entry.reason = "opted out by the hotpatch_exclude attribute";
      else if (llvm::is_contained(opts.exclude, fn.getName()))
        entry.reason = "opted out by -fplugin-arg-hotpatch-exclude";
      else if (fn.hasFnAttribute(Attribute::Naked))
        entry.reason = "naked function (no prologue can be added)";
      else
        entry.reason = "built without the patchable prologue";
    }
    if (hasEndlessLoop(fn))
      entry.flags |= FnEndlessLoop;
    if (llvm::any_of(fn, [](const BasicBlock &bb) { return bb.isLandingPad(); }))
      entry.flags |= FnLandingPads;
    entry.fingerprint = hasher.hashFunction(fn);
    // Hash again with line numbers masked only when there were some.
    if (opts.lineArguments)
      entry.positionFreeHash =
          hasher.sawLineNumber()
              ? hasher.hashFunction(fn, HashMode{/*maskLines=*/true}).lo
              : entry.fingerprint.lo;
    entry.calls = directCallees(fn, symbolName);
    if (auto it = asWritten.find(entry.name); it != asWritten.end()) {
      entry.sourceHash = it->second.sourceHash;
      entry.callees = it->second.callees;
      it->second.emitted = true;
    }
    record.functions.push_back(std::move(entry));
  }
  for (auto &written : asWritten) {
    AsWritten &w = written.second;
    if (w.emitted)
      continue;
    FunctionEntry removed;
    removed.name = written.getKey().str();
    removed.flags = w.flags;
    removed.sourceHash = w.sourceHash;
    removed.callees = std::move(w.callees);
    record.removedFunctions.push_back(std::move(removed));
  }

  for (const GlobalVariable &gv : m.globals()) {
    if (gv.isDeclarationForLinker() || gv.hasPrivateLinkage() ||
        gv.getName().starts_with("llvm.") || gv.getSection() == "llvm.metadata")
      continue;
    VariableEntry entry;
    entry.name = symbolName(gv);
    entry.flags = linkageFlags(gv, VarLocal, VarWeak, VarComdat);
    if (gv.isConstant())
      entry.flags |= VarConstant;
    if (gv.isThreadLocal())
      entry.flags |= VarTLS;
    if (gv.hasCommonLinkage())
      entry.flags |= VarCommon;
    if (gv.hasInitializer() && gv.getInitializer()->isNullValue())
      entry.flags |= VarZeroInit;
    if (gv.hasComdat())
      entry.comdat = gv.getComdat()->getName().str();
    const DataLayout &dl = m.getDataLayout();
    entry.sizeBytes = dl.getTypeAllocSize(gv.getValueType());
    entry.alignBytes = gv.getAlign() ? gv.getAlign()->value()
                                     : dl.getPreferredAlign(&gv).value();
    entry.typeHash = hasher.hashTypeOnly(gv.getValueType());
    entry.initHash =
        gv.hasInitializer() ? hasher.hashConstantOnly(*gv.getInitializer()) : 0;
    entry.fingerprint = hasher.hashVariable(gv);
    record.variables.push_back(std::move(entry));
  }

  // Same inputs, same bytes: order by name, not by position in the module.
  llvm::sort(record.functions, [](const FunctionEntry &a, const FunctionEntry &b) {
    return a.name < b.name;
  });
  llvm::sort(record.variables, [](const VariableEntry &a, const VariableEntry &b) {
    return a.name < b.name;
  });
  llvm::sort(record.removedFunctions,
             [](const FunctionEntry &a, const FunctionEntry &b) {
               return a.name < b.name;
             });

  std::string bytes = encodeRecord(record);
  std::string text;
  raw_string_ostream os(text);
  // '@' starts a comment in AArch64 assembly, so its section type uses '%'.
  os << "\t.pushsection\t" << fingerprintSectionName << ",\"\","
     << (triple.isAArch64() ? "%progbits" : "@progbits") << "\n";
  emitAscii(os, bytes);
  os << "\t.popsection\n";
  m.appendModuleInlineAsm(text);
  return PreservedAnalyses::all();
}

} // namespace hotpatch
