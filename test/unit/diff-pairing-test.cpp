//===- test/unit/diff-pairing-test.cpp - which TUs of two builds pair -----===//

#include "pairing.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include "gtest/gtest.h"

using namespace llvm;
using namespace hotpatch;

namespace {

/// The pairs as "old>new" strings, "-" for none.
std::vector<std::string> show(const std::vector<UnitPair> &pairs,
                              ArrayRef<std::string> olds,
                              ArrayRef<std::string> news) {
  std::vector<std::string> out;
  for (const UnitPair &p : pairs)
    out.push_back((p.before ? olds[*p.before] : "-") + ">" +
                  (p.after ? news[*p.after] : "-"));
  return out;
}

TEST(PairUnits, SameKeyFirstThenNewAndDeleted) {
  std::vector<std::string> olds = {"src/a.c", "src/gone.c"};
  std::vector<std::string> news = {"src/a.c", "src/fresh.c"};
  EXPECT_EQ(show(pairUnits(olds, news), olds, news),
            (std::vector<std::string>{"src/a.c>src/a.c", "->src/fresh.c",
                                      "src/gone.c>-"}));
}

TEST(PairUnits, MovedFilePairsByItsName) {
  std::vector<std::string> olds = {"old/util.c"};
  std::vector<std::string> news = {"lib/util.c"};
  EXPECT_EQ(show(pairUnits(olds, news), olds, news),
            (std::vector<std::string>{"old/util.c>lib/util.c"}));
}

TEST(PairUnits, NameLeftTwiceOnOneSidePairsNothing) {
  std::vector<std::string> olds = {"a/util.c", "b/util.c"};
  std::vector<std::string> news = {"c/util.c"};
  EXPECT_EQ(show(pairUnits(olds, news), olds, news),
            (std::vector<std::string>{"->c/util.c", "a/util.c>-", "b/util.c>-"}));
}

TEST(PairUnits, OnlyLeftoversCountForTheName) {
  // a/util.c pairs by path; the other util.c on each side is then the only
  // one left, and they pair by name.
  std::vector<std::string> olds = {"a/util.c", "b/util.c"};
  std::vector<std::string> news = {"a/util.c", "c/util.c"};
  EXPECT_EQ(show(pairUnits(olds, news), olds, news),
            (std::vector<std::string>{"a/util.c>a/util.c", "b/util.c>c/util.c"}));
}

TEST(PairUnits, RepeatedKeysPairInOrder) {
  std::vector<std::string> olds = {"x.c", "x.c"};
  std::vector<std::string> news = {"x.c", "x.c"};
  std::vector<UnitPair> pairs = pairUnits(olds, news);
  ASSERT_EQ(pairs.size(), 2u);
  EXPECT_EQ(pairs[0].before, std::optional<size_t>(0));
  EXPECT_EQ(pairs[1].before, std::optional<size_t>(1));
}

TEST(PairUnits, LoneUnitsPairOnlyWhenAsked) {
  std::vector<std::string> olds = {"old.c"};
  std::vector<std::string> news = {"new.c"};
  EXPECT_EQ(show(pairUnits(olds, news), olds, news),
            (std::vector<std::string>{"->new.c", "old.c>-"}));
  EXPECT_EQ(show(pairUnits(olds, news, /*lonePair=*/true), olds, news),
            (std::vector<std::string>{"old.c>new.c"}));
}

TEST(PairDirectories, ObjectsByRelativePathThenName) {
  SmallString<128> root;
  ASSERT_FALSE(sys::fs::createUniqueDirectory("hp-pairing", root));
  auto touch = [&](StringRef rel) {
    SmallString<128> path(root);
    sys::path::append(path, rel);
    ASSERT_FALSE(sys::fs::create_directories(sys::path::parent_path(path)));
    std::error_code ec;
    raw_fd_ostream(path, ec) << "";
    ASSERT_FALSE(ec);
  };
  touch("old/a.o");
  touch("old/src/moved.o");
  touch("old/gone.o");
  touch("new/a.o");
  touch("new/lib/moved.o");
  touch("new/notes.txt");
  std::string oldDir = (root + "/old").str(), newDir = (root + "/new").str();
  auto pairs = pairDirectories(oldDir, newDir);
  ASSERT_TRUE(bool(pairs)) << toString(pairs.takeError());
  std::vector<std::pair<std::string, std::string>> want = {
      {oldDir + "/a.o", newDir + "/a.o"},
      {oldDir + "/src/moved.o", newDir + "/lib/moved.o"},
      {oldDir + "/gone.o", ""}};
  EXPECT_EQ(*pairs, want);
  sys::fs::remove_directories(root);
}

TEST(PairDirectories, MissingDirectoryFails) {
  auto pairs = pairDirectories("/nonexistent/old", "/nonexistent/new");
  ASSERT_FALSE(bool(pairs));
  EXPECT_EQ(toString(pairs.takeError()), "/nonexistent/old: not a directory");
}

} // namespace
