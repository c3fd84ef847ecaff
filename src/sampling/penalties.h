// Repetition, presence and frequency penalties (llama.cpp's llama_sampler_penalties).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "sampling/sampling_params.h"

namespace gengyun::sampling {

/// Penalizes, in place, the logits [n_vocab] of the tokens of `history`, the prompt (its first
/// n_prompt entries) followed by the tokens generated so far. llama.cpp's repetition penalty
/// looks at the last params.penalty_last_n entries of the whole history (all of it for -1,
/// none for 0): a logit <= 0 of a token there is multiplied by repeat_penalty, a positive one
/// divided by it. OpenAI's presence and frequency penalties look at the generated tokens only,
/// all of them: for a token generated `count` times, count * frequency_penalty +
/// presence_penalty is subtracted (so they never change the first token). Ids outside
/// [0, n_vocab) are ignored. Cost: O(w log w) for w tokens looked at, independent of n_vocab.
void apply_penalties(std::span<float> logits, std::span<const int32_t> history, size_t n_prompt,
                     const SamplingParams& params);

}  // namespace gengyun::sampling
