#include "platform/money.h"

#include <limits>

namespace gengyun::platform {

Result<int64_t> parse_usd(std::string_view text, std::string_view what) {
  const std::string quoted = std::string(what) + " '" + std::string(text) + "'";
  if (text.empty()) return make_error(std::string(what) + " is empty; give an amount in USD");
  if (text.front() == '-') return make_error(quoted + " is negative; amounts in USD must be >= 0");
  int64_t whole = 0;
  int64_t fraction = 0;
  int decimals = 0;
  bool in_fraction = false;
  bool any_digit = false;
  for (char c : text) {
    if (c == '.' && !in_fraction) {
      in_fraction = true;
      continue;
    }
    if (c < '0' || c > '9')
      return make_error(quoted +
                        " is not an amount in USD (digits with an optional '.', e.g. 0.15)");
    any_digit = true;
    if (in_fraction) {
      if (++decimals > 6)
        return make_error(quoted + " has more than 6 decimals (the unit is one micro-dollar)");
      fraction = fraction * 10 + (c - '0');
    } else {
      whole = whole * 10 + (c - '0');
      if (whole > kMaxUsd)
        return make_error(quoted + " is over the limit of " + std::to_string(kMaxUsd) + " USD");
    }
  }
  if (!any_digit)
    return make_error(quoted + " is not an amount in USD (digits with an optional '.', e.g. 0.15)");
  for (int i = decimals; i < 6; ++i) fraction *= 10;
  const int64_t total = whole * kMicroUsdPerUsd + fraction;
  if (total > kMaxUsd * kMicroUsdPerUsd)
    return make_error(quoted + " is over the limit of " + std::to_string(kMaxUsd) + " USD");
  return total;
}

std::string format_usd(int64_t micro_usd) {
  const bool negative = micro_usd < 0;
  const uint64_t magnitude =
      negative ? uint64_t{0} - static_cast<uint64_t>(micro_usd) : static_cast<uint64_t>(micro_usd);
  std::string text = std::to_string(magnitude / kMicroUsdPerUsd);
  std::string fraction = std::to_string(magnitude % kMicroUsdPerUsd);
  fraction.insert(0, 6 - fraction.size(), '0');
  while (!fraction.empty() && fraction.back() == '0') fraction.pop_back();
  if (!fraction.empty()) text += "." + fraction;
  return negative ? "-" + text : text;
}

Result<int64_t> cost_micro_usd(const TokenCounts& tokens, const Price& price) {
  if (tokens.prompt_tokens < 0 || tokens.cached_prompt_tokens < 0 || tokens.completion_tokens < 0)
    return make_error("token counts must be >= 0");
  if (tokens.cached_prompt_tokens > tokens.prompt_tokens)
    return make_error("cached prompt tokens (" + std::to_string(tokens.cached_prompt_tokens) +
                      ") exceed the prompt tokens (" + std::to_string(tokens.prompt_tokens) + ")");
  if (price.input < 0 || price.cached_input < 0 || price.output < 0)
    return make_error("prices must be >= 0");
  using u128 = unsigned __int128;
  const u128 per_million =
      u128(uint64_t(tokens.prompt_tokens - tokens.cached_prompt_tokens)) * uint64_t(price.input) +
      u128(uint64_t(tokens.cached_prompt_tokens)) * uint64_t(price.cached_input) +
      u128(uint64_t(tokens.completion_tokens)) * uint64_t(price.output);
  const u128 cost = (per_million + 999'999) / 1'000'000;
  if (cost > u128(std::numeric_limits<int64_t>::max()))
    return make_error("the cost is over " + std::to_string(std::numeric_limits<int64_t>::max()) +
                      " micro-USD");
  return static_cast<int64_t>(cost);
}

}  // namespace gengyun::platform
