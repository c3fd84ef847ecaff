#include "platform/limits.h"

#include <chrono>

namespace gengyun::platform {

std::string_view role_name(Role role) {
  switch (role) {
    case Role::Admin:
      return "admin";
    case Role::Owner:
      return "owner";
    case Role::Member:
      return "member";
  }
  return "member";
}

std::optional<Role> parse_role(std::string_view name) {
  for (Role role : {Role::Admin, Role::Owner, Role::Member})
    if (name == role_name(role)) return role;
  return std::nullopt;
}

std::string_view period_name(BudgetPeriod period) {
  switch (period) {
    case BudgetPeriod::Day:
      return "day";
    case BudgetPeriod::Month:
      return "month";
    case BudgetPeriod::Total:
      return "total";
  }
  return "total";
}

std::optional<BudgetPeriod> parse_period(std::string_view name) {
  for (BudgetPeriod period : {BudgetPeriod::Day, BudgetPeriod::Month, BudgetPeriod::Total})
    if (name == period_name(period)) return period;
  return std::nullopt;
}

int64_t period_start_us(BudgetPeriod period, int64_t now_us) {
  using namespace std::chrono;
  if (period == BudgetPeriod::Total) return 0;
  const sys_days day = floor<days>(sys_time<microseconds>(microseconds(now_us)));
  sys_days start = day;
  if (period == BudgetPeriod::Month) {
    const year_month_day ymd(day);
    start = sys_days(ymd.year() / ymd.month() / 1);
  }
  return duration_cast<microseconds>(start.time_since_epoch()).count();
}

}  // namespace gengyun::platform
