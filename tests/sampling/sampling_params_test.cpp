#include "sampling/sampling_params.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <string>

namespace gengyun::sampling {
namespace {

void expect_rejected(const std::function<void(SamplingParams&)>& change, const std::string& field) {
  SamplingParams p;
  change(p);
  const Result<void> r = validate(p);
  ASSERT_FALSE(r.ok()) << field;
  EXPECT_NE(r.error().message.find(field), std::string::npos) << r.error().message;
}

TEST(SamplingParams, DefaultsAndBoundariesAreValid) {
  EXPECT_TRUE(validate(SamplingParams{}).ok());
  SamplingParams p;
  p.temperature = 0.0f;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  p.penalty_last_n = -1;
  p.presence_penalty = -2.0f;
  EXPECT_TRUE(validate(p).ok());
}

TEST(SamplingParams, OutOfRangeValuesNameTheField) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  expect_rejected([&](SamplingParams& p) { p.temperature = nan; }, "temperature");
  expect_rejected([&](SamplingParams& p) { p.temperature = inf; }, "temperature");
  expect_rejected([&](SamplingParams& p) { p.top_p = 1.5f; }, "top_p");
  expect_rejected([&](SamplingParams& p) { p.top_p = -0.1f; }, "top_p");
  expect_rejected([&](SamplingParams& p) { p.top_p = nan; }, "top_p");
  expect_rejected([&](SamplingParams& p) { p.min_p = 2.0f; }, "min_p");
  expect_rejected([&](SamplingParams& p) { p.repeat_penalty = 0.0f; }, "repeat_penalty");
  expect_rejected([&](SamplingParams& p) { p.repeat_penalty = inf; }, "repeat_penalty");
  expect_rejected([&](SamplingParams& p) { p.presence_penalty = nan; }, "presence_penalty");
  expect_rejected([&](SamplingParams& p) { p.frequency_penalty = -inf; }, "frequency_penalty");
  expect_rejected([&](SamplingParams& p) { p.penalty_last_n = -2; }, "penalty_last_n");
}

// Choice 0 keeps the seed; choice k > 0 takes SplitMix64's k-th output from the state `seed`
// (0xe220a8397b1dcdaf is the reference first output of SplitMix64 seeded with 0).
TEST(ChoiceSeed, IsTheSeedThenSplitMix64sOutputs) {
  EXPECT_EQ(choice_seed(0, 0), 0u);
  EXPECT_EQ(choice_seed(4, 0), 4u);
  EXPECT_EQ(choice_seed(UINT64_MAX, 0), UINT64_MAX);
  EXPECT_EQ(choice_seed(0, 1), 0xe220a8397b1dcdafull);
  EXPECT_EQ(choice_seed(0, 2), 0x6e789e6aa1b965f4ull);
  EXPECT_EQ(choice_seed(4, 1), 0x6e73e372e2338acaull);  // not 5, seed 5's choice 0
  EXPECT_EQ(choice_seed(5, 1), 0x63033b0ca389c35aull);
}

}  // namespace
}  // namespace gengyun::sampling
