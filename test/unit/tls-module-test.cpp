//===- test/unit/tls-module-test.cpp - ld.so takes the patch's TLS library -===//
//
// The library buildTlsModule() makes is loaded here, into this test, the
// way hp-apply has the target load it: from a memfd, by dlopen. What a
// patch relies on is checked against glibc itself: the block is static
// TLS at the offset the library's first word says, initialised in a
// thread that existed before the load and in one created after it, each
// thread with its own copy, and __tls_get_addr agrees with the module id.
//
//===----------------------------------------------------------------------===//

#include "tls-module.h"

#include "gtest/gtest.h"

#include <condition_variable>
#include <cstring>
#include <dlfcn.h>
#include <link.h> // (its <elf.h> names the machine and relocations below)
#include <mutex>
#include <sys/mman.h>
#include <thread>
#include <unistd.h>

using namespace hotpatch;

namespace {

#if defined(__x86_64__)
constexpr uint16_t hostMachine = EM_X86_64;
constexpr uint32_t tpOffsetType = R_X86_64_TPOFF64,
                   moduleIdType = R_X86_64_DTPMOD64;
#elif defined(__aarch64__)
constexpr uint16_t hostMachine = EM_AARCH64;
constexpr uint32_t tpOffsetType = R_AARCH64_TLS_TPREL64,
                   moduleIdType = R_AARCH64_TLS_DTPMOD64;
#endif

struct TlsIndex {
  unsigned long module, offset;
};
extern "C" void *__tls_get_addr(TlsIndex *);

/// This thread's copy of the block at TP offset \p tpOffset.
uint32_t *inThisThread(int64_t tpOffset) {
  return reinterpret_cast<uint32_t *>(
      static_cast<char *>(__builtin_thread_pointer()) + tpOffset);
}

TEST(TlsModule, GlibcGivesEveryThreadItsOwnInitialisedCopy) {
  // Two variables: 0x11223344 and a zero-initialised one, 16-aligned.
  std::vector<uint8_t> image(16, 0);
  uint32_t first = 0x11223344;
  memcpy(image.data(), &first, 4);
  std::vector<uint8_t> lib = buildTlsModule(
      {hostMachine, tpOffsetType, moduleIdType, "hotpatch-tls-test.so", image, 16});

  // A thread that exists before the load.
  std::mutex m;
  std::condition_variable cv;
  int64_t published = 0;
  bool ready = false;
  uint32_t earlyFirst = 0, earlySecond = 1;
  std::thread early([&] {
    std::unique_lock<std::mutex> lock(m);
    cv.wait(lock, [&] { return ready; });
    earlyFirst = inThisThread(published)[0];
    earlySecond = inThisThread(published)[1];
  });

  int fd = memfd_create("hotpatch-tls-test", MFD_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, lib.data(), lib.size()), ssize_t(lib.size()));
  std::string path = "/proc/self/fd/" + std::to_string(fd);
  void *handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  close(fd);
  ASSERT_NE(handle, nullptr) << dlerror();
  auto *map = static_cast<link_map *>(handle);
  const uint64_t *facts =
      reinterpret_cast<const uint64_t *>(map->l_addr + tlsModuleFactsOffset);
  int64_t tpOffset = int64_t(facts[0]);
  uint64_t moduleId = facts[1];
  EXPECT_GT(moduleId, 1u);

  uint32_t *mine = inThisThread(tpOffset);
  EXPECT_EQ(mine[0], 0x11223344u);
  EXPECT_EQ(mine[1], 0u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(mine) % 16, 0u);
  TlsIndex index{moduleId, 4};
  EXPECT_EQ(__tls_get_addr(&index), &mine[1]);
  mine[0] = 7;

  {
    std::lock_guard<std::mutex> lock(m);
    published = tpOffset;
    ready = true;
  }
  cv.notify_one();
  early.join();
  EXPECT_EQ(earlyFirst, 0x11223344u);
  EXPECT_EQ(earlySecond, 0u);

  uint32_t lateFirst = 0;
  uint32_t *lateCopy = nullptr;
  std::thread late([&] {
    lateFirst = inThisThread(tpOffset)[0];
    lateCopy = inThisThread(tpOffset);
  });
  late.join();
  EXPECT_EQ(lateFirst, 0x11223344u);
  EXPECT_NE(lateCopy, mine);
  EXPECT_EQ(mine[0], 7u); // (ours untouched)
}

} // namespace
