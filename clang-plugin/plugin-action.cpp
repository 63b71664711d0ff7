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
#include "clang/Basic/DiagnosticSema.h"
#include "clang/Frontend/CompilerInstance.h"
#include "clang/Frontend/FrontendPluginRegistry.h"
#include "clang/Lex/PPCallbacks.h"
#include "clang/Lex/Preprocessor.h"
#include "clang/Sema/ParsedAttr.h"
#include "clang/Sema/Sema.h"
#include "llvm/Passes/PassBuilder.h"

using namespace clang;

namespace {

/// Records the lines on which `__LINE__` is expanded, the way the
/// preprocessor computes its value (the end of the outermost expansion), so
/// the fingerprint can tell a line number from any other constant.
class LineMacroRecorder : public PPCallbacks {
public:
  LineMacroRecorder(Preprocessor &pp,
                    std::shared_ptr<llvm::DenseSet<unsigned>> lines)
      : sm(pp.getSourceManager()), lineMacro(pp.getIdentifierInfo("__LINE__")),
        lines(std::move(lines)) {}

  void MacroExpands(const Token &name, const MacroDefinition &, SourceRange,
                    const MacroArgs *) override {
    if (name.getIdentifierInfo() != lineMacro)
      return;
    SourceLocation loc = name.getLocation();
    if (loc.isMacroID())
      loc = sm.getExpansionRange(loc).getEnd();
    PresumedLoc presumed = sm.getPresumedLoc(loc);
    if (presumed.isValid())
      lines->insert(presumed.getLine());
  }

private:
  const SourceManager &sm;
  const IdentifierInfo *lineMacro;
  std::shared_ptr<llvm::DenseSet<unsigned>> lines;
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
    // Line numbers are told apart by the line an instruction stands on:
    // track locations (no debug info is emitted for it, as for -Rpass).
    if (cg.getDebugInfo() == llvm::codegenoptions::NoDebugInfo)
      cg.setDebugInfo(llvm::codegenoptions::LocTrackingOnly);
    auto lines = std::make_shared<llvm::DenseSet<unsigned>>();
    passOpts.lineMacroLines = lines;
    ci.getPreprocessor().addPPCallbacks(
        std::make_unique<LineMacroRecorder>(ci.getPreprocessor(), lines));
    cg.PassBuilderCallbacks.push_back([passOpts](llvm::PassBuilder &pb) {
      hotpatch::registerHotpatchPasses(pb, passOpts);
    });
    return std::make_unique<ASTConsumer>();
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
