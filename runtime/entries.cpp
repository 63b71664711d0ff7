//===- runtime/entries.cpp - where each replaced function is --------------===//

#include "entries.h"

#include "apply-error.h"

#include "llvm/Support/FormatVariadic.h"

using namespace llvm;

namespace hotpatch {
namespace {

Expected<uint64_t> entryOf(const FunctionMapEntry &fn, const Module &mod) {
  if (fn.oldOffset != unresolvedOffset)
    return mod.base + fn.oldOffset;
  if (fn.oldSource.empty()) {
    // A global of hidden visibility is local in the linked module.
    SmallVector<uint64_t, 1> found = mod.symbols.findGlobal(fn.oldName);
    if (found.empty())
      return applyError(ApplyError::Refused,
                        formatv("{0} has no function '{1}'", mod.path, fn.oldName));
    if (found.size() > 1)
      return applyError(ApplyError::Refused,
                        formatv("{0} has {1} functions '{2}' the linker made "
                                "local (hidden visibility); patch with "
                                "--target to tell them apart",
                                mod.path, found.size(), fn.oldName));
    return found.front();
  }
  auto it = mod.symbols.locals.find({fn.oldSource, fn.oldName});
  if (it == mod.symbols.locals.end() || it->second.size() != 1)
    return applyError(ApplyError::Refused,
                      formatv("{0}: cannot tell which file-local function '{1}' "
                              "from {2} to patch", mod.path, fn.oldName,
                              fn.oldSource));
  return it->second.front();
}

/// The active patches replacing one function, and what the oldest saved.
struct Stacked {
  const AppliedPatch *oldest = nullptr, *newest = nullptr;
  const RecordedFunction *original = nullptr; ///< in oldest: the saved bytes
};
Stacked patchesAt(const std::vector<AppliedPatch> &earlier, uint64_t entry) {
  Stacked s;
  for (const AppliedPatch &p : earlier) { // oldest first
    if (!p.active())
      continue;
    for (const RecordedFunction &r : p.functions)
      if (r.entryAddr == entry) {
        if (!s.oldest) {
          s.oldest = &p;
          s.original = &r;
        }
        s.newest = &p;
      }
  }
  return s;
}

/// Settles what \p flip runs now when its bytes are not those the patch
/// expects: an earlier patch's redirect, over the expected bytes.
Error stackOnEarlier(FunctionFlip &flip, const FunctionMapEntry &fn,
                     const std::vector<AppliedPatch> &earlier) {
  Stacked on = patchesAt(earlier, flip.entryAddr);
  // The oldest active patch saved the original bytes: they must be what
  // this patch expects.
  if (!on.oldest || on.original->saved != fn.expected)
    return applyError(
        ApplyError::Refused,
        formatv("function '{0}' at {1:x} does not start with the bytes the "
                "patch expects (not built with the plugin, a different build, "
                "or patched by another tool); nothing was changed",
                fn.oldName, flip.entryAddr));
  // Uncommitted, this patch's gate goes back to what runs now: the newest
  // patch's code for this function.
  if (!on.newest->committed)
    return applyError(ApplyError::Refused,
                      formatv("patch {0} was interrupted before it took effect; "
                              "revert it first (hp-apply --revert {0}); nothing "
                              "was changed", on.newest->id));
  for (const RecordedFunction &r : on.newest->functions)
    if (r.entryAddr == flip.entryAddr)
      flip.back = r.newAddr;
  flip.stacked = true;
  flip.previousCode = {on.newest->regionAddr,
                       on.newest->inArea ? on.newest->regionAddr + on.newest->regionSize
                                         : on.newest->recordAddr};
  return Error::success();
}

} // namespace

Expected<std::vector<FunctionFlip>>
locateFunctions(const Target &target, const PatchFile &patch, const Module &module,
                const Arch &arch, const std::vector<AppliedPatch> &earlier) {
  const PrologueShape &shape = arch.prologue();
  std::vector<FunctionFlip> flips;
  for (const FunctionMapEntry &fn : patch.functions) {
    FunctionFlip flip;
    flip.name = fn.oldName;
    flip.site = fn.siteOffset;
    flip.oldSize = fn.oldSize;
    Expected<uint64_t> entry = entryOf(fn, module);
    if (!entry)
      return entry.takeError();
    flip.entryAddr = *entry;
    // The live stores (entry, padding) rely on the plugin's alignment.
    if ((flip.entryAddr - shape.padBefore) % 8 != 0)
      return applyError(ApplyError::Refused,
                        formatv("function '{0}' at {1:x} is not aligned as the "
                                "plugin aligns patchable functions; nothing "
                                "was changed", fn.oldName, flip.entryAddr));
    flip.before.resize(fn.expected.size());
    if (Error err = target.read(flip.entryAddr - shape.padBefore, flip.before))
      return applyError(ApplyError::Failed, toString(std::move(err)));
    if (flip.before == fn.expected)
      flip.back = flip.entryAddr + flip.site + shape.entryNop;
    else if (Error err = stackOnEarlier(flip, fn, earlier))
      return std::move(err);
    flips.push_back(std::move(flip));
  }
  return flips;
}

} // namespace hotpatch
