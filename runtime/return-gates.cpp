//===- runtime/return-gates.cpp - learning when a frame returns -----------===//

#include "return-gates.h"

#include "apply-error.h"
#include "unwind-tables.h"

#include "llvm/Support/Endian.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MathExtras.h"

#include <algorithm>
#include <cstring>

using namespace llvm;
namespace le = llvm::support::endian;

namespace hotpatch {
using namespace linuxabi;
namespace {
constexpr char magic[8] = {'H', 'P', 'R', 'G', 'A', 'T', 'E', '1'};
/// How long a gate holds a thread at most (the futex wait's timeout).
constexpr uint64_t holdNs = 5000000;
} // namespace

ReturnGateLayout::ReturnGateLayout(uint64_t pageSize) : pageSize(pageSize) {
  // The code page: the common code, the tables (a CIE, then an FDE and a
  // slot a gate), the slots. The data page: 16 bytes a gate.
  uint64_t fixed = ehFrameOff + cieSize + 4 /*terminator*/ + slotSize /*alignment*/;
  count = unsigned(std::min((pageSize - fixed) / (fdeSize + slotSize),
                            (pageSize - dataOff) / dataSize));
  stubsOff = alignTo(ehFrameOff + cieSize + count * fdeSize + 4, slotSize);
}

std::vector<uint8_t> returnGateTables(const Arch &arch, const ReturnGateLayout &layout,
                                      uint64_t code, uint64_t data) {
  const Arch::ReturnGateShape shape = arch.returnGateShape();
  std::vector<uint8_t> out;
  auto byte = [&](uint8_t b) { out.push_back(b); };
  auto word = [&](uint32_t v) {
    out.resize(out.size() + 4);
    le::write32le(&out[out.size() - 4], v);
  };
  auto closeEntry = [&](size_t start, uint64_t size) {
    out.resize(start + size, 0); // DW_CFA_nop
    le::write32le(&out[start], uint32_t(size - 4));
  };
  // The CIE.
  word(0);
  word(0); // a CIE
  byte(1); // version
  for (char c : {'z', 'R', '\0'})
    byte(uint8_t(c));
  byte(1);                                   // code alignment factor
  byte(uint8_t(shape.dataAlign & 0x7f));     // data alignment factor (SLEB128)
  byte(uint8_t(shape.raDwarf));              // return address column
  byte(1);                                   // augmentation data: 1 byte,
  byte(0x1b);                                // FDE addresses pcrel sdata4
  // The gate's CFA is its stack pointer + 8 and its caller's stack pointer
  // is the gate's: unwinders tell frames apart by their CFA, and the
  // caller's own is higher (a call leaves at least 16 bytes of its frame
  // above the callee's), so no two frames share one.
  byte(0x0c), byte(uint8_t(shape.spDwarf)), byte(8); // DW_CFA_def_cfa sp, 8
  byte(0x14), byte(uint8_t(shape.spDwarf)),          // DW_CFA_val_offset sp,
      byte(uint8_t(8 / -shape.dataAlign));           //   CFA - 8
  closeEntry(0, ReturnGateLayout::cieSize);
  // An FDE a slot: the caller's return address is the one the gate keeps.
  for (unsigned i = 0; i < layout.count; ++i) {
    size_t start = out.size();
    uint64_t slot = code + layout.stubsOff + i * ReturnGateLayout::slotSize;
    uint64_t kept = data + ReturnGateLayout::dataOff + i * ReturnGateLayout::dataSize;
    word(0);
    word(uint32_t(out.size())); // back to the CIE, from this field
    word(uint32_t(slot - (code + ReturnGateLayout::ehFrameOff + out.size())));
    word(uint32_t(ReturnGateLayout::slotSize));
    byte(0);                                  // no augmentation data
    byte(0x10), byte(uint8_t(shape.raDwarf)); // DW_CFA_expression ra,
    byte(9), byte(0x03);                      // DW_OP_addr kept
    out.resize(out.size() + 8);
    le::write64le(&out[out.size() - 8], kept);
    closeEntry(start, ReturnGateLayout::fdeSize);
  }
  word(0); // the terminator
  return out;
}

std::vector<uint8_t> returnGateCodePage(const Arch &arch, const ReturnGateLayout &layout,
                                        uint64_t code, uint64_t data) {
  std::vector<uint8_t> page(layout.pageSize, arch.fillByte());
  uint64_t common = code + ReturnGateLayout::commonOff;
  llvm::copy(arch.encodeReturnGateCommon(common, data + ReturnGateLayout::holdOff,
                                         data + ReturnGateLayout::timeoutOff),
             page.begin() + ReturnGateLayout::commonOff);
  llvm::copy(returnGateTables(arch, layout, code, data),
             page.begin() + ReturnGateLayout::ehFrameOff);
  for (unsigned i = 0; i < layout.count; ++i) {
    uint64_t slot = layout.stubsOff + i * ReturnGateLayout::slotSize;
    llvm::copy(arch.encodeReturnGate(code + slot,
                                     data + ReturnGateLayout::dataOff +
                                         i * ReturnGateLayout::dataSize,
                                     common),
               page.begin() + slot);
  }
  return page;
}

ReturnGates::ReturnGates(Target &target, const Arch &arch, SymbolContext symbols)
    : target(target), arch(arch), symbols(symbols), layout(systemPageSize()) {}

Expected<bool> ReturnGates::ready(uint64_t &stopNs, std::string &why) {
  if (code)
    return usable;
  Expected<bool> found = find();
  if (!found || *found)
    return found;
  return make(stopNs, why);
}

Expected<bool> ReturnGates::find() {
  Expected<std::vector<Mapping>> maps = target.mappings();
  if (!maps)
    return maps.takeError();
  const uint64_t page = layout.pageSize;
  for (size_t k = 0; k + 1 < maps->size(); ++k) {
    // (The kernel may join either page to anonymous memory next to it.)
    const Mapping &c = (*maps)[k], &d = (*maps)[k + 1];
    if (!c.path.empty() || !c.exec || c.write || c.end - c.start < page ||
        !d.path.empty() || d.start != c.end || !d.write || d.exec)
      continue;
    uint8_t head[16];
    if (Error err = target.read(d.start, head)) {
      consumeError(std::move(err));
      continue;
    }
    if (memcmp(head, magic, sizeof magic) != 0 ||
        le::read16le(head + ReturnGateLayout::machineOff) != arch.eMachine())
      continue;
    uint8_t state = head[ReturnGateLayout::registeredOff];
    if (state != Registered && state != NoUnwinder)
      continue; // its maker died while registering it: not known to be safe
    // Slots armed and not fired may still be on a stack.
    std::vector<uint8_t> slots(layout.count * ReturnGateLayout::dataSize);
    if (Error err = target.read(d.start + ReturnGateLayout::dataOff, slots))
      return std::move(err);
    code = c.end - page;
    data = d.start;
    taken.assign(layout.count, false);
    for (unsigned i = 0; i < layout.count; ++i) {
      const uint8_t *s = &slots[i * ReturnGateLayout::dataSize];
      taken[i] = s[ReturnGateLayout::armedOff] && !s[ReturnGateLayout::firedOff];
    }
    usable = true;
    return true;
  }
  return false;
}

Expected<bool> ReturnGates::make(uint64_t &stopNs, std::string &why) {
  const uint64_t page = layout.pageSize;
  uint64_t at = 0;
  {
    Expected<StoppedThreads> borrowed = target.borrowOne();
    if (!borrowed)
      return applyError(ApplyError::Gone, toString(borrowed.takeError()));
    auto mmap = [&](uint64_t addr, uint64_t size, uint64_t prot,
                    uint64_t flags) -> Expected<uint64_t> {
      Expected<int64_t> got = target.syscall(
          arch.sysMmap(), {addr, size, prot, flags | mapPrivate | mapAnonymous, uint64_t(-1), 0});
      if (!got)
        return got.takeError();
      if (isErrno(*got))
        return createStringError(std::errc::not_enough_memory,
                                 "mmap in the target failed: %s", strerror(int(-*got)));
      return uint64_t(*got);
    };
    // Read-execute, then the second page made read-write: never both.
    Expected<uint64_t> pages = mmap(0, 2 * page, protRead | protExec, 0);
    Error err = Error::success();
    if (!pages)
      err = pages.takeError();
    else if (Expected<uint64_t> rw =
                 mmap(*pages + page, page, protRead | protWrite, mapFixed);
             !rw)
      err = rw.takeError();
    stopNs += borrowed->resume() - borrowed->startNs();
    if (err) {
      why = toString(std::move(err));
      return false;
    }
    at = *pages;
  }
  code = at;
  data = at + page;
  // The code page, then the header: the magic last, so that a page half
  // made is never taken.
  if (Error err = target.write(code, returnGateCodePage(arch, layout, code, data)))
    return std::move(err);
  uint8_t head[32] = {};
  le::write16le(head + ReturnGateLayout::machineOff, arch.eMachine());
  head[ReturnGateLayout::registeredOff] = Registering;
  le::write64le(head + ReturnGateLayout::timeoutOff + 8, holdNs); // tv_nsec
  if (Error err = target.write(data + 8, ArrayRef(head).drop_front(8)))
    return std::move(err);
  if (Error err = target.write(data, ArrayRef(reinterpret_cast<const uint8_t *>(magic), 8)))
    return std::move(err);
  taken.assign(layout.count, false);
  // Known to the unwinder before any gate is armed.
  Expected<std::string> unwinders =
      registerOwnTables(target, symbols, code + ReturnGateLayout::ehFrameOff,
                        data + ReturnGateLayout::objectOff, stopNs);
  if (!unwinders) {
    why = toString(unwinders.takeError());
    return false;
  }
  uint8_t state = unwinders->empty() ? NoUnwinder : Registered;
  if (Error err = target.write(data + ReturnGateLayout::registeredOff, {&state, 1}))
    return std::move(err);
  usable = true;
  return true;
}

uint64_t ReturnGates::returnSlot(const BusyThread &busy) const {
  const Arch::ReturnGateShape shape = arch.returnGateShape();
  if (shape.pushedAt) {
    uint64_t at = busy.callerSp + *shape.pushedAt;
    uint8_t word[8];
    if (Error err = target.read(at, word)) {
      consumeError(std::move(err));
      return 0;
    }
    return le::read64le(word) == busy.returnAddr ? at : 0;
  }
  // Saved by the callee in its frame, where its unwind tables say. (Not
  // found by its value: the frame may hold an older copy, a prologue that
  // has not saved it yet may run over a previous call's.)
  if (!busy.savedAt)
    return 0;
  uint64_t at = busy.callerSp + uint64_t(*busy.savedAt);
  if (at % 8 || at < busy.frameSp || at + 8 > busy.callerSp)
    return 0;
  uint8_t word[8];
  if (Error err = target.read(at, word)) {
    consumeError(std::move(err));
    return 0;
  }
  return le::read64le(word) == busy.returnAddr ? at : 0;
}

void ReturnGates::setHold(uint32_t value) {
  uint8_t word[4];
  le::write32le(word, value);
  consumeError(target.write(data + ReturnGateLayout::holdOff, word));
}

bool ReturnGates::arm(const BusyThread &busy, bool anyoneInGates) {
  if (!usable || busy.unwalkable || !busy.returnAddr)
    return false;
  // A signed return address: the callee authenticates what it reloads.
  if (busy.returnAddr & ~busy.codeMask)
    return false;
  // Armed already: the walk stopped at the gate the frame returns to.
  if (busy.returnAddr >= code + layout.stubsOff && busy.returnAddr < code + layout.pageSize)
    return llvm::any_of(armed, [&](const Armed &a) {
      return entryAddr(a.gate) == busy.returnAddr;
    }); // (or by a run that died: it fires on its own)
  if (busy.innermost) {
    uint8_t before[8];
    if (Error err = target.read(busy.returnAddr - sizeof before, before)) {
      consumeError(std::move(err));
      return false;
    }
    if (!arch.directCallInto(before, busy.returnAddr, busy.lo, busy.hi))
      return false;
  }
  uint64_t slot = returnSlot(busy);
  if (!slot)
    return false;
  // A gate armed on this slot before was left without returning (an
  // exception through it): not waited for any more.
  llvm::erase_if(armed, [&](const Armed &a) { return a.tid == busy.tid && a.slot == slot; });
  // A gate that fired may still be read by a thread on its way through:
  // taken again only while no thread is in the gate page.
  std::vector<uint8_t> slots(layout.count * ReturnGateLayout::dataSize);
  if (Error err = target.read(data + ReturnGateLayout::dataOff, slots)) {
    consumeError(std::move(err));
    return false;
  }
  std::optional<unsigned> gate;
  for (unsigned i = 0; i < layout.count && !gate; ++i) {
    const uint8_t *s = &slots[i * ReturnGateLayout::dataSize];
    bool free = !s[ReturnGateLayout::armedOff] ||
                (s[ReturnGateLayout::firedOff] && !anyoneInGates);
    if (free && !taken[i])
      gate = i;
  }
  if (!gate)
    return false;
  uint8_t kept[ReturnGateLayout::dataSize] = {};
  le::write64le(kept, busy.returnAddr);
  kept[ReturnGateLayout::armedOff] = 1;
  le::write32le(kept + ReturnGateLayout::tidOff, uint32_t(busy.tid));
  uint8_t entry[8];
  le::write64le(entry, entryAddr(*gate));
  setHold(1);
  // The gate's data first: the return can only reach it once both are in.
  if (Error err = target.write(dataAddr(*gate), kept)) {
    consumeError(std::move(err));
    return false;
  }
  if (Error err = target.write(slot, entry)) {
    consumeError(std::move(err));
    return false;
  }
  taken[*gate] = true;
  armed.push_back({*gate, busy.tid, slot, busy.returnAddr});
  return true;
}

bool ReturnGates::passing(int tid, const UnwindRegisters &regs) const {
  const Arch::ReturnGateShape shape = arch.returnGateShape();
  for (const Armed &a : armed) {
    if (a.tid != tid)
      continue;
    if (regs.pc >= slotAddr(a.gate) && regs.pc < slotAddr(a.gate) + ReturnGateLayout::slotSize)
      return true;
    // In the common code, the gate is the one the scratch register names
    // (or, while x86_64's `syscall` has it, the word the code pushed).
    uint64_t common = code + ReturnGateLayout::commonOff;
    if (regs.pc < common || regs.pc >= code + ReturnGateLayout::ehFrameOff)
      continue;
    uint64_t scratch = shape.scratchDwarf < regs.dwarf.size() ? regs.dwarf[shape.scratchDwarf] : 0;
    if (regs.pc - common >= shape.scratchSpilledFrom && regs.pc - common < shape.scratchSpilledTo) {
      uint8_t word[8];
      if (Error err = target.read(regs.sp, word)) {
        consumeError(std::move(err));
        continue;
      }
      scratch = le::read64le(word);
    }
    if (scratch == dataAddr(a.gate))
      return true;
  }
  return false;
}

bool ReturnGates::allFired() const {
  for (const Armed &a : armed) {
    uint8_t fired = 0;
    if (Error err = target.read(dataAddr(a.gate) + ReturnGateLayout::firedOff, {&fired, 1})) {
      consumeError(std::move(err));
      return true; // (gone: let the next try say so)
    }
    if (!fired)
      return false;
  }
  return true;
}

void ReturnGates::disarm(function_ref<bool(int tid)> inGates) {
  if (!code)
    return;
  setHold(0);
  for (const Armed &a : armed) {
    uint8_t fired = 0;
    consumeError(target.read(dataAddr(a.gate) + ReturnGateLayout::firedOff, {&fired, 1}));
    if (fired || inGates(a.tid))
      continue; // it went through: free once nobody is in the page
    uint8_t word[8];
    if (Error err = target.read(a.slot, word)) {
      consumeError(std::move(err));
      continue;
    }
    if (le::read64le(word) != entryAddr(a.gate))
      continue; // left some other way (longjmp, an exception): never again
    uint8_t back[8];
    le::write64le(back, a.returnAddr);
    uint8_t unarmed = 0;
    if (Error err = target.write(a.slot, back)) {
      consumeError(std::move(err));
      continue;
    }
    consumeError(target.write(dataAddr(a.gate) + ReturnGateLayout::armedOff, {&unarmed, 1}));
  }
  armed.clear();
}

} // namespace hotpatch
