// Choosing the next token from a row of logits, as llama.cpp's default sampler chain does.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include "sampling/sampling_params.h"
#include "sampling/token_mask.h"

namespace gengyun::sampling {

/// A token and its log-probability (natural log).
struct TokenLogprob {
  int32_t id = 0;
  float logprob = 0.0f;
};

/// The log-probabilities of one sampled token: the softmax over the whole vocabulary of the
/// logits after logit bias, penalties and the grammar mask, before temperature, top-k, top-p and
/// min-p (docs/structured_output.md says why). Tokens masked out have -infinity.
struct SampleLogprobs {
  float logprob = 0.0f;           ///< of the chosen token
  std::vector<TokenLogprob> top;  ///< the top_logprobs most likely, descending; ties: lower id
};

/// One sequence's sampler. Holds the random state seeded from params.seed, so the same seed
/// and the same logits give the same tokens on every run and platform (the uniform draw is
/// built from std::mt19937_64's raw output, whose sequence the C++ standard fixes). Parameters
/// outside validate()'s ranges never crash it but give no meaningful distribution.
class Sampler {
 public:
  /// What sample() returns for a row of logits that are all NaN.
  static constexpr int32_t kAllLogitsNaN = -2;

  explicit Sampler(const SamplingParams& params);

  /// Picks the next token id from `logits` [n_vocab]. `history` holds the prompt (its first
  /// n_prompt entries) and the tokens generated so far (apply_penalties says what each
  /// penalty looks at). `allowed`
  /// (size n_vocab), when given, masks out the tokens it lacks (a grammar's mask); when it
  /// allows none, the result is meaningless (the caller checks). `logprobs`, when given and
  /// params.top_logprobs >= 0, receives the chosen token's log-probability and the
  /// top_logprobs most likely tokens. Stages: logit bias; penalties; mask; temperature <= 0:
  /// argmax (lowest id on ties); otherwise top-k, top-p (smallest
  /// prefix of the top-k survivors by descending probability, renormalized over them, whose
  /// mass reaches top_p), min-p (keep logits >= max + log(min_p)), temperature, softmax and
  /// one seeded draw. NaN logits count as -infinity; when every logit of the row is NaN (the
  /// model's hidden state is: NaN or infinite weights, an overflow) there is nothing to choose
  /// from and it returns kAllLogitsNaN. Returns -1 only when `logits` is empty.
  /// Cost: O(n_vocab) plus O(k log k) for top-k; no full sort unless top-p must look at the
  /// whole vocabulary.
  int32_t sample(std::span<const float> logits, std::span<const int32_t> history,
                 const TokenMask* allowed = nullptr, SampleLogprobs* logprobs = nullptr,
                 size_t n_prompt = 0);

 private:
  struct Candidate {
    int32_t id;
    float logit;
  };

  /// Moves the best candidates of [from, end) into [from, to), sorted by descending logit and
  /// ascending id. O((end - from) + (to - from) log (to - from)).
  void sort_best(size_t from, size_t to);
  /// Temperature, softmax and one seeded draw over the remaining candidates.
  int32_t draw(float max_logit);
  /// The choice from logits_ (biased, penalized, masked) whose largest is logits_[best].
  int32_t choose(int32_t best);
  /// Fills `out` for `chosen` from logits_ (see SampleLogprobs).
  void report(int32_t chosen, float max_logit, SampleLogprobs& out) const;

  SamplingParams params_;
  std::mt19937_64 rng_;
  std::vector<float> logits_;
  std::vector<Candidate> candidates_;
  std::vector<double> weights_;
};

}  // namespace gengyun::sampling
