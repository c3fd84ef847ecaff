#include "platform/store_rules.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <optional>
#include <tuple>

#include "platform/store_schema.h"
#include "util/model_name.h"

namespace gengyun::platform {
namespace {

constexpr const char* kClosedStatuses =
    "\"ok\", \"error\", \"cancelled\", \"shutdown\", \"interrupted\"";

Result<void> validate_http_status(int http_status) {
  if (http_status < 100 || http_status > 599)
    return make_error("http_status " + std::to_string(http_status) +
                      " is not an HTTP status code (100..599)");
  return {};
}

/// Keeps in `status_*` the tighter (smaller remaining) of theirs and `limit` - `used`.
void tighten(std::optional<int64_t>& status_limit, std::optional<int64_t>& status_remaining,
             const std::optional<int64_t>& limit, int64_t used) {
  if (!limit) return;
  const int64_t remaining = std::max<int64_t>(*limit - used, 0);
  if (!status_remaining || remaining < *status_remaining) {
    status_limit = *limit;
    status_remaining = remaining;
  }
}

}  // namespace

bool is_closed_status(std::string_view status) {
  return status == "ok" || status == "error" || status == "cancelled" || status == "shutdown" ||
         status == "interrupted";
}

Result<void> validate_counts(const TokenCounts& t) {
  if (t.prompt_tokens < 0 || t.cached_prompt_tokens < 0 || t.completion_tokens < 0)
    return make_error("token counts must be >= 0 (prompt_tokens " +
                      std::to_string(t.prompt_tokens) + ", cached_prompt_tokens " +
                      std::to_string(t.cached_prompt_tokens) + ", completion_tokens " +
                      std::to_string(t.completion_tokens) + ")");
  if (t.cached_prompt_tokens > t.prompt_tokens)
    return make_error("cached_prompt_tokens (" + std::to_string(t.cached_prompt_tokens) +
                      ") exceeds prompt_tokens (" + std::to_string(t.prompt_tokens) + ")");
  return {};
}

Result<void> validate_record(const UsageRecord& r) {
  if (auto counts = validate_counts({r.prompt_tokens, r.cached_prompt_tokens, r.completion_tokens});
      !counts)
    return counts;
  if (r.finished_at_us < r.started_at_us)
    return make_error("finished_at_us (" + std::to_string(r.finished_at_us) +
                      ") is before started_at_us (" + std::to_string(r.started_at_us) + ")");
  if (auto status = validate_http_status(r.http_status); !status) return status;
  if (!is_closed_status(r.status))
    return make_error("status '" + r.status + "' is not one of " + kClosedStatuses);
  if (r.cost_micro_usd < 0) return make_error("cost_micro_usd must be >= 0");
  return {};
}

TokenCounts counts_of(const UsageRecord& row) {
  return {row.prompt_tokens, row.cached_prompt_tokens, row.completion_tokens};
}

Settlement settlement_of(const UsageRecord& row) {
  return {counts_of(row), row.http_status, row.status, row.error, row.finished_at_us};
}

Error describe_refusal(const LedgerWrite& write, const Error& why) {
  switch (write.kind) {
    case LedgerWrite::Kind::Checkpoint:
      return make_error("cannot checkpoint request '" + write.row.request_id + "': " + why.message);
    case LedgerWrite::Kind::Settle:
      return make_error("cannot settle request '" + write.row.request_id + "': " + why.message);
    case LedgerWrite::Kind::Record:
      break;
  }
  return make_error("cannot record usage: " + why.message);
}

bool must_sync(const std::vector<LedgerWrite>& writes, int64_t now_us, int64_t last_sync_us) {
  if (now_us - last_sync_us >= kCheckpointSyncBoundUs) return true;
  return std::any_of(writes.begin(), writes.end(), [](const LedgerWrite& write) {
    return write.kind != LedgerWrite::Kind::Checkpoint;
  });
}

Result<void> validate_write(const LedgerWrite& write) {
  Result<void> valid;
  if (write.kind != LedgerWrite::Kind::Record && write.row.request_id.empty())
    valid = make_error("the request id is empty");
  else if (write.kind == LedgerWrite::Kind::Checkpoint)
    valid = validate_counts(counts_of(write.row));
  else if (write.kind == LedgerWrite::Kind::Settle)
    valid = validate_settlement(settlement_of(write.row));
  else
    valid = validate_record(write.row);
  if (!valid) return describe_refusal(write, valid.error());
  return {};
}

Result<void> validate_settlement(const Settlement& s) {
  if (auto counts = validate_counts(s.tokens); !counts) return counts;
  if (!is_closed_status(s.status))
    return make_error("status '" + s.status + "' is not one of " + kClosedStatuses);
  return validate_http_status(s.http_status);
}

Result<void> validate_limits(const Limits& limits) {
  if (limits.budget_micro_usd && *limits.budget_micro_usd < 0)
    return make_error("the budget must be >= 0");
  if (limits.rpm && *limits.rpm < 0) return make_error("rpm must be >= 0");
  if (limits.tpm && *limits.tpm < 0) return make_error("tpm must be >= 0");
  return {};
}

Result<void> validate_price(const Price& price) {
  if (price.input < 0 || price.cached_input < 0 || price.output < 0)
    return make_error("prices must be >= 0");
  if (price.cached_input > price.input)
    return make_error("the cached input price (" + format_usd(price.cached_input) +
                      ") is above the input price (" + format_usd(price.input) +
                      ") (USD per 1M tokens); a cached prompt token costs at most an input token");
  return {};
}

static_assert(kMaxNameBytes == util::kMaxModelNameBytes, "a served model id is a model name");

namespace {

/// Errors of validate_name() and validate_model_name(): `name` (of a `what`) empty or over
/// kMaxNameBytes.
Result<void> validate_length(std::string_view what, const std::string& name) {
  if (name.empty()) return make_error("the " + std::string(what) + " name is empty");
  if (name.size() > kMaxNameBytes)
    return make_error("the " + std::string(what) + " name is longer than " +
                      std::to_string(kMaxNameBytes) + " bytes");
  return {};
}

}  // namespace

Result<void> validate_name(std::string_view what, const std::string& name) {
  if (auto valid = validate_length(what, name); !valid) return valid;
  const auto plain = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  };
  bool ok = plain(name[0]);
  for (size_t i = 1; ok && i < name.size(); ++i)
    ok = plain(name[i]) || name[i] == '.' || name[i] == '-';
  if (!ok)
    return make_error("the " + std::string(what) +
                      " name may hold only ASCII letters, digits, '.', '_', '-' and must start "
                      "with a letter, digit or '_'");
  return {};
}

Result<void> validate_model_name(const std::string& model) {
  if (auto valid = validate_length("model", model); !valid) return valid;
  if (const std::optional<std::string> flaw = util::model_name_flaw(model))
    return make_error("the model name " + *flaw);
  return {};
}

Result<std::string> join_models(const std::vector<std::string>& models) {
  std::string joined;
  for (const std::string& model : models) {
    if (model.empty() || model.find(',') != std::string::npos)
      return make_error("model name '" + model + "' is empty or holds a comma");
    joined += (joined.empty() ? "" : ",") + model;
  }
  return joined;
}

std::vector<std::string> split_models(const std::string& joined) {
  std::vector<std::string> models;
  size_t start = 0;
  while (start < joined.size()) {
    size_t comma = joined.find(',', start);
    if (comma == std::string::npos) comma = joined.size();
    models.push_back(joined.substr(start, comma - start));
    start = comma + 1;
  }
  return models;
}

Error newer_schema_error(int64_t version) {
  return Error{"the database has schema version " + std::to_string(version) +
               ", newer than this gengyun understands (" + std::to_string(kStoreSchemaVersion) +
               "); run a gengyun release at least as new as the one that wrote it"};
}

Error older_schema_error(int64_t version) {
  return Error{"the database has schema version " + std::to_string(version) +
               ", older than this gengyun's (" + std::to_string(kStoreSchemaVersion) +
               "), and a command that reads does not migrate it; migrate it with `gengyun "
               "migrate --db` (gengyun releases before this one then refuse it)"};
}

Error unknown_schema_error(const std::string& version) {
  return Error{"the database has schema version " + version + ", which no gengyun writes (1 to " +
               std::to_string(kStoreSchemaVersion) +
               "): it was edited or is damaged; restore it from a backup"};
}

Error ambiguous_key_name(std::string_view action, const std::string& name, size_t tenants) {
  return make_error("cannot " + std::string(action) + " API key '" + name +
                    "': " + std::to_string(tenants) +
                    " tenants have an active key of that name; give its --tenant or its --id");
}

Result<KeyInfo> key_to_revoke(const std::string& name, const std::vector<KeyInfo>& named,
                              const std::string& tenant) {
  const std::string where = tenant.empty() ? "" : " in tenant '" + tenant + "'";
  if (named.empty())
    return make_error("cannot revoke API key: no key is named '" + name + "'" + where);
  std::vector<const KeyInfo*> active;
  for (const KeyInfo& key : named)
    if (!key.revoked_at_us) active.push_back(&key);
  if (active.size() > 1) return ambiguous_key_name("revoke", name, active.size());
  if (active.size() == 1) return *active.front();
  return make_error("cannot revoke API key '" + name + "'" + where +
                    ": it is already revoked (id " + std::to_string(named.back().id) + ")");
}

Result<void> keeps_an_admin_key(const KeyInfo& key, const std::vector<int64_t>& admin_ids,
                                int64_t now_us) {
  const bool active_admin = key.role == Role::Admin && !key.revoked_at_us &&
                            (!key.expires_at_us || *key.expires_at_us > now_us);
  if (!active_admin) return {};
  if (std::any_of(admin_ids.begin(), admin_ids.end(), [&](int64_t id) { return id != key.id; }))
    return {};
  return make_error("cannot revoke API key '" + key.name + "' (id " + std::to_string(key.id) +
                    "): " + std::string(kLastAdminKey));
}

bool is_last_admin_key_error(const Error& error) {
  return std::string_view(error.message).ends_with(kLastAdminKey);
}

std::string describe_limits(const Limits& limits) {
  std::string text;
  if (limits.budget_micro_usd)
    text += "budget_usd=" + format_usd(*limits.budget_micro_usd) +
            " budget_period=" + std::string(period_name(limits.budget_period));
  if (limits.rpm) text += (text.empty() ? "" : " ") + ("rpm=" + std::to_string(*limits.rpm));
  if (limits.tpm) text += (text.empty() ? "" : " ") + ("tpm=" + std::to_string(*limits.tpm));
  return text;
}

std::string describe_new_limits(const Limits& limits) {
  const std::string text = describe_limits(limits);
  return text.empty() ? "no limits" : text;
}

std::string describe_key(const NewKey& key, const std::string& joined_models) {
  std::string detail = "tenant=" + key.tenant + " role=" + std::string(role_name(key.role));
  if (!joined_models.empty()) detail += " models=" + joined_models;
  if (key.expires_at_us) detail += " expires_at_us=" + std::to_string(*key.expires_at_us);
  if (std::string limits = describe_limits(key.limits); !limits.empty()) detail += " " + limits;
  return detail;
}

std::string describe_price(const Price& price) {
  return "input=" + format_usd(price.input) + " cached_input=" + format_usd(price.cached_input) +
         " output=" + format_usd(price.output) + " (USD per 1M tokens)";
}

std::string usage_groups_sql(UsageGroupBy group_by, char placeholder) {
  const std::string p(1, placeholder);
  std::string id, name, join, group, tenant = "0, ''";
  switch (group_by) {
    case UsageGroupBy::Key:
      id = "u.key_id";
      name = "k.name";
      tenant = "k.tenant_id, t.name";
      join = " JOIN api_keys AS k ON k.id = u.key_id JOIN tenants AS t ON t.id = k.tenant_id";
      group = "u.key_id, k.name, k.tenant_id, t.name";
      break;
    case UsageGroupBy::Model:
      id = "0";
      name = "u.model";
      group = "u.model";
      break;
    case UsageGroupBy::Day:
      id = "u.started_at_us / 86400000000";
      name = "''";
      group = id;
      break;
    case UsageGroupBy::Tenant:
      id = "u.tenant_id";
      name = "t.name";
      join = " JOIN tenants AS t ON t.id = u.tenant_id";
      group = "u.tenant_id, t.name";
      break;
    case UsageGroupBy::User:
      id = "0";
      name = "u.end_user";
      tenant = "u.tenant_id, t.name";
      join = " JOIN tenants AS t ON t.id = u.tenant_id";
      group = "u.tenant_id, t.name, u.end_user";
      break;
  }
  return "SELECT " + id + ", " + name +
         ", count(*), coalesce(sum(u.prompt_tokens), 0), coalesce(sum(u.cached_prompt_tokens), 0),"
         " coalesce(sum(u.completion_tokens), 0), coalesce(sum(u.cost_micro_usd), 0), " +
         tenant + " FROM usage_ledger AS u" +
         join + " WHERE u.started_at_us >= " + p + "1 AND u.started_at_us < " + p + "2 AND (" + p +
         "3 IS NULL OR u.key_id = " + p + "3) AND (" + p + "4 IS NULL OR u.tenant_id = " + p +
         "4)" + (group_by == UsageGroupBy::Model ? " AND u.model <> ''" : "") + " GROUP BY " +
         group;
}

void finish_groups(UsageGroupBy group_by, std::vector<UsageGroup>& groups) {
  if (group_by == UsageGroupBy::Day)
    for (UsageGroup& group : groups) group.name = day_name(group.id);
  std::sort(groups.begin(), groups.end(), [](const UsageGroup& a, const UsageGroup& b) {
    return std::tie(a.tenant_name, a.name, a.id) < std::tie(b.tenant_name, b.name, b.id);
  });
}

std::string day_name(int64_t day) {
  using namespace std::chrono;
  const year_month_day ymd{sys_days{days{day}}};
  char text[16];
  std::snprintf(text, sizeof text, "%04d-%02u-%02u", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
  return text;
}

Result<Reservation> reserve(const AdmissionRequest& request, const Price& price) {
  auto cost = cost_micro_usd({request.prompt_tokens, 0, request.max_completion_tokens}, price);
  if (!cost) return cost.error();
  return Reservation{*cost, request.prompt_tokens + request.max_completion_tokens};
}

namespace {

struct WindowSums {
  int64_t requests = 0;
  int64_t tokens = 0;
};

WindowSums sum_window(const std::vector<RateBucket>& window) {
  WindowSums sums;
  for (const RateBucket& bucket : window) {
    sums.requests += bucket.requests;
    sums.tokens += bucket.tokens;
  }
  return sums;
}

/// The second from which `scope`'s window, losing its oldest buckets as time passes, has room
/// for one more request of `tokens`: one after the newest bucket that must leave, or
/// rate_second(now_us) when nothing must. The limits must admit the request in an empty window.
int64_t second_with_room(const ScopeUsage& scope, int64_t tokens, int64_t now_us) {
  std::vector<RateBucket> window = scope.window;
  std::sort(window.begin(), window.end(),
            [](const RateBucket& a, const RateBucket& b) { return a.second < b.second; });
  WindowSums left = sum_window(window);
  const auto fits = [&] {
    return (!scope.limits.rpm || left.requests + 1 <= *scope.limits.rpm) &&
           (!scope.limits.tpm || left.tokens + tokens <= *scope.limits.tpm);
  };
  int64_t from = rate_second(now_us);
  for (const RateBucket& bucket : window) {
    if (fits()) break;
    left.requests -= bucket.requests;
    left.tokens -= bucket.tokens;
    from = bucket.second + kRateWindowBuckets;  // the first second whose window lacks it
  }
  return from;
}

}  // namespace

Admission decide_admission(const AdmissionRequest& request, const Price& price,
                           const Reservation& reservation, const ScopeUsage (&scopes)[2]) {
  Admission admission;
  admission.price = price;
  admission.reserved_micro_usd = reservation.micro_usd;
  // What the worst case counts: an embeddings request generates nothing.
  const std::string worst_case = request.max_completion_tokens > 0
                                     ? "its prompt plus the tokens it may generate"
                                     : "its input tokens";
  for (const ScopeUsage& scope : scopes) {
    const auto& budget = scope.limits.budget_micro_usd;
    if (!budget || scope.spent_micro_usd + reservation.micro_usd <= *budget) continue;
    admission.outcome = Admission::Outcome::OverBudget;
    admission.message =
        "You exceeded your current quota: " + scope.label + " has used $" +
        format_usd(scope.spent_micro_usd) + " of its $" + format_usd(*budget) + " " +
        std::string(period_name(scope.limits.budget_period)) +
        " budget, and this request may cost up to $" + format_usd(reservation.micro_usd) +
        " (" + worst_case + " at the prices of model '" + request.model + "').";
    return admission;
  }
  const WindowSums sums[] = {sum_window(scopes[0].window), sum_window(scopes[1].window)};
  // The headers of an admitted request count it; those of a refused one count what the
  // window holds without it (it takes nothing).
  RateStatus without;
  for (int i = 0; i < 2; ++i) {
    const Limits& limits = scopes[i].limits;
    tighten(admission.rate.limit_requests, admission.rate.remaining_requests, limits.rpm,
            sums[i].requests + 1);
    tighten(admission.rate.limit_tokens, admission.rate.remaining_tokens, limits.tpm,
            sums[i].tokens + reservation.tokens);
    tighten(without.limit_requests, without.remaining_requests, limits.rpm, sums[i].requests);
    tighten(without.limit_tokens, without.remaining_tokens, limits.tpm, sums[i].tokens);
  }
  // The refusal shown is that of a scope no window can pass (waiting does not help), else
  // that of the first scope over a limit.
  std::string refusal;
  bool over_tokens = false;
  bool never = false;
  for (int i = 0; i < 2 && !never; ++i) {
    const ScopeUsage& scope = scopes[i];
    const auto& rpm = scope.limits.rpm;
    const auto& tpm = scope.limits.tpm;
    const bool never_requests = rpm && *rpm == 0;
    const bool never_tokens = tpm && reservation.tokens > *tpm;
    const bool over_requests = rpm && sums[i].requests + 1 > *rpm;
    const bool over_tpm = tpm && sums[i].tokens + reservation.tokens > *tpm;
    if (never_requests || never_tokens) {
      never = true;
    } else if (!refusal.empty() || !(over_requests || over_tpm)) {
      continue;
    }
    over_tokens = !never_requests && (never_tokens || !over_requests);
    if (!over_tokens)
      refusal = "Rate limit reached for " + scope.label + ": " + std::to_string(*rpm) +
                " requests per minute." +
                (never ? " No request can pass it; ask for the limit to be raised." : "");
    else
      refusal = "Rate limit reached for " + scope.label + ": " + std::to_string(*tpm) +
                " tokens per minute; " + std::to_string(sums[i].tokens) +
                " used in the last minute, and this request needs up to " +
                std::to_string(reservation.tokens) + " (" + worst_case + ")." +
                (never ? request.max_completion_tokens > 0
                             ? " It can never pass: lower max_tokens or shorten the prompt."
                             : " It can never pass: send fewer or shorter inputs."
                       : "");
  }
  if (refusal.empty()) return admission;
  admission.outcome = Admission::Outcome::OverRate;
  admission.over_tokens = over_tokens;
  admission.message = refusal;
  admission.rate = without;
  if (!never) {
    int64_t from = 0;
    for (const ScopeUsage& scope : scopes)
      from = std::max(from, second_with_room(scope, reservation.tokens, request.started_at_us));
    const int64_t wait_us = from * kRateBucketUs - request.started_at_us;
    admission.retry_after_s =
        static_cast<int>(std::max<int64_t>((wait_us + kRateBucketUs - 1) / kRateBucketUs, 1));
  }
  return admission;
}

}  // namespace gengyun::platform
