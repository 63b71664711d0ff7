//===- runtime/unwind-tables.h - the patch's frames, made known -*- C++ -*-===//
//
// A patch's code comes with its call-frame information and exception
// tables (`__hp_eh_frame`, see diff/unwind.cpp). Until the target's
// unwinder knows them, an exception or a thread cancellation that reaches
// a frame of the patch ends the process (std::terminate), and backtrace()
// stops there. So, before the commit, a borrowed thread of the target calls
// its unwinder's registration entry point,
// `__register_frame_info(tables, object)`: libgcc's (libgcc_s.so.1, or
// linked into a static program), which is what glibc, libstdc++ and
// programs built by GCC or clang on Linux unwind with. `object` is the
// patch's `__hp_unwind_object`, zeroed room in its .hp.bss that the
// unwinder fills in and links into its list of registered tables; the
// unwinder looks in that list before it asks the dynamic loader.
//
// LLVM's libunwind, when the program has it, takes the tables by
// `__unw_add_dynamic_eh_frame_section` (its `__register_frame_info` is a
// stub). When the program also has the nongnu libunwind (libunwind.so.8, which
// some programs call for their own backtraces), the tables are registered
// with it too, by `_U_dyn_register`: its list for code it finds in no
// loaded object. Its entry (an unw_dyn_info_t and a search table) goes in
// the room the layout keeps for it (layout.h).
//
// Tables are never deregistered: a reverted patch's code stays mapped
// (a thread may still be in it), and so do its tables; an apply that
// takes a reverted region again finds them registered (the record's
// unwind byte) and does not register them twice.
//
//===----------------------------------------------------------------------===//

#ifndef HOTPATCH_RUNTIME_UNWIND_TABLES_H
#define HOTPATCH_RUNTIME_UNWIND_TABLES_H

#include "layout.h"
#include "loader.h"
#include "placement.h"
#include "record.h"
#include "symbols.h"
#include "target.h"

#include "patch-file.h"

namespace hotpatch {

struct UnwindRegistration {
  UnwindOutcome outcome = UnwindOutcome::NoTables;
  std::string unwinder; ///< the module whose unwinder took them
  uint64_t stopNs = 0;  ///< how long the borrowed thread was stopped
};

/// Where in its region \p patch's unwind tables go with \p layout (0: it
/// has none).
uint32_t unwindTablesOffset(const PatchFile &patch, const PatchLayout &layout);

/// Registers \p patch's unwind tables, placed at \p regionAddr with
/// \p layout, with the unwinder of the target, unless \p record says they
/// already are. Before the call, \p placement is told that the region is
/// reachable (the unwinder holds a pointer into it from then on: it must
/// never be unmapped) and the record's unwind byte says `Registering`;
/// after, `Registered`.
llvm::Expected<UnwindRegistration>
registerUnwindTables(Target &target, const Arch &arch, const PatchFile &patch,
                     uint64_t regionAddr,
                     const PatchLayout &layout, SymbolContext symbols,
                     Placement &placement, uint64_t recordAddr, AppliedPatch &record);

/// Registers unwind tables the runtime made itself (an .eh_frame ending in
/// its terminator, at \p tables; \p object: zeroed room for libgcc's
/// object) with libgcc's unwinder and LLVM's libunwind, whichever the
/// process has. The modules that took them; empty when it has neither.
/// \p stopNs adds how long a borrowed thread was held.
llvm::Expected<std::string> registerOwnTables(Target &target, SymbolContext symbols,
                                              uint64_t tables, uint64_t object,
                                              uint64_t &stopNs);

} // namespace hotpatch

#endif
