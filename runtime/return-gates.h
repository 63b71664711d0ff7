//===- runtime/return-gates.h - learning when a frame returns -----*- C++ -*-===//
//
// Under `strict`, a thread with a frame in a replaced function keeps the
// flip from happening. Trying again blindly misses a function that is
// nearly always running: a handler that waits inside for I/O, a timer or
// a lock returns, and is called again, between two tries. So, while every
// thread is stopped, each such thread's outermost frame in the replaced
// code gets a return gate: its return address on the stack is swapped for
// a gate's, and the caller's kept in the gate's data. When the frame
// returns, the gate
//   1. sets its fired byte, which hp-apply polls without stopping anyone;
//   2. waits while the page's hold word is 1 (one futex wait, 5 ms at
//      most), so the thread is still outside when hp-apply stops them all;
//   3. returns to the caller, with the callee's return registers intact.
// A thread in a gate is outside the replaced code; the frames it returns
// to were checked when the gate was armed. hp-apply clears the hold word
// while the threads are stopped, so a waiting gate lets go at once when
// they resume (the kernel checks the word again when it restarts the wait).
//
// Nothing a gate does needs hp-apply: killed while it waits, every armed
// gate still returns to its caller (held 5 ms at most, once). The gates
// live on two pages of their own (code, read-execute; data, read-write),
// found again by later runs and never unmapped, so a gate left armed is
// never left dangling. Each gate has an FDE, registered with the target's
// unwinder when the page is made: an exception or a cancellation that
// leaves the frame through the gate finds the caller where it should.
// An armed gate whose frame is left without returning (longjmp, an
// exception) is never fired; its slot is not used again.
//
// Where a gate cannot be armed (the frame is the innermost one, its return
// address is signed, or the page is full), strict tries again as before.
//
//===----------------------------------------------------------------------===//

#ifndef HOTPATCH_RUNTIME_RETURN_GATES_H
#define HOTPATCH_RUNTIME_RETURN_GATES_H

#include "arch.h"
#include "stack-check.h"
#include "symbols.h"
#include "target.h"

#include "llvm/ADT/STLFunctionalExtras.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <string>
#include <vector>

namespace hotpatch {

/// The gate pages' layout: code page, then data page, each one page.
struct ReturnGateLayout {
  static constexpr uint64_t slotSize = 32;
  static constexpr uint64_t commonOff = 0;    ///< in the code page
  static constexpr uint64_t ehFrameOff = 128; ///< in the code page
  static constexpr uint64_t cieSize = 24, fdeSize = 32;
  // The data page: a header, then 16 bytes a gate (the caller's return
  // address, the fired byte, the armed byte, the thread's id).
  static constexpr uint64_t holdOff = 8;       ///< the 32-bit hold word
  static constexpr uint64_t machineOff = 12;   ///< ELF e_machine, 16 bits
  static constexpr uint64_t registeredOff = 14; ///< see RegisteredState
  static constexpr uint64_t timeoutOff = 16;    ///< struct timespec
  static constexpr uint64_t objectOff = 64;     ///< the unwinder's object
  static constexpr uint64_t dataOff = 256;
  static constexpr uint64_t dataSize = 16;
  static constexpr uint64_t firedOff = 8, armedOff = 9, tidOff = 12;

  explicit ReturnGateLayout(uint64_t pageSize);
  uint64_t pageSize;
  unsigned count;     ///< gates on the page
  uint64_t stubsOff;  ///< the first slot, in the code page
};

/// The unwind tables of \p count gates at \p code (data page at \p data):
/// a CIE, an FDE a slot, the terminator (a pure function, unit-tested).
std::vector<uint8_t> returnGateTables(const Arch &arch, const ReturnGateLayout &layout,
                                      uint64_t code, uint64_t data);

/// The whole code page of gates at \p code with their data page at \p data.
std::vector<uint8_t> returnGateCodePage(const Arch &arch, const ReturnGateLayout &layout,
                                        uint64_t code, uint64_t data);

class ReturnGates {
public:
  ReturnGates(Target &target, const Arch &arch, SymbolContext symbols);

  /// With the threads running: finds the process's gate page or makes one
  /// (a borrowed thread maps it and registers its unwind tables; \p stopNs
  /// adds how long). False, with \p why, when gates cannot be used.
  llvm::Expected<bool> ready(uint64_t &stopNs, std::string &why);

  /// With every thread stopped: arms a gate on the return of \p busy's
  /// outermost frame in replaced code. False when it cannot (see above).
  /// \p anyoneInGates: some thread's pc is in the gate page now.
  bool arm(const BusyThread &busy, bool anyoneInGates);
  /// Whether stopped thread \p tid is in a gate this run armed: on its way
  /// out of the replaced code (for StackCheck::setPassing).
  bool passing(int tid, const UnwindRegisters &regs) const;
  /// With the threads running: whether every gate armed has fired.
  bool allFired() const;
  /// With every thread stopped, before they resume for good (the flip
  /// done, or given up): no more holding; a gate that has not fired gets
  /// its caller's return address back on the stack. \p inGates: whether a
  /// thread's pc is in the gate page now.
  void disarm(llvm::function_ref<bool(int tid)> inGates);

  /// The gate page's code, [first, second); {0, 0} before ready().
  std::pair<uint64_t, uint64_t> codeRange() const { return {code, code ? code + layout.pageSize : 0}; }

  unsigned armedCount() const { return unsigned(armed.size()); }

private:
  enum RegisteredState : uint8_t { NotYet = 0, Registering = 1, Registered = 2, NoUnwinder = 3 };
  llvm::Expected<bool> find();
  llvm::Expected<bool> make(uint64_t &stopNs, std::string &why);
  uint64_t slotAddr(unsigned i) const { return code + layout.stubsOff + i * layout.slotSize; }
  uint64_t entryAddr(unsigned i) const { return slotAddr(i) + arch.returnGateShape().entry; }
  uint64_t dataAddr(unsigned i) const { return data + layout.dataOff + i * layout.dataSize; }
  /// Where the stack holds \p busy's return address, or 0.
  uint64_t returnSlot(const BusyThread &busy) const;
  void setHold(uint32_t value);

  struct Armed {
    unsigned gate;
    int tid;
    uint64_t slot, returnAddr;
  };
  Target &target;
  const Arch &arch;
  SymbolContext symbols;
  ReturnGateLayout layout;
  uint64_t code = 0, data = 0; ///< the pages, once found or made
  bool usable = false;
  std::vector<bool> taken; ///< by a gate this run armed, or one not free
  std::vector<Armed> armed;
};

} // namespace hotpatch

#endif
