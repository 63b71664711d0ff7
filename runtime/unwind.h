//===- runtime/unwind.h - every thread's call stack -----------------*- C++ -*-===//

#ifndef HOTPATCH_RUNTIME_UNWIND_H
#define HOTPATCH_RUNTIME_UNWIND_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/STLFunctionalExtras.h"
#include "arch.h"
#include "patch-frames.h"

#include "llvm/Support/Error.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

namespace hotpatch {

/// A remote unwinder (elfutils libdwfl) for one process. Build it before the
/// threads stop: it reads the process's modules then, so the stop only walks
/// frames, reading the stacks a page at a time through /proc/PID/mem.
class Unwinder {
public:
  /// \p patches: the unwind tables of the patches applied to it, so that
  /// walks go on through frames of their code.
  static llvm::Expected<std::unique_ptr<Unwinder>>
  create(int pid, const std::vector<PatchFrames> &patches = {});
  ~Unwinder();
  /// The return addresses (and the PC) of thread \p tid, innermost first.
  /// The thread must be ptrace-stopped by us. A stack libdwfl cannot walk
  /// to its end is an error: the caller must not assume it is clear.
  llvm::Error backtrace(int tid, std::vector<uint64_t> &pcs);
  /// One frame of a walk, as the unwinder restored it.
  struct Frame {
    uint64_t pc = 0; ///< as restored: a caller frame's is its return address
    uint64_t sp = 0; ///< the frame's stack pointer (0: unknown)
    bool activation = false; ///< the innermost frame, or one a signal interrupted
  };
  /// The backtraces of every thread in \p tids (all stopped by us), in
  /// order, in out[0 .. tids.size()) (out may hold more: its vectors are
  /// reused); \p complete (if given) says which reached the outermost frame;
  /// \p frames (if given) gets each walk's frames, in the same order.
  llvm::Error backtraceAll(const std::vector<int> &tids,
                           std::vector<std::vector<uint64_t>> &out,
                           std::vector<bool> *complete = nullptr,
                           std::vector<std::vector<Frame>> *frames = nullptr);
  /// Where the frame running \p pc (a caller frame's: its return address
  /// minus one) keeps its return address, by its unwind tables: an offset
  /// from its CFA, which is its caller's stack pointer. None while the
  /// address is in a register (a leaf, a prologue) or the tables say
  /// nothing.
  std::optional<int64_t> returnAddressSaved(uint64_t pc) const;
  using AddressRange = std::pair<uint64_t, uint64_t>; ///< [first, second)

  /// What the words of a thread's stack say (provablyClear).
  enum class Verdict {
    Clear,   ///< no frame in the ranges: no need to walk
    Suspect, ///< its PC or a stack word is in a range: walk, and only a
             ///< walk to the outermost frame may clear it
    Unknown, ///< no scan possible (a stack we do not know, a deep one, a
             ///< signal frame on an alternate stack): walk
  };
  /// Whether each stopped thread of \p tids provably has no frame in
  /// \p ranges (sorted, disjoint) without walking its stack: its PC is
  /// outside them and so is every word from its stack pointer to the end of
  /// the writable memory holding it (\p stackEnd of the stack pointer; 0 if
  /// none, or the thread pointer if that lies between), where every return
  /// address of its frames lies, unless it runs a signal handler on an
  /// alternate stack, which the same words tell. The registers are read
  /// first, then every stack in one system call.
  llvm::Expected<std::vector<Verdict>>
  scanStacks(llvm::ArrayRef<int> tids, llvm::ArrayRef<AddressRange> ranges,
             llvm::function_ref<uint64_t(uint64_t sp)> stackEnd);
  /// The stack pointer of stopped thread \p tid (its registers are read
  /// once a stop, and kept for the walk).
  llvm::Expected<uint64_t> stackPointer(int tid);
  /// The registers of stopped thread \p tid, read once a stop.
  llvm::Expected<const UnwindRegisters *> registers(int tid);
  /// Stacks deeper than this are walked rather than scanned.
  static constexpr uint64_t maxScan = 256 * 1024;

  /// Forgets the memory and registers read so far, and makes room for
  /// reading \p threads stacks of a few pages: call before each new stop
  /// (the threads ran since), so the stop does not fault memory in.
  void newStop(size_t threads);

  struct Impl;

private:
  Unwinder() = default;
  std::unique_ptr<Impl> impl;
};

} // namespace hotpatch

#endif
