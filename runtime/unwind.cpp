//===- runtime/unwind.cpp - every thread's call stack (libdwfl) -----------===//
//
// The stack check is most of a strict flip's pause. First every stopped
// thread's stack words are read (one process_vm_readv for all) and scanned:
// a thread they prove clear is not walked. libdwfl walks the others.
// Registers come through ptrace (the host backend); the walker's memory
// from /proc/PID/mem a page at a time, kept for the stop, where libdwfl's
// own attach would read a word per system call.
//
//===----------------------------------------------------------------------===//

#include "unwind.h"

#include "arch.h"
#include "target.h"

#include "llvm/ADT/SmallVector.h"

#include <elfutils/libdwfl.h>

#include <cstring>
#include <dwarf.h>
#include <fcntl.h>
#include <string>
#include <unistd.h>
#include <unordered_map>

using namespace llvm;

namespace hotpatch {

namespace {

/// A thread's registers, read by the tracer before anyone walks.
using ThreadRegs = UnwindRegisters;

/// One libdwfl session over the process, with its own page cache.
struct Walker {
  Dwfl *dwfl = nullptr;
  int memFd = -1;
  int tid = 0; // the thread being walked
  const std::unordered_map<int, ThreadRegs> *regs = nullptr;
  std::unordered_map<uint64_t, std::unique_ptr<uint8_t[]>> pages;
  // The cache's unit: 4 KiB divides every page size, so an aligned block
  // never straddles two mappings.
  static constexpr uint64_t blockSize = 4096;

  ~Walker() {
    if (dwfl)
      dwfl_end(dwfl);
    if (memFd >= 0)
      close(memFd);
  }
  const uint8_t *page(uint64_t base) {
    auto [it, inserted] = pages.try_emplace(base);
    if (inserted) {
      auto bytes = std::make_unique<uint8_t[]>(blockSize);
      if (pread(memFd, bytes.get(), blockSize, off_t(base)) != ssize_t(blockSize)) {
        pages.erase(it);
        return nullptr;
      }
      it->second = std::move(bytes);
    }
    return it->second.get();
  }
  Error open(int pid, const std::vector<PatchFrames> &patches);
  Error backtrace(int tid, std::vector<uint64_t> &pcs, bool *complete = nullptr,
                  std::vector<Unwinder::Frame> *frames = nullptr);
  /// Whether each step of a walk through \p pcs went by unwind tables.
  bool everyStepByTables(ArrayRef<uint64_t> pcs) const;
  std::optional<int64_t> returnAddressSaved(uint64_t pc) const;
  /// The unwind-table row for \p pc (to free()), or null when no module's
  /// tables describe it.
  Dwarf_Frame *rowFor(uint64_t pc) const;
};

// The thread callbacks: threads are named by tid (we stop them ourselves),
// registers come from what the tracer read, memory from the page cache.
// libdwfl's own attach would read the stack with PTRACE_PEEKDATA, a system
// call per word.
pid_t noNextThread(Dwfl *, void *, void **) { return 0; }
bool getThread(Dwfl *, pid_t tid, void *arg, void **threadArg) {
  auto *w = static_cast<Walker *>(arg);
  w->tid = tid;
  *threadArg = w;
  return true;
}
bool readWord(Dwfl *, Dwarf_Addr addr, Dwarf_Word *result, void *arg) {
  auto *w = static_cast<Walker *>(arg);
  uint64_t base = addr & ~(Walker::blockSize - 1);
  uint64_t offset = addr - base;
  const uint8_t *first = w->page(base);
  if (!first)
    return false;
  if (offset + sizeof(Dwarf_Word) <= Walker::blockSize) {
    memcpy(result, first + offset, sizeof(Dwarf_Word));
    return true;
  }
  // A word across two blocks.
  const uint8_t *second = w->page(base + Walker::blockSize);
  if (!second)
    return false;
  uint8_t word[sizeof(Dwarf_Word)];
  size_t head = Walker::blockSize - offset;
  memcpy(word, first + offset, head);
  memcpy(word + head, second, sizeof(word) - head);
  memcpy(result, word, sizeof(word));
  return true;
}
bool initialRegisters(Dwfl_Thread *thread, void *threadArg) {
  auto *w = static_cast<Walker *>(threadArg);
  if (!w->regs)
    return false;
  auto it = w->regs->find(w->tid);
  if (it == w->regs->end())
    return false;
  static_assert(sizeof(Dwarf_Word) == sizeof(uint64_t));
  if (!dwfl_thread_state_registers(
          thread, 0, it->second.dwarf.size(),
          reinterpret_cast<const Dwarf_Word *>(it->second.dwarf.data())))
    return false;
  dwfl_thread_state_register_pc(thread, it->second.pc);
  return true;
}
void detachNothing(Dwfl *, void *) {}
void detachThreadNothing(Dwfl_Thread *, void *) {}
const Dwfl_Thread_Callbacks threadCallbacks = {
    noNextThread,  getThread,           readWord, initialRegisters,
    detachNothing, detachThreadNothing,
};

char *debuginfoPath = nullptr;
const Dwfl_Callbacks callbacks = {
    dwfl_linux_proc_find_elf,
    dwfl_standard_find_debuginfo,
    nullptr,
    &debuginfoPath,
};

Error Walker::open(int pid, const std::vector<PatchFrames> &patches) {
  dwfl = dwfl_begin(&callbacks);
  if (!dwfl)
    return createStringError(std::errc::io_error, "libdwfl: %s", dwfl_errmsg(-1));
  if (dwfl_linux_proc_report(dwfl, pid) != 0)
    return createStringError(std::errc::io_error,
                             "process %d: cannot read its modules: %s", pid,
                             dwfl_errmsg(-1));
  if (dwfl_report_end(dwfl, nullptr, nullptr) != 0)
    return createStringError(std::errc::io_error,
                             "process %d: cannot read its modules: %s", pid,
                             dwfl_errmsg(-1));
  // Each applied patch's tables, as a module of its own (patch-frames.h).
  // One that cannot be made only leaves walks stopping at its frames. Nor
  // is one made whose region lies inside another module's range (a patch
  // area, a gap between a static executable's segments): with such a
  // module reported, libdwfl walked every frame of the arm64 guest's
  // program by its frame-pointer fallback instead of its tables, wrongly
  // and taken as complete. Walks stop at those patches' frames instead.
  dwfl_report_begin_add(dwfl);
  for (const PatchFrames &p : patches) {
    if (dwfl_addrmodule(dwfl, p.regionAddr) ||
        dwfl_addrmodule(dwfl, p.regionAddr + p.regionSize - 1))
      continue;
    Expected<int> fd = patchFramesFile(p);
    if (!fd) {
      consumeError(fd.takeError());
      continue;
    }
    std::string name = "[hotpatch " + std::to_string(p.id) + "]";
    if (!dwfl_report_elf(dwfl, name.c_str(), name.c_str(), *fd, p.regionAddr, false))
      ::close(*fd); // (taken by libdwfl on success)
  }
  if (dwfl_report_end(dwfl, nullptr, nullptr) != 0)
    return createStringError(std::errc::io_error,
                             "process %d: cannot read its modules: %s", pid,
                             dwfl_errmsg(-1));
  std::string mem = "/proc/" + std::to_string(pid) + "/mem";
  memFd = ::open(mem.c_str(), O_RDONLY | O_CLOEXEC);
  if (memFd < 0)
    return createStringError(std::error_code(errno, std::generic_category()),
                             "%s: cannot open", mem.c_str());
  // Attaching only records the process (we stop its threads ourselves), so
  // it happens here, outside the stop.
  if (!dwfl_attach_state(dwfl, nullptr, pid, &threadCallbacks, this))
    return createStringError(std::errc::io_error,
                             "process %d: the unwinder cannot attach: %s", pid,
                             dwfl_errmsg(-1));
  // Read every module's call-frame information now, not on the first
  // backtrace inside the stop: its .eh_frame, or where it has none (code
  // built without unwind tables), its .debug_frame, which libdwfl looks
  // for in the debug information (a search of the disk that took ~14 ms,
  // inside the first stop that walked such a thread).
  dwfl_getmodules(
      dwfl,
      [](Dwfl_Module *mod, void **, const char *, Dwarf_Addr, void *) -> int {
        Dwarf_Addr bias;
        if (!dwfl_module_eh_cfi(mod, &bias))
          (void)dwfl_module_dwarf_cfi(mod, &bias);
        return DWARF_CB_OK;
      },
      nullptr, 0);
  return Error::success();
}

/// The stack pointer's DWARF number on this machine.
#if defined(__x86_64__)
constexpr unsigned spDwarf = 7;
#elif defined(__aarch64__)
constexpr unsigned spDwarf = 31;
#endif

struct WalkOut {
  std::vector<uint64_t> *pcs;
  std::vector<Unwinder::Frame> *frames; // (optional)
};

int onFrame(Dwfl_Frame *frame, void *arg) {
  auto *out = static_cast<WalkOut *>(arg);
  Dwarf_Addr pc = 0;
  bool activation = false;
  if (!dwfl_frame_pc(frame, &pc, &activation))
    return DWARF_CB_ABORT;
  // A return address points after its call: step back into the caller.
  out->pcs->push_back(activation ? pc : pc - 1);
  if (out->frames) {
    Dwarf_Word sp = 0;
    if (dwfl_frame_reg(frame, spDwarf, &sp) != 0)
      sp = 0;
    out->frames->push_back({pc, sp, activation});
  }
  return out->pcs->size() >= 512 ? DWARF_CB_ABORT : DWARF_CB_OK;
}

bool Walker::everyStepByTables(ArrayRef<uint64_t> pcs) const {
  // Where a frame's code has no unwind tables (code injected or generated
  // at run time, a stripped module, aarch64's vDSO), libdwfl falls back to
  // the frame-pointer chain: from a leaf, or from code that keeps no frame
  // record, it resumes the caller with the wrong stack pointer, skips a
  // frame and still reaches the outermost one. Such a walk is a guess.
  // A module with tables may still have none for the pc (code it does
  // not describe, another module's inside its range): the row is asked
  // for, not the module.
  for (size_t i = 0; i + 1 < pcs.size(); ++i) {
    Dwarf_Frame *frame = rowFor(pcs[i]);
    if (!frame)
      return false;
    free(frame);
  }
  return true;
}

Dwarf_Frame *Walker::rowFor(uint64_t pc) const {
  Dwfl_Module *mod = dwfl_addrmodule(dwfl, pc);
  if (!mod)
    return nullptr;
  Dwarf_Addr bias;
  Dwarf_CFI *cfi = dwfl_module_eh_cfi(mod, &bias);
  if (!cfi)
    cfi = dwfl_module_dwarf_cfi(mod, &bias);
  Dwarf_Frame *frame = nullptr;
  if (!cfi || dwarf_cfi_addrframe(cfi, pc - bias, &frame) != 0)
    return nullptr;
  return frame;
}

std::optional<int64_t> Walker::returnAddressSaved(uint64_t pc) const {
  Dwarf_Frame *frame = rowFor(pc);
  if (!frame)
    return std::nullopt;
  std::optional<int64_t> at;
  int ra = dwarf_frame_info(frame, nullptr, nullptr, nullptr);
  Dwarf_Op mem[3], *ops = nullptr;
  size_t n = 0;
  // The offset(N) rule reads "the CFA, plus N" (N as an unsigned word);
  // any other rule (a register, an expression, undefined) is no slot.
  if (ra >= 0 && dwarf_frame_register(frame, ra, mem, &ops, &n) == 0 && ops &&
      n >= 1 && n <= 2 && ops[0].atom == DW_OP_call_frame_cfa &&
      (n == 1 || ops[1].atom == DW_OP_plus_uconst))
    at = n == 1 ? 0 : int64_t(ops[1].number);
  free(frame);
  return at;
}

Error Walker::backtrace(int tid, std::vector<uint64_t> &pcs, bool *complete,
                        std::vector<Unwinder::Frame> *frames) {
  pcs.clear();
  if (frames)
    frames->clear();
  WalkOut out{&pcs, frames};
  int rc = dwfl_getthread_frames(dwfl, tid, onFrame, &out);
  if (complete)
    *complete = rc == 0 && pcs.size() < 512 && everyStepByTables(pcs);
  // An unwind that ends early (no CFI further up: the outermost frame, or a
  // frame in code without unwind tables) still gave us every frame up to
  // there; an unwind that gave nothing is an error.
  if (rc != 0 && pcs.empty())
    return createStringError(std::errc::io_error, "thread %d: cannot unwind: %s",
                             tid, dwfl_errmsg(-1));
  return Error::success();
}

} // namespace

struct Unwinder::Impl {
  Walker walker;
  std::unordered_map<int, ThreadRegs> regs;
  std::vector<uint64_t> scan; // the stacks, read by scanStacks()
  int pid = 0;
};

Expected<std::unique_ptr<Unwinder>> Unwinder::create(int pid,
                                                     const std::vector<PatchFrames> &patches) {
  std::unique_ptr<Unwinder> u(new Unwinder());
  u->impl = std::make_unique<Impl>();
  u->impl->pid = pid;
  if (Error err = u->impl->walker.open(pid, patches))
    return std::move(err);
  u->impl->walker.regs = &u->impl->regs;
  return std::move(u);
}

Unwinder::~Unwinder() = default;

void Unwinder::newStop(size_t threads) {
  impl->walker.pages.clear();
  impl->regs.clear();
  // Two pages a thread hold a worker's live stack and its thread block.
  size_t words = threads * 2 * Walker::blockSize / 8;
  if (impl->scan.size() < words)
    impl->scan.resize(words); // zero-filled: faulted in now, not in the stop
}

Error Unwinder::backtraceAll(const std::vector<int> &tids,
                             std::vector<std::vector<uint64_t>> &out,
                             std::vector<bool> *complete,
                             std::vector<std::vector<Frame>> *frames) {
  // (Vectors already there are reused: their room was made before the stop.)
  if (out.size() < tids.size())
    out.resize(tids.size());
  if (frames && frames->size() < tids.size())
    frames->resize(tids.size());
  if (complete)
    complete->assign(tids.size(), false);
  // Registers first, then the walks. (A second walker on a helper thread,
  // for the second core, was measured: twice slower, 97 -> 194 us for 8
  // threads; waking it and sharing the machine cost more than it saved.)
  for (int tid : tids) {
    ThreadRegs r;
    if (impl->regs.count(tid))
      continue; // read by stackPointer() in this stop
    if (Error err = unwindRegisters(tid, r))
      return err;
    impl->regs[tid] = std::move(r);
  }
  for (size_t i = 0; i < tids.size(); ++i) {
    bool done = false;
    if (Error err = impl->walker.backtrace(tids[i], out[i], &done,
                                           frames ? &(*frames)[i] : nullptr))
      return err;
    // Return addresses the walk read back from the stack may be signed.
    uint64_t codeMask = impl->regs[tids[i]].codeMask;
    for (uint64_t &pc : out[i])
      pc &= codeMask;
    if (complete)
      (*complete)[i] = done;
  }
  return Error::success();
}

namespace {

/// Whether \p v lies in one of \p ranges (sorted, disjoint).
bool inRanges(ArrayRef<Unwinder::AddressRange> ranges, uint64_t v) {
  auto it = llvm::upper_bound(ranges, v, [](uint64_t x, const auto &a) {
    return x < a.first;
  });
  return it != ranges.begin() && v < std::prev(it)->second;
}

/// What the words of one stack, from its stack pointer \p sp on, say.
Unwinder::Verdict scanWords(ArrayRef<uint64_t> words, uint64_t sp,
                            ArrayRef<Unwinder::AddressRange> ranges, uint64_t codeMask) {
  // A return address is read at w - 1, as unwinders read caller frames: a
  // function whose last instruction is a call that never returns leaves
  // one past its own end. The word itself counts too (a pointer kept on
  // the stack, an entry address): a suspect is walked, never refused.
  uint64_t lo = ranges.front().first, hi = ranges.back().second;
  for (size_t i = 0; i < words.size(); ++i) {
    uint64_t raw = words[i], w = raw & codeMask; // (a signed return address: its address)
    if (w - lo <= hi - lo && (inRanges(ranges, w) || inRanges(ranges, w - 1)))
      return Unwinder::Verdict::Suspect; // maybe a return address into one
    // A signal frame of a handler running on an alternate stack: its
    // uc_stack (ss_sp, then ss_size two words on) holds the place itself.
    // The interrupted frames are on another stack then: walk it.
    if (i + 2 < words.size()) {
      uint64_t at = sp + 8 * i, size = words[i + 2];
      if (size - 2048 < (1ull << 30) - 2048 && raw <= at && at - raw < size)
        return Unwinder::Verdict::Unknown;
    }
  }
  return Unwinder::Verdict::Clear;
}

} // namespace

Expected<std::vector<Unwinder::Verdict>>
Unwinder::scanStacks(ArrayRef<int> tids, ArrayRef<AddressRange> ranges,
                     function_ref<uint64_t(uint64_t)> stackEnd) {
  std::vector<Verdict> verdicts(tids.size(), Verdict::Clear);
  if (ranges.empty())
    return verdicts;
  // Registers first (each read waits for its thread to be off its CPU),
  // then every stack in one read.
  struct Piece {
    size_t thread, offset; // offset: in words, into the buffer
    uint64_t sp, end;
  };
  std::vector<Piece> pieces;
  size_t total = 0;
  for (size_t i = 0; i < tids.size(); ++i) {
    Expected<uint64_t> sp = stackPointer(tids[i]);
    if (!sp)
      return sp.takeError();
    const ThreadRegs &r = impl->regs[tids[i]];
    uint64_t end = stackEnd(*sp);
    // A thread block inside the stack memory (the top of a glibc thread's
    // stack) ends the frames: they all lie below it.
    if (r.threadPointer > *sp && r.threadPointer < end)
      end = r.threadPointer & ~uint64_t(7);
    // The link register may hold the return address into a replaced
    // function that called the running leaf (read as a word of the stack).
    uint64_t link = r.linkRegister & r.codeMask;
    if (inRanges(ranges, r.pc) ||
        (link && (inRanges(ranges, link) || inRanges(ranges, link - 1))))
      verdicts[i] = Verdict::Suspect;
    else if (*sp % 8 || end <= *sp || end - *sp > maxScan)
      verdicts[i] = Verdict::Unknown; // not a stack we know, or a deep one
    else {
      pieces.push_back({i, total, *sp, end});
      total += (end - *sp) / 8;
    }
  }
  if (impl->scan.size() < total)
    impl->scan.resize(total);
  std::vector<MemoryPiece> memory;
  for (const Piece &p : pieces)
    memory.push_back({p.sp, MutableArrayRef(reinterpret_cast<uint8_t *>(
                                                impl->scan.data() + p.offset),
                                            p.end - p.sp)});
  std::vector<bool> read = readPieces(impl->pid, impl->walker.memFd, memory);
  for (size_t k = 0; k < pieces.size(); ++k) {
    const Piece &p = pieces[k];
    verdicts[p.thread] =
        read[k] ? scanWords(ArrayRef(impl->scan.data() + p.offset, (p.end - p.sp) / 8),
                            p.sp, ranges, impl->regs[tids[p.thread]].codeMask)
                : Verdict::Unknown;
  }
  return verdicts;
}

std::optional<int64_t> Unwinder::returnAddressSaved(uint64_t pc) const {
  return impl->walker.returnAddressSaved(pc);
}

Expected<uint64_t> Unwinder::stackPointer(int tid) {
  ThreadRegs &r = impl->regs[tid];
  if (r.dwarf.empty())
    if (Error err = unwindRegisters(tid, r))
      return std::move(err);
  return r.sp;
}

Expected<const UnwindRegisters *> Unwinder::registers(int tid) {
  if (Expected<uint64_t> sp = stackPointer(tid); !sp)
    return sp.takeError();
  return &impl->regs[tid];
}

Error Unwinder::backtrace(int tid, std::vector<uint64_t> &pcs) {
  std::vector<std::vector<uint64_t>> out;
  std::vector<int> one{tid};
  if (Error err = backtraceAll(one, out))
    return err;
  pcs = std::move(out.front());
  return Error::success();
}

} // namespace hotpatch
