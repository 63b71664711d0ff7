//===- runtime/revert.cpp - take an applied patch back --------------------===//
//
// The saved bytes go back with every thread stopped: first every redirect
// through its gate and the commit byte cleared (every function back at
// once, however hp-apply dies after), then each entry (new calls take the
// old code again), then the padding. Under strict, as for an apply, only
// while no stack holds the patch's region: a thread inside the new code
// would go on into old callees, a mix of both versions. The patch stays
// mapped, code included: under entry-only and none a thread may still be
// running it, and pointers into it (a string literal, a callback, a vtable
// the new code stored in a global) may outlive the revert; no stack check
// sees those. Its record stays, for --list.
//
//===----------------------------------------------------------------------===//

#include "loader.h"

#include "arch.h"
#include "flip.h"
#include "module.h"
#include "patch-frames.h"
#include "return-gates.h"
#include "stack-check.h"
#include "unwind.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/Endian.h"
#include "llvm/Support/FormatVariadic.h"

using namespace llvm;

namespace hotpatch {
namespace {

/// Refuses reverting \p id unless it is active and the newest active patch
/// of each of its functions (stacked patches revert last first).
Expected<const AppliedPatch &> revertible(const Target &target,
                                          const std::vector<AppliedPatch> &all,
                                          uint32_t id) {
  auto patch = llvm::find_if(all, [&](const AppliedPatch &p) { return p.id == id; });
  if (patch == all.end())
    return applyError(ApplyError::Refused,
                      formatv("process {0} has no patch {1}", target.pid(), id));
  if (!patch->active())
    return applyError(ApplyError::Refused, formatv("patch {0} is already reverted", id));
  for (const AppliedPatch &p : all)
    if (p.active() && p.id > id)
      for (const RecordedFunction &a : p.functions)
        for (const RecordedFunction &b : patch->functions)
          if (a.entryAddr == b.entryAddr)
            return applyError(ApplyError::Refused,
                              formatv("patch {0} also replaces '{1}'; revert it "
                                      "first (last applied, first reverted)",
                                      p.id, a.name));
  return *patch;
}

/// One function's writes, made before the stop.
struct Restore {
  uint64_t padAddr, siteAddr;
  ArrayRef<uint8_t> saved, savedSite; ///< all saved bytes; the entry NOP's
  Arch::Redirect toGate;
};

Error restore(Target &target, const AppliedPatch &patch,
              const std::vector<Restore> &restores) {
  if (patch.gatesOffset) {
    for (const Restore &r : restores) {
      if (Error err = target.write(r.padAddr, r.toGate.pad))
        return err;
      if (Error err = target.write(r.siteAddr, r.toGate.site))
        return err;
    }
    static constexpr uint8_t zero[] = {0};
    if (Error err = target.write(patch.recordAddr + RecordLayout::commitOffset, zero))
      return err;
  }
  for (const Restore &r : restores)
    if (Error err = target.write(r.siteAddr, r.savedSite))
      return err;
  for (const Restore &r : restores)
    if (Error err = target.write(r.padAddr, r.saved))
      return err;
  uint8_t state[8];
  support::endian::write64le(state, uint64_t(RecordState::Reverted));
  return target.write(patch.recordAddr + RecordLayout::stateOffset, state);
}

/// The restore as flipStopped's change: the patch's whole region is the
/// one range no stack may hold.
class RevertChange : public StoppedChange {
public:
  RevertChange(Target &target, const AppliedPatch &patch, const std::vector<Restore> &restores)
      : target(target), patch(patch), restores(restores) {}
  Error enterAndCommit() override { return restore(target, patch, restores); }
  std::string rangeName(uint64_t) const override {
    std::vector<std::string> names;
    for (const RecordedFunction &fn : patch.functions)
      names.push_back(fn.name + "()");
    return formatv("patch {0}'s code ({1})", patch.id, llvm::join(names, ", ")).str();
  }

private:
  Target &target;
  const AppliedPatch &patch;
  const std::vector<Restore> &restores;
};

} // namespace

Expected<RevertReport> revertPatch(Target &target, uint32_t id,
                                   const ApplyOptions &opts) {
  Expected<std::vector<AppliedPatch>> all = listPatches(target);
  if (!all)
    return all.takeError();
  Expected<const AppliedPatch &> patch = revertible(target, *all, id);
  if (!patch)
    return patch.takeError();
  Expected<const Arch &> arch = patch->eMachine ? getArch(patch->eMachine) : hostArch();
  if (!arch)
    return applyError(ApplyError::Refused, toString(arch.takeError()));
  const PrologueShape &shape = arch->prologue();
  std::vector<Restore> restores;
  for (size_t i = 0; i < patch->functions.size(); ++i) {
    const RecordedFunction &fn = patch->functions[i];
    if (fn.saved.size() < shape.padBefore + fn.site + shape.entryNop)
      return applyError(ApplyError::Failed,
                        formatv("patch {0}: corrupt record for '{1}'", id, fn.name));
    uint64_t gate = patch->regionAddr + patch->gatesOffset + i * arch->gateSize();
    restores.push_back({fn.entryAddr - shape.padBefore, fn.entryAddr + fn.site,
                        fn.saved,
                        ArrayRef<uint8_t>(fn.saved).slice(shape.padBefore + fn.site,
                                                          shape.entryNop),
                        arch->encodeRedirect(fn.entryAddr, fn.site, gate)});
  }
  RevertReport report;
  report.id = id;
  for (const RecordedFunction &fn : patch->functions)
    report.functions.push_back(fn.name);
  if (opts.dryRun)
    return report;

  std::unique_ptr<Unwinder> unwinder;
  std::optional<StackCheck> check;
  std::optional<ReturnGates> gates;
  Expected<std::vector<Mapping>> maps = target.mappings();
  if (!maps)
    return applyError(ApplyError::Gone, toString(maps.takeError()));
  std::vector<Module> modules;
  IfuncChoices ifuncs;
  if (opts.policy == Policy::Strict) {
    Expected<std::unique_ptr<Unwinder>> u =
        Unwinder::create(target.procId(), readPatchFrames(target, *all));
    if (!u)
      return applyError(ApplyError::Failed, toString(u.takeError()));
    unwinder = std::move(*u);
    check.emplace(*unwinder, std::vector<Unwinder::AddressRange>{
                                 {patch->regionAddr, patch->regionAddr + patch->regionSize}});
    // Return gates as for an apply: they need the patched module (its
    // unwinder registers the gates' tables when the page is made). Only
    // where the call itself put the return address (x86_64): on aarch64
    // the slot in a frame of patch code comes from the patch's own tables,
    // and gates armed so are untested (the guest's walks through patch
    // frames were wrong until patches inside a module's range were left
    // out of the unwinder: unwind.cpp).
    modules = groupModules(target, *maps);
    uint64_t entry = patch->functions.empty() ? 0 : patch->functions.front().entryAddr;
    auto module = llvm::find_if(modules, [&](const Module &m) {
      return entry >= m.start && entry < m.end;
    });
    if (opts.waitNs && opts.returnGates && module != modules.end() &&
        arch->returnGateShape().pushedAt) {
      gates.emplace(target, *arch, SymbolContext{*module, modules, *maps, ifuncs});
      check->setPassing([&](int tid, const UnwindRegisters &regs) {
        return gates->passing(tid, regs);
      });
    }
  }
  RevertChange change(target, *patch, restores);
  ApplyReport flip;
  if (Error err = flipStopped(target, change, check ? &*check : nullptr,
                              gates ? &*gates : nullptr, opts, *maps, flip))
    return std::move(err);
  report.pauseNs = flip.pauseNs;
  report.tries = flip.tries;
  report.returnGates = flip.returnGates;
  return report;
}

} // namespace hotpatch
