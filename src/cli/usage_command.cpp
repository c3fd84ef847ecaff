// `gengyun usage --db PATH [--json]`: tokens, requests and cost per key and model over the
// whole ledger, a table (--json: a JSON array of those rows); with --start, --end, --group-by or
// --format: the report of GET /v1/usage with the same parameters (every key: the command has the
// database, an admin's view), a table, or with --format json|csv the API's JSON or CSV.
#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <tuple>
#include <vector>

#include "api/usage_handler.h"
#include "cli/admin_flags.h"
#include "cli/commands.h"
#include "platform/money.h"
#include "platform/store.h"
#include "tokenizer/utf8.h"

namespace gengyun::cli {
namespace {

/// A client-sent name as the table shows it: its control characters escaped (they could drive
/// the terminal or break the table: tokenizer::escape_control_characters), cut after 64 bytes
/// (at a character's start) with "...".
std::string terminal_text(std::string_view text) {
  static constexpr size_t kMaxBytes = 64;
  const size_t cut = tokenizer::utf8_prefix_length(text, kMaxBytes);
  return tokenizer::escape_control_characters(text.substr(0, cut)) +
         (cut < text.size() ? "..." : "");
}

/// `text` followed by spaces up to `width` terminal columns (tokenizer::display_width: "café"
/// takes 4, "模型" 4); as it is when wider.
std::string padded(const std::string& text, size_t width) {
  const size_t columns = tokenizer::display_width(text);
  return text + std::string(width > columns ? width - columns : 0, ' ');
}

/// `rows` as a table: the header `columns`, each column as wide as its widest cell in terminal
/// columns; the columns from `first_number` on (counts and amounts) aligned right.
void print_table(const std::vector<std::string>& columns,
                 const std::vector<std::vector<std::string>>& rows, size_t first_number) {
  std::vector<size_t> widths;
  for (const std::string& column : columns) widths.push_back(column.size());
  for (const auto& row : rows)
    for (size_t i = 0; i < row.size(); ++i)
      widths[i] = std::max(widths[i], tokenizer::display_width(row[i]));
  const auto print_row = [&](const std::vector<std::string>& cells) {
    std::string line;
    for (size_t i = 0; i < cells.size(); ++i) {
      const std::string cell = padded(cells[i], widths[i]);
      line +=
          (i == 0 ? "" : " ") + (i < first_number ? cell : cell.substr(cells[i].size()) + cells[i]);
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    std::printf("%s\n", line.c_str());
  };
  print_row(columns);
  for (const auto& row : rows) print_row(row);
}

/// The report as a table for a person: the group's columns (--group-by key: TENANT, KEY,
/// KEY_ID; model: MODEL; day: DAY; tenant: TENANT, TENANT_ID; user: TENANT, USER), then
/// REQUESTS, PROMPT_TOKENS, CACHED_PROMPT_TOKENS, COMPLETION_TOKENS and COST_USD.
void print_report_table(platform::UsageGroupBy group_by,
                        const std::vector<platform::UsageGroup>& groups) {
  using By = platform::UsageGroupBy;
  std::vector<std::string> columns;
  switch (group_by) {
    case By::Key:
      columns = {"TENANT", "KEY", "KEY_ID"};
      break;
    case By::Model:
      columns = {"MODEL"};
      break;
    case By::Day:
      columns = {"DAY"};
      break;
    case By::Tenant:
      columns = {"TENANT", "TENANT_ID"};
      break;
    case By::User:
      columns = {"TENANT", "USER"};
      break;
  }
  const size_t first_number =
      group_by == By::Key || group_by == By::Tenant ? columns.size() - 1 : columns.size();
  for (const char* column :
       {"REQUESTS", "PROMPT_TOKENS", "CACHED_PROMPT_TOKENS", "COMPLETION_TOKENS", "COST_USD"})
    columns.emplace_back(column);
  std::vector<std::vector<std::string>> rows;
  for (const platform::UsageGroup& g : groups) {
    std::vector<std::string> row;
    switch (group_by) {
      case By::Key:
        row = {g.tenant_name, g.name, std::to_string(g.id)};
        break;
      case By::Model:
      case By::Day:
        row = {terminal_text(g.name)};
        break;
      case By::Tenant:
        row = {g.name, std::to_string(g.id)};
        break;
      case By::User:
        row = {g.tenant_name, terminal_text(g.name)};
        break;
    }
    for (int64_t n : {g.requests, g.prompt_tokens, g.cached_prompt_tokens, g.completion_tokens})
      row.push_back(std::to_string(n));
    row.push_back(platform::format_usd(g.cost_micro_usd));
    rows.push_back(std::move(row));
  }
  print_table(columns, rows, first_number);
}

/// The report of GET /v1/usage for `values` (start, end, group_by, format) of every key: a table
/// without `format`, else the API's JSON or CSV.
int usage_report(platform::Store& store, const std::map<std::string, std::string>& values) {
  auto params = api::usage_params(values, store.now_us());
  if (!params.ok()) {
    std::fprintf(stderr, "error: %s\n", params.error().message.c_str());
    return 1;
  }
  auto groups = store.usage_groups({params->start_us, params->end_us, params->group_by});
  if (!groups.ok()) {
    std::fprintf(stderr, "error: %s\n", groups.error().message.c_str());
    return 1;
  }
  if (!values.contains("format")) {
    print_report_table(params->group_by, *groups);
    return 0;
  }
  // (client-sent model names: their invisible and reordering characters as JSON escapes)
  const std::string report =
      params->csv ? api::usage_report(*params, *groups)
                  : tokenizer::escape_invisible_in_json(api::usage_report(*params, *groups));
  std::fwrite(report.data(), 1, report.size(), stdout);
  if (!params->csv) std::printf("\n");
  return 0;
}

int usage(const std::string& db, bool json, const std::map<std::string, std::string>& values) {
  auto store = platform::Store::open(db, platform::OpenMode::Read);
  if (!store.ok()) {
    std::fprintf(stderr, "error: %s\n", store.error().message.c_str());
    return 1;
  }
  if (!values.empty()) {
    if (json) {
      std::fprintf(stderr, "error: --json is the summary's; a report takes --format json|csv\n");
      return 1;
    }
    return usage_report(**store, values);
  }
  auto rows = store.value()->usage_summary();
  if (!rows.ok()) {
    std::fprintf(stderr, "error: %s\n", rows.error().message.c_str());
    return 1;
  }
  if (json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& r : rows.value())
      out.push_back({{"tenant_id", r.tenant_id},
                     {"tenant_name", r.tenant_name},
                     {"key_name", r.key_name},
                     {"key_id", r.key_id},
                     {"model", r.model},
                     {"requests", r.requests},
                     {"prompt_tokens", r.prompt_tokens},
                     {"cached_prompt_tokens", r.cached_prompt_tokens},
                     {"completion_tokens", r.completion_tokens},
                     {"cost_micro_usd", r.cost_micro_usd}});
    std::printf("%s\n", tokenizer::escape_invisible_in_json(out.dump(2)).c_str());
    return 0;
  }
  // Name columns as wide as their longest value, in terminal columns (a model named "模型"
  // takes 4, not its 6 bytes), so that long names keep the table aligned; the key's id tells
  // apart keys of one name in one tenant (a revoked one and its successor). A model name is the
  // client's (an unknown model is recorded as requested): shown with its control bytes escaped
  // and cut, so that it cannot drive the terminal or break the table.
  size_t tenant_width = 16, key_width = 24, model_width = 28;
  std::vector<std::string> models;
  for (const auto& r : rows.value()) {
    models.push_back(terminal_text(r.model));
    tenant_width = std::max(tenant_width, tokenizer::display_width(r.tenant_name));
    key_width = std::max(key_width, tokenizer::display_width(r.key_name));
    model_width = std::max(model_width, tokenizer::display_width(models.back()));
  }
  // The cached prompt tokens are billed at their own price: without them COST_USD cannot be
  // checked from the table (QA).
  std::printf("%s %s %8s %s %10s %14s %21s %18s %14s\n", padded("TENANT", tenant_width).c_str(),
              padded("KEY", key_width).c_str(), "KEY_ID", padded("MODEL", model_width).c_str(),
              "REQUESTS", "PROMPT_TOKENS", "CACHED_PROMPT_TOKENS", "COMPLETION_TOKENS", "COST_USD");
  for (size_t i = 0; i < rows->size(); ++i) {
    const auto& r = rows.value()[i];
    std::printf("%s %s %8lld %s %10lld %14lld %21lld %18lld %14s\n",
                padded(r.tenant_name, tenant_width).c_str(), padded(r.key_name, key_width).c_str(),
                static_cast<long long>(r.key_id), padded(models[i], model_width).c_str(),
                static_cast<long long>(r.requests), static_cast<long long>(r.prompt_tokens),
                static_cast<long long>(r.cached_prompt_tokens),
                static_cast<long long>(r.completion_tokens),
                platform::format_usd(r.cost_micro_usd).c_str());
  }
  return 0;
}

}  // namespace

void add_usage_command(CLI::App& app, int& exit_code) {
  auto db = std::make_shared<std::string>("gengyun.db");
  auto json = std::make_shared<bool>(false);
  auto values = std::make_shared<std::map<std::string, std::string>>();
  auto* cmd = app.add_subcommand(
      "usage",
      "tokens, requests and cost: with no report flag, the whole ledger per key and model, a "
      "table (--json: a JSON array of its rows); with --start, --end, --group-by or --format, "
      "the report of GET /v1/usage, a table (--format json: GET /v1/usage's JSON object, "
      "--format csv: its CSV)");
  cmd->add_option("--db", *db, kDbMustExistHelp)->capture_default_str();
  cmd->add_flag("--json", *json,
                "the whole-ledger summary as a JSON array, one object per tenant, key and model "
                "(a report takes --format json instead)");
  // The values GET /v1/usage takes (api::usage_params); a value outside the lists is a command
  // line that cannot be parsed (exit 2).
  const std::vector<std::string> any;
  for (const auto& [flag, name, help, allowed] :
       {std::tuple{"--start", "start", "report from YYYY-MM-DD (UTC) or Unix seconds", any},
        std::tuple{"--end", "end", "report up to (exclusive) YYYY-MM-DD or Unix seconds", any},
        std::tuple{"--group-by", "group_by", "report grouped by key, model, day, tenant or user",
                   std::vector<std::string>{"key", "model", "day", "tenant", "user"}},
        std::tuple{"--format", "format",
                   "report as json (GET /v1/usage's object) or csv (default: a table)",
                   std::vector<std::string>{"json", "csv"}}}) {
    auto* option = cmd->add_option_function<std::string>(
        flag, [values, name = std::string(name)](const std::string& v) { (*values)[name] = v; },
        help);
    if (!allowed.empty()) option->check(CLI::IsMember(allowed));
  }
  cmd->callback([db, json, values, &exit_code] { exit_code = usage(*db, *json, *values); });
}

}  // namespace gengyun::cli
