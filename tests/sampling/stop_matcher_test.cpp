#include "sampling/stop_matcher.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace gengyun::sampling {
namespace {

TEST(StopMatcher, WithoutStopsEverythingPassesThrough) {
  StopMatcher m({});
  EXPECT_EQ(m.push("Hello, "), "Hello, ");
  EXPECT_EQ(m.push("world"), "world");
  EXPECT_EQ(m.flush(), "");
  EXPECT_FALSE(m.stopped());
}

TEST(StopMatcher, StopSpanningSeveralPushes) {
  StopMatcher m({"</s>"});
  EXPECT_EQ(m.push("Hello <"), "Hello ");
  EXPECT_EQ(m.push("/"), "");
  EXPECT_FALSE(m.stopped());
  EXPECT_EQ(m.push("s> trailing"), "");
  EXPECT_TRUE(m.stopped());
  EXPECT_EQ(m.push("more"), "");
  EXPECT_EQ(m.flush(), "");
}

TEST(StopMatcher, HeldPrefixIsReleasedWhenItStopsMatching) {
  StopMatcher m({"</s>"});
  EXPECT_EQ(m.push("a </"), "a ");
  EXPECT_EQ(m.push("b>"), "</b>");
  EXPECT_FALSE(m.stopped());
}

TEST(StopMatcher, StopAtTheStart) {
  StopMatcher m({"STOP"});
  EXPECT_EQ(m.push("STOP and more"), "");
  EXPECT_TRUE(m.stopped());
}

TEST(StopMatcher, EarliestOfSeveralStopsWins) {
  StopMatcher m({"\n\n", "User:"});
  EXPECT_EQ(m.push("Answer. User: hi\n\n"), "Answer. ");
  EXPECT_TRUE(m.stopped());

  StopMatcher n({"xyz", "b"});
  EXPECT_EQ(n.push("abxyz"), "a");
  EXPECT_TRUE(n.stopped());
}

TEST(StopMatcher, PartialPrefixReleasedAtFlush) {
  StopMatcher m({"###", "END"});
  EXPECT_EQ(m.push("done ##"), "done ");
  EXPECT_EQ(m.flush(), "##");
  EXPECT_FALSE(m.stopped());
}

TEST(StopMatcher, LongestPossiblePrefixIsHeld) {
  StopMatcher m({"aab"});
  EXPECT_EQ(m.push("xaa"), "x");
  EXPECT_EQ(m.push("a"), "a");
  EXPECT_EQ(m.push("b!"), "");
  EXPECT_TRUE(m.stopped());
}

TEST(StopMatcher, EmptyStopStringsAreIgnored) {
  StopMatcher m({"", "!"});
  EXPECT_EQ(m.push("hi"), "hi");
  EXPECT_EQ(m.push("?!"), "?");
  EXPECT_TRUE(m.stopped());
}

TEST(StopMatcher, IncompleteUtf8IsHeldUntilComplete) {
  const std::string ni = "\xE4\xBD\xA0";    // 你
  const std::string hao = "\xE5\xA5\xBD";   // 好
  const std::string smile = "\xF0\x9F\x98\x80";  // U+1F600
  StopMatcher m({});
  EXPECT_EQ(m.push(ni.substr(0, 2)), "");
  EXPECT_EQ(m.push(ni.substr(2) + hao.substr(0, 1)), ni);
  EXPECT_EQ(m.push(hao.substr(1)), hao);
  EXPECT_EQ(m.push("a" + smile.substr(0, 3)), "a");
  EXPECT_EQ(m.push(smile.substr(3)), smile);
  EXPECT_EQ(m.push(smile.substr(0, 1)), "");
  EXPECT_EQ(m.flush(), smile.substr(0, 1));
}

TEST(StopMatcher, Utf8StopStrings) {
  const std::string ni = "\xE4\xBD\xA0";
  const std::string hao = "\xE5\xA5\xBD";
  const std::string men = "\xE4\xBB\xAC";  // 们
  StopMatcher m({ni + hao});
  EXPECT_EQ(m.push(ni + men), ni + men);
  EXPECT_EQ(m.push(ni), "");
  EXPECT_EQ(m.push(men), ni + men);
  EXPECT_EQ(m.push("x" + ni + hao.substr(0, 1)), "x");
  EXPECT_EQ(m.push(hao.substr(1)), "");
  EXPECT_TRUE(m.stopped());
}

}  // namespace
}  // namespace gengyun::sampling
