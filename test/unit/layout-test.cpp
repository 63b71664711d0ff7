//===- test/unit/layout-test.cpp - the region's layout and address --------===//

#include "layout.h"

#include "gtest/gtest.h"

using namespace llvm;
using namespace hotpatch;

namespace {

constexpr uint64_t KiB = 1024, MiB = 1024 * KiB, GiB = 1024 * MiB;

PatchFile patchWith(size_t text, size_t rodata, size_t data, size_t bss, size_t got,
                    size_t functions) {
  PatchFile p;
  p.sections[unsigned(PatchSection::Text)].resize(text);
  p.sections[unsigned(PatchSection::Rodata)].resize(rodata);
  p.sections[unsigned(PatchSection::Data)].resize(data);
  p.sections[unsigned(PatchSection::Got)].resize(got);
  p.bssSize = bss;
  p.functions.resize(functions);
  return p;
}

Mapping mapping(uint64_t start, uint64_t end) {
  Mapping m;
  m.start = start;
  m.end = end;
  return m;
}

TEST(Layout, PartsStartOnPagesAndNothingOverlaps) {
  for (uint64_t page : {4 * KiB, 16 * KiB, 64 * KiB}) {
    PatchFile p = patchWith(5000, 300, 24, 100, 16, 3);
    PatchLayout l = planLayout(p, 256, 32, page);
    EXPECT_EQ(l.rxSize % page, 0u);
    EXPECT_EQ(l.rodataOff % page, 0u);
    EXPECT_EQ(l.recordOff % page, 0u);
    EXPECT_EQ(l.total, l.rxSize + l.roSize + l.rwSize);
    EXPECT_GE(l.pltOff, 5000u);
    EXPECT_GE(l.gatesOff, l.pltOff);
    EXPECT_LE(l.gatesOff + 3 * 32, l.rxSize);
    EXPECT_GE(l.dataOff, l.recordOff + 256);
    EXPECT_GE(l.bssOff, l.dataOff + 24);
    EXPECT_GE(l.gotOff, l.bssOff + 100);
    EXPECT_EQ(l.gotOff % 8, 0u);
    EXPECT_LE(l.gotOff + 16, l.total);
    EXPECT_EQ(l.offsetOf(PatchSection::Got), l.gotOff);
  }
}

TEST(Layout, EmptyReadOnlyPartTakesNoPage) {
  PatchLayout l = planLayout(patchWith(64, 0, 0, 0, 0, 1), 256, 32, 4 * KiB);
  EXPECT_EQ(l.roSize, 0u);
  EXPECT_EQ(l.total, 2 * 4 * KiB);
}

TEST(Layout, DataKeepsItsAlignment) {
  PatchFile p = patchWith(64, 0, 64, 0, 0, 1);
  p.align[unsigned(PatchSection::Data)] = 64;
  PatchLayout l = planLayout(p, 200, 32, 4 * KiB);
  EXPECT_EQ(l.dataOff % 64, 0u);
}

TEST(PlaceNear, TakesTheClosestGapWithGuardPages) {
  uint64_t page = 4 * KiB;
  // The module at [1 GiB, 1 GiB + 1 MiB), a library right after it, a
  // gap of 64 KiB below the module and a large one above the library.
  std::vector<Mapping> maps = {mapping(GiB - 2 * MiB, GiB - 64 * KiB),
                               mapping(GiB, GiB + MiB),
                               mapping(GiB + MiB, GiB + 2 * MiB)};
  std::optional<uint64_t> at = placeNear(maps, GiB, GiB + MiB, 16 * KiB, page, 1ull << 47);
  ASSERT_TRUE(at);
  // The 64 KiB gap below fits 16 KiB with a free page on both sides.
  EXPECT_LT(*at, GiB);
  EXPECT_GE(*at, GiB - 64 * KiB + page);
  EXPECT_LE(*at + 16 * KiB, GiB - page);
  EXPECT_EQ(*at % page, 0u);
}

TEST(PlaceNear, NeverOverlapsAMapping) {
  uint64_t page = 16 * KiB;
  std::vector<Mapping> maps;
  for (uint64_t a = GiB; a < GiB + 64 * MiB; a += 2 * MiB)
    maps.push_back(mapping(a, a + MiB + 8 * KiB)); // unaligned ends
  std::optional<uint64_t> at =
      placeNear(maps, GiB, GiB + 64 * MiB, 200 * KiB, page, 1ull << 47);
  ASSERT_TRUE(at);
  EXPECT_EQ(*at % page, 0u);
  for (const Mapping &m : maps)
    EXPECT_TRUE(*at + 200 * KiB + page <= m.start || *at >= m.end + page)
        << std::hex << *at << " near [" << m.start << ", " << m.end << ")";
}

// The test hook's placement (HOTPATCH_TEST_PLACE_AT_LEAST_MIB): no byte
// nearer than asked, still within reach, in a gap; below the module when
// the other side is taken.
TEST(PlaceNear, AtLeastAsFarAsAsked) {
  uint64_t page = 4 * KiB;
  std::vector<Mapping> maps = {mapping(GiB, GiB + MiB)};
  std::optional<uint64_t> at =
      placeNear(maps, GiB, GiB + MiB, 16 * KiB, page, 1ull << 47, GiB, 256 * MiB);
  ASSERT_TRUE(at);
  EXPECT_EQ(*at % page, 0u);
  uint64_t nearest = *at >= GiB + MiB ? *at - (GiB + MiB) : GiB - (*at + 16 * KiB);
  EXPECT_GE(nearest, 256 * MiB);
  EXPECT_LT(nearest, 257 * MiB); // the nearest such place, not any
  maps.push_back(mapping(GiB + MiB, 4 * GiB)); // above: taken
  at = placeNear(maps, GiB, GiB + MiB, 16 * KiB, page, 1ull << 47, GiB, 256 * MiB);
  ASSERT_TRUE(at);
  EXPECT_LE(*at + 16 * KiB + 256 * MiB, GiB);
  // Farther than the reach allows: nowhere.
  EXPECT_FALSE(placeNear(maps, GiB, GiB + MiB, 16 * KiB, page, 1ull << 47, 128 * MiB,
                         256 * MiB));
}

TEST(PlaceNear, NothingOutOfReach) {
  // Everything within 1 GiB of the module is taken.
  std::vector<Mapping> maps = {mapping(16 * GiB - 2 * GiB, 16 * GiB + 2 * GiB)};
  EXPECT_FALSE(placeNear(maps, 16 * GiB, 16 * GiB + MiB, 64 * KiB, 4 * KiB, 1ull << 47));
}

TEST(PlaceNear, NothingAtOrAboveTheEndOfUserMemory) {
  uint64_t end = 1ull << 39; // a 39-bit aarch64 kernel
  // Only 32 KiB free below the end; x86_64's vsyscall page (the kernel's)
  // far above it.
  std::vector<Mapping> maps = {mapping(GiB, end - 32 * KiB),
                               mapping(0xffffffffff600000ull, 0xffffffffff601000ull)};
  EXPECT_FALSE(placeNear(maps, end - 2 * MiB, end - MiB, 64 * KiB, 4 * KiB, end));
  // With room below the end, the patch goes there.
  maps[0].end = end - MiB;
  std::optional<uint64_t> at = placeNear(maps, end - 2 * MiB, end - MiB, 64 * KiB,
                                         4 * KiB, end);
  ASSERT_TRUE(at);
  EXPECT_GE(*at, end - MiB + 4 * KiB);
  EXPECT_LE(*at + 64 * KiB, end - 4 * KiB);
}

} // namespace
