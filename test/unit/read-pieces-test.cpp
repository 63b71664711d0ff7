//===- test/unit/read-pieces-test.cpp - readPieces over a process's memory ===//

#include "target.h"

#include "gtest/gtest.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

using namespace hotpatch;

namespace {

/// Three pages: the first and last readable, the middle one unmapped.
struct Hole {
  uint8_t *base = nullptr;
  long page = sysconf(_SC_PAGESIZE);
  Hole() {
    void *m = mmap(nullptr, 3 * page, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    EXPECT_NE(m, MAP_FAILED);
    base = static_cast<uint8_t *>(m);
    memset(base, 'a', page);
    memset(base + 2 * page, 'c', page);
    munmap(base + page, page);
  }
  ~Hole() {
    munmap(base, page);
    munmap(base + 2 * page, page);
  }
};

/// Our own memory, through the same calls hp-apply makes on a target.
std::vector<bool> readOwn(std::vector<MemoryPiece> pieces) {
  int fd = open("/proc/self/mem", O_RDONLY | O_CLOEXEC);
  std::vector<bool> out = readPieces(getpid(), fd, pieces);
  close(fd);
  return out;
}

TEST(ReadPieces, ReadsEveryPieceInOrder) {
  Hole h;
  uint8_t a[16], c[32];
  std::vector<bool> got =
      readOwn({{uint64_t(uintptr_t(h.base + 8)), a},
               {uint64_t(uintptr_t(h.base + 2 * h.page)), c}});
  EXPECT_EQ(got, (std::vector<bool>{true, true}));
  EXPECT_EQ(a[0], 'a');
  EXPECT_EQ(c[31], 'c');
}

TEST(ReadPieces, SkipsAPieceItCannotReadAndGoesOn) {
  Hole h;
  uint8_t a[16], hole[16], crossing[64], c[16];
  memset(crossing, 0, sizeof crossing);
  std::vector<bool> got = readOwn(
      {{uint64_t(uintptr_t(h.base)), a},
       {uint64_t(uintptr_t(h.base + h.page + 64)), hole},
       // runs from the first page into the hole: not whole, so not read
       {uint64_t(uintptr_t(h.base + h.page - 32)), crossing},
       {uint64_t(uintptr_t(h.base + 2 * h.page + 100)), c}});
  EXPECT_EQ(got, (std::vector<bool>{true, false, false, true}));
  EXPECT_EQ(a[5], 'a');
  EXPECT_EQ(c[15], 'c');
}

TEST(ReadPieces, NothingToRead) {
  EXPECT_TRUE(readOwn({}).empty());
}

} // namespace
