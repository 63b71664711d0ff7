//===- runtime/placement.cpp - the patch's memory in the target -----------===//

#include "placement.h"

#include "apply-error.h"
#include "record.h"

#include "llvm/Support/Endian.h"
#include "llvm/Support/FormatVariadic.h"

using namespace llvm;

namespace hotpatch {
using namespace linuxabi;

Error Placement::map() {
  const uint64_t flags = mapPrivate | mapAnonymous;
  Expected<int64_t> got = target.syscall(
      arch.sysMmap(), {at, layout.total, 0, flags | mapFixedNoReplace, uint64_t(-1), 0});
  if (!got)
    return got.takeError();
  if (uint64_t(*got) != at) {
    if (!isErrno(*got)) // somewhere else than asked: not within reach
      (void)target.syscall(arch.sysMunmap(), {uint64_t(*got), layout.total});
    return applyError(ApplyError::Failed,
                      formatv("mmap in the target returned {0} for {1:x}", *got, at));
  }
  mapped = true;
  struct Part {
    uint64_t offset, size, prot;
  };
  const Part parts[] = {
      {0, layout.rxSize, protRead | protExec},
      {layout.rxSize, layout.roSize, protRead},
      {layout.recordOff, layout.total - layout.recordOff, protRead | protWrite},
  };
  for (const Part &part : parts) {
    if (!part.size)
      continue;
    uint64_t partAt = at + part.offset;
    Expected<int64_t> over = target.syscall(
        arch.sysMmap(), {partAt, part.size, part.prot, flags | mapFixed, uint64_t(-1), 0});
    if (!over)
      return over.takeError();
    if (uint64_t(*over) != partAt)
      return applyError(ApplyError::Failed,
                        formatv("mmap in the target returned {0} for {1:x}", *over,
                                partAt));
  }
  return Error::success();
}

Expected<std::unique_ptr<Placement>>
Placement::create(Target &target, const Arch &arch, uint64_t addr,
                  const PatchLayout &layout, IfuncChoices &ifuncs, Unwinder *warm,
                  uint64_t &stopNs) {
  return place(target, arch, addr, layout, ifuncs, warm, stopNs, /*adopting=*/false);
}

Expected<std::unique_ptr<Placement>>
Placement::adopt(Target &target, const Arch &arch, uint64_t addr,
                 const PatchLayout &layout, IfuncChoices &ifuncs, Unwinder *warm,
                 uint64_t &stopNs) {
  return place(target, arch, addr, layout, ifuncs, warm, stopNs, /*adopting=*/true);
}

Expected<std::unique_ptr<Placement>>
Placement::place(Target &target, const Arch &arch, uint64_t addr,
                 const PatchLayout &layout, IfuncChoices &ifuncs, Unwinder *warm,
                 uint64_t &stopNs, bool adopting) {
  std::unique_ptr<Placement> p(new Placement(target, arch, addr, layout));
  if (adopting) {
    p->mapped = p->reachable = true;
    if (ifuncs.empty() && !warm)
      return std::move(p); // nothing to run in the target
  }
  Expected<StoppedThreads> borrowed = target.borrowOne();
  if (!borrowed)
    return applyError(ApplyError::Gone, toString(borrowed.takeError()));
  Error err = adopting ? Error::success() : p->map();
  for (auto &[resolver, chosen] : ifuncs) {
    if (err)
      break;
    Expected<uint64_t> r = target.call(resolver, {});
    if (!r)
      err = applyError(ApplyError::Failed,
                       "running an IFUNC resolver: " + toString(r.takeError()));
    else
      chosen = *r;
  }
  if (err && p->mapped && !adopting) {
    (void)target.syscall(arch.sysMunmap(), {addr, layout.total});
    p->mapped = false;
  }
  if (!err && warm) {
    std::vector<uint64_t> pcs;
    consumeError(warm->backtrace(target.borrowedThread(), pcs)); // the check will say
  }
  stopNs = borrowed->resume() - borrowed->startNs();
  if (err)
    return asApplyError(ApplyError::Failed, std::move(err));
  return std::move(p);
}

Expected<std::unique_ptr<Placement>>
Placement::inArea(Target &target, const Arch &arch, uint64_t addr,
                  const PatchLayout &layout, IfuncChoices &ifuncs, uint64_t &stopNs,
                  bool adopting) {
  std::unique_ptr<Placement> p(new Placement(target, arch, addr, layout));
  p->mapped = p->area = true;
  p->reachable = adopting;
  stopNs = 0;
  if (ifuncs.empty())
    return std::move(p); // nothing to run in the target: no thread stopped
  Expected<StoppedThreads> borrowed = target.borrowOne();
  if (!borrowed)
    return applyError(ApplyError::Gone, toString(borrowed.takeError()));
  Error err = Error::success();
  for (auto &[resolver, chosen] : ifuncs) {
    Expected<uint64_t> r = target.call(resolver, {});
    if (!r) {
      err = applyError(ApplyError::Failed,
                       "running an IFUNC resolver: " + toString(r.takeError()));
      break;
    }
    chosen = *r;
  }
  stopNs = borrowed->resume() - borrowed->startNs();
  if (err)
    return asApplyError(ApplyError::Failed, std::move(err));
  return std::move(p);
}

Placement::~Placement() {
  if (kept || !mapped)
    return;
  uint64_t recordAddr = layout.addressOf(at, layout.recordOff);
  if (reachable) {
    uint8_t state[8];
    support::endian::write64le(state, uint64_t(RecordState::Reverted));
    consumeError(target.write(recordAddr + RecordLayout::stateOffset, state));
    return;
  }
  if (area) { // no record, no room taken: nothing ever led into its code
    uint8_t none[8] = {};
    consumeError(target.write(recordAddr, none));
    return;
  }
  Expected<StoppedThreads> borrowed = target.borrowOne();
  if (!borrowed) {
    consumeError(borrowed.takeError());
    return;
  }
  if (Expected<int64_t> rc = target.syscall(arch.sysMunmap(), {at, layout.total}); !rc)
    consumeError(rc.takeError());
}

} // namespace hotpatch
