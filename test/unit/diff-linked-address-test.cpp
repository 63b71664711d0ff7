//===- test/unit/diff-linked-address-test.cpp - addresses in linked code ---===//
//
// What hp-diff reads from a relocation kept in a linked binary: where a
// PC-relative field counts from (Arch::CodeReader), and what an address at
// the edge between two symbols names (readAddress).
//
//===----------------------------------------------------------------------===//

#include "address-map.h"
#include "arch.h"

#include "llvm/BinaryFormat/ELF.h"

#include "gtest/gtest.h"

using namespace llvm;
using namespace hotpatch;

namespace {

std::unique_ptr<Arch::CodeReader> readerFor(uint16_t eMachine) {
  Expected<const Arch &> arch = getArch(eMachine);
  EXPECT_TRUE(bool(arch));
  Expected<std::unique_ptr<Arch::CodeReader>> reader = arch->makeCodeReader();
  EXPECT_TRUE(bool(reader)) << toString(reader.takeError());
  return std::move(*reader);
}

TEST(X86_64CodeReader, FieldCountsFromTheEndOfItsInstruction) {
  static constexpr uint8_t code[] = {
      0x8b, 0x05, 0, 0, 0, 0,                   // mov  0(%rip), %eax
      0xc7, 0x05, 0, 0, 0, 0, 1, 0, 0, 0,       // movl $1, 0(%rip)
      0x80, 0x3d, 0, 0, 0, 0, 7,                // cmpb $7, 0(%rip)
      0xc3,                                     // ret
  };
  auto reader = readerFor(ELF::EM_X86_64);
  auto reach = [&](uint64_t field) {
    Expected<unsigned> r = reader->fieldReach(code, /*codeAddr=*/0x1000, field);
    EXPECT_TRUE(bool(r)) << toString(r.takeError());
    return r ? *r : 0u;
  };
  EXPECT_EQ(reach(2), 4u);  // nothing after the field
  EXPECT_EQ(reach(8), 8u);  // a 4-byte immediate after it
  EXPECT_EQ(reach(18), 5u); // a 1-byte immediate after it
}

TEST(X86_64CodeReader, UndecodableCodeIsAnError) {
  static constexpr uint8_t code[] = {0x06, 0x00, 0x00, 0x00}; // push %es: not in 64-bit
  auto reader = readerFor(ELF::EM_X86_64);
  Expected<unsigned> r = reader->fieldReach(code, 0x2000, 1);
  ASSERT_FALSE(bool(r));
  EXPECT_NE(toString(r.takeError()).find("cannot decode"), std::string::npos);
}

TEST(X86_64CodeReader, FieldPastTheLastInstructionIsAnError) {
  static constexpr uint8_t code[] = {0xc3}; // ret
  auto reader = readerFor(ELF::EM_X86_64);
  Expected<unsigned> r = reader->fieldReach(code, 0x3000, 4);
  ASSERT_FALSE(bool(r));
  EXPECT_EQ(toString(r.takeError()), "relocation past the last instruction");
}

TEST(PcRelFieldReach, X86IsARangeAArch64IsItsInstruction) {
  EXPECT_EQ(getArch(ELF::EM_X86_64)->pcRelFieldReach(),
            (std::pair<unsigned, unsigned>{4, 8}));
  EXPECT_EQ(getArch(ELF::EM_AARCH64)->pcRelFieldReach(),
            (std::pair<unsigned, unsigned>{0, 0}));
  Expected<unsigned> r = readerFor(ELF::EM_AARCH64)->fieldReach({}, 0, 0);
  ASSERT_TRUE(bool(r));
  EXPECT_EQ(*r, 0u);
}

/// .text at 0x1000 with f; .rodata at 0x2000 with c and d, a gap between;
/// .data at 0x3000 with a and b back to back, then a gap and e.
AddressMap sampleMap() {
  AddressMap map;
  auto section = [&](uint64_t flags, uint64_t addr) {
    ElfSection s;
    s.flags = ELF::SHF_ALLOC | flags;
    s.addr = addr;
    s.size = 0x100;
    map.sections.push_back(s);
    return uint32_t(map.sections.size() - 1);
  };
  uint32_t text = section(ELF::SHF_EXECINSTR, 0x1000);
  uint32_t rodata = section(0, 0x2000);
  uint32_t data = section(ELF::SHF_WRITE, 0x3000);
  map.extents = {{0x1000, 0x1040, /*f*/ 1, text},
                 {0x2000, 0x2008, /*c*/ 2, rodata},
                 {0x2010, 0x2018, /*d*/ 3, rodata},
                 {0x3000, 0x3010, /*a*/ 4, data},
                 {0x3010, 0x3020, /*b*/ 5, data},
                 {0x3030, 0x3040, /*e*/ 6, data}};
  map.sortExtents();
  return map;
}

uint32_t primary(const AddressReading &r) {
  return r.primary.extent ? r.primary.extent->symbol : 0;
}

TEST(ReadAddress, InsideCodeIsThatFunction) {
  AddressMap map = sampleMap();
  AddressReading r = readAddress(map, 0x1010, {}, /*inCode=*/true);
  EXPECT_EQ(primary(r), 1u);
  EXPECT_FALSE(r.hasAlt);
}

TEST(ReadAddress, WhereTwoVariablesMeetBothReadingsWhenBothAreUsed) {
  AddressMap map = sampleMap();
  const Extent *a = map.extentAt(0x3000);
  AddressReading alone = readAddress(map, 0x3010, {}, true);
  EXPECT_EQ(primary(alone), 5u); // b starts here
  EXPECT_FALSE(alone.hasAlt);
  AddressReading withA = readAddress(map, 0x3010, {a}, true);
  EXPECT_EQ(primary(withA), 5u);
  ASSERT_TRUE(withA.hasAlt); // or the end of a, which this code also uses
  EXPECT_EQ(withA.alt.extent, a);
}

TEST(ReadAddress, WritableGapIsTheEndBeforeOrTheStartAfter) {
  AddressMap map = sampleMap();
  AddressReading r = readAddress(map, 0x3020, {}, true);
  EXPECT_EQ(primary(r), 5u); // the end of b
  ASSERT_TRUE(r.hasAlt);
  EXPECT_EQ(r.alt.extent->symbol, 6u); // just before e
}

TEST(ReadAddress, ReadOnlyGapIsUnnamedDataUnlessANeighbourIsUsed) {
  AddressMap map = sampleMap();
  const Extent *c = map.extentAt(0x2000), *d = map.extentAt(0x2010);
  EXPECT_EQ(readAddress(map, 0x2008, {}, true).primary.extent, nullptr);
  EXPECT_EQ(readAddress(map, 0x2008, {c}, true).primary.extent, c);
  EXPECT_EQ(readAddress(map, 0x2008, {d}, /*inCode=*/true).primary.extent, d);
  // A table does not fold an index: from data, d's neighbour is unnamed.
  EXPECT_EQ(readAddress(map, 0x2008, {d}, /*inCode=*/false).primary.extent,
            nullptr);
}

} // namespace
