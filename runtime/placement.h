//===- runtime/placement.h - the patch's memory in the target ------*- C++ -*-===//
//
// One thread is borrowed briefly to run the mmaps (and the IFUNC resolvers
// the patch needs); the others keep running. The whole range is reserved
// first (no access, and only if free: other threads keep mapping
// meanwhile), then each part is mapped over it with its final protection
// (read-execute code, read-only data, read-write): no mprotect ever makes
// memory executable, which systemd's MemoryDenyWriteExecute and the
// kernel's PR_SET_MDWE forbid; even the code is filled through
// /proc/PID/mem.
//
// A Placement undoes itself when destroyed before keep(): it unmaps the
// region, unless a redirect may already have led a thread into it
// (markReachable); then the region stays mapped, with its record marked
// reverted, because a thread may still be in a gate.
//
//===----------------------------------------------------------------------===//

#ifndef HOTPATCH_RUNTIME_PLACEMENT_H
#define HOTPATCH_RUNTIME_PLACEMENT_H

#include "arch.h"
#include "layout.h"
#include "symbols.h"
#include "target.h"
#include "unwind.h"

#include <memory>

namespace hotpatch {

class Placement {
public:
  /// Maps \p layout at \p addr and runs the resolvers of \p ifuncs (filling
  /// in what each picked). \p warm, if given, takes its first backtrace on
  /// the borrowed thread: libdw's first is slow (~70 us against ~10), and
  /// better here than inside the all-threads stop. \p stopNs receives how
  /// long the borrowed thread was stopped.
  static llvm::Expected<std::unique_ptr<Placement>>
  create(Target &target, const Arch &arch, uint64_t addr, const PatchLayout &layout,
         IfuncChoices &ifuncs, Unwinder *warm, uint64_t &stopNs);
  /// Takes the region of a reverted apply of the same patch, mapped at
  /// \p addr, for this apply: no mmap, and never unmapped (a thread may
  /// still run its code); the resolvers and \p warm as for create().
  static llvm::Expected<std::unique_ptr<Placement>>
  adopt(Target &target, const Arch &arch, uint64_t addr, const PatchLayout &layout,
        IfuncChoices &ifuncs, Unwinder *warm, uint64_t &stopNs);
  /// Takes room in a reserved patch area (area.h) at \p addr (its
  /// read-write part where \p layout's rwDelta puts it): no mmap, so no
  /// thread is stopped unless \p ifuncs has resolvers to run (\p warm is
  /// left for the flip). \p adopting: the room of a reverted apply of the
  /// same patch, never given back. Room not kept is given back by clearing
  /// its record, or marked reverted once a thread may be in it.
  static llvm::Expected<std::unique_ptr<Placement>>
  inArea(Target &target, const Arch &arch, uint64_t addr, const PatchLayout &layout,
         IfuncChoices &ifuncs, uint64_t &stopNs, bool adopting);
  ~Placement();
  Placement(const Placement &) = delete;
  Placement &operator=(const Placement &) = delete;

  uint64_t addr() const { return at; }
  /// A thread may now be in the region: never unmap it.
  void markReachable() { reachable = true; }
  /// The patch is in effect: keep everything.
  void keep() { kept = true; }

private:
  Placement(Target &target, const Arch &arch, uint64_t addr, const PatchLayout &layout)
      : target(target), arch(arch), at(addr), layout(layout) {}
  llvm::Error map();
  /// One borrowed stop: the mmaps (unless adopting), the resolvers, the
  /// unwinder's first walk.
  static llvm::Expected<std::unique_ptr<Placement>>
  place(Target &target, const Arch &arch, uint64_t addr, const PatchLayout &layout,
        IfuncChoices &ifuncs, Unwinder *warm, uint64_t &stopNs, bool adopting);

  Target &target;
  const Arch &arch;
  uint64_t at;
  PatchLayout layout;
  bool mapped = false, reachable = false, kept = false, area = false;
};

} // namespace hotpatch

#endif
