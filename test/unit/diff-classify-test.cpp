//===- test/unit/diff-classify-test.cpp - what changed in one TU ----------===//
//
// The reading of statics hp-diff and hp-inspect --compare share
// (functions: classifyFunction, tested in fingerprint-table-test.cpp).
//
//===----------------------------------------------------------------------===//

#include "classify.h"

#include "gtest/gtest.h"

using namespace llvm;
using namespace hotpatch;

namespace {

VariableEntry staticVar(std::string name, uint64_t typeHash, uint64_t initHash = 0) {
  VariableEntry v;
  v.name = std::move(name);
  v.flags = VarLocal;
  v.sizeBytes = 4;
  v.typeHash = typeHash;
  v.initHash = initHash;
  return v;
}

TEST(StaticFamily, DropsTheCompilersNumberOnly) {
  EXPECT_EQ(staticFamily("f.x.12"), "f.x");
  EXPECT_EQ(staticFamily("f.x"), "f.x");
  EXPECT_EQ(staticFamily("_ZZ1fvE1x_0"), "_ZZ1fvE1x");
  EXPECT_EQ(staticFamily("_ZZ1fvE1x"), "_ZZ1fvE1x");
  EXPECT_EQ(staticFamily("counter"), "counter");
  EXPECT_EQ(staticFamily("f.x.y"), "f.x.y");
}

TEST(MatchStatics, SameNamesNeedNoMatching) {
  TableRecord before, after;
  before.variables = {staticVar("g.y", 1), staticVar("g.y.1", 1)};
  after.variables = before.variables;
  StaticMatch m = matchStatics(before, after);
  EXPECT_TRUE(m.runningName.empty());
  EXPECT_TRUE(m.renumbered.empty());
  EXPECT_TRUE(m.ambiguous.empty());
}

TEST(MatchStatics, RenumberedInPlaceMatchesInOrder) {
  // A new function's statics earlier in the file shift g.y.1 to g.y.2.
  TableRecord before, after;
  before.variables = {staticVar("g.y", 1), staticVar("g.y.1", 1)};
  after.variables = {staticVar("g.y", 1), staticVar("g.y.2", 1)};
  StaticMatch m = matchStatics(before, after);
  ASSERT_EQ(m.renumbered.size(), 1u);
  EXPECT_EQ(m.renumbered[0].newName, "g.y.2");
  EXPECT_EQ(m.renumbered[0].oldName, "g.y.1");
  StringMap<const VariableEntry *> oldVars;
  for (const VariableEntry &v : before.variables)
    oldVars[v.name] = &v;
  EXPECT_EQ(m.runningVariable(after.variables[1], oldVars), &before.variables[1]);
  EXPECT_TRUE(m.ambiguous.empty());
}

TEST(MatchStatics, AddedEarlierMatchesByShape) {
  // A long `x` declared before the running int `x`: the int is f.x.1 now.
  TableRecord before, after;
  before.variables = {staticVar("f.x", /*typeHash=*/1)};
  after.variables = {staticVar("f.x", /*typeHash=*/2), staticVar("f.x.1", 1)};
  StaticMatch m = matchStatics(before, after);
  StringMap<const VariableEntry *> oldVars{{"f.x", &before.variables[0]}};
  EXPECT_EQ(m.runningVariable(after.variables[1], oldVars), &before.variables[0]);
  EXPECT_EQ(m.runningVariable(after.variables[0], oldVars), nullptr);
  EXPECT_TRUE(m.ambiguous.empty());
}

TEST(MatchStatics, TwoOfTheSameShapeAreAmbiguous) {
  TableRecord before, after;
  before.variables = {staticVar("f.x", 1)};
  after.variables = {staticVar("f.x", 1), staticVar("f.x.1", 1)};
  StaticMatch m = matchStatics(before, after);
  ASSERT_EQ(m.ambiguous.size(), 1u);
  EXPECT_EQ(m.ambiguous[0].family, "f.x");
  EXPECT_EQ(m.ambiguous[0].olds, 1u);
  EXPECT_EQ(m.ambiguous[0].news, 2u);
  StringMap<const VariableEntry *> oldVars{{"f.x", &before.variables[0]}};
  EXPECT_EQ(m.runningVariable(after.variables[0], oldVars), nullptr)
      << "an ambiguous static is not guessed";
}

} // namespace
