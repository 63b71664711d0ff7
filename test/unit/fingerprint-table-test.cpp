//===- test/unit/fingerprint-table-test.cpp - the table's encoding --------===//

#include "explain.h"
#include "fingerprint-table.h"

#include "llvm/BinaryFormat/ELF.h"
#include "llvm/Support/Endian.h"

#include "gtest/gtest.h"

using namespace llvm;
using namespace hotpatch;

namespace {

/// The message of a failed decode, or "" when it succeeded.
std::string failureOf(Expected<std::vector<TableRecord>> decoded) {
  if (decoded)
    return "";
  return toString(decoded.takeError());
}

TableRecord sampleRecord() {
  TableRecord r;
  r.eMachine = ELF::EM_X86_64;
  r.padBeforeBytes = 14;
  r.entryNopBytes = 2;
  r.sourceFile = "dir/counter.c";
  r.producer = "clang version 19.1.7; LLVM 19.1.7";
  r.options = "triple=x86_64-pc-linux-gnu;opt=O2";
  r.optionsHash = 0x1122334455667788;
  FunctionEntry tick;
  tick.name = "tick";
  tick.flags = FnPatchable;
  tick.fingerprint = {1, 2};
  FunctionEntry helper;
  helper.name = "helper";
  helper.flags = FnLocal | FnOptedOut;
  helper.reason = "opted out by the hotpatch_exclude attribute";
  helper.fingerprint = {3, 4};
  FunctionEntry inlined;
  inlined.name = "_ZN1S3getEv";
  inlined.flags = FnWeak | FnComdat | FnPatchable;
  inlined.comdat = "_ZN1S3getEv";
  r.functions = {tick, helper, inlined};
  VariableEntry counter;
  counter.name = "tick.counter";
  counter.flags = VarLocal | VarZeroInit;
  counter.sizeBytes = 4;
  counter.alignBytes = 4;
  counter.fingerprint = {5, 6};
  counter.typeHash = 7;
  counter.initHash = 8;
  r.variables = {counter};
  return r;
}

std::vector<uint8_t> bytesOf(const std::string &s) {
  return std::vector<uint8_t>(s.begin(), s.end());
}

TEST(FingerprintTable, RoundTripsEveryField) {
  TableRecord r = sampleRecord();
  std::string bytes = encodeRecord(r);
  auto decoded = decodeRecords(bytesOf(bytes), "t.o");
  ASSERT_TRUE(bool(decoded)) << toString(decoded.takeError());
  ASSERT_EQ(decoded->size(), 1u);
  const TableRecord &d = (*decoded)[0];
  EXPECT_EQ(d.eMachine, ELF::EM_X86_64);
  EXPECT_EQ(d.padBeforeBytes, 14);
  EXPECT_EQ(d.entryNopBytes, 2);
  EXPECT_EQ(d.sourceFile, r.sourceFile);
  EXPECT_EQ(d.producer, r.producer);
  EXPECT_EQ(d.options, r.options);
  EXPECT_EQ(d.optionsHash, r.optionsHash);
  ASSERT_EQ(d.functions.size(), 3u);
  EXPECT_EQ(d.functions[1].name, "helper");
  EXPECT_EQ(d.functions[1].flags, FnLocal | FnOptedOut);
  EXPECT_EQ(d.functions[1].reason, r.functions[1].reason);
  EXPECT_EQ(d.functions[2].comdat, "_ZN1S3getEv");
  EXPECT_EQ(d.functions[0].fingerprint, (Fingerprint{1, 2}));
  ASSERT_EQ(d.variables.size(), 1u);
  EXPECT_EQ(d.variables[0].name, "tick.counter");
  EXPECT_EQ(d.variables[0].sizeBytes, 4u);
  EXPECT_EQ(d.variables[0].typeHash, 7u);
  EXPECT_EQ(d.variables[0].initHash, 8u);
  EXPECT_EQ(d.variables[0].fingerprint, (Fingerprint{5, 6}));
}

TEST(FingerprintTable, RoundTripsSourceHashesCallsAndRemovedFunctions) {
  TableRecord r = sampleRecord();
  r.functions[0].sourceHash = 0xabc;
  r.functions[0].positionFreeHash = 0xdef;
  r.functions[0].callees = {"helper", "step"};
  r.functions[0].calls = {"helper"};
  FunctionEntry step;
  step.name = "step";
  step.flags = FnLocal;
  step.sourceHash = 0x123;
  step.callees = {"helper"};
  r.removedFunctions = {step};
  auto decoded = decodeRecords(bytesOf(encodeRecord(r)), "t.o");
  ASSERT_TRUE(bool(decoded)) << toString(decoded.takeError());
  const TableRecord &d = (*decoded)[0];
  EXPECT_EQ(d.version, fingerprintVersion);
  EXPECT_EQ(d.functions[0].sourceHash, 0xabcu);
  EXPECT_EQ(d.functions[0].positionFreeHash, 0xdefu);
  EXPECT_EQ(d.functions[0].callees, (std::vector<std::string>{"helper", "step"}));
  EXPECT_EQ(d.functions[0].calls, (std::vector<std::string>{"helper"}));
  EXPECT_TRUE(d.functions[1].callees.empty());
  ASSERT_EQ(d.removedFunctions.size(), 1u);
  EXPECT_EQ(d.removedFunctions[0].name, "step");
  EXPECT_EQ(d.removedFunctions[0].flags, uint32_t(FnLocal));
  EXPECT_EQ(d.removedFunctions[0].sourceHash, 0x123u);
  EXPECT_EQ(d.removedFunctions[0].callees, (std::vector<std::string>{"helper"}));
}

/// \p r as version 1 wrote it: 40-byte function entries, no removed list.
std::string encodeVersion1(const TableRecord &r) {
  std::string v2 = encodeRecord(r);
  size_t fnBase = recordHeaderSize, numFns = r.functions.size();
  std::string v1 = v2.substr(0, fnBase);
  for (size_t i = 0; i < numFns; ++i)
    v1 += v2.substr(fnBase + i * functionEntrySize, functionEntrySizeV1);
  v1 += v2.substr(fnBase + numFns * functionEntrySize);
  support::endian::write16le(&v1[4], 1);
  support::endian::write32le(&v1[8], v1.size());
  support::endian::write32le(&v1[24], functionEntrySizeV1);
  return v1;
}

TEST(FingerprintTable, ReadsVersion1WithoutTheNewFields) {
  TableRecord r = sampleRecord();
  r.functions[0].sourceHash = 0xabc; // not in a version 1 entry
  auto decoded = decodeRecords(bytesOf(encodeVersion1(r)), "old.o");
  ASSERT_TRUE(bool(decoded)) << toString(decoded.takeError());
  const TableRecord &d = (*decoded)[0];
  EXPECT_EQ(d.version, 1);
  ASSERT_EQ(d.functions.size(), 3u);
  EXPECT_EQ(d.functions[1].name, "helper");
  EXPECT_EQ(d.functions[1].reason, r.functions[1].reason);
  EXPECT_EQ(d.functions[0].sourceHash, 0u);
  EXPECT_EQ(d.variables[0].name, "tick.counter");
}

TEST(FingerprintTable, SameInputSameBytes) {
  EXPECT_EQ(encodeRecord(sampleRecord()), encodeRecord(sampleRecord()));
}

TEST(FingerprintTable, StringsAreStoredOnce) {
  TableRecord r = sampleRecord();
  r.functions[0].name = "same";
  r.functions[1].name = "same";
  TableRecord single = sampleRecord();
  single.functions[1].name = "tick"; // already interned
  EXPECT_LT(encodeRecord(single).size(), encodeRecord(sampleRecord()).size());
}

TEST(FingerprintTable, WalksConcatenatedRecordsAndLinkerPadding) {
  // What a linker makes of two objects' sections, with alignment padding.
  std::string both = encodeRecord(sampleRecord()) + std::string(5, '\0') +
                     encodeRecord(sampleRecord());
  auto decoded = decodeRecords(bytesOf(both), "a.out");
  ASSERT_TRUE(bool(decoded)) << toString(decoded.takeError());
  EXPECT_EQ(decoded->size(), 2u);
}

TEST(FingerprintTable, RefusesBadMagic) {
  std::string bytes = encodeRecord(sampleRecord());
  bytes[0] = 'X';
  EXPECT_NE(failureOf(decodeRecords(bytesOf(bytes), "t.o")).find("bad magic"), std::string::npos);
}

TEST(FingerprintTable, RefusesUnknownVersionByNumber) {
  std::string bytes = encodeRecord(sampleRecord());
  support::endian::write16le(&bytes[4], 7);
  EXPECT_NE(failureOf(decodeRecords(bytesOf(bytes), "t.o")).find("version 7 is not supported"), std::string::npos);
}

TEST(FingerprintTable, RefusesEveryTruncation) {
  std::string bytes = encodeRecord(sampleRecord());
  for (size_t len = 1; len < bytes.size(); ++len) {
    std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + len);
    auto decoded = decodeRecords(cut, "t.o");
    EXPECT_FALSE(bool(decoded)) << "accepted " << len << " of " << bytes.size();
    if (!decoded)
      consumeError(decoded.takeError());
  }
}

TEST(FingerprintTable, RefusesStringOffsetOutsideTable) {
  std::string bytes = encodeRecord(sampleRecord());
  support::endian::write32le(&bytes[recordHeaderSize], 0xfffffff0); // 1st name
  EXPECT_NE(failureOf(decodeRecords(bytesOf(bytes), "t.o")).find("beyond the"), std::string::npos);
}

TEST(FingerprintTable, RefusesCountsThatOverflowTheRecord) {
  std::string bytes = encodeRecord(sampleRecord());
  support::endian::write32le(&bytes[16], 0x40000000); // function count
  EXPECT_NE(failureOf(decodeRecords(bytesOf(bytes), "t.o")).find("do not add up"), std::string::npos);
}

TEST(Fingerprint, HexIsHighHalfFirst) {
  EXPECT_EQ((Fingerprint{0x1, 0xabc}).hex(),
            "0000000000000abc0000000000000001");
}

TEST(Fingerprint, HashDependsOnEveryByte) {
  std::vector<uint8_t> a = {1, 2, 3, 4}, b = {1, 2, 3, 5};
  EXPECT_NE(hash128(a), hash128(b));
  EXPECT_EQ(hash128(a), hash128(a));
}

} // namespace

namespace {

/// Two builds of one TU: `caller` inlines `mid`, which inlines `leaf`.
struct TwoBuilds {
  TableRecord before, after;
  TwoBuilds() {
    for (TableRecord *r : {&before, &after}) {
      FunctionEntry caller;
      caller.name = "caller";
      caller.fingerprint = {1, 1};
      caller.sourceHash = 10;
      caller.positionFreeHash = 100;
      caller.callees = {"mid"};
      FunctionEntry mid, leaf;
      mid.name = "mid";
      mid.sourceHash = 20;
      mid.callees = {"leaf"};
      leaf.name = "leaf";
      leaf.sourceHash = 30;
      r->functions = {caller};
      r->removedFunctions = {leaf, mid};
    }
  }
  FunctionChange classify() const {
    return classifyFunction(&before.functions[0], after.functions[0], before,
                            after);
  }
};

TEST(ClassifyFunction, SameFingerprintIsSame) {
  TwoBuilds b;
  EXPECT_EQ(b.classify().kind, FunctionChange::Same);
}

TEST(ClassifyFunction, OnlyLineNumbersWhenThePositionFreeHashesAgree) {
  TwoBuilds b;
  b.after.functions[0].fingerprint = {2, 2};
  EXPECT_EQ(b.classify().kind, FunctionChange::LineNumbersOnly);
  EXPECT_FALSE(b.classify().isChange());
  b.after.functions[0].positionFreeHash = 101; // another change beside
  EXPECT_TRUE(b.classify().isChange());
  EXPECT_EQ(b.classify().kind, FunctionChange::ContextChanged);
}

TEST(ClassifyFunction, UnknownPositionFreeHashIsNeverLineNumbersOnly) {
  TwoBuilds b;
  b.after.functions[0].fingerprint = {2, 2};
  b.before.functions[0].positionFreeHash = 0;
  b.after.functions[0].positionFreeHash = 0;
  EXPECT_EQ(b.classify().kind, FunctionChange::ContextChanged);
}

TEST(ClassifyFunction, OwnSourceFirst) {
  TwoBuilds b;
  b.after.functions[0].fingerprint = {2, 2};
  b.after.functions[0].positionFreeHash = 0;
  b.after.functions[0].sourceHash = 11;
  b.after.removedFunctions[0].sourceHash = 31; // leaf changed too
  EXPECT_EQ(b.classify().kind, FunctionChange::SourceChanged);
}

TEST(ClassifyFunction, NamesACalleeInlinedThroughAnother) {
  TwoBuilds b;
  b.after.functions[0].fingerprint = {2, 2};
  b.after.functions[0].positionFreeHash = 0;
  b.after.removedFunctions[0].sourceHash = 31; // leaf
  FunctionChange c = b.classify();
  EXPECT_EQ(c.kind, FunctionChange::CalleeChanged);
  EXPECT_EQ(c.culprit, "leaf");
  EXPECT_TRUE(c.culpritInlined);
  EXPECT_EQ(c.describe(), "it inlines 'leaf', which changed");
}

TEST(ClassifyFunction, ACalleeStillCalledWasReliedOn) {
  TwoBuilds b;
  b.after.functions[0].fingerprint = {2, 2};
  b.after.functions[0].positionFreeHash = 0;
  b.after.functions[0].calls = {"mid"};
  b.after.removedFunctions[1].sourceHash = 21; // mid
  b.after.options = "opt=O2;ipo=full;function-sections=1";
  FunctionChange c = b.classify();
  EXPECT_EQ(c.culprit, "mid");
  EXPECT_FALSE(c.culpritInlined);
  EXPECT_TRUE(c.fullIpo);
  EXPECT_NE(c.describe().find("learned from the body of 'mid'"), std::string::npos);
}

TEST(ClassifyFunction, ACalleeStillCalledExplainsNothingWithoutFullIpo) {
  TwoBuilds b;
  b.after.functions[0].fingerprint = {2, 2};
  b.after.functions[0].positionFreeHash = 0;
  b.after.functions[0].calls = {"mid"};
  b.after.removedFunctions[1].sourceHash = 21; // mid, still called
  EXPECT_EQ(b.classify().kind, FunctionChange::ContextChanged);
}

TEST(ClassifyFunction, NewAndVersion1) {
  TwoBuilds b;
  EXPECT_EQ(classifyFunction(nullptr, b.after.functions[0], b.before, b.after).kind,
            FunctionChange::New);
  b.after.functions[0].fingerprint = {2, 2};
  b.after.functions[0].positionFreeHash = 0;
  b.before.functions[0].sourceHash = 0; // a version 1 table
  EXPECT_EQ(b.classify().kind, FunctionChange::Unknown);
}

} // namespace
