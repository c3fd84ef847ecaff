// `gengyun keys create|list|revoke --db PATH`: API keys.
#include <cstdio>
#include <ctime>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "platform/store.h"

namespace gengyun::cli {
namespace {

std::unique_ptr<platform::Store> open_store(const std::string& db) {
  auto store = platform::Store::open(db);
  if (!store.ok()) {
    std::fprintf(stderr, "error: %s\n", store.error().message.c_str());
    return nullptr;
  }
  return std::move(store.value());
}

std::string utc_time(int64_t us) {
  const std::time_t seconds = static_cast<std::time_t>(us / 1000000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

int create(const std::string& db, const std::string& name) {
  auto store = open_store(db);
  if (!store) return 1;
  auto key = store->create_key(name);
  if (!key.ok()) {
    std::fprintf(stderr, "error: %s\n", key.error().message.c_str());
    return 1;
  }
  std::printf("%s\n", key.value().c_str());
  return 0;
}

int list(const std::string& db) {
  auto store = open_store(db);
  if (!store) return 1;
  auto keys = store->list_keys();
  if (!keys.ok()) {
    std::fprintf(stderr, "error: %s\n", keys.error().message.c_str());
    return 1;
  }
  std::printf("%-6s %-24s %-10s %-22s %s\n", "ID", "NAME", "PREFIX", "CREATED", "STATUS");
  for (const auto& k : keys.value())
    std::printf("%-6lld %-24s %-10s %-22s %s\n", static_cast<long long>(k.id), k.name.c_str(),
                k.prefix.c_str(), utc_time(k.created_at_us).c_str(),
                k.revoked_at_us ? ("revoked " + utc_time(*k.revoked_at_us)).c_str() : "active");
  return 0;
}

int revoke(const std::string& db, const std::string& name) {
  auto store = open_store(db);
  if (!store) return 1;
  if (auto r = store->revoke_key(name); !r.ok()) {
    std::fprintf(stderr, "error: %s\n", r.error().message.c_str());
    return 1;
  }
  std::fprintf(stderr, "revoked %s\n", name.c_str());
  return 0;
}

}  // namespace

void add_keys_command(CLI::App& app, int& exit_code) {
  auto db = std::make_shared<std::string>("gengyun.db");
  auto name = std::make_shared<std::string>();
  auto* keys = app.add_subcommand("keys", "create, list and revoke API keys");
  keys->require_subcommand(1);

  auto* create_cmd = keys->add_subcommand("create", "create a key and print it (shown only once)");
  create_cmd->add_option("--db", *db, "SQLite database")->capture_default_str();
  create_cmd->add_option("--name", *name, "name of the key")->required();
  create_cmd->callback([db, name, &exit_code] { exit_code = create(*db, *name); });

  auto* list_cmd = keys->add_subcommand("list", "list keys (never their secrets)");
  list_cmd->add_option("--db", *db, "SQLite database")->capture_default_str();
  list_cmd->callback([db, &exit_code] { exit_code = list(*db); });

  auto* revoke_cmd = keys->add_subcommand("revoke", "revoke a key by name");
  revoke_cmd->add_option("--db", *db, "SQLite database")->capture_default_str();
  revoke_cmd->add_option("--name", *name, "name of the key")->required();
  revoke_cmd->callback([db, name, &exit_code] { exit_code = revoke(*db, *name); });
}

}  // namespace gengyun::cli
