// Money in integer micro-dollars (1 USD = 1,000,000 micro-USD): prices, costs and budgets.
// Nothing here uses floating point, so a cost is the same on every machine and every backend.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "gengyun/result.h"

namespace gengyun::platform {

/// Micro-dollars in one dollar.
inline constexpr int64_t kMicroUsdPerUsd = 1'000'000;
/// The largest amount parse_usd() accepts: one billion dollars.
inline constexpr int64_t kMaxUsd = 1'000'000'000;

/// A model's prices in micro-USD per million tokens (so "$0.15 per million input tokens" is
/// input = 150000). cached_input applies to prompt tokens found in the prefix cache.
struct Price {
  int64_t input = 0;
  int64_t cached_input = 0;
  int64_t output = 0;
};

/// Token counts of one request. cached_prompt_tokens is part of prompt_tokens.
struct TokenCounts {
  int64_t prompt_tokens = 0;
  int64_t cached_prompt_tokens = 0;
  int64_t completion_tokens = 0;
};

/// A dollar amount written as decimal text ("0.15", "20", "1.000001") in micro-USD. Accepts
/// digits with an optional '.' and at most 6 decimals, at most kMaxUsd. Errors: empty text,
/// a sign (negative amounts), exponents, other characters, more than 6 decimals, over kMaxUsd;
/// the message names `what` ("--input").
Result<int64_t> parse_usd(std::string_view text, std::string_view what);

/// `micro_usd` as dollars with the decimals needed ("0.15", "20", "1.000001").
std::string format_usd(int64_t micro_usd);

/// The cost of `tokens` at `price`, in micro-USD, rounded up to a whole micro-dollar (so a
/// bill is never below the exact amount): ceil(((prompt - cached) * input + cached *
/// cached_input + completion * output) / 1e6), computed exactly in 128-bit integers. Errors:
/// negative counts or prices, cached_prompt_tokens > prompt_tokens, a result over INT64_MAX.
Result<int64_t> cost_micro_usd(const TokenCounts& tokens, const Price& price);

}  // namespace gengyun::platform
