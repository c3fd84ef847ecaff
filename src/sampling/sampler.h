// Choosing the next token from a row of logits, as llama.cpp's default sampler chain does.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include "sampling/sampling_params.h"

namespace gengyun::sampling {

/// One sequence's sampler. Holds the random state seeded from params.seed, so the same seed
/// and the same logits give the same tokens on every run and platform (the uniform draw is
/// built from std::mt19937_64's raw output, whose sequence the C++ standard fixes). Parameters
/// outside validate()'s ranges never crash it but give no meaningful distribution.
class Sampler {
 public:
  explicit Sampler(const SamplingParams& params);

  /// Picks the next token id from `logits` [n_vocab]. `history` holds the prompt and the
  /// tokens generated so far (penalties look at its last penalty_last_n entries). Stages:
  /// penalties; temperature <= 0: argmax (lowest id on ties); otherwise top-k, top-p (smallest
  /// prefix of the top-k survivors by descending probability, renormalized over them, whose
  /// mass reaches top_p), min-p (keep logits >= max + log(min_p)), temperature, softmax and
  /// one seeded draw. NaN logits count as -infinity. Returns -1 only when `logits` is empty.
  /// Cost: O(n_vocab) plus O(k log k) for top-k; no full sort unless top-p must look at the
  /// whole vocabulary.
  int32_t sample(std::span<const float> logits, std::span<const int32_t> history);

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

  SamplingParams params_;
  std::mt19937_64 rng_;
  std::vector<float> logits_;
  std::vector<Candidate> candidates_;
  std::vector<double> weights_;
};

}  // namespace gengyun::sampling
