// The prices file of `serve --prices`: what it sets, what it refuses, and that seeding it again
// changes nothing.
#include "platform/price_file.h"

#include <gtest/gtest.h>

#include <string>

#include "store_reads.h"

namespace gengyun::platform {
namespace {

using testing::all_audit_entries;

TEST(PriceFile, ParsesEveryModelWithCachedInputDefaultingToInput) {
  auto prices = parse_price_file(
      R"({"zeta": {"input": "0.15", "cached_input": 0.075, "output": 0.6},
          "Qwen/Qwen2:q8_0": {"input": 2, "output": "0"}})");
  ASSERT_TRUE(prices.ok()) << prices.error().message;
  ASSERT_EQ(prices->size(), 2u);
  EXPECT_EQ((*prices)[0].model, "Qwen/Qwen2:q8_0");
  EXPECT_EQ((*prices)[0].price.input, 2'000'000);
  EXPECT_EQ((*prices)[0].price.cached_input, 2'000'000);
  EXPECT_EQ((*prices)[0].price.output, 0);
  EXPECT_EQ((*prices)[1].model, "zeta");
  EXPECT_EQ((*prices)[1].price.input, 150'000);
  EXPECT_EQ((*prices)[1].price.cached_input, 75'000);
  EXPECT_EQ((*prices)[1].price.output, 600'000);
}

// Any model id deploy serves may be priced (QA: "qwen tiny+v2" and a name of CJK letters were
// refused, so those models were served free).
TEST(PriceFile, PricesModelsWhoseIdsHoldSpacesOrLettersOfAnyScript) {
  auto prices = parse_price_file(
      R"({"qwen tiny+v2": {"input": 1, "output": 2}, "\u6a21\u578b": {"input": 3, "output": 4}})");
  ASSERT_TRUE(prices.ok()) << prices.error().message;
  ASSERT_EQ(prices->size(), 2u);
  EXPECT_EQ((*prices)[0].model, "qwen tiny+v2");
  EXPECT_EQ((*prices)[0].price.output, 2'000'000);
  EXPECT_EQ((*prices)[1].model, "\u6a21\u578b");
  EXPECT_EQ((*prices)[1].price.output, 4'000'000);
}

TEST(PriceFile, RefusesBadFilesNamingTheModelAndField) {
  const std::pair<const char*, const char*> cases[] = {
      {"nope", "must be a JSON object"},
      {"[1]", "must be a JSON object"},
      {R"({"m": 1})", "model 'm' must map to an object"},
      {R"({"a,b": {"input": 1, "output": 1}})",
       "prices file: the model name holds a comma, which a model id may not (a key's model list "
       "is stored comma-separated) ('a,b')"},
      {R"({"m": {"input": 1}})", "m.output is missing"},
      {R"({"m": {"input": "-1", "output": 1}})", "m.input '-1' is negative"},
      {R"({"m": {"input": 1, "output": 1e-7}})", "m.output '1e-07' is not an amount"},
      {R"({"m": {"input": 1, "output": true}})", "m.output must be an amount in USD"},
      {R"({"m": {"input": 1, "output": 1, "extra": 1}})", "unknown field 'extra'"},
      {R"({"m": {"input": 1, "output": 1}, "m": {"input": 5, "output": 5}})",
       "prices file: 'm' is given twice"},
      {R"({"m": {"input": 1, "output": 1, "input": 5}})", "prices file: 'm.input' is given twice"},
      {R"({"m": {"input": "0.15", "cached_input": "0.3", "output": 1}})",
       "prices file: model 'm': the cached input price (0.3) is above the input price (0.15)"},
  };
  for (const auto& [text, reason] : cases) {
    auto prices = parse_price_file(text);
    ASSERT_FALSE(prices.ok()) << text;
    EXPECT_NE(prices.error().message.find(reason), std::string::npos) << prices.error().message;
  }
}

TEST(PriceFile, SeedingSetsOnlyWhatDiffers) {
  auto store = Store::open(":memory:");
  ASSERT_TRUE(store.ok());
  auto prices =
      parse_price_file(R"({"a": {"input": 1, "output": 2}, "b": {"input": 3, "output": 4}})");
  ASSERT_TRUE(prices.ok());
  ASSERT_TRUE((*store)->set_price("a", Price{1'000'000, 1'000'000, 2'000'000}).ok());
  auto seeded = seed_prices(**store, *prices, Actor{});
  ASSERT_TRUE(seeded.ok()) << seeded.error().message;
  EXPECT_EQ(*seeded, 1);
  EXPECT_EQ((*store)->price("b").value()->output, 4'000'000);
  EXPECT_EQ(seed_prices(**store, *prices, Actor{}).value(), 0);
  EXPECT_EQ(all_audit_entries(**store)->size(), 2u);
}

}  // namespace
}  // namespace gengyun::platform
