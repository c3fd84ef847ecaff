#include "platform/money.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>

namespace gengyun::platform {
namespace {

TEST(Money, ParsesDecimalDollarsExactly) {
  const std::pair<const char*, int64_t> cases[] = {{"0", 0},
                                                   {"0.15", 150'000},
                                                   {"20", 20'000'000},
                                                   {"1.000001", 1'000'001},
                                                   {".5", 500'000},
                                                   {"3.", 3'000'000},
                                                   {"0.000001", 1},
                                                   {"1000000000", 1'000'000'000'000'000},
                                                   {"007.10", 7'100'000}};
  for (const auto& [text, micro] : cases) {
    auto parsed = parse_usd(text, "--input");
    ASSERT_TRUE(parsed.ok()) << text << ": " << parsed.error().message;
    EXPECT_EQ(*parsed, micro) << text;
  }
}

TEST(Money, RefusesWhatIsNotAnAmountWithTheReason) {
  const std::pair<const char*, const char*> cases[] = {
      {"", "--input is empty"},
      {"-0.15", "is negative"},
      {"1e3", "is not an amount in USD"},
      {"0.1234567", "more than 6 decimals"},
      {"1.2.3", "is not an amount in USD"},
      {".", "is not an amount in USD"},
      {"1000000000.000001", "over the limit"},
      {"99999999999999999999999", "over the limit"},
      {"0.15'); DROP TABLE prices; --", "is not an amount in USD"},
      {" 1", "is not an amount in USD"}};
  for (const auto& [text, reason] : cases) {
    auto parsed = parse_usd(text, "--input");
    ASSERT_FALSE(parsed.ok()) << "accepted '" << text << "'";
    EXPECT_NE(parsed.error().message.find(reason), std::string::npos) << parsed.error().message;
  }
}

TEST(Money, FormatsMicroDollarsWithTheDecimalsNeeded) {
  EXPECT_EQ(format_usd(0), "0");
  EXPECT_EQ(format_usd(150'000), "0.15");
  EXPECT_EQ(format_usd(20'000'000), "20");
  EXPECT_EQ(format_usd(1'000'001), "1.000001");
  EXPECT_EQ(format_usd(-2'500'000), "-2.5");
}

TEST(Money, CostIsRoundedUpToAWholeMicroDollar) {
  // $0.15 / $0.075 / $0.60 per million input / cached / output tokens.
  const Price price{150'000, 75'000, 600'000};
  // 1000 uncached * 0.15 + 0 + 500 * 0.60 = 150 + 300 = 450 micro-USD exactly.
  EXPECT_EQ(cost_micro_usd({1000, 0, 500}, price).value(), 450);
  // 1000 prompt of which 400 cached: 600 * 0.15 + 400 * 0.075 + 500 * 0.6 = 90 + 30 + 300.
  EXPECT_EQ(cost_micro_usd({1000, 400, 500}, price).value(), 420);
  // One input token costs 0.15 micro-USD: rounded up to 1.
  EXPECT_EQ(cost_micro_usd({1, 0, 0}, price).value(), 1);
  // 7 input + 3 output = 1.05 + 1.8 = 2.85 -> 3.
  EXPECT_EQ(cost_micro_usd({7, 0, 3}, price).value(), 3);
  // Exactly 2 micro-USD stays 2: 10 * 0.15 + 1 * 0.5 (output priced 0.5).
  EXPECT_EQ(cost_micro_usd({10, 0, 1}, Price{150'000, 0, 500'000}).value(), 2);
  EXPECT_EQ(cost_micro_usd({0, 0, 0}, price).value(), 0);
  EXPECT_EQ(cost_micro_usd({123, 0, 456}, Price{}).value(), 0);
}

TEST(Money, CostOfHugeCountsIsExactOrAnError) {
  // 3e12 tokens at $1e6 per million = $3e12 = 3e18 micro-USD: fits in int64.
  const int64_t max_price = 1'000'000'000'000;  // $1,000,000 per million tokens
  EXPECT_EQ(cost_micro_usd({3'000'000'000'000, 0, 0}, Price{max_price, 0, 0}).value(),
            3'000'000'000'000'000'000);
  auto over = cost_micro_usd({10'000'000'000'000, 0, 0}, Price{max_price, 0, 0});
  ASSERT_FALSE(over.ok());
  EXPECT_NE(over.error().message.find("micro-USD"), std::string::npos);
}

TEST(Money, CostRefusesInvalidCounts) {
  EXPECT_FALSE(cost_micro_usd({-1, 0, 0}, Price{}).ok());
  EXPECT_FALSE(cost_micro_usd({5, 6, 0}, Price{}).ok());
  EXPECT_FALSE(cost_micro_usd({5, 0, 0}, Price{-1, 0, 0}).ok());
}

}  // namespace
}  // namespace gengyun::platform
