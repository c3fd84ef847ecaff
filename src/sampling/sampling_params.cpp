#include "sampling/sampling_params.h"

#include <cmath>
#include <string>

namespace gengyun::sampling {

namespace {

Error out_of_range(const char* field, double value, const char* expected) {
  return make_error(std::string("sampling parameter ") + field + " must be " + expected +
                    " (got " + std::to_string(value) + ")");
}

}  // namespace

Result<void> validate(const SamplingParams& params) {
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
  return {};
}

}  // namespace gengyun::sampling
