//===- test/unit/record-test.cpp - the in-target patch record -------------===//

#include "record.h"

#include "llvm/BinaryFormat/ELF.h"
#include "llvm/Support/Endian.h"

#include "gtest/gtest.h"

using namespace llvm;
using namespace hotpatch;

namespace {

AppliedPatch sample() {
  AppliedPatch p;
  p.id = 7;
  p.state = RecordState::Active;
  p.name = "fix-cve.hp";
  p.buildId = "0123456789abcdef0123456789abcdef01234567";
  p.committed = true;
  p.gatesOffset = 0x1a0;
  p.eMachine = ELF::EM_AARCH64;
  p.patchDigest = 0xfeedbeef;
  p.unwind = UnwindState::Registered;
  p.unwindTablesOffset = 0x3a40;
  p.regionAddr = 0x7f0000000000;
  p.regionSize = 3 * 4096;
  p.moduleBase = 0x555555554000;
  p.appliedAtNs = 1764900000123456789ull;
  std::vector<uint8_t> saved(16, 0x90);
  saved.insert(saved.end(), {0x66, 0x90});
  p.functions.push_back({"handle_request", 0x555555555120, 0x7f0000000040, 0, saved});
  p.functions.push_back({"parse", 0x555555555200, 0x7f0000000080, 4, {1, 2, 3}});
  return p;
}

TEST(Record, RoundTrips) {
  AppliedPatch p = sample();
  std::vector<uint8_t> bytes = encodeRecord(p);
  EXPECT_EQ(bytes.size(), encodedRecordSize(p));
  EXPECT_EQ(bytes.size() % 64, 0u);
  Expected<AppliedPatch> back = decodeRecord(bytes);
  ASSERT_TRUE(bool(back)) << toString(back.takeError());
  EXPECT_EQ(back->id, p.id);
  EXPECT_EQ(back->state, p.state);
  EXPECT_EQ(back->name, p.name);
  EXPECT_EQ(back->buildId, p.buildId);
  EXPECT_EQ(back->committed, p.committed);
  EXPECT_EQ(back->gatesOffset, p.gatesOffset);
  EXPECT_EQ(back->eMachine, p.eMachine);
  EXPECT_EQ(back->patchDigest, p.patchDigest);
  EXPECT_EQ(back->unwind, p.unwind);
  EXPECT_EQ(back->unwindTablesOffset, p.unwindTablesOffset);
  EXPECT_EQ(back->regionAddr, p.regionAddr);
  EXPECT_EQ(back->regionSize, p.regionSize);
  EXPECT_EQ(back->moduleBase, p.moduleBase);
  EXPECT_EQ(back->appliedAtNs, p.appliedAtNs);
  ASSERT_EQ(back->functions.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(back->functions[i].name, p.functions[i].name);
    EXPECT_EQ(back->functions[i].entryAddr, p.functions[i].entryAddr);
    EXPECT_EQ(back->functions[i].newAddr, p.functions[i].newAddr);
    EXPECT_EQ(back->functions[i].site, p.functions[i].site);
    EXPECT_EQ(back->functions[i].saved, p.functions[i].saved);
  }
}

// The fields other hp-apply versions rely on stay where they were.
TEST(Record, KeepsItsLayout) {
  AppliedPatch p = sample();
  std::vector<uint8_t> bytes = encodeRecord(p);
  EXPECT_EQ(std::string(bytes.begin(), bytes.begin() + 8), "HPREC001");
  EXPECT_EQ(support::endian::read64le(&bytes[RecordLayout::stateOffset]),
            uint64_t(RecordState::Active));
  EXPECT_EQ(bytes[RecordLayout::commitOffset], 1);
  EXPECT_EQ(support::endian::read64le(&bytes[176]), p.gatesOffset);
  EXPECT_EQ(support::endian::read16le(&bytes[184]), p.eMachine);
  EXPECT_EQ(bytes[RecordLayout::unwindOffset], uint8_t(UnwindState::Registered));
  EXPECT_EQ(support::endian::read32le(&bytes[188]), p.patchDigest);
  EXPECT_EQ(support::endian::read32le(&bytes[172]), p.unwindTablesOffset);
  EXPECT_EQ(bytes[RecordLayout::commitOffset], 1); // (its neighbour at 172 kept clear)
  const uint8_t *e = &bytes[RecordLayout::headerSize];
  EXPECT_EQ(support::endian::read64le(e), p.functions[0].entryAddr);
  EXPECT_EQ(e[17], p.functions[0].saved.size());
}

TEST(Record, LongNamesAreCutNotOverflowed) {
  AppliedPatch p = sample();
  p.name = std::string(200, 'n');
  p.buildId = std::string(100, 'b');
  Expected<AppliedPatch> back = decodeRecord(encodeRecord(p));
  ASSERT_TRUE(bool(back)) << toString(back.takeError());
  EXPECT_EQ(back->name, std::string(63, 'n'));
  EXPECT_EQ(back->buildId, std::string(47, 'b'));
}

TEST(Record, UnfinishedApplyIsNotAPatch) {
  AppliedPatch p = sample();
  p.state = RecordState::Preparing;
  uint32_t count = 0;
  EXPECT_FALSE(decodeRecordHeader(encodeRecord(p), count));
  p.state = RecordState::Reverted;
  std::optional<AppliedPatch> h = decodeRecordHeader(encodeRecord(p), count);
  ASSERT_TRUE(h);
  EXPECT_FALSE(h->active());
  EXPECT_EQ(count, 2u);
}

TEST(Record, ForeignBytesAreRefused) {
  std::vector<uint8_t> zeros(RecordLayout::headerSize, 0);
  uint32_t count = 0;
  EXPECT_FALSE(decodeRecordHeader(zeros, count));
  std::vector<uint8_t> bytes = encodeRecord(sample());
  EXPECT_FALSE(decodeRecordHeader(ArrayRef<uint8_t>(bytes).take_front(100), count));
  // A function count no patch has.
  support::endian::write32le(&bytes[12], RecordLayout::maxFunctions + 1);
  EXPECT_FALSE(decodeRecordHeader(bytes, count));
}

TEST(Record, CorruptEntryIsAnError) {
  std::vector<uint8_t> bytes = encodeRecord(sample());
  bytes[RecordLayout::headerSize + 17] = RecordLayout::maxSaved + 1;
  Expected<AppliedPatch> back = decodeRecord(bytes);
  EXPECT_FALSE(bool(back));
  consumeError(back.takeError());
  // Entries claimed past the end.
  bytes = encodeRecord(sample());
  support::endian::write32le(&bytes[12], 1000);
  back = decodeRecord(bytes);
  EXPECT_FALSE(bool(back));
  consumeError(back.takeError());
}

TEST(Record, BeforeGatesAnActivePatchWasCommitted) {
  AppliedPatch p = sample();
  p.gatesOffset = 0;
  p.committed = false; // the byte: gates did not exist, nobody wrote it
  Expected<AppliedPatch> back = decodeRecord(encodeRecord(p));
  ASSERT_TRUE(bool(back)) << toString(back.takeError());
  EXPECT_TRUE(back->committed);
}

} // namespace
