//===- runtime/unwind.cpp - every thread's call stack (libdwfl) -----------===//

#include "unwind.h"

#include <elfutils/libdwfl.h>

#include <cstring>
#include <dwarf.h>

using namespace llvm;

namespace hotpatch {

struct Unwinder::Impl {
  Dwfl *dwfl = nullptr;
  int pid = 0;
  bool attached = false;
  ~Impl() {
    if (dwfl)
      dwfl_end(dwfl);
  }
};

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
  // Attaching only records the process (we stop its threads ourselves), so
  // it happens here, outside the stop.
  if (int err = dwfl_linux_proc_attach(u->impl->dwfl, pid,
                                       /*assume_ptrace_stopped=*/true))
    return createStringError(std::errc::io_error,
                             "process %d: the unwinder cannot attach: %s", pid,
                             strerror(err));
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

Error Unwinder::backtrace(int tid, std::vector<uint64_t> &pcs) {
  if (!impl->attached) {
    if (int err = dwfl_linux_proc_attach(impl->dwfl, impl->pid,
                                         /*assume_ptrace_stopped=*/true))
      return createStringError(std::errc::io_error,
                               "process %d: the unwinder cannot attach: %s",
                               impl->pid, strerror(err));
    impl->attached = true;
  }
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
