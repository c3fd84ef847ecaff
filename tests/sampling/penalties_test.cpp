#include "sampling/penalties.h"

#include <gtest/gtest.h>

#include <span>
#include <vector>

namespace gengyun::sampling {
namespace {

SamplingParams penalty_params(float repeat, float frequency, float presence, int last_n) {
  SamplingParams p;
  p.repeat_penalty = repeat;
  p.frequency_penalty = frequency;
  p.presence_penalty = presence;
  p.penalty_last_n = last_n;
  return p;
}

TEST(Penalties, FollowTheFormulaPerTokenCount) {
  std::vector<float> logits = {2.0f, -1.0f, 0.5f, 3.0f, -2.0f, 0.0f};
  // 7 and -1 are outside the vocabulary and must be ignored.
  const std::vector<int32_t> history = {0, 1, 1, 3, 3, 3, 7, -1, 5};
  apply_penalties(logits, history, 0, penalty_params(1.5f, 0.1f, 0.2f, -1));

  EXPECT_FLOAT_EQ(logits[0], 2.0f / 1.5f - (1.0f * 0.1f + 0.2f));
  EXPECT_FLOAT_EQ(logits[1], -1.0f * 1.5f - (2.0f * 0.1f + 0.2f));
  EXPECT_EQ(logits[2], 0.5f);
  EXPECT_FLOAT_EQ(logits[3], 3.0f / 1.5f - (3.0f * 0.1f + 0.2f));
  EXPECT_EQ(logits[4], -2.0f);
  EXPECT_FLOAT_EQ(logits[5], 0.0f * 1.5f - (1.0f * 0.1f + 0.2f));
}

TEST(Penalties, RepeatPenaltyLooksOnlyAtTheLastNTokens) {
  std::vector<float> logits = {1.0f, 1.0f, 1.0f, 1.0f};
  const std::vector<int32_t> history = {0, 0, 1, 2, 2};
  apply_penalties(logits, history, 0, penalty_params(2.0f, 0.25f, 0.0f, 3));
  // The repetition penalty: tokens 1 and 2 (the last 3); the frequency penalty: every token.
  EXPECT_FLOAT_EQ(logits[0], 1.0f - 2.0f * 0.25f);
  EXPECT_FLOAT_EQ(logits[1], 1.0f / 2.0f - 0.25f);
  EXPECT_FLOAT_EQ(logits[2], 1.0f / 2.0f - 2.0f * 0.25f);
  EXPECT_EQ(logits[3], 1.0f);
}

// OpenAI's presence and frequency penalties count generated tokens only: with nothing generated
// they change nothing, however often the prompt repeats a token; llama.cpp's repetition
// penalty still sees the prompt.
TEST(Penalties, PresenceAndFrequencyCountGeneratedTokensOnly) {
  const std::vector<int32_t> history = {1, 1, 1, 2, /* generated: */ 2, 3, 3};
  std::vector<float> logits = {1.0f, 1.0f, 1.0f, 1.0f};
  apply_penalties(logits, std::span(history).first(4), 4, penalty_params(1.0f, 0.5f, 0.75f, -1));
  EXPECT_EQ(logits, (std::vector<float>{1.0f, 1.0f, 1.0f, 1.0f}));

  apply_penalties(logits, history, 4, penalty_params(1.0f, 0.5f, 0.75f, -1));
  EXPECT_EQ(logits[0], 1.0f);
  EXPECT_EQ(logits[1], 1.0f);  // only in the prompt
  EXPECT_FLOAT_EQ(logits[2], 1.0f - (1.0f * 0.5f + 0.75f));
  EXPECT_FLOAT_EQ(logits[3], 1.0f - (2.0f * 0.5f + 0.75f));

  logits = {1.0f, 1.0f, 1.0f, 1.0f};
  apply_penalties(logits, std::span(history).first(4), 4, penalty_params(2.0f, 0.0f, 0.0f, -1));
  EXPECT_EQ(logits, (std::vector<float>{1.0f, 0.5f, 0.5f, 1.0f}));
}

TEST(Penalties, WindowOfZeroOrNeutralValuesChangesNothing) {
  const std::vector<float> original = {1.0f, -1.0f, 2.0f};
  const std::vector<int32_t> history = {0, 1, 2, 2};

  std::vector<float> logits = original;
  apply_penalties(logits, history, 0, penalty_params(1.3f, 0.0f, 0.0f, 0));
  EXPECT_EQ(logits, original);

  logits = original;
  apply_penalties(logits, history, 0, penalty_params(1.0f, 0.0f, 0.0f, 64));
  EXPECT_EQ(logits, original);

  logits = original;
  apply_penalties(logits, {}, 0, penalty_params(1.3f, 0.5f, 0.5f, 64));
  EXPECT_EQ(logits, original);
}

TEST(Penalties, WindowLongerThanHistoryUsesAllOfIt) {
  std::vector<float> logits = {4.0f, 4.0f};
  const std::vector<int32_t> history = {1};
  apply_penalties(logits, history, 0, penalty_params(2.0f, 0.0f, 1.0f, 1000));
  EXPECT_EQ(logits[0], 4.0f);
  EXPECT_FLOAT_EQ(logits[1], 4.0f / 2.0f - 1.0f);
}

}  // namespace
}  // namespace gengyun::sampling
