//===- runtime/unwind.cpp - every thread's call stack (libdwfl) -----------===//

#include "unwind.h"

#include <elfutils/libdwfl.h>

#include "arch.h"

#include <cstring>
#include <dwarf.h>
#include <fcntl.h>
#include <string>
#include <unistd.h>
#include <unordered_map>

using namespace llvm;

namespace hotpatch {

struct Unwinder::Impl {
  Dwfl *dwfl = nullptr;
  int pid = 0;
  int memFd = -1;
  bool attached = false;
  /// Pages of the stopped process read so far: within one stop memory does
  /// not change, and a stack is a few pages. libdwfl's own attach reads it
  /// one word at a time with PTRACE_PEEKDATA, a system call per word.
  std::unordered_map<uint64_t, std::unique_ptr<uint8_t[]>> pages;
  std::string lastError;
  ~Impl() {
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
  static constexpr uint64_t pageSize = 4096;
};

namespace {
// The thread callbacks: threads are named by tid (we stop them ourselves),
// registers come from ptrace, memory from the page cache.
pid_t noNextThread(Dwfl *, void *, void **) { return 0; }
bool getThread(Dwfl *, pid_t tid, void *, void **threadArg) {
  *threadArg = reinterpret_cast<void *>(intptr_t(tid));
  return true;
}
bool readWord(Dwfl *, Dwarf_Addr addr, Dwarf_Word *result, void *arg) {
  auto *impl = static_cast<Unwinder::Impl *>(arg);
  uint64_t base = addr & ~(Unwinder::Impl::pageSize - 1);
  uint64_t offset = addr - base;
  const uint8_t *first = impl->page(base);
  if (!first)
    return false;
  if (offset + sizeof(Dwarf_Word) <= Unwinder::Impl::pageSize) {
    memcpy(result, first + offset, sizeof(Dwarf_Word));
    return true;
  }
  // A word across two pages.
  const uint8_t *second = impl->page(base + Unwinder::Impl::pageSize);
  if (!second)
    return false;
  uint8_t word[sizeof(Dwarf_Word)];
  size_t head = Unwinder::Impl::pageSize - offset;
  memcpy(word, first + offset, head);
  memcpy(word + head, second, sizeof(word) - head);
  memcpy(result, word, sizeof(word));
  return true;
}
bool initialRegisters(Dwfl_Thread *thread, void *threadArg) {
  int tid = int(reinterpret_cast<intptr_t>(threadArg));
  SmallVector<uint64_t, 40> regs;
  uint64_t pc = 0;
  if (Error err = unwindRegisters(tid, regs, pc)) {
    consumeError(std::move(err));
    return false;
  }
  static_assert(sizeof(Dwarf_Word) == sizeof(uint64_t));
  if (!dwfl_thread_state_registers(thread, 0, regs.size(),
                                   reinterpret_cast<const Dwarf_Word *>(regs.data())))
    return false;
  dwfl_thread_state_register_pc(thread, pc);
  return true;
}
void detachNothing(Dwfl *, void *) {}
void detachThreadNothing(Dwfl_Thread *, void *) {}
const Dwfl_Thread_Callbacks threadCallbacks = {
    noNextThread, getThread,     readWord, initialRegisters,
    detachNothing, detachThreadNothing,
};
} // namespace

static char *debuginfoPath = nullptr;
static const Dwfl_Callbacks callbacks = {
    dwfl_linux_proc_find_elf,
    dwfl_standard_find_debuginfo,
    nullptr,
    &debuginfoPath,
};

Expected<std::unique_ptr<Unwinder>> Unwinder::create(int pid) {
  std::unique_ptr<Unwinder> u(new Unwinder());
  u->impl = std::make_unique<Impl>();
  u->impl->pid = pid;
  u->impl->dwfl = dwfl_begin(&callbacks);
  if (!u->impl->dwfl)
    return createStringError(std::errc::io_error, "libdwfl: %s", dwfl_errmsg(-1));
  if (dwfl_linux_proc_report(u->impl->dwfl, pid) != 0 ||
      dwfl_report_end(u->impl->dwfl, nullptr, nullptr) != 0)
    return createStringError(std::errc::io_error,
                             "process %d: cannot read its modules: %s", pid,
                             dwfl_errmsg(-1));
  std::string mem = "/proc/" + std::to_string(pid) + "/mem";
  u->impl->memFd = open(mem.c_str(), O_RDONLY | O_CLOEXEC);
  if (u->impl->memFd < 0)
    return createStringError(std::error_code(errno, std::generic_category()),
                             "%s: cannot open", mem.c_str());
  // Attaching only records the process (we stop its threads ourselves), so
  // it happens here, outside the stop.
  if (!dwfl_attach_state(u->impl->dwfl, nullptr, pid, &threadCallbacks,
                         u->impl.get()))
    return createStringError(std::errc::io_error,
                             "process %d: the unwinder cannot attach: %s", pid,
                             dwfl_errmsg(-1));
  u->impl->attached = true;
  // Read every module's call-frame information now, not on the first
  // backtrace inside the stop.
  dwfl_getmodules(
      u->impl->dwfl,
      [](Dwfl_Module *mod, void **, const char *, Dwarf_Addr, void *) -> int {
        Dwarf_Addr bias;
        (void)dwfl_module_eh_cfi(mod, &bias);
        return DWARF_CB_OK;
      },
      nullptr, 0);
  return std::move(u);
}

Unwinder::~Unwinder() = default;

namespace {
struct Walk {
  std::vector<uint64_t> *pcs;
};
int onFrame(Dwfl_Frame *frame, void *arg) {
  auto *walk = static_cast<Walk *>(arg);
  Dwarf_Addr pc = 0;
  bool activation = false;
  if (!dwfl_frame_pc(frame, &pc, &activation))
    return DWARF_CB_ABORT;
  // A return address points after its call: step back into the caller.
  walk->pcs->push_back(activation ? pc : pc - 1);
  return walk->pcs->size() >= 512 ? DWARF_CB_ABORT : DWARF_CB_OK;
}
} // namespace

void Unwinder::newStop() { impl->pages.clear(); }

Error Unwinder::backtrace(int tid, std::vector<uint64_t> &pcs) {
  pcs.clear();
  Walk walk{&pcs};
  int rc = dwfl_getthread_frames(impl->dwfl, tid, onFrame, &walk);
  // An unwind that ends early (no CFI further up: the outermost frame, or a
  // frame in code without unwind tables) still gave us every frame up to
  // there; an unwind that gave nothing is an error.
  if (rc != 0 && pcs.empty())
    return createStringError(std::errc::io_error,
                             "thread %d: cannot unwind: %s", tid, dwfl_errmsg(-1));
  return Error::success();
}

} // namespace hotpatch
