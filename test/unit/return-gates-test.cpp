//===- test/unit/return-gates-test.cpp - gates on a return, in this process -===//
//
// The gate page returnGateCodePage() makes is mapped here, in the test
// itself, with its tables registered with this process's unwinder, as
// hp-apply has the target do. A function swaps its own return address for
// a gate's, as hp-apply swaps a stopped thread's: the return goes on to
// the caller with the function's result and sets the fired byte; an
// exception thrown through the gate reaches the caller's catch; with the
// hold word set, the return waits (at most the timeout) and still returns.
//
//===----------------------------------------------------------------------===//

#include "return-gates.h"

#include "gtest/gtest.h"

#include <chrono>
#include <cstring>
#include <sys/mman.h>
#include <unistd.h>

using namespace hotpatch;

extern "C" void __register_frame_info(const void *tables, void *object);

namespace {

struct GatePage {
  ReturnGateLayout layout{uint64_t(sysconf(_SC_PAGESIZE))};
  uint8_t *code = nullptr, *data = nullptr;

  GatePage() {
    const Arch &arch = llvm::cantFail(hostArch());
    uint64_t page = layout.pageSize;
    auto *p = static_cast<uint8_t *>(
        mmap(nullptr, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    if (p == MAP_FAILED)
      return;
    code = p;
    data = p + page;
    std::vector<uint8_t> bytes = returnGateCodePage(arch, layout, uint64_t(code), uint64_t(data));
    memcpy(code, bytes.data(), bytes.size());
    mprotect(code, page, PROT_READ | PROT_EXEC);
    timespec hold{0, 5000000};
    memcpy(data + ReturnGateLayout::timeoutOff, &hold, sizeof hold);
    __register_frame_info(code + ReturnGateLayout::ehFrameOff,
                          data + ReturnGateLayout::objectOff);
  }
  uint8_t *slotData(unsigned i) {
    return data + ReturnGateLayout::dataOff + i * ReturnGateLayout::dataSize;
  }
  uint64_t entry(unsigned i) {
    return uint64_t(code) + layout.stubsOff + i * ReturnGateLayout::slotSize +
           llvm::cantFail(hostArch()).returnGateShape().entry;
  }
  void setHold(uint32_t v) { __atomic_store_n(reinterpret_cast<uint32_t *>(data + 8), v, __ATOMIC_SEQ_CST); }
};

GatePage &gates() {
  static GatePage g;
  return g;
}

unsigned gateUsed = 0;

/// Returns \p x + 1 (or throws \p x when \p x is negative) through gate
/// gateUsed: its return address, in its frame record (the frame pointer
/// holds it: __builtin_frame_address), kept in the gate's data and
/// replaced by the gate's entry.
__attribute__((noinline)) long throughGate(long x) {
  void **ret = static_cast<void **>(__builtin_frame_address(0)) + 1;
  memcpy(gates().slotData(gateUsed), ret, 8);
  *ret = reinterpret_cast<void *>(gates().entry(gateUsed));
  __asm__ volatile("" ::: "memory");
  if (x < 0)
    throw x;
  return x + 1;
}

TEST(ReturnGates, TablesHaveAnFdeForEverySlot) {
  const Arch &arch = llvm::cantFail(hostArch());
  ReturnGateLayout layout(4096);
  EXPECT_GE(layout.count, 50u);
  EXPECT_LE(layout.stubsOff + layout.count * ReturnGateLayout::slotSize, 4096u);
  std::vector<uint8_t> tables = returnGateTables(arch, layout, 0x10000, 0x11000);
  EXPECT_EQ(tables.size(),
            ReturnGateLayout::cieSize + layout.count * ReturnGateLayout::fdeSize + 4);
  EXPECT_LE(ReturnGateLayout::ehFrameOff + tables.size(), layout.stubsOff);
}

TEST(ReturnGates, ReturnGoesOnToTheCaller) {
  ASSERT_NE(gates().code, nullptr);
  gateUsed = 0;
  EXPECT_EQ(throughGate(41), 42);
  EXPECT_EQ(gates().slotData(0)[ReturnGateLayout::firedOff], 1);
}

TEST(ReturnGates, ExceptionLeavesThroughTheGate) {
  ASSERT_NE(gates().code, nullptr);
  gateUsed = 1;
  long caught = 0;
  try {
    throughGate(-7);
  } catch (long v) {
    caught = v;
  }
  EXPECT_EQ(caught, -7);
  // (The unwinder passed the gate by; its code never ran.)
  EXPECT_EQ(gates().slotData(1)[ReturnGateLayout::firedOff], 0);
}

TEST(ReturnGates, HoldWaitsAtMostItsTimeout) {
  ASSERT_NE(gates().code, nullptr);
  gateUsed = 2;
  gates().setHold(1);
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(throughGate(1), 2);
  auto held = std::chrono::steady_clock::now() - t0;
  gates().setHold(0);
  EXPECT_GE(held, std::chrono::milliseconds(4));
  EXPECT_LT(held, std::chrono::milliseconds(500));
  gateUsed = 3;
  t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(throughGate(2), 3);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(4));
}

} // namespace
