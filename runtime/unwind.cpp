//===- runtime/unwind.cpp - every thread's call stack (libdwfl) -----------===//
//
// libdwfl walks the stopped threads' stacks: the stack check is most of a
// strict flip's pause. Registers come through ptrace (the host backend);
// memory from /proc/PID/mem a page at a time, kept for the stop, where
// libdwfl's own attach would read a word per system call.
//
//===----------------------------------------------------------------------===//

#include "unwind.h"

#include "arch.h"

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
struct ThreadRegs {
  SmallVector<uint64_t, 40> dwarf;
  uint64_t pc = 0, sp = 0;
};

/// One libdwfl session over the process, with its own page cache.
struct Walker {
  Dwfl *dwfl = nullptr;
  int memFd = -1;
  int tid = 0; // the thread being walked
  const std::unordered_map<int, ThreadRegs> *regs = nullptr;
  std::unordered_map<uint64_t, std::unique_ptr<uint8_t[]>> pages;
  static constexpr uint64_t pageSize = 4096;

  ~Walker() {
    if (dwfl)
      dwfl_end(dwfl);
    if (memFd >= 0)
      close(memFd);
  }
  const uint8_t *page(uint64_t base) {
    auto [it, inserted] = pages.try_emplace(base);
    if (inserted) {
      auto bytes = std::make_unique<uint8_t[]>(pageSize);
      if (pread(memFd, bytes.get(), pageSize, off_t(base)) != ssize_t(pageSize)) {
        pages.erase(it);
        return nullptr;
      }
      it->second = std::move(bytes);
    }
    return it->second.get();
  }
  Error open(int pid);
  Error backtrace(int tid, std::vector<uint64_t> &pcs, bool *complete = nullptr);
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
  uint64_t base = addr & ~(Walker::pageSize - 1);
  uint64_t offset = addr - base;
  const uint8_t *first = w->page(base);
  if (!first)
    return false;
  if (offset + sizeof(Dwarf_Word) <= Walker::pageSize) {
    memcpy(result, first + offset, sizeof(Dwarf_Word));
    return true;
  }
  // A word across two pages.
  const uint8_t *second = w->page(base + Walker::pageSize);
  if (!second)
    return false;
  uint8_t word[sizeof(Dwarf_Word)];
  size_t head = Walker::pageSize - offset;
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

Error Walker::open(int pid) {
  dwfl = dwfl_begin(&callbacks);
  if (!dwfl)
    return createStringError(std::errc::io_error, "libdwfl: %s", dwfl_errmsg(-1));
  if (dwfl_linux_proc_report(dwfl, pid) != 0 ||
      dwfl_report_end(dwfl, nullptr, nullptr) != 0)
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
  // backtrace inside the stop.
  dwfl_getmodules(
      dwfl,
      [](Dwfl_Module *mod, void **, const char *, Dwarf_Addr, void *) -> int {
        Dwarf_Addr bias;
        (void)dwfl_module_eh_cfi(mod, &bias);
        return DWARF_CB_OK;
      },
      nullptr, 0);
  return Error::success();
}

int onFrame(Dwfl_Frame *frame, void *arg) {
  auto *pcs = static_cast<std::vector<uint64_t> *>(arg);
  Dwarf_Addr pc = 0;
  bool activation = false;
  if (!dwfl_frame_pc(frame, &pc, &activation))
    return DWARF_CB_ABORT;
  // A return address points after its call: step back into the caller.
  pcs->push_back(activation ? pc : pc - 1);
  return pcs->size() >= 512 ? DWARF_CB_ABORT : DWARF_CB_OK;
}

Error Walker::backtrace(int tid, std::vector<uint64_t> &pcs, bool *complete) {
  pcs.clear();
  int rc = dwfl_getthread_frames(dwfl, tid, onFrame, &pcs);
  if (complete)
    *complete = rc == 0 && pcs.size() < 512;
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
};

Expected<std::unique_ptr<Unwinder>> Unwinder::create(int pid) {
  std::unique_ptr<Unwinder> u(new Unwinder());
  u->impl = std::make_unique<Impl>();
  if (Error err = u->impl->walker.open(pid))
    return std::move(err);
  u->impl->walker.regs = &u->impl->regs;
  return std::move(u);
}

Unwinder::~Unwinder() = default;

void Unwinder::newStop() {
  impl->walker.pages.clear();
  impl->regs.clear();
}

Error Unwinder::backtraceAll(const std::vector<int> &tids,
                             std::vector<std::vector<uint64_t>> &out,
                             std::vector<bool> *complete) {
  out.assign(tids.size(), {});
  if (complete)
    complete->assign(tids.size(), false);
  // Registers first, then the walks. (A second walker on a helper thread,
  // for the second core, was measured: twice slower, 97 -> 194 us for 8
  // threads; waking it and sharing the machine cost more than it saved.)
  for (int tid : tids) {
    ThreadRegs r;
    if (impl->regs.count(tid))
      continue; // read by stackPointer() in this stop
    if (Error err = unwindRegisters(tid, r.dwarf, r.pc, r.sp))
      return err;
    impl->regs[tid] = std::move(r);
  }
  for (size_t i = 0; i < tids.size(); ++i) {
    bool done = false;
    if (Error err = impl->walker.backtrace(tids[i], out[i], &done))
      return err;
    if (complete)
      (*complete)[i] = done;
  }
  return Error::success();
}

Expected<Unwinder::Verdict>
Unwinder::provablyClear(int tid, ArrayRef<AddressRange> ranges, uint64_t stackEnd) {
  Expected<uint64_t> read = stackPointer(tid);
  if (!read)
    return read.takeError();
  const ThreadRegs &r = impl->regs[tid];
  if (ranges.empty())
    return Verdict::Clear;
  auto inRange = [&](uint64_t v) {
    auto it = llvm::upper_bound(ranges, v, [](uint64_t x, const AddressRange &a) {
      return x < a.first;
    });
    return it != ranges.begin() && v < std::prev(it)->second;
  };
  if (inRange(r.pc))
    return Verdict::Suspect;
  uint64_t sp = r.sp;
  if (sp % 8 || !stackEnd || stackEnd <= sp || stackEnd - sp > maxScan)
    return Verdict::Unknown; // not a stack we know, or a deep one: walk it
  std::vector<uint64_t> words((stackEnd - sp) / 8);
  ssize_t want = ssize_t(words.size() * 8);
  if (pread(impl->walker.memFd, words.data(), want, off_t(sp)) != want)
    return Verdict::Unknown;
  uint64_t lo = ranges.front().first, hi = ranges.back().second;
  for (size_t i = 0; i < words.size(); ++i) {
    uint64_t w = words[i];
    if (w >= lo && w < hi && inRange(w))
      return Verdict::Suspect; // maybe a return address into a replaced function
    // A signal frame of a handler running on an alternate stack: its
    // uc_stack (ss_sp, then ss_size two words on) holds the place itself.
    // The interrupted frames are on another stack then: walk it.
    uint64_t at = sp + 8 * i;
    if (i + 2 < words.size() && w <= at && words[i + 2] >= 2048 &&
        words[i + 2] < (1ull << 30) && at < w + words[i + 2])
      return Verdict::Unknown;
  }
  return Verdict::Clear;
}

Expected<uint64_t> Unwinder::stackPointer(int tid) {
  ThreadRegs &r = impl->regs[tid];
  if (r.dwarf.empty())
    if (Error err = unwindRegisters(tid, r.dwarf, r.pc, r.sp))
      return std::move(err);
  return r.sp;
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
