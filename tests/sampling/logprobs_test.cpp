// Log-probabilities reported by the sampler against a softmax computed here, logit_bias, and
// the grammar mask in the sampler.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "sampling/sampler.h"

namespace gengyun::sampling {
namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

SamplingParams plain(float temperature, int top_logprobs) {
  SamplingParams p;
  p.temperature = temperature;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  p.top_logprobs = top_logprobs;
  return p;
}

/// log softmax(x / t), in double, -inf entries kept.
std::vector<double> log_softmax(const std::vector<double>& x, double t) {
  double max = kNegInf;
  for (double v : x) max = std::max(max, v);
  double sum = 0.0;
  for (double v : x) sum += v == kNegInf ? 0.0 : std::exp((v - max) / t);
  std::vector<double> out;
  for (double v : x) out.push_back(v == kNegInf ? kNegInf : (v - max) / t - std::log(sum));
  return out;
}

/// Ids by descending value, ascending id on ties.
std::vector<int32_t> ranked(const std::vector<double>& x) {
  std::vector<int32_t> ids(x.size());
  std::iota(ids.begin(), ids.end(), 0);
  std::stable_sort(ids.begin(), ids.end(), [&](int32_t a, int32_t b) { return x[a] > x[b]; });
  return ids;
}

void expect_reported(const SampleLogprobs& got, int32_t chosen, const std::vector<double>& expected,
                     int k) {
  EXPECT_NEAR(got.logprob, expected[static_cast<size_t>(chosen)], 1e-5);
  const std::vector<int32_t> order = ranked(expected);
  ASSERT_EQ(got.top.size(), static_cast<size_t>(k));
  for (int i = 0; i < k; ++i) {
    EXPECT_EQ(got.top[i].id, order[i]) << i;
    EXPECT_NEAR(got.top[i].logprob, expected[static_cast<size_t>(order[i])], 1e-5) << i;
  }
}

const std::vector<float> kLogits = {1.5f, -0.25f, 3.0f, 0.0f, 2.75f, -4.0f, 3.0f, 0.5f};

TEST(Logprobs, GreedyReportsTheSoftmaxAtTemperatureOne) {
  Sampler sampler(plain(0.0f, 3));
  SampleLogprobs lp;
  const int32_t id = sampler.sample(kLogits, {}, nullptr, &lp);
  EXPECT_EQ(id, 2);  // 3.0 twice: the lower id
  const std::vector<double> expected = log_softmax({kLogits.begin(), kLogits.end()}, 1.0);
  expect_reported(lp, id, expected, 3);
  EXPECT_EQ(lp.top[0].id, 2);
  EXPECT_EQ(lp.top[1].id, 6);
  EXPECT_EQ(lp.top[2].id, 4);
}

// The distribution after bias, penalties and mask, whatever the temperature (QA 2026-12-07: it was
// divided by the temperature, so the same step reported -0.03 greedy, 0.0 at 0.001 and -0.45 at
// 2; OpenAI's and llama.cpp's do not depend on it).
TEST(Logprobs, AfterBiasPenaltiesAndMaskWhateverTheTemperature) {
  SamplingParams p = plain(0.7f, 5);
  p.seed = 7;
  p.logit_bias = {{5, 2.5f}, {1, -1.0f}, {1, 0.5f}};
  p.presence_penalty = 0.5f;
  p.frequency_penalty = 0.25f;
  p.penalty_last_n = -1;
  TokenMask allowed(static_cast<int32_t>(kLogits.size()));
  for (int32_t id : {0, 1, 3, 4, 5, 6}) allowed.set(id);
  const std::vector<int32_t> history = {4, 4, 0};
  // Here: bias, then penalties (token 4 seen twice, token 0 once), then the mask.
  std::vector<double> x(kLogits.begin(), kLogits.end());
  x[5] += 2.5;
  x[1] += -0.5;
  x[4] -= 2 * 0.25 + 0.5;
  x[0] -= 1 * 0.25 + 0.5;
  x[2] = x[7] = kNegInf;
  const std::vector<double> expected = log_softmax(x, 1.0);
  for (float temperature : {0.0f, 0.001f, 0.7f, 2.0f}) {
    SCOPED_TRACE(temperature);
    p.temperature = temperature;
    Sampler sampler(p);
    for (int i = 0; i < 50; ++i) {
      SampleLogprobs lp;
      const int32_t id = sampler.sample(kLogits, history, &allowed, &lp);
      ASSERT_TRUE(allowed.test(id)) << id;
      expect_reported(lp, id, expected, 5);
    }
  }
}

TEST(Logprobs, TopBeyondTheAllowedTokensReportsMinusInfinity) {
  Sampler sampler(plain(1.0f, 4));
  TokenMask allowed(static_cast<int32_t>(kLogits.size()));
  allowed.set(1);
  allowed.set(5);
  SampleLogprobs lp;
  const int32_t id = sampler.sample(kLogits, {}, &allowed, &lp);
  EXPECT_TRUE(id == 1 || id == 5);
  ASSERT_EQ(lp.top.size(), 4u);
  EXPECT_EQ(lp.top[0].id, 1);
  EXPECT_NEAR(lp.top[0].logprob, -std::log1p(std::exp(-4.0 + 0.25)), 1e-6);
  EXPECT_EQ(lp.top[1].id, 5);
  EXPECT_EQ(lp.top[2].logprob, -std::numeric_limits<float>::infinity());
  EXPECT_EQ(lp.top[2].id, 0);  // masked ones follow in id order
}

TEST(Logprobs, OffAndZero) {
  SampleLogprobs lp;
  lp.logprob = 42.0f;
  Sampler off(plain(0.0f, -1));
  off.sample(kLogits, {}, nullptr, &lp);
  EXPECT_EQ(lp.logprob, 42.0f);  // untouched
  Sampler zero(plain(0.0f, 0));
  zero.sample(kLogits, {}, nullptr, &lp);
  EXPECT_TRUE(lp.top.empty());
  EXPECT_NEAR(lp.logprob, log_softmax({kLogits.begin(), kLogits.end()}, 1.0)[2], 1e-6);
}

TEST(LogitBias, BansAndForces) {
  SamplingParams p = plain(1.0f, -1);
  p.logit_bias = {{2, -100.0f}, {6, -100.0f}, {4, -100.0f}};
  Sampler banned(p);
  for (int i = 0; i < 200; ++i) {
    const int32_t id = banned.sample(kLogits, {});
    EXPECT_NE(id, 2);
    EXPECT_NE(id, 6);
    EXPECT_NE(id, 4);
  }
  p.logit_bias = {{5, 100.0f}};
  Sampler forced(p);
  for (int i = 0; i < 200; ++i) EXPECT_EQ(forced.sample(kLogits, {}), 5);
  SamplingParams greedy = plain(0.0f, -1);
  greedy.logit_bias = {{7, 2.6f}};  // 0.5 + 2.6 = 3.1 > 3.0
  EXPECT_EQ(Sampler(greedy).sample(kLogits, {}), 7);
  greedy.logit_bias = {{7, 2.4f}, {-3, 1.0f}, {99, 1.0f}};  // ids outside are ignored here
  EXPECT_EQ(Sampler(greedy).sample(kLogits, {}), 2);
}

TEST(LogitBias, ValidatedWithTheFieldNamed) {
  SamplingParams p;
  p.logit_bias = {{3, 100.5f}};
  Result<void> r = validate(p);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("logit_bias"), std::string::npos) << r.error().message;
  p.logit_bias = {{3, std::numeric_limits<float>::quiet_NaN()}};
  EXPECT_FALSE(validate(p).ok());
  p.logit_bias = {{-1, 1.0f}};
  EXPECT_FALSE(validate(p).ok());
  p.logit_bias = {{10, 1.0f}};
  EXPECT_TRUE(validate(p).ok());
  r = validate(p, 10);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("token id 10 is outside the vocabulary (ids are 0..9)"),
            std::string::npos)
      << r.error().message;
  p.logit_bias = {{9, -100.0f}};
  EXPECT_TRUE(validate(p, 10).ok());
  p.top_logprobs = 21;
  r = validate(p);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("top_logprobs"), std::string::npos);
  p.top_logprobs = -2;
  EXPECT_FALSE(validate(p).ok());
  p.top_logprobs = 20;
  EXPECT_TRUE(validate(p).ok());
}

}  // namespace
}  // namespace gengyun::sampling
