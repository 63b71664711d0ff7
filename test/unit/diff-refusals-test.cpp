//===- test/unit/diff-refusals-test.cpp - refusals and input errors -------===//

#include "differ.h"
#include "errors.h"

#include "gtest/gtest.h"

using namespace llvm;
using namespace hotpatch;

namespace {

/// Every message of \p err, and how many were InputErrors.
std::vector<std::string> messages(Error err, unsigned *inputErrors = nullptr) {
  std::vector<std::string> out;
  handleAllErrors(
      std::move(err),
      [&](const InputError &e) {
        if (inputErrors)
          ++*inputErrors;
        out.push_back(e.message());
      },
      [&](const ErrorInfoBase &e) { out.push_back(e.message()); });
  return out;
}

TEST(Refusals, SameWordsForTwoThingsAreTwoRefusals) {
  Refusals r;
  EXPECT_TRUE(r.empty());
  r.add("util.c", "static variable 'counter' changed size");
  r.add("util.c", "static variable 'counter' changed size");
  EXPECT_FALSE(r.empty());
  EXPECT_EQ(messages(r.take()),
            (std::vector<std::string>{"util.c: static variable 'counter' changed size",
                                      "util.c: static variable 'counter' changed size"}));
  EXPECT_TRUE(r.empty());
}

TEST(Refusals, AThingIsRefusedOnceByItsKey) {
  Refusals r;
  EXPECT_TRUE(r.isFirst("removed 0 legacy"));
  EXPECT_FALSE(r.isFirst("removed 0 legacy"));
  EXPECT_TRUE(r.isFirst("removed 1 legacy"));
}

TEST(Refusals, KeepsOrderAndOtherErrors) {
  Refusals r;
  r.add("a.c", "first");
  r.add(badInput("b.o", "truncated"));
  r.add(Error::success());
  r.add("c.c", "third");
  unsigned inputs = 0;
  EXPECT_EQ(messages(r.take(), &inputs),
            (std::vector<std::string>{"a.c: first", "b.o: truncated", "c.c: third"}));
  EXPECT_EQ(inputs, 1u);
}

TEST(DiffBuilds, EveryUnreadableInputIsAnInputError) {
  DiffOptions opts;
  opts.pairs = {{"/nonexistent/old1.o", "/nonexistent/new1.o"},
                {"/nonexistent/old2.o", ""}};
  Expected<DiffResult> result = diffBuilds(opts);
  ASSERT_FALSE(bool(result));
  unsigned inputs = 0;
  std::vector<std::string> said = messages(result.takeError(), &inputs);
  ASSERT_EQ(said.size(), 3u);
  EXPECT_EQ(inputs, 3u) << "unreadable files are not refusals";
  EXPECT_EQ(said[0].rfind("/nonexistent/old1.o: ", 0), 0u);
  EXPECT_EQ(said[1].rfind("/nonexistent/new1.o: ", 0), 0u);
  EXPECT_EQ(said[2].rfind("/nonexistent/old2.o: ", 0), 0u);
}

} // namespace
