// Parameters of one sampler (llama.cpp / OpenAI semantics) and their validation.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "gengyun/result.h"

namespace gengyun::sampling {

/// How the next token is chosen from the logits. Each stage's "off" value is noted; the stages
/// run in llama.cpp's default order: logit bias, penalties, (grammar mask), top-k, top-p,
/// min-p, temperature, draw.
struct SamplingParams {
  float temperature = 0.8f;        ///< <= 0: greedy (argmax, lowest id on ties)
  int top_k = 40;                  ///< <= 0: off
  float top_p = 0.95f;             ///< >= 1: off
  float min_p = 0.05f;             ///< <= 0: off
  float repeat_penalty = 1.0f;     ///< 1: off
  float presence_penalty = 0.0f;   ///< 0: off
  float frequency_penalty = 0.0f;  ///< 0: off
  /// History tokens (prompt and generated) the repetition penalty looks at; 0: none, -1: all.
  /// (Presence and frequency penalties look at every generated token.)
  int penalty_last_n = 64;
  uint64_t seed = 0;               ///< same seed, same logits -> same sequence of draws
  /// Added to the logits of token ids before anything else (OpenAI logit_bias, -100..100:
  /// -100 in effect bans a token, 100 in effect forces it). An id may appear more than once;
  /// the biases add up.
  std::vector<std::pair<int32_t, float>> logit_bias;
  /// Log-probabilities reported per sampled token: -1 none; 0 the chosen token's; 1..20 also
  /// that many most likely tokens (OpenAI logprobs / top_logprobs).
  int top_logprobs = -1;
};

/// Most alternatives a sampled token reports (OpenAI's top_logprobs limit).
inline constexpr int kMaxTopLogprobs = 20;

/// Checks that every field is in its meaningful range: temperature, presence_penalty and
/// frequency_penalty finite; top_p and min_p in [0, 1]; repeat_penalty finite and > 0;
/// penalty_last_n >= -1; logit_bias values finite in [-100, 100] and, when n_vocab > 0, ids in
/// [0, n_vocab); top_logprobs in [-1, kMaxTopLogprobs]. The error names the field and the
/// value received.
Result<void> validate(const SamplingParams& params, int32_t n_vocab = 0);

/// The seed of choice `index` (from 0) of a request that gives `seed`: `seed` itself for
/// choice 0 (so one choice samples as a lone request does), else SplitMix64's index-th output
/// from the state `seed` (state += 0x9E3779B97F4A7C15, then its finalizer), so that the choices
/// of nearby seeds do not coincide (seed + index made choice 1 of seed 4 choice 0 of seed 5).
/// Depends on nothing else, so each choice samples alike whatever runs beside it.
uint64_t choice_seed(uint64_t seed, uint64_t index);

}  // namespace gengyun::sampling
