// Roles, spend budgets and rate limits of tenants and keys, and the time windows they count in.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace gengyun::platform {

/// What a key may do: admin (the whole deployment), owner (its tenant: keys, limits, usage),
/// member (call the models; read its own usage).
enum class Role { Admin, Owner, Member };

/// "admin", "owner", "member".
std::string_view role_name(Role role);
/// The role named `name` (exact, lowercase); nullopt for anything else.
std::optional<Role> parse_role(std::string_view name);

/// The window a spend budget counts in: the current UTC day, the current UTC month, or all time.
enum class BudgetPeriod { Day, Month, Total };

/// "day", "month", "total".
std::string_view period_name(BudgetPeriod period);
/// The period named `name` (exact, lowercase); nullopt for anything else.
std::optional<BudgetPeriod> parse_period(std::string_view name);

/// Microseconds since the Unix epoch at which the window of `period` that holds `now_us`
/// began: 00:00 UTC of its day, of the first of its month, or 0 for Total.
int64_t period_start_us(BudgetPeriod period, int64_t now_us);

/// Rate limits count in a sliding window of one minute: the buckets of the current second
/// (Unix time, whole seconds) and of the 59 before it.
inline constexpr int64_t kRateWindowUs = 60'000'000;
/// The length of one bucket of the rate window.
inline constexpr int64_t kRateBucketUs = 1'000'000;
/// The buckets of one window.
inline constexpr int64_t kRateWindowBuckets = kRateWindowUs / kRateBucketUs;

/// Limits of one tenant or one key; an absent field is no limit.
struct Limits {
  std::optional<int64_t> budget_micro_usd = {};  ///< spend per budget_period, micro-USD
  BudgetPeriod budget_period = BudgetPeriod::Total;
  std::optional<int64_t> rpm = {};  ///< requests per minute
  std::optional<int64_t> tpm = {};  ///< tokens (prompt + max completion at admission) per minute
};

}  // namespace gengyun::platform
