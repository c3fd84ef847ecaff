// GET /v1/usage: usage sums per key, model, UTC day or tenant, scoped by the caller's role.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "api/errors.h"
#include "api/responder.h"
#include "platform/store.h"

namespace gengyun::api {

/// The longest range one usage report may cover.
inline constexpr int64_t kMaxUsageRangeDays = 366;

/// A validated usage request.
struct UsageParams {
  int64_t start_us = 0;
  int64_t end_us = 0;
  platform::UsageGroupBy group_by = platform::UsageGroupBy::Key;
  bool csv = false;
};

/// The parameters of a request-target's query ("start=2024-02-01&group_by=model"): start and
/// end as a UTC date YYYY-MM-DD (its midnight) or Unix seconds, end exclusive, by default the
/// 30 days up to `now_us`; group_by key (default), model, day, tenant or user (the requests'
/// end users, per tenant); format json (default)
/// or csv. Errors (400, `param` naming the field): a malformed or impossible date, end not
/// after start, a range over kMaxUsageRangeDays, an unknown group_by or format, an unknown or
/// repeated parameter, malformed percent-encoding.
ApiResult<UsageParams> parse_usage_params(std::string_view target, int64_t now_us);

/// The parameters of parse_usage_params() from decoded `values` by name (start, end,
/// group_by, format; others are not looked at), with its defaults and errors: the one reading
/// of these parameters for the HTTP API and `gengyun usage`.
ApiResult<UsageParams> usage_params(const std::map<std::string, std::string>& values,
                                    int64_t now_us);

/// Serves GET /v1/usage: authenticates (401), parses the query (400) and answers the sums
/// the caller may see (a member: its own key; an owner: its tenant; an admin: everything) as
/// JSON {"object": "list", "start", "end" (Unix seconds), "group_by", "data": [{group fields,
/// "requests", "prompt_tokens", "cached_prompt_tokens", "completion_tokens",
/// "cost_micro_usd"}]} or as CSV with the same columns. Group fields: key_id, key_name and the
/// key's tenant_id and tenant_name; model; day ("YYYY-MM-DD"); tenant_id and tenant_name; or
/// user (the OpenAI `user` the requests named, "" for none) and its tenant_id and tenant_name.
/// 500 when the store fails. Blocks
/// (the store): run it on a handler thread.
void handle_usage(platform::Store& store, const HttpRequest& request, Responder& out);

/// The body handle_usage() answers for `groups` (a report for `params`): CSV when params.csv,
/// else the JSON text.
std::string usage_report(const UsageParams& params, const std::vector<platform::UsageGroup>& groups);

}  // namespace gengyun::api
