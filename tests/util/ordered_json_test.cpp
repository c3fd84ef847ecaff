#include "util/ordered_json.h"

#include <gtest/gtest.h>

#include <string>

namespace gengyun {
namespace {

using nlohmann::ordered_json;

// The same value as nlohmann's own ordered parse (members in the text's order, a member given
// twice in its first place with its last value), which is the slow reference.
TEST(ParseOrderedJson, EqualsNlohmannsOrderedParse) {
  for (const char* text :
       {R"({"zeta": 1, "alpha": [true, false, null], "mid": {"b": 2.5, "a": "x"}})",
        R"([{"k": 1, "j": 2}, [], {}, "s", -7, 18446744073709551615, 1e-3])",
        R"({"a": 1, "b": 2, "a": 3})", R"({"o": {"x": {"y": 1}, "x": [2]}, "p": 0})",
        R"("just a string")", "42", "null", R"({"\u00e9": "\ud83d\ude00"})"}) {
    const ordered_json fast = parse_ordered_json(text);
    const ordered_json slow = ordered_json::parse(text);
    EXPECT_EQ(fast, slow) << text;
    EXPECT_EQ(fast.dump(), slow.dump()) << text;
  }
  const ordered_json dup = parse_ordered_json(R"({"a": 1, "b": 2, "a": 3})");
  EXPECT_EQ(dup.dump(), R"({"a":3,"b":2})");
}

TEST(ParseOrderedJson, KeepsTheOrderOfAWideObject) {
  std::string text = "{";
  for (int i = 20'000; i > 0; --i) {
    text += "\"k" + std::to_string(i) + "\":{\"v\":" + std::to_string(i) + "}";
    if (i > 1) text += ",";
  }
  text += "}";
  const ordered_json parsed = parse_ordered_json(text);
  ASSERT_TRUE(parsed.is_object());
  ASSERT_EQ(parsed.size(), 20'000u);
  int expected = 20'000;
  for (const auto& [key, value] : parsed.items()) {
    EXPECT_EQ(key, "k" + std::to_string(expected));
    EXPECT_EQ(value["v"], expected);
    --expected;
  }
  EXPECT_EQ(parsed["k1"]["v"], 1);
}

TEST(ParseOrderedJson, TextThatIsNotJsonIsDiscarded) {
  for (const char* text :
       {"", "{", "[1,]", "{\"a\" 1}", "not json", "{} {}", "\"\xff\"", "{\"a\":1}x"})
    EXPECT_TRUE(parse_ordered_json(text).is_discarded()) << text;
}

}  // namespace
}  // namespace gengyun
