#include "util/counted.h"

#include <gtest/gtest.h>

namespace gengyun {
namespace {

// One is singular; zero, several and negative counts plural (QA: "after 1 generated tokens").
TEST(Counted, OneIsSingularEveryOtherCountPlural) {
  EXPECT_EQ(counted(1, "generated token"), "1 generated token");
  EXPECT_EQ(counted(0, "generated token"), "0 generated tokens");
  EXPECT_EQ(counted(2, "token"), "2 tokens");
  EXPECT_EQ(counted(-1, "token"), "-1 tokens");
}

}  // namespace
}  // namespace gengyun
