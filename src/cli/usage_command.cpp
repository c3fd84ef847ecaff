// `gengyun usage --db PATH [--json]`: tokens, requests and cost per key and model.
#include <cstdio>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "platform/money.h"
#include "platform/store.h"

namespace gengyun::cli {
namespace {

int usage(const std::string& db, bool json) {
  auto store = platform::Store::open(db, /*must_exist=*/true);
  if (!store.ok()) {
    std::fprintf(stderr, "error: %s\n", store.error().message.c_str());
    return 1;
  }
  auto rows = store.value()->usage_summary();
  if (!rows.ok()) {
    std::fprintf(stderr, "error: %s\n", rows.error().message.c_str());
    return 1;
  }
  if (json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& r : rows.value())
      out.push_back({{"key_name", r.key_name},
                     {"key_id", r.key_id},
                     {"model", r.model},
                     {"requests", r.requests},
                     {"prompt_tokens", r.prompt_tokens},
                     {"completion_tokens", r.completion_tokens},
                     {"cost_micro_usd", r.cost_micro_usd}});
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  std::printf("%-24s %-28s %10s %14s %18s %14s\n", "KEY", "MODEL", "REQUESTS", "PROMPT_TOKENS",
              "COMPLETION_TOKENS", "COST_USD");
  for (const auto& r : rows.value())
    std::printf("%-24s %-28s %10lld %14lld %18lld %14s\n", r.key_name.c_str(), r.model.c_str(),
                static_cast<long long>(r.requests), static_cast<long long>(r.prompt_tokens),
                static_cast<long long>(r.completion_tokens),
                platform::format_usd(r.cost_micro_usd).c_str());
  return 0;
}

}  // namespace

void add_usage_command(CLI::App& app, int& exit_code) {
  auto db = std::make_shared<std::string>("gengyun.db");
  auto json = std::make_shared<bool>(false);
  auto* cmd = app.add_subcommand("usage", "tokens and requests per key and model");
  cmd->add_option("--db", *db, "SQLite file or postgres:// URL")->capture_default_str();
  cmd->add_flag("--json", *json, "print JSON");
  cmd->callback([db, json, &exit_code] { exit_code = usage(*db, *json); });
}

}  // namespace gengyun::cli
