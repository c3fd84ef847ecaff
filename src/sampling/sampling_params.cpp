#include "sampling/sampling_params.h"

#include <cmath>
#include <string>

#include "util/splitmix64.h"

namespace gengyun::sampling {

namespace {

Error out_of_range(const char* field, double value, const char* expected) {
  return make_error(std::string("sampling parameter ") + field + " must be " + expected +
                    " (got " + std::to_string(value) + ")");
}

}  // namespace

Result<void> validate(const SamplingParams& params, int32_t n_vocab) {
  if (!std::isfinite(params.temperature)) {
    return out_of_range("temperature", params.temperature, "a finite number");
  }
  if (!(params.top_p >= 0.0f && params.top_p <= 1.0f)) {
    return out_of_range("top_p", params.top_p, "between 0 and 1");
  }
  if (!(params.min_p >= 0.0f && params.min_p <= 1.0f)) {
    return out_of_range("min_p", params.min_p, "between 0 and 1");
  }
  if (!std::isfinite(params.repeat_penalty) || !(params.repeat_penalty > 0.0f)) {
    return out_of_range("repeat_penalty", params.repeat_penalty, "a finite number > 0");
  }
  if (!std::isfinite(params.presence_penalty)) {
    return out_of_range("presence_penalty", params.presence_penalty, "a finite number");
  }
  if (!std::isfinite(params.frequency_penalty)) {
    return out_of_range("frequency_penalty", params.frequency_penalty, "a finite number");
  }
  if (params.penalty_last_n < -1) {
    return out_of_range("penalty_last_n", params.penalty_last_n, ">= -1 (-1: whole history)");
  }
  for (const auto& [id, bias] : params.logit_bias) {
    if (!(bias >= -100.0f && bias <= 100.0f))
      return make_error("sampling parameter logit_bias: the bias of token " + std::to_string(id) +
                        " must be between -100 and 100 (got " + std::to_string(bias) + ")");
    if (id < 0 || (n_vocab > 0 && id >= n_vocab))
      return make_error("sampling parameter logit_bias: token id " + std::to_string(id) +
                        " is outside the vocabulary (ids are 0.." +
                        (n_vocab > 0 ? std::to_string(n_vocab - 1) : std::string("n_vocab - 1")) +
                        ")");
  }
  if (params.top_logprobs < -1 || params.top_logprobs > kMaxTopLogprobs) {
    return out_of_range("top_logprobs", params.top_logprobs, "between 0 and 20 (-1: off)");
  }
  return {};
}

uint64_t choice_seed(uint64_t seed, uint64_t index) {
  if (index == 0) return seed;
  return splitmix64(seed + (index - 1) * kSplitMix64Gamma);
}

}  // namespace gengyun::sampling
