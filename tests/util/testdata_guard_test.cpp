// Under CI=true, missing reference data fails a test instead of skipping it.
#include <gtest/gtest.h>

#include <cstdlib>

#include "testdata.h"

namespace gengyun::testing {
namespace {

TEST(TestdataGuard, CiIsRecognizedOnlyWhenTrue) {
  const char* saved = std::getenv("CI");
  const std::string restore = saved ? saved : "";
  setenv("CI", "true", 1);
  EXPECT_TRUE(running_in_ci());
  setenv("CI", "1", 1);
  EXPECT_FALSE(running_in_ci());
  unsetenv("CI");
  EXPECT_FALSE(running_in_ci());
  if (saved) setenv("CI", restore.c_str(), 1);
}

}  // namespace
}  // namespace gengyun::testing
