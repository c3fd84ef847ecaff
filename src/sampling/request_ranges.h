// The ranges a request's sampling fields are accepted in: OpenAI's API reference for
// temperature, top_p, presence_penalty and frequency_penalty; llama.cpp's server for its
// extensions top_k, min_p and repeat_penalty. The API's request parser, the deployment
// config's `defaults` and `gengyun run`'s flags all check against these, so that the three
// agree.
#pragma once

#include <cstdint>
#include <limits>
#include <string_view>

namespace gengyun::sampling {

/// A number field of a request and its range: [lo, hi], lo excluded when lo_open.
struct NumberRange {
  std::string_view name;  ///< the OpenAI field name
  double lo;
  double hi;
  bool lo_open;
  std::string_view shown;  ///< the range as messages show it, e.g. "(0, 1]"

  /// Whether `x` lies in the range (NaN lies in none).
  constexpr bool contains(double x) const { return x >= lo && x <= hi && !(lo_open && x == lo); }
};

inline constexpr NumberRange kTemperatureRange{"temperature", 0, 2, false, "[0, 2]"};
inline constexpr NumberRange kTopPRange{"top_p", 0, 1, true, "(0, 1]"};
inline constexpr NumberRange kMinPRange{"min_p", 0, 1, false, "[0, 1]"};
inline constexpr NumberRange kPresencePenaltyRange{"presence_penalty", -2, 2, false, "[-2, 2]"};
inline constexpr NumberRange kFrequencyPenaltyRange{"frequency_penalty", -2, 2, false, "[-2, 2]"};
/// Taken as a float: its bound is a float's largest value (SamplingParams::repeat_penalty).
inline constexpr NumberRange kRepeatPenaltyRange{
    "repeat_penalty", 0, std::numeric_limits<float>::max(), true, "(0, 3.4e38]"};

/// Every number field above.
inline constexpr NumberRange kNumberRanges[] = {
    kTemperatureRange,      kTopPRange,         kMinPRange, kPresencePenaltyRange,
    kFrequencyPenaltyRange, kRepeatPenaltyRange};

/// An integer field of a request and its least value (no greatest: values past INT_MAX are
/// taken as INT_MAX).
struct IntegerRange {
  std::string_view name;
  int64_t min;
};

inline constexpr IntegerRange kTopKRange{"top_k", 0};            ///< 0: off
inline constexpr IntegerRange kMaxTokensRange{"max_tokens", 1};  ///< max_completion_tokens too

/// Every integer field above.
inline constexpr IntegerRange kIntegerRanges[] = {kTopKRange, kMaxTokensRange};

}  // namespace gengyun::sampling
