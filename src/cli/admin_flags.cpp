#include "cli/admin_flags.h"

#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string_view>
#include <tuple>
#include <utility>

#include "platform/limits.h"
#include "platform/money.h"
#include "platform/store_rules.h"
#include "platform/store_schema.h"

namespace gengyun::cli {

void LimitFlags::add_to(CLI::App& cmd) {
  cmd.add_option("--budget-usd", budget_usd, "spend budget in USD per --budget-period");
  cmd.add_option("--budget-period", budget_period,
                 "day, month or total (default: total), the period of --budget-usd");
  cmd.add_option("--rpm", rpm, "requests per minute");
  cmd.add_option("--tpm", tpm, "tokens per minute (prompt + max_tokens at admission)");
}

Result<platform::Limits> LimitFlags::limits() const {
  platform::Limits limits;
  if (budget_period) {
    auto period = platform::parse_period(*budget_period);
    if (!period)
      return make_error("--budget-period '" + *budget_period + "' is not one of day, month, total");
    if (!budget_usd)
      return make_error("--budget-period needs --budget-usd (it is the budget's period)");
    limits.budget_period = *period;
  }
  if (budget_usd) {
    auto budget = platform::parse_usd(*budget_usd, "--budget-usd");
    if (!budget) return budget.error();
    limits.budget_micro_usd = *budget;
  }
  for (const auto& [flag, text, limit] : {std::tuple{"--rpm", &rpm, &limits.rpm},
                                           std::tuple{"--tpm", &tpm, &limits.tpm}}) {
    if (!*text) continue;
    auto value = parse_count(**text, flag);
    if (!value) return value.error();
    *limit = *value;
  }
  return limits;
}

void LimitChangeFlags::add_to(CLI::App& cmd) {
  cmd.add_option("--budget-usd", budget_usd, "spend budget in USD per period, or none");
  cmd.add_option("--budget-period", budget_period, "day, month or total");
  cmd.add_option("--rpm", rpm, "requests per minute, or none");
  cmd.add_option("--tpm", tpm, "tokens per minute, or none");
}

Result<std::string> LimitChangeFlags::patch_body() const {
  nlohmann::json body = nlohmann::json::object();
  if (budget_usd)
    body["budget_usd"] = *budget_usd == "none" ? nlohmann::json() : nlohmann::json(*budget_usd);
  if (budget_period) body["budget_period"] = *budget_period;
  for (const auto& [field, text] : {std::pair{"rpm", &rpm}, std::pair{"tpm", &tpm}}) {
    if (!*text) continue;
    nlohmann::json number = nlohmann::json::parse(**text, nullptr, false);
    body[field] = **text == "none"     ? nlohmann::json()
                  : number.is_number() ? number
                                       : nlohmann::json(**text);
  }
  if (body.empty())
    return make_error("nothing to change: give --budget-usd, --budget-period, --rpm or --tpm");
  return body.dump();
}

std::string LimitChangeFlags::with_flag_names(const std::string& message,
                                              const std::string& param) {
  static constexpr std::pair<std::string_view, std::string_view> kFlags[] = {
      {"budget_usd", "--budget-usd"},
      {"budget_period", "--budget-period"},
      {"rpm", "--rpm"},
      {"tpm", "--tpm"}};
  if (std::none_of(std::begin(kFlags), std::end(kFlags),
                   [&param](const auto& names) { return names.first == param; }))
    return message;
  // A field is a whole word: not part of a longer name, nor a flag already ("--rpm").
  const auto word_char = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
  };
  std::string named;
  bool quoted = false;
  for (size_t i = 0; i < message.size();) {
    if (message[i] == '\'') quoted = !quoted;
    bool replaced = false;
    for (const auto& [field, flag] : kFlags) {
      if (quoted) break;
      const size_t end = i + field.size();
      if (message.compare(i, field.size(), field) == 0 && (i == 0 || !word_char(message[i - 1])) &&
          (end == message.size() || !word_char(message[end]))) {
        named += flag;
        i = end;
        replaced = true;
        break;
      }
    }
    if (!replaced) named += message[i++];
  }
  return named;
}

Result<int64_t> parse_count(const std::string& text, const std::string& flag, int64_t max) {
  int64_t value = 0;
  const char* end = text.data() + text.size();
  const bool digits = !text.empty() && text.find_first_not_of("0123456789") == std::string::npos;
  const auto [stop, status] = std::from_chars(text.data(), end, value);
  if (!digits || status != std::errc() || stop != end || value > max)
    return make_error(flag + " '" + text + "' is not a whole number from 0 to " +
                      std::to_string(max));
  return value;
}

Result<std::vector<std::string>> parse_model_names(const std::string& text,
                                                   const std::string& flag) {
  std::vector<std::string> names;
  size_t start = 0;
  for (;;) {
    const size_t comma = text.find(',', start);
    const std::string name = text.substr(start, comma == std::string::npos ? comma : comma - start);
    if (name.empty()) return make_error(flag + " '" + text + "' has an empty name");
    if (auto valid = platform::validate_model_name(name); !valid)
      return make_error(flag + " '" + text + "': " + valid.error().message);
    names.push_back(name);
    if (comma == std::string::npos) return names;
    start = comma + 1;
  }
}

std::string limits_text(const platform::Limits& limits) {
  const auto text = [](const std::optional<int64_t>& value) {
    return value ? std::to_string(*value) : std::string("-");
  };
  const std::string budget = limits.budget_micro_usd
                                 ? platform::format_usd(*limits.budget_micro_usd) + "/" +
                                       std::string(platform::period_name(limits.budget_period))
                                 : "-";
  return "budget " + budget + ", rpm " + text(limits.rpm) + ", tpm " + text(limits.tpm);
}

platform::Actor cli_actor() {
  const passwd* user = getpwuid(geteuid());
  return platform::Actor{std::nullopt,
                         "cli:" + (user ? std::string(user->pw_name) : std::to_string(geteuid()))};
}

bool creates_database(const std::string& db) {
  std::error_code ec;
  return !platform::is_postgres_url(db) && db != ":memory:" && !std::filesystem::exists(db, ec);
}

std::unique_ptr<platform::Store> open_store(const std::string& db, platform::OpenMode mode) {
  const bool creates = mode == platform::OpenMode::Create && creates_database(db);
  auto store = platform::Store::open(db, mode);
  if (!store.ok()) {
    std::fprintf(stderr, "error: %s\n", store.error().message.c_str());
    return nullptr;
  }
  // Said, so that a mistyped --db does not go unnoticed, and a migration (one way: older
  // releases then refuse the database) neither.
  if (creates) std::fprintf(stderr, "created the database '%s' (there was none)\n", db.c_str());
  if (const std::string note = migration_note(*store.value()); !note.empty())
    std::fprintf(stderr, "%s\n", note.c_str());
  return std::move(store.value());
}

std::string migration_note(const platform::Store& store) {
  const int64_t found = store.schema_version_found();
  if (found < 1 || found >= platform::kStoreSchemaVersion) return "";
  return "migrated the database from schema version " + std::to_string(found) + " to " +
         std::to_string(platform::kStoreSchemaVersion);
}

}  // namespace gengyun::cli
