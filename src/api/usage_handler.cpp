#include "api/usage_handler.h"

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "api/auth.h"
#include "api/http_reply.h"
#include "api/query_parameters.h"
#include "api/store_errors.h"
#include "tokenizer/utf8.h"

namespace gengyun::api {
namespace {

constexpr int64_t kDayUs = 86'400'000'000;

/// A time parameter: "YYYY-MM-DD" (UTC midnight) or Unix seconds, in microseconds.
std::optional<int64_t> parse_time(const std::string& text) {
  const auto digits = [&](size_t from, size_t count, int& value) {
    value = 0;
    for (size_t i = from; i < from + count; ++i) {
      if (text[i] < '0' || text[i] > '9') return false;
      value = value * 10 + (text[i] - '0');
    }
    return true;
  };
  if (text.size() == 10 && text[4] == '-' && text[7] == '-') {
    int y = 0, m = 0, d = 0;
    if (!digits(0, 4, y) || !digits(5, 2, m) || !digits(8, 2, d)) return std::nullopt;
    using namespace std::chrono;
    const year_month_day ymd{year{y}, month{static_cast<unsigned>(m)},
                             day{static_cast<unsigned>(d)}};
    if (!ymd.ok()) return std::nullopt;
    return sys_days(ymd).time_since_epoch().count() * kDayUs;
  }
  if (text.empty() || text.size() > 11) return std::nullopt;
  int64_t seconds = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    seconds = seconds * 10 + (c - '0');
  }
  return seconds * 1'000'000;
}

/// `text` as one CSV field (RFC 4180 quoting); a text that a spreadsheet would read as a
/// formula (starting with '=', '+', '-', '@', tab or CR) gets a leading "'" (OWASP's advice on
/// CSV injection), so a model name sent by a client can never run in the reader's spreadsheet,
/// and control characters are written \xNN (tokenizer::escape_control_characters), so that it
/// cannot drive the terminal of someone reading the file (QA 2026-12-07).
std::string csv_field(const std::string& text) {
  std::string field = tokenizer::escape_control_characters(text);
  if (!field.empty() && std::string_view("=+-@\t\r").find(field[0]) != std::string_view::npos)
    field = "'" + field;
  if (field.find_first_of(",\"\r\n") == std::string::npos) return field;
  std::string quoted = "\"";
  for (char c : field) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

const char* group_by_name(platform::UsageGroupBy by) {
  switch (by) {
    case platform::UsageGroupBy::Key:
      return "key";
    case platform::UsageGroupBy::Model:
      return "model";
    case platform::UsageGroupBy::Day:
      return "day";
    case platform::UsageGroupBy::Tenant:
      return "tenant";
    case platform::UsageGroupBy::User:
      return "user";
  }
  return "key";
}

/// The group's identifying fields, in column order.
std::vector<std::pair<std::string, nlohmann::json>> group_fields(platform::UsageGroupBy by,
                                                                 const platform::UsageGroup& g) {
  switch (by) {
    case platform::UsageGroupBy::Key:
      return {{"key_id", g.id},
              {"key_name", g.name},
              {"tenant_id", g.tenant_id},
              {"tenant_name", g.tenant_name}};
    case platform::UsageGroupBy::Model:
      return {{"model", g.name}};
    case platform::UsageGroupBy::Day:
      return {{"day", g.name}};
    case platform::UsageGroupBy::Tenant:
      return {{"tenant_id", g.id}, {"tenant_name", g.name}};
    case platform::UsageGroupBy::User:
      return {{"user", g.name}, {"tenant_id", g.tenant_id}, {"tenant_name", g.tenant_name}};
  }
  return {};
}

}  // namespace

ApiResult<UsageParams> parse_usage_params(std::string_view target, int64_t now_us) {
  auto values = query_parameters(target, {"start", "end", "group_by", "format"});
  if (!values.ok()) return values.error();
  return usage_params(*values, now_us);
}

ApiResult<UsageParams> usage_params(const std::map<std::string, std::string>& values,
                                    int64_t now_us) {
  UsageParams params;
  params.end_us = now_us;
  for (const char* name : {"start", "end"}) {
    auto it = values.find(name);
    if (it == values.end()) continue;
    auto time = parse_time(it->second);
    if (!time)
      return invalid_request(std::string(name) + " '" + it->second +
                                 "' is not a date YYYY-MM-DD (UTC) or Unix seconds",
                             name);
    (std::string_view(name) == "start" ? params.start_us : params.end_us) = *time;
  }
  if (!values.count("start")) params.start_us = params.end_us - 30 * kDayUs;
  if (params.end_us <= params.start_us) return invalid_request("end must be after start", "end");
  if (params.end_us - params.start_us > kMaxUsageRangeDays * kDayUs)
    return invalid_request("the range from start to end is longer than " +
                               std::to_string(kMaxUsageRangeDays) + " days; ask for less at once",
                           "end");
  if (auto it = values.find("group_by"); it != values.end()) {
    const std::pair<const char*, platform::UsageGroupBy> names[] = {
        {"key", platform::UsageGroupBy::Key},
        {"model", platform::UsageGroupBy::Model},
        {"day", platform::UsageGroupBy::Day},
        {"tenant", platform::UsageGroupBy::Tenant},
        {"user", platform::UsageGroupBy::User}};
    bool known = false;
    for (const auto& [text, by] : names)
      if (it->second == text) params.group_by = by, known = true;
    if (!known)
      return invalid_request(
          "group_by '" + it->second + "' is not one of key, model, day, tenant, user", "group_by");
  }
  if (auto it = values.find("format"); it != values.end()) {
    if (it->second != "json" && it->second != "csv")
      return invalid_request("format '" + it->second + "' is not one of json, csv", "format");
    params.csv = it->second == "csv";
  }
  return params;
}

void handle_usage(platform::Store& store, const HttpRequest& request, Responder& out) {
  auto key = authenticate(store, request.header("Authorization"));
  if (!key.ok()) {
    send_error(out, key.error());
    return;
  }
  auto params = parse_usage_params(request.target, store.now_us());
  if (!params.ok()) {
    send_error(out, params.error());
    return;
  }
  platform::UsageQuery query{params->start_us, params->end_us, params->group_by};
  if (key->role == platform::Role::Member) query.key_id = key->id;
  if (key->role == platform::Role::Owner) query.tenant_id = key->tenant_id;
  auto groups = store.usage_groups(query);
  if (!groups.ok()) {
    send_error(out, store_failed("cannot report usage", groups.error()));
    return;
  }
  out.respond({200, params->csv ? "text/csv" : "application/json",
               usage_report(*params, groups.value()),
               {}});
}

std::string usage_report(const UsageParams& params,
                         const std::vector<platform::UsageGroup>& groups) {
  if (params.csv) {
    std::string body;
    for (const auto& [name, value] : group_fields(params.group_by, {})) body += name + ",";
    body += "requests,prompt_tokens,cached_prompt_tokens,completion_tokens,cost_micro_usd\n";
    for (const platform::UsageGroup& g : groups) {
      for (const auto& [name, value] : group_fields(params.group_by, g))
        body += (value.is_string() ? csv_field(value.get<std::string>()) : value.dump()) + ",";
      body += std::to_string(g.requests) + "," + std::to_string(g.prompt_tokens) + "," +
              std::to_string(g.cached_prompt_tokens) + "," + std::to_string(g.completion_tokens) +
              "," + std::to_string(g.cost_micro_usd) + "\n";
    }
    return body;
  }
  nlohmann::json data = nlohmann::json::array();
  for (const platform::UsageGroup& g : groups) {
    nlohmann::json item = nlohmann::json::object();
    for (auto& [name, value] : group_fields(params.group_by, g)) item[name] = value;
    item["requests"] = g.requests;
    item["prompt_tokens"] = g.prompt_tokens;
    item["cached_prompt_tokens"] = g.cached_prompt_tokens;
    item["completion_tokens"] = g.completion_tokens;
    item["cost_micro_usd"] = g.cost_micro_usd;
    data.push_back(std::move(item));
  }
  return dump_json({{"object", "list"},
                    {"start", params.start_us / 1'000'000},
                    {"end", params.end_us / 1'000'000},
                    {"group_by", group_by_name(params.group_by)},
                    {"data", std::move(data)}});
}

}  // namespace gengyun::api
