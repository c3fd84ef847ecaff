// Repetition, presence and frequency penalties (llama.cpp's llama_sampler_penalties).
#pragma once

#include <cstdint>
#include <span>

#include "sampling/sampling_params.h"

namespace gengyun::sampling {

/// Penalizes, in place, the logits [n_vocab] of every token that occurs in the last
/// params.penalty_last_n entries of `history` (all of it for -1, none for 0). For a token seen
/// `count` times there: a logit <= 0 is multiplied by repeat_penalty, a positive one divided by
/// it; then count * frequency_penalty + presence_penalty is subtracted. History ids outside
/// [0, n_vocab) are ignored. Cost: O(w log w) for a window of w tokens, independent of n_vocab.
void apply_penalties(std::span<float> logits, std::span<const int32_t> history,
                     const SamplingParams& params);

}  // namespace gengyun::sampling
