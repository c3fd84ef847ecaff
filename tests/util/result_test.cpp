#include "gengyun/result.h"

#include <gtest/gtest.h>

#include <string>

namespace gengyun {
namespace {

Result<int> parse_digit(char c) {
  if (c < '0' || c > '9') return make_error(std::string("not a digit: ") + c);
  return c - '0';
}

TEST(Result, HoldsValueOrError) {
  auto ok = parse_digit('7');
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok.value(), 7);
  auto bad = parse_digit('x');
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message, "not a digit: x");
}

TEST(Result, VoidCarriesOnlyTheError) {
  Result<void> fine;
  EXPECT_TRUE(fine.ok());
  Result<void> failed = make_error("disk full");
  EXPECT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().message, "disk full");
}

}  // namespace
}  // namespace gengyun
