// The rules every store backend and every way of setting a price share (store_rules.h).
#include "platform/store_rules.h"

#include <gtest/gtest.h>

#include <string>

namespace gengyun::platform {
namespace {

TEST(ValidatePrice, RefusesNegativePricesAndACachedInputAboveTheInput) {
  EXPECT_TRUE(validate_price({150'000, 150'000, 600'000}).ok());
  EXPECT_TRUE(validate_price({150'000, 75'000, 600'000}).ok());
  EXPECT_TRUE(validate_price({0, 0, 0}).ok());
  for (const Price& negative : {Price{-1, 0, 0}, Price{0, -1, 0}, Price{0, 0, -1}}) {
    auto refused = validate_price(negative);
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error().message, "prices must be >= 0");
  }
  auto above = validate_price({150'000, 150'001, 600'000});
  ASSERT_FALSE(above.ok());
  EXPECT_EQ(above.error().message,
            "the cached input price (0.150001) is above the input price (0.15) (USD per 1M "
            "tokens); a cached prompt token costs at most an input token");
}

}  // namespace
}  // namespace gengyun::platform
