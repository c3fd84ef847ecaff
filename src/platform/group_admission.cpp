#include "platform/group_admission.h"

#include <algorithm>
#include <limits>
#include <tuple>
#include <utility>

namespace gengyun::platform {

const char* scope_name(Scope scope) { return scope == Scope::Key ? "key" : "tenant"; }

Result<std::vector<Result<Admission>>> admit_in_order(
    AdmissionSource& source, const std::vector<AdmissionRequest>& requests) {
  std::set<int64_t> key_ids;
  std::set<std::string> models, request_ids;
  // Each scope's window is read from the oldest second any request of the batch counts.
  int64_t first_second = requests.empty() ? 0 : std::numeric_limits<int64_t>::max();
  for (const AdmissionRequest& request : requests) {
    key_ids.insert(request.key_id);
    models.insert(request.model);
    if (!request.price_fallback.empty()) models.insert(request.price_fallback);
    if (!request.request_id.empty()) request_ids.insert(request.request_id);
    first_second = std::min(first_second, rate_window_first_second(request.started_at_us));
  }
  auto reads = source.read({{key_ids.begin(), key_ids.end()},
                            {models.begin(), models.end()},
                            {request_ids.begin(), request_ids.end()},
                            first_second});
  if (!reads) return reads.error();

  const auto scopes_of = [&](const AdmissionRequest& request)
      -> std::optional<std::pair<const KeyInfo*, const TenantInfo*>> {
    const auto key = reads->keys.find(request.key_id);
    if (key == reads->keys.end()) return std::nullopt;
    const auto tenant = reads->tenants.find(key->second.tenant_id);
    if (tenant == reads->tenants.end()) return std::nullopt;
    return std::pair{&key->second, &tenant->second};
  };
  // The spend of each scope's budget period each request falls in; the batch's own admissions
  // are added below as they are decided.
  std::set<SpendQuery> spend_queries;
  for (const AdmissionRequest& request : requests) {
    const auto scopes = scopes_of(request);
    if (!scopes) continue;
    const auto& [key, tenant] = *scopes;
    if (key->limits.budget_micro_usd)
      spend_queries.insert(
          {Scope::Key, key->id, period_start_us(key->limits.budget_period, request.started_at_us)});
    if (tenant->limits.budget_micro_usd)
      spend_queries.insert({Scope::Tenant, tenant->id,
                            period_start_us(tenant->limits.budget_period, request.started_at_us)});
  }
  std::map<SpendQuery, int64_t> spent;
  if (!spend_queries.empty()) {
    auto read = source.spent({spend_queries.begin(), spend_queries.end()});
    if (!read) return read.error();
    spent = std::move(*read);
  }

  std::map<ScopeId, std::map<int64_t, RateBucket>> buckets;  // by second, from first_second
  for (const auto& [scope, window] : reads->windows)
    for (const RateBucket& bucket : window) buckets[scope][bucket.second] = bucket;
  std::map<std::tuple<Scope, int64_t, int64_t>, RateBucket> counted;  // to write at the end
  std::set<std::string> admitted_ids;
  std::vector<OpenRowInsert> rows;
  std::vector<Result<Admission>> results;
  results.reserve(requests.size());
  const auto refuse = [&](std::string message) {
    results.emplace_back(make_error(std::move(message)));
  };
  const auto price_of = [&](const std::string& model) -> std::optional<Price> {
    const auto known = reads->prices.find(model);
    if (known == reads->prices.end()) return std::nullopt;
    return known->second;
  };
  for (const AdmissionRequest& request : requests) {
    const std::string what = "cannot admit request '" + request.request_id + "'";
    if (request.request_id.empty()) {
      refuse("cannot admit request: the request id is empty");
      continue;
    }
    if (request.prompt_tokens < 0 || request.max_completion_tokens < 0) {
      refuse(what + ": token counts must be >= 0");
      continue;
    }
    if (!reads->keys.count(request.key_id)) {
      refuse(what + ": no API key has id " + std::to_string(request.key_id));
      continue;
    }
    const auto scopes = scopes_of(request);
    if (!scopes) {
      refuse(what + ": no tenant has id " +
             std::to_string(reads->keys.at(request.key_id).tenant_id));
      continue;
    }
    const auto& [key, tenant] = *scopes;
    std::optional<Price> price = price_of(request.model);
    if (!price && !request.price_fallback.empty()) price = price_of(request.price_fallback);
    const Price applied = price.value_or(Price{});
    auto reservation = reserve(request, applied);
    if (!reservation) {
      refuse(what + ": " + reservation.error().message);
      continue;
    }

    const ScopeId ids[] = {{Scope::Key, key->id}, {Scope::Tenant, tenant->id}};
    ScopeUsage usage[] = {{"key '" + key->name + "'", key->limits},
                          {"tenant '" + tenant->name + "'", tenant->limits}};
    const int64_t from = rate_window_first_second(request.started_at_us);
    for (int i = 0; i < 2; ++i) {
      const Limits& limits = usage[i].limits;
      if (limits.budget_micro_usd)
        usage[i].spent_micro_usd =
            spent[{ids[i].first, ids[i].second,
                   period_start_us(limits.budget_period, request.started_at_us)}];
      const auto& window = buckets[ids[i]];
      for (auto it = window.lower_bound(from); it != window.end(); ++it)
        usage[i].window.push_back(it->second);
    }
    Admission admission = decide_admission(request, applied, *reservation, usage);
    if (admission.outcome == Admission::Outcome::Admitted) {
      admission.tenant_id = key->tenant_id;
      if (reads->recorded.count(request.request_id) ||
          !admitted_ids.insert(request.request_id).second) {
        refuse(what + ": request id '" + request.request_id + "' is already in the ledger");
        continue;
      }
      rows.push_back({&request, key->id, key->tenant_id, admission.price,
                      admission.reserved_micro_usd, reservation->tokens});
      const int64_t second = rate_second(request.started_at_us);
      for (const ScopeId& id : ids) {
        // Counted in the spend of every period of the scope that it started in.
        for (auto it =
                 spent.lower_bound({id.first, id.second, std::numeric_limits<int64_t>::min()});
             it != spent.end() && it->first.scope == id.first && it->first.id == id.second &&
             it->first.since_us <= request.started_at_us;
             ++it)
          it->second += reservation->micro_usd;
        for (RateBucket* bucket : {&buckets[id][second], &counted[{id.first, id.second, second}]}) {
          bucket->second = second;
          bucket->requests += 1;
          bucket->tokens += reservation->tokens;
        }
      }
    }
    results.push_back(std::move(admission));
  }
  std::vector<BucketCount> counts;
  for (const auto& [where, bucket] : counted) {
    const auto& [scope, id, second] = where;
    counts.push_back({scope, id, second, bucket.requests, bucket.tokens});
  }
  if (auto written = source.write(rows, counts); !written) return written.error();
  return results;
}

}  // namespace gengyun::platform
