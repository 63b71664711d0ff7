//===- clang-plugin/plugin-action.cpp - hotpatch.so, the one file users name ===//
//
// `-fplugin=hotpatch.so` alone must make a build patchable. An add-before-main
// action runs before clang's own code generation reads its options, so it can
// still turn on function and data sections and hand code generation our
// passes (through CodeGenOptions::PassBuilderCallbacks). It also registers
// the source attribute `hotpatch_exclude` ([[hotpatch::exclude]]).
//
//===----------------------------------------------------------------------===//

#include "passes.h"

#include "clang/AST/ASTConsumer.h"
#include "clang/AST/Attr.h"
#include "clang/AST/Mangle.h"
#include "clang/AST/RecursiveASTVisitor.h"
#include "clang/Basic/DiagnosticSema.h"
#include "clang/Frontend/CompilerInstance.h"
#include "clang/Frontend/FrontendPluginRegistry.h"
#include "clang/Lex/Lexer.h"
#include "clang/Lex/PPCallbacks.h"
#include "clang/Lex/Preprocessor.h"
#include "clang/Sema/ParsedAttr.h"
#include "clang/Sema/Sema.h"
#include "llvm/Passes/PassBuilder.h"

using namespace clang;

namespace {

/// Notes whether the TU expands `__LINE__` at all (a pointer compare per
/// macro expansion), so that the AST is walked only when it can matter.
class LineMacroSeen : public PPCallbacks {
public:
  LineMacroSeen(Preprocessor &pp, std::shared_ptr<bool> seen)
      : lineMacro(pp.getIdentifierInfo("__LINE__")), seen(std::move(seen)) {}
  void MacroExpands(const Token &name, const MacroDefinition &, SourceRange,
                    const MacroArgs *) override {
    if (name.getIdentifierInfo() == lineMacro)
      *seen = true;
  }

private:
  const IdentifierInfo *lineMacro;
  std::shared_ptr<bool> seen; // shared with the consumer, which reads it
};

/// Finds every call that passes `__LINE__` itself as an argument (what
/// assert() and logging macros do) and records the callee, the argument's
/// position counted from the last and the value: the only constants the
/// fingerprint may take for line numbers (llvm-pass/fingerprint.cpp).
class LineArgumentFinder : public RecursiveASTVisitor<LineArgumentFinder> {
public:
  LineArgumentFinder(ASTContext &ctx, hotpatch::LineArguments &out)
      : ctx(ctx), names(ctx), out(out) {}
  bool shouldVisitTemplateInstantiations() const { return true; }
  bool shouldVisitImplicitCode() const { return true; }

  bool VisitCallExpr(CallExpr *call) {
    const FunctionDecl *callee = call->getDirectCallee();
    if (!callee)
      return true;
    unsigned n = call->getNumArgs();
    std::string name;
    for (unsigned i = 0; i < n; ++i) {
      auto *lit = dyn_cast<IntegerLiteral>(call->getArg(i)->IgnoreParenCasts());
      if (!lit || !lit->getLocation().isMacroID() ||
          Lexer::getImmediateMacroName(lit->getLocation(),
                                       ctx.getSourceManager(),
                                       ctx.getLangOpts()) != "__LINE__")
        continue;
      if (name.empty())
        name = names.getName(callee);
      out.emplace(name, n - 1 - i, lit->getValue().getLimitedValue());
    }
    return true;
  }

private:
  ASTContext &ctx;
  ASTNameGenerator names;
  hotpatch::LineArguments &out;
};

class HotpatchConsumer : public ASTConsumer {
public:
  HotpatchConsumer(std::shared_ptr<bool> lineSeen,
                   std::shared_ptr<hotpatch::LineArguments> lineArgs)
      : lineSeen(std::move(lineSeen)), lineArgs(std::move(lineArgs)) {}
  // Runs before clang's own code generation consumer, so before the passes.
  void HandleTranslationUnit(ASTContext &ctx) override {
    if (*lineSeen)
      LineArgumentFinder(ctx, *lineArgs).TraverseDecl(ctx.getTranslationUnitDecl());
  }

private:
  std::shared_ptr<bool> lineSeen;
  std::shared_ptr<hotpatch::LineArguments> lineArgs;
};

class HotpatchAction : public PluginASTAction {
public:
  bool ParseArgs(const CompilerInstance &ci,
                 const std::vector<std::string> &args) override {
    DiagnosticsEngine &diags = ci.getDiagnostics();
    for (const std::string &arg : args) {
      auto [key, value] = llvm::StringRef(arg).split('=');
      if (key == "exclude" && !value.empty()) {
        llvm::SmallVector<llvm::StringRef, 4> names;
        value.split(names, ',', -1, /*KeepEmpty=*/false);
        for (llvm::StringRef name : names)
          opts.exclude.push_back(name.str());
        continue;
      }
      if (key == "ipo") {
        llvm::Expected<hotpatch::IpoMode> mode = hotpatch::parseIpoMode(value);
        if (mode) {
          opts.ipo = *mode;
          continue;
        }
        llvm::consumeError(mode.takeError());
        diags.Report(diags.getCustomDiagID(
            DiagnosticsEngine::Error,
            "hotpatch: '-fplugin-arg-hotpatch-ipo=%0' is not a known mode "
            "(known: inline-only, the default: callers depend on a patchable "
            "function's body only by inlining it; full: every interprocedural "
            "optimisation, so a fix may pull its callers into the patch)"))
            << value;
        return false;
      }
      if (key == "exclude")
        diags.Report(diags.getCustomDiagID(
            DiagnosticsEngine::Error,
            "hotpatch: '-fplugin-arg-hotpatch-exclude' needs a value: "
            "-fplugin-arg-hotpatch-exclude=NAME[,NAME...]"));
      else
        diags.Report(diags.getCustomDiagID(
            DiagnosticsEngine::Error,
            "hotpatch: unknown option '-fplugin-arg-hotpatch-%0' (known: "
            "exclude=NAME[,NAME...], ipo=inline-only|full)"))
            << arg;
      return false;
    }
    return true;
  }

  std::unique_ptr<ASTConsumer> CreateASTConsumer(CompilerInstance &ci,
                                                 llvm::StringRef) override {
    CodeGenOptions &cg = ci.getCodeGenOpts();
    if (cg.PrepareForLTO || cg.PrepareForThinLTO) {
      DiagnosticsEngine &diags = ci.getDiagnostics();
      diags.Report(diags.getCustomDiagID(
          DiagnosticsEngine::Error,
          "hotpatch: -flto is not supported: link-time optimisation changes "
          "functions after their fingerprints are taken, so patches made from "
          "them would be wrong; build without -flto"));
    }
    // One section per function and per variable: hp-diff lifts them out one
    // by one, and a linker never merges a patched function into a neighbour.
    cg.FunctionSections = 1;
    cg.DataSections = 1;
    // The prologue pass sets the per-function attributes; clear clang's own
    // -fpatchable-function-entry so the two cannot disagree.
    cg.PatchableFunctionEntryCount = 0;
    cg.PatchableFunctionEntryOffset = 0;
    hotpatch::HotpatchOptions passOpts = opts;
    passOpts.frontendOptions = "function-sections=1;data-sections=1";
    const LangOptions &lang = ci.getLangOpts();
    passOpts.cxxExceptions = lang.CPlusPlus && lang.CXXExceptions;
    // Where __LINE__ is passed to a function, filled once the TU is parsed.
    auto lineSeen = std::make_shared<bool>(false);
    auto lineArgs = std::make_shared<hotpatch::LineArguments>();
    passOpts.lineArguments = lineArgs;
    ci.getPreprocessor().addPPCallbacks(
        std::make_unique<LineMacroSeen>(ci.getPreprocessor(), lineSeen));
    cg.PassBuilderCallbacks.push_back([passOpts](llvm::PassBuilder &pb) {
      hotpatch::registerHotpatchPasses(pb, passOpts);
    });
    return std::make_unique<HotpatchConsumer>(lineSeen, lineArgs);
  }

  ActionType getActionType() override { return AddBeforeMainAction; }

private:
  hotpatch::HotpatchOptions opts;
};

/// `__attribute__((hotpatch_exclude))`, `[[hotpatch::exclude]]`: this
/// function gets no prologue, and hp-diff will say so if it ever changes.
struct ExcludeAttrInfo : public ParsedAttrInfo {
  ExcludeAttrInfo() {
    OptArgs = 0;
    static constexpr Spelling spellings[] = {
        {ParsedAttr::AS_GNU, "hotpatch_exclude"},
        {ParsedAttr::AS_C23, "hotpatch::exclude"},
        {ParsedAttr::AS_CXX11, "hotpatch::exclude"},
    };
    Spellings = spellings;
  }

  bool diagAppertainsToDecl(Sema &s, const ParsedAttr &attr,
                            const Decl *d) const override {
    if (isa<FunctionDecl>(d))
      return true;
    s.Diag(attr.getLoc(), diag::warn_attribute_wrong_decl_type_str)
        << attr << attr.isRegularKeywordAttribute() << "functions";
    return false;
  }

  AttrHandling handleDeclAttribute(Sema &s, Decl *d,
                                   const ParsedAttr &attr) const override {
    // An annotation reaches the IR; AnnotationPass turns it into an attribute.
    d->addAttr(AnnotateAttr::Create(s.Context, hotpatch::excludeAnnotation,
                                    nullptr, 0, attr.getRange()));
    return AttributeApplied;
  }
};

} // namespace

static FrontendPluginRegistry::Add<HotpatchAction>
    registerAction("hotpatch", "make every function live-patchable");
static ParsedAttrInfoRegistry::Add<ExcludeAttrInfo>
    registerAttr("hotpatch_exclude", "keep a function out of live patching");
