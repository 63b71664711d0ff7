//===- test/unit/build-driver-test.cpp - hp-build's pieces ----------------===//

#include "build-driver.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include "gtest/gtest.h"

#include <fcntl.h>
#include <sys/stat.h>

using namespace llvm;
using namespace hotpatch;

namespace {

using Bins = std::vector<std::pair<std::string, std::string>>;

std::string chosen(const Bins &olds, const Bins &news, StringRef target,
                   StringRef targetId, StringRef named) {
  Expected<std::string> got = chooseBinary(olds, news, target, targetId, named);
  return got ? *got : "error: " + toString(got.takeError());
}

TEST(LastLines, KeepsTheEndInOrder) {
  EXPECT_EQ(lastLines("a\nb\nc\n", 2), (std::vector<std::string>{"b", "c"}));
  EXPECT_EQ(lastLines("a\nb\nc", 5), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(lastLines("", 20), std::vector<std::string>{});
}

TEST(LastLines, KeepsEmptyLinesAndDropsCarriageReturns) {
  EXPECT_EQ(lastLines("x\r\n\nerror: y\r\n", 3),
            (std::vector<std::string>{"x", "", "error: y"}));
}

TEST(CacheKey, SameInputsSameKeyAnyChangeAnother) {
  std::string key = cacheKey({"tree abc", "make", "-j2"});
  EXPECT_EQ(key.size(), 16u);
  EXPECT_EQ(key, cacheKey({"tree abc", "make", "-j2"}));
  EXPECT_NE(key, cacheKey({"tree abd", "make", "-j2"}));
  // Parts are separated: moving text across a boundary is another key.
  EXPECT_NE(cacheKey({"make -", "j2"}), cacheKey({"make", "-j2"}));
}

TEST(WrapperScript, ExecsTheCompilerWithPluginPrefixMapAndBuildId) {
  std::string s = wrapperScript("/usr/bin/clang-19", "/opt/hp/lib/hotpatch.so",
                                "/cache/k/tree");
  EXPECT_EQ(s.rfind("#!/bin/sh\n", 0), 0u);
  EXPECT_NE(s.find("exec /usr/bin/clang-19 -fplugin=/opt/hp/lib/hotpatch.so "
                   "-ffile-prefix-map=/cache/k/tree=. -Qunused-arguments "
                   "-Wl,--build-id=sha1 \"$@\"\n"),
            std::string::npos)
      << s;
  EXPECT_NE(s.find("$HP_BUILD_COUNT"), std::string::npos);
}

TEST(WrapperScript, QuotesPathsWithSpacesAndQuotes) {
  std::string s = wrapperScript("/usr/bin/clang-19", "/my lib/it's.so", "/t");
  EXPECT_NE(s.find("-fplugin='/my lib/it'\\''s.so'"), std::string::npos) << s;
}

TEST(CompilerNames, CoverMakeAutotoolsAndCxxNames) {
  std::vector<std::pair<std::string, bool>> names = compilerNames();
  auto has = [&](StringRef n, bool cxx) {
    return llvm::is_contained(names, std::make_pair(n.str(), cxx));
  };
  EXPECT_TRUE(has("cc", false));
  EXPECT_TRUE(has("gcc", false));
  EXPECT_TRUE(has("clang", false));
  EXPECT_TRUE(has("c++", true));
  EXPECT_TRUE(has("g++", true));
  EXPECT_TRUE(has("clang++", true));
  EXPECT_TRUE(has("x86_64-linux-gnu-gcc", false));
}

TEST(ChooseBinary, TargetIsTheOldBinaryWithItsBuildId) {
  Bins olds = {{"src/cli", "aa"}, {"src/server", "bb"}};
  EXPECT_EQ(chosen(olds, {}, "/srv/server", "bb", ""), "src/server");
}

TEST(ChooseBinary, TargetAmongCopiesIsTheOneOfItsName) {
  Bins olds = {{"src/redis-check-aof", "s1"}, {"src/redis-server", "s1"}};
  EXPECT_EQ(chosen(olds, {}, "/usr/bin/redis-server", "s1", ""),
            "src/redis-server");
  EXPECT_EQ(chosen(olds, {}, "/srv/renamed", "s1", ""), "src/redis-check-aof");
}

TEST(ChooseBinary, TargetWithAnotherBuildIdIsRefusedNamingBoth) {
  Bins olds = {{"app", "aa"}};
  EXPECT_EQ(chosen(olds, {}, "/srv/app", "cc", ""),
            "error: /srv/app has build-id cc, which no binary of the old "
            "build has (app aa): it was built from other sources, options or "
            "paths; nothing written");
  EXPECT_EQ(chosen(olds, {}, "/srv/app", "", ""),
            "error: /srv/app has no build-id: nothing shows it was built from "
            "these sources");
}

TEST(ChooseBinary, OtherwiseTheOneBinaryTheFixChanged) {
  Bins olds = {{"cli", "a1"}, {"server", "b1"}};
  EXPECT_EQ(chosen(olds, {{"cli", "a1"}, {"server", "b2"}}, "", "", ""),
            "server");
  EXPECT_EQ(chosen(olds, olds, "", "", ""), "");
  EXPECT_EQ(chosen(olds, {{"cli", "a2"}, {"server", "b2"}}, "", "", ""),
            "error: the fix changed 2 binaries (cli, server): name the one to "
            "patch with --binary PATH or --target DEPLOYED-BINARY");
  EXPECT_EQ(chosen(olds, {{"cli", "a2"}, {"server", "b2"}}, "", "", "cli"),
            "cli");
}

TEST(ChooseBinary, CopiesOfOneProgramAreOne) {
  // redis-check-rdb is a copy of redis-server: both change, as one.
  Bins olds = {{"redis-check-rdb", "s1"}, {"redis-server", "s1"}};
  Bins news = {{"redis-check-rdb", "s2"}, {"redis-server", "s2"}};
  EXPECT_EQ(chosen(olds, news, "", "", ""), "redis-check-rdb");
}

class TreeTest : public ::testing::Test {
protected:
  SmallString<128> dir;
  void SetUp() override {
    ASSERT_FALSE(sys::fs::createUniqueDirectory("hp-build-unit", dir));
  }
  void TearDown() override { sys::fs::remove_directories(dir); }
  void write(StringRef rel, StringRef text) {
    SmallString<128> p(dir);
    sys::path::append(p, rel);
    sys::fs::create_directories(sys::path::parent_path(p));
    std::error_code ec;
    raw_fd_ostream os(p, ec);
    os << text;
  }
};

TEST_F(TreeTest, HashFollowsContentsNotGit) {
  write("a.c", "int a;");
  write("sub/b.c", "int b;");
  Expected<SourceTree> first = hashSourceTree(dir);
  ASSERT_TRUE(bool(first)) << toString(first.takeError());
  EXPECT_EQ(first->files, 2u);
  write(".git/HEAD", "ref: refs/heads/main");
  Expected<SourceTree> withGit = hashSourceTree(dir);
  ASSERT_TRUE(bool(withGit));
  EXPECT_EQ(first->hash, withGit->hash);
  write("sub/b.c", "int b = 1;");
  Expected<SourceTree> changed = hashSourceTree(dir);
  ASSERT_TRUE(bool(changed));
  EXPECT_NE(first->hash, changed->hash);
}

TEST_F(TreeTest, BuiltTreeIsRefusedNamingAnObject) {
  write("a.c", "int a;");
  write("a.o", "");
  Expected<SourceTree> tree = hashSourceTree(dir);
  ASSERT_FALSE(bool(tree));
  EXPECT_NE(toString(tree.takeError()).find("holds build outputs (a.o)"),
            std::string::npos);
}

TEST_F(TreeTest, CopyKeepsTimesAndLeavesGitOut) {
  write("src/a.c", "int a;");
  write("src/.git/HEAD", "x");
  SmallString<128> from(dir), src(dir), to(dir);
  sys::path::append(from, "src");
  sys::path::append(src, "src", "a.c");
  sys::path::append(to, "copy");
  struct timespec times[2] = {{1000000000, 0}, {1000000000, 0}};
  ASSERT_EQ(utimensat(AT_FDCWD, src.c_str(), times, 0), 0);
  ASSERT_FALSE(errorToBool(copyTree(from, to, /*skipGit=*/true)));
  SmallString<128> copied(to);
  sys::path::append(copied, "a.c");
  sys::fs::file_status st;
  ASSERT_FALSE(sys::fs::status(copied, st));
  EXPECT_EQ(sys::toTimeT(st.getLastModificationTime()), 1000000000);
  SmallString<128> git(to);
  sys::path::append(git, ".git");
  EXPECT_FALSE(sys::fs::exists(git));
}

} // namespace
