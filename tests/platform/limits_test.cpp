#include "platform/limits.h"

#include <gtest/gtest.h>

namespace gengyun::platform {
namespace {

TEST(Limits, PeriodStartsAreUtcDayAndMonthBoundaries) {
  // 2024-02-29T13:45:07.123456Z = 1709214307.123456 s.
  const int64_t now = 1'709'214'307'123'456;
  EXPECT_EQ(period_start_us(BudgetPeriod::Day, now), 1'709'164'800'000'000);    // 2024-02-29
  EXPECT_EQ(period_start_us(BudgetPeriod::Month, now), 1'706'745'600'000'000);  // 2024-02-01
  EXPECT_EQ(period_start_us(BudgetPeriod::Total, now), 0);
  // The first microsecond of a day is in that day.
  EXPECT_EQ(period_start_us(BudgetPeriod::Day, 1'709'164'800'000'000), 1'709'164'800'000'000);
  EXPECT_EQ(period_start_us(BudgetPeriod::Day, 1'709'164'799'999'999), 1'709'078'400'000'000);
}

TEST(Limits, NamesRoundTripAndOthersAreRefused) {
  for (Role role : {Role::Admin, Role::Owner, Role::Member})
    EXPECT_EQ(parse_role(role_name(role)), role);
  for (BudgetPeriod period : {BudgetPeriod::Day, BudgetPeriod::Month, BudgetPeriod::Total})
    EXPECT_EQ(parse_period(period_name(period)), period);
  EXPECT_FALSE(parse_role("Admin"));
  EXPECT_FALSE(parse_role("root"));
  EXPECT_FALSE(parse_period("week"));
  EXPECT_FALSE(parse_period(""));
}

}  // namespace
}  // namespace gengyun::platform
