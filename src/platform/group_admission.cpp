#include "platform/group_admission.h"

#include <algorithm>
#include <limits>
#include <map>
#include <tuple>
#include <utility>

namespace gengyun::platform {
namespace {

/// A scope and its id (a key's or a tenant's).
using ScopeId = std::pair<Scope, int64_t>;

/// What the batch knows of one scope: read once, then kept up to date with its admissions.
struct ScopeState {
  std::optional<int64_t> period_start_us;  ///< of `spent_micro_usd`; unset before it is read
  int64_t spent_micro_usd = 0;
  bool window_read = false;
  std::map<int64_t, RateBucket> buckets;  ///< by second, from the batch's first window second
};

}  // namespace

const char* scope_name(Scope scope) { return scope == Scope::Key ? "key" : "tenant"; }

const char* scope_column(Scope scope) { return scope == Scope::Key ? "key_id" : "tenant_id"; }

Result<std::vector<Result<Admission>>> admit_in_order(
    AdmissionSource& source, const std::vector<AdmissionRequest>& requests) {
  std::map<int64_t, std::optional<KeyInfo>> keys;
  for (const AdmissionRequest& request : requests) {
    if (keys.count(request.key_id)) continue;
    auto key = source.key(request.key_id);
    if (!key) return key.error();
    keys.emplace(request.key_id, std::move(*key));
  }
  // std::map iterates in increasing id order: the order tenants are locked in.
  std::map<int64_t, std::optional<TenantInfo>> tenants;
  for (const auto& [id, key] : keys)
    if (key) tenants.emplace(key->tenant_id, std::nullopt);
  for (auto& [id, tenant] : tenants) {
    auto read = source.tenant(id);
    if (!read) return read.error();
    tenant = std::move(*read);
  }
  std::map<std::string, std::optional<Price>> prices;
  const auto price_of = [&](const std::string& model) -> Result<std::optional<Price>> {
    if (auto known = prices.find(model); known != prices.end()) return known->second;
    auto read = source.price(model);
    if (!read) return read.error();
    prices.emplace(model, *read);
    return *read;
  };
  // Each scope's window is read once, from the oldest second any request of the batch counts.
  int64_t first_second = std::numeric_limits<int64_t>::max();
  for (const AdmissionRequest& request : requests)
    first_second = std::min(first_second, rate_window_first_second(request.started_at_us));

  std::map<ScopeId, ScopeState> states;
  std::map<std::tuple<Scope, int64_t, int64_t>, RateBucket> counted;  // to write at the end
  std::vector<Result<Admission>> results;
  results.reserve(requests.size());
  const auto refuse = [&](std::string message) {
    results.emplace_back(make_error(std::move(message)));
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
    const std::optional<KeyInfo>& key = keys.at(request.key_id);
    if (!key) {
      refuse(what + ": no API key has id " + std::to_string(request.key_id));
      continue;
    }
    const std::optional<TenantInfo>& tenant = tenants.at(key->tenant_id);
    if (!tenant) {
      refuse(what + ": no tenant has id " + std::to_string(key->tenant_id));
      continue;
    }
    auto price = price_of(request.model);
    if (price && !price->has_value() && !request.price_fallback.empty())
      price = price_of(request.price_fallback);
    if (!price) return price.error();
    const Price applied = price->value_or(Price{});
    auto reservation = reserve(request, applied);
    if (!reservation) {
      refuse(what + ": " + reservation.error().message);
      continue;
    }

    const ScopeId ids[] = {{Scope::Key, key->id}, {Scope::Tenant, tenant->id}};
    ScopeUsage scopes[] = {{"key '" + key->name + "'", key->limits},
                           {"tenant '" + tenant->name + "'", tenant->limits}};
    for (int i = 0; i < 2; ++i) {
      ScopeState& state = states[ids[i]];
      const Limits& limits = scopes[i].limits;
      if (limits.budget_micro_usd) {
        const int64_t since = period_start_us(limits.budget_period, request.started_at_us);
        if (state.period_start_us != since) {
          // The rows this batch inserted are in the transaction: they are counted.
          auto spent = source.spent_since(ids[i].first, ids[i].second, since);
          if (!spent) return spent.error();
          state.period_start_us = since;
          state.spent_micro_usd = *spent;
        }
        scopes[i].spent_micro_usd = state.spent_micro_usd;
      }
      if (!state.window_read) {
        auto window = source.window(ids[i].first, ids[i].second, first_second);
        if (!window) return window.error();
        for (const RateBucket& bucket : *window) state.buckets[bucket.second] = bucket;
        state.window_read = true;
      }
      const int64_t from = rate_window_first_second(request.started_at_us);
      for (auto it = state.buckets.lower_bound(from); it != state.buckets.end(); ++it)
        scopes[i].window.push_back(it->second);
    }
    Admission admission = decide_admission(request, applied, *reservation, scopes);
    if (admission.outcome == Admission::Outcome::Admitted) {
      auto inserted = source.insert_open_row(request, *key, admission, reservation->tokens);
      if (!inserted) return inserted.error();
      if (!*inserted) {
        refuse(what + ": request id '" + request.request_id + "' is already in the ledger");
        continue;
      }
      const int64_t second = rate_second(request.started_at_us);
      for (const ScopeId& id : ids) {
        ScopeState& state = states[id];
        // Its period is the one read for it, and the request started in it.
        state.spent_micro_usd += reservation->micro_usd;
        for (RateBucket* bucket :
             {&state.buckets[second], &counted[{id.first, id.second, second}]}) {
          bucket->second = second;
          bucket->requests += 1;
          bucket->tokens += reservation->tokens;
        }
      }
    }
    results.push_back(std::move(admission));
  }
  for (const auto& [where, bucket] : counted) {
    const auto& [scope, id, second] = where;
    if (auto added = source.count_in_bucket(scope, id, second, bucket.requests, bucket.tokens);
        !added)
      return added.error();
  }
  return results;
}

}  // namespace gengyun::platform
