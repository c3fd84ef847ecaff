#include "sampling/sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <set>
#include <vector>

namespace gengyun::sampling {
namespace {

/// Deterministic pseudo-random logits in [lo, hi) (SplitMix64, so identical on every platform).
std::vector<float> make_logits(size_t n, uint64_t seed, float lo, float hi) {
  std::vector<float> out(n);
  uint64_t state = seed;
  for (float& x : out) {
    state += 0x9E3779B97F4A7C15ull;
    uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    x = lo + (hi - lo) * static_cast<float>(static_cast<double>(z >> 11) * 0x1.0p-53);
  }
  return out;
}

SamplingParams plain(float temperature) {
  SamplingParams p;
  p.temperature = temperature;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  return p;
}

std::vector<int> draw_counts(const SamplingParams& params, const std::vector<float>& logits,
                             int draws) {
  Sampler sampler(params);
  std::vector<int> counts(logits.size(), 0);
  for (int i = 0; i < draws; ++i) {
    const int32_t id = sampler.sample(logits, {});
    EXPECT_GE(id, 0);
    EXPECT_LT(id, static_cast<int32_t>(logits.size()));
    if (id >= 0 && id < static_cast<int32_t>(logits.size())) ++counts[static_cast<size_t>(id)];
  }
  return counts;
}

std::set<int32_t> drawn_set(const SamplingParams& params, const std::vector<float>& logits,
                            int draws) {
  const std::vector<int> counts = draw_counts(params, logits, draws);
  std::set<int32_t> out;
  for (size_t i = 0; i < counts.size(); ++i) {
    if (counts[i] > 0) out.insert(static_cast<int32_t>(i));
  }
  return out;
}

/// Logits whose softmax (at temperature 1) is exactly `probs`.
std::vector<float> logits_of(const std::vector<double>& probs) {
  std::vector<float> out;
  for (double p : probs) out.push_back(static_cast<float>(std::log(p)));
  return out;
}

/// Slow reference of the filter stages: full sort, top-k, softmax over the survivors and
/// cumulative cut for top-p, min-p against the largest logit. Also returns, through
/// `boundary_gap`, how far the top-p cut was from being ambiguous.
std::set<int32_t> reference_allowed(const std::vector<float>& logits, const SamplingParams& p,
                                    double* boundary_gap) {
  std::vector<int32_t> order(logits.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  });
  if (p.top_k > 0 && static_cast<size_t>(p.top_k) < order.size()) order.resize(p.top_k);
  const double max_logit = logits[order[0]];
  double mass = 0.0;
  for (int32_t id : order) mass += std::exp(logits[id] - max_logit);
  size_t keep = order.size();
  *boundary_gap = 1.0;
  if (p.top_p < 1.0f) {
    double cumulative = 0.0;
    for (size_t i = 0; i < order.size(); ++i) {
      const double before = cumulative;
      cumulative += std::exp(logits[order[i]] - max_logit) / mass;
      if (cumulative >= p.top_p) {
        keep = i + 1;
        *boundary_gap = std::min(cumulative - p.top_p, p.top_p - before);
        break;
      }
    }
  }
  order.resize(keep);
  std::set<int32_t> out;
  for (int32_t id : order) {
    if (p.min_p <= 0.0f || logits[id] >= max_logit + std::log(p.min_p)) out.insert(id);
  }
  return out;
}

TEST(Sampler, GreedyPicksArgmaxAndLowestIdOnTies) {
  Sampler sampler(plain(0.0f));
  const std::vector<float> logits = {0.1f, 2.5f, -3.0f, 2.5f, 1.0f};
  EXPECT_EQ(sampler.sample(logits, {}), 1);

  const std::vector<float> big = make_logits(151'936, 7, -10.0f, 10.0f);
  const auto expected = std::max_element(big.begin(), big.end()) - big.begin();
  EXPECT_EQ(sampler.sample(big, {}), expected);
  EXPECT_EQ(Sampler(plain(-1.0f)).sample(big, {}), expected);
}

TEST(Sampler, ARowOfNaNLogitsHasNothingToChooseFrom) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (const float temperature : {0.0f, 0.8f}) {
    Sampler sampler(plain(temperature));
    EXPECT_EQ(sampler.sample(std::vector<float>(5, nan), {}), Sampler::kAllLogitsNaN);
    // One finite logit among NaNs is the only choice (NaN counts as -infinity).
    EXPECT_EQ(sampler.sample(std::vector<float>{nan, nan, -3.0f, nan}, {}), 2);
  }
}

TEST(Sampler, GreedyAppliesPenaltiesFirst) {
  SamplingParams p = plain(0.0f);
  p.repeat_penalty = 1.1f;
  const std::vector<float> logits = {5.0f, 4.9f, 1.0f};
  const std::vector<int32_t> history = {0};
  EXPECT_EQ(Sampler(p).sample(logits, history), 1);
  EXPECT_EQ(Sampler(plain(0.0f)).sample(logits, history), 0);
}

TEST(Sampler, TopKOfOneEqualsGreedy) {
  SamplingParams top1;
  top1.temperature = 1.5f;
  top1.top_k = 1;
  top1.repeat_penalty = 1.3f;
  top1.presence_penalty = 0.5f;
  SamplingParams greedy = plain(0.0f);
  greedy.repeat_penalty = 1.3f;
  greedy.presence_penalty = 0.5f;
  Sampler a(top1);
  Sampler b(greedy);
  std::vector<int32_t> history;
  for (uint64_t row = 0; row < 30; ++row) {
    const std::vector<float> logits = make_logits(5000, row, -4.0f, 4.0f);
    const int32_t got = a.sample(logits, history);
    EXPECT_EQ(got, b.sample(logits, history)) << "row " << row;
    history.push_back(got);
  }
}

TEST(Sampler, SameSeedSameSequenceOtherSeedOtherSequence) {
  const std::vector<float> logits = make_logits(2000, 3, -1.0f, 1.0f);
  auto run = [&](uint64_t seed) {
    SamplingParams p;  // defaults: top-k 40, top-p 0.95, min-p 0.05, temperature 0.8
    p.seed = seed;
    p.repeat_penalty = 1.1f;
    Sampler sampler(p);
    std::vector<int32_t> history;
    for (int i = 0; i < 200; ++i) history.push_back(sampler.sample(logits, history));
    return history;
  };
  const std::vector<int32_t> first = run(1234);
  EXPECT_EQ(first, run(1234));
  EXPECT_NE(first, run(1235));
  EXPECT_GT(std::set<int32_t>(first.begin(), first.end()).size(), 10u);
}

TEST(Sampler, TopKKeepsTheKHighest) {
  SamplingParams p = plain(1.0f);
  p.top_k = 3;
  const std::vector<float> logits = {1.0f, 5.0f, 3.0f, 4.0f, 2.0f, 0.0f};
  EXPECT_EQ(drawn_set(p, logits, 3000), (std::set<int32_t>{1, 2, 3}));
  p.top_k = 100;
  EXPECT_EQ(drawn_set(p, logits, 3000), (std::set<int32_t>{0, 1, 2, 3, 4, 5}));
  p.top_k = 1;
  const std::vector<float> tied = {1.0f, 3.0f, 3.0f};
  EXPECT_EQ(drawn_set(p, tied, 100), (std::set<int32_t>{1}));
}

TEST(Sampler, TopPKeepsTheSmallestPrefixReachingP) {
  const std::vector<float> logits = logits_of({0.15, 0.5, 0.05, 0.3});
  SamplingParams p = plain(1.0f);
  p.top_p = 0.75f;
  EXPECT_EQ(drawn_set(p, logits, 3000), (std::set<int32_t>{1, 3}));
  p.top_p = 0.85f;
  EXPECT_EQ(drawn_set(p, logits, 3000), (std::set<int32_t>{0, 1, 3}));
  p.top_p = 0.0f;
  EXPECT_EQ(drawn_set(p, logits, 500), (std::set<int32_t>{1}));
  // Temperature comes after top-p: a hot temperature does not widen the set.
  p.top_p = 0.75f;
  p.temperature = 5.0f;
  EXPECT_EQ(drawn_set(p, logits, 3000), (std::set<int32_t>{1, 3}));
}

TEST(Sampler, TopPNormalizesOverTopKSurvivors) {
  const std::vector<float> logits = logits_of({0.4, 0.3, 0.2, 0.1});
  SamplingParams p = plain(1.0f);
  p.top_p = 0.75f;
  EXPECT_EQ(drawn_set(p, logits, 3000), (std::set<int32_t>{0, 1, 2}));
  p.top_k = 3;  // survivors renormalize to 4/9, 3/9, 2/9: the first two reach 0.75
  EXPECT_EQ(drawn_set(p, logits, 3000), (std::set<int32_t>{0, 1}));
}

TEST(Sampler, MinPKeepsLogitsWithinLogMinPOfTheMax) {
  const std::vector<float> logits = logits_of({0.5, 0.3, 0.15, 0.05});
  SamplingParams p = plain(1.0f);
  p.min_p = 0.2f;
  EXPECT_EQ(drawn_set(p, logits, 3000), (std::set<int32_t>{0, 1, 2}));
  p.min_p = 0.5f;
  EXPECT_EQ(drawn_set(p, logits, 3000), (std::set<int32_t>{0, 1}));
  // Temperature comes after min-p: a cold temperature does not remove token 2 (its chance
  // is 0.3^4 / (1 + 0.6^4 + 0.3^4), about 0.7%, so it shows up in 4000 draws).
  p.min_p = 0.2f;
  p.temperature = 0.25f;
  EXPECT_EQ(drawn_set(p, logits, 4000), (std::set<int32_t>{0, 1, 2}));
}

TEST(Sampler, LargeVocabularyFiltersMatchSlowReference) {
  const std::vector<float> logits = make_logits(1000, 11, -1.0f, 1.0f);
  SamplingParams only_top_p = plain(1.0f);
  only_top_p.top_p = 0.5f;
  SamplingParams min_p_and_top_p = plain(1.0f);
  min_p_and_top_p.min_p = 0.6f;
  min_p_and_top_p.top_p = 0.3f;
  SamplingParams all_three = plain(1.0f);
  all_three.top_k = 300;
  all_three.top_p = 0.6f;
  all_three.min_p = 0.4f;

  for (const SamplingParams& p : {only_top_p, min_p_and_top_p, all_three}) {
    double gap = 0.0;
    const std::set<int32_t> expected = reference_allowed(logits, p, &gap);
    ASSERT_GT(gap, 1e-5) << "test logits put the top-p cut too close to call";
    ASSERT_GT(expected.size(), 64u) << "the case must span more than one sorting chunk";
    // Enough draws that the least likely allowed token is expected 25 times.
    double mass = 0.0;
    float lowest = std::numeric_limits<float>::infinity();
    for (int32_t id : expected) {
      mass += std::exp(static_cast<double>(logits[id]));
      lowest = std::min(lowest, logits[id]);
    }
    const int draws = static_cast<int>(25.0 * mass / std::exp(static_cast<double>(lowest)));
    EXPECT_EQ(drawn_set(p, logits, draws), expected)
        << "top_k " << p.top_k << " top_p " << p.top_p << " min_p " << p.min_p;
  }
}

/// Asserts that counts follow `probs` within 5 binomial standard deviations (+1 for tiny p).
void expect_frequencies(const std::vector<int>& counts, const std::vector<double>& probs, int draws) {
  for (size_t i = 0; i < probs.size(); ++i) {
    const double expected = draws * probs[i];
    const double sigma = std::sqrt(draws * probs[i] * (1.0 - probs[i]));
    EXPECT_NEAR(counts[i], expected, 5.0 * sigma + 1.0) << "token " << i << " p " << probs[i];
  }
}

std::vector<double> softmax(const std::vector<float>& logits, double temperature) {
  std::vector<double> out;
  double total = 0.0;
  for (float l : logits) {
    out.push_back(std::exp(l / temperature));
    total += out.back();
  }
  for (double& x : out) x /= total;
  return out;
}

TEST(Sampler, FrequenciesMatchSoftmaxOfLogitsOverTemperature) {
  const std::vector<float> logits = {1.0f, 0.5f, 2.0f, -1.0f, 0.0f, 1.5f, -0.5f, 0.8f};
  const int draws = 40000;
  SamplingParams p = plain(0.7f);
  p.seed = 99;
  expect_frequencies(draw_counts(p, logits, draws), softmax(logits, 0.7), draws);
}

TEST(Sampler, FrequenciesAfterTopKRenormalize) {
  const std::vector<float> logits = {1.0f, 0.5f, 2.0f, -1.0f, 0.0f, 1.5f, -0.5f, 0.8f};
  const int draws = 40000;
  SamplingParams p = plain(1.3f);
  p.top_k = 4;
  const std::vector<float> top4 = {1.0f, 2.0f, 1.5f, 0.8f};
  const std::vector<double> top4_probs = softmax(top4, 1.3);
  const std::vector<double> probs = {top4_probs[0], 0, top4_probs[1], 0, 0, top4_probs[2], 0, top4_probs[3]};
  expect_frequencies(draw_counts(p, logits, draws), probs, draws);
}

TEST(Sampler, BadLogitsNeverCrash) {
  Sampler sampler(SamplingParams{});
  EXPECT_EQ(sampler.sample({}, {}), -1);

  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> with_nan = {nan, 1.0f, nan, 1.2f};
  for (int i = 0; i < 200; ++i) {
    const int32_t id = sampler.sample(with_nan, {});
    EXPECT_TRUE(id == 1 || id == 3) << id;
  }
  const std::vector<float> all_neg_inf = {-inf, -inf, -inf};
  EXPECT_EQ(sampler.sample(all_neg_inf, {}), 0);
  const std::vector<float> pos_inf = {0.0f, inf, 3.0f};
  EXPECT_EQ(sampler.sample(pos_inf, {}), 1);
  const std::vector<int32_t> odd_history = {-5, 100000, 2};
  const int32_t id = sampler.sample(pos_inf, odd_history);
  EXPECT_EQ(id, 1);
}

TEST(Sampler, MinPAboveOneStillReturnsTheBestToken) {
  SamplingParams p = plain(1.0f);
  p.min_p = 3.0f;
  const std::vector<float> logits = {0.0f, 4.0f, 1.0f};
  EXPECT_EQ(drawn_set(p, logits, 100), (std::set<int32_t>{1}));
}

}  // namespace
}  // namespace gengyun::sampling
