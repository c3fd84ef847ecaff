// `gengyun keys create|list|revoke|update --db PATH`: API keys, their tenant, role and limits
// (`update` with PATCH /admin/keys/ID's checks).
#include <cstdio>
#include <ctime>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "api/admin_handler.h"
#include "cli/admin_flags.h"
#include "cli/commands.h"
#include "platform/store.h"
#include "util/clock.h"

namespace gengyun::cli {
namespace {

/// `keys create` flags beyond --db and --name.
struct CreateFlags {
  std::string tenant = std::string(platform::kDefaultTenant);
  std::string role = "member";
  std::optional<std::string> models;  ///< as given: "" is refused, not taken for all models
  std::optional<std::string> expires_in_days;
  LimitFlags limits;
};

/// The key `flags` describe. Errors: an unknown role, bad limits or models, an expiry that
/// api::key_expiry() refuses (with its message, the admin API's).
Result<platform::NewKey> new_key(const std::string& name, const CreateFlags& flags) {
  platform::NewKey key{name, flags.tenant};
  auto role = platform::parse_role(flags.role);
  if (!role) return make_error("--role '" + flags.role + "' is not one of admin, owner, member");
  key.role = *role;
  auto limits = flags.limits.limits();
  if (!limits) return limits.error();
  key.limits = *limits;
  if (flags.models) {
    auto models = parse_names(*flags.models, "--models");
    if (!models) return models.error();
    key.models = *models;
  }
  if (flags.expires_in_days) {
    // The flag's text as the JSON value POST /admin/keys would get: a number when it is one.
    nlohmann::json days = nlohmann::json::parse(*flags.expires_in_days, nullptr, false);
    if (days.is_discarded()) days = *flags.expires_in_days;
    auto expiry = api::key_expiry(days, unix_time_us());
    if (!expiry.ok()) return make_error(expiry.error().message);
    key.expires_at_us = *expiry;
  }
  return key;
}

std::string utc_time(int64_t us) {
  const std::time_t seconds = static_cast<std::time_t>(us / 1000000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

int create(const std::string& db, const std::string& name, const CreateFlags& flags) {
  auto wanted = new_key(name, flags);
  if (!wanted.ok()) {
    std::fprintf(stderr, "error: %s\n", wanted.error().message.c_str());
    return 1;
  }
  auto store = open_store(db);
  if (!store) return 1;
  auto key = store->create_key(wanted.value(), cli_actor());
  if (!key.ok()) {
    std::fprintf(stderr, "error: %s\n", key.error().message.c_str());
    return 1;
  }
  std::printf("%s\n", key.value().c_str());
  return 0;
}

int list(const std::string& db) {
  auto store = open_store(db, /*must_exist=*/true);
  if (!store) return 1;
  std::printf("%-6s %-24s %-10s %-8s %-7s %-22s %s\n", "ID", "NAME", "PREFIX", "TENANT", "ROLE",
              "CREATED", "STATUS");
  // Every key, read in pages of kListPageRows as the admin API's pages read them.
  platform::KeyPage query{{0, kListPageRows}, std::nullopt, true};
  for (;;) {
    auto keys = store->keys_page(query);
    if (!keys.ok()) {
      std::fprintf(stderr, "error: %s\n", keys.error().message.c_str());
      return 1;
    }
    for (const auto& k : keys.value()) {
      std::string status = "active";
      if (k.revoked_at_us)
        status = "revoked " + utc_time(*k.revoked_at_us);
      else if (k.expires_at_us)
        status = "expires " + utc_time(*k.expires_at_us);
      std::printf("%-6lld %-24s %-10s %-8lld %-7s %-22s %s\n", static_cast<long long>(k.id),
                  k.name.c_str(), k.prefix.c_str(), static_cast<long long>(k.tenant_id),
                  std::string(platform::role_name(k.role)).c_str(),
                  utc_time(k.created_at_us).c_str(), status.c_str());
    }
    if (static_cast<int64_t>(keys->size()) < kListPageRows) return 0;
    query.page.after_id = keys->back().id;
  }
}

/// Which key `keys revoke` revokes: --name or --id, as given.
struct RevokeFlags {
  std::string name;
  std::string id;
};

int revoke(const std::string& db, const RevokeFlags& flags) {
  if (flags.name.empty() == flags.id.empty()) {
    std::fprintf(stderr, "error: give the key's --name or its --id (one of them)\n");
    return 1;
  }
  std::optional<int64_t> id;
  if (!flags.id.empty()) {
    auto parsed = parse_count(flags.id, "--id");
    if (!parsed) {
      std::fprintf(stderr, "error: %s\n", parsed.error().message.c_str());
      return 1;
    }
    id = *parsed;
  }
  auto store = open_store(db, /*must_exist=*/true);
  if (!store) return 1;
  auto revoked =
      id ? store->revoke_key_id(*id, cli_actor()) : store->revoke_key(flags.name, cli_actor());
  if (!revoked.ok()) {
    std::fprintf(stderr, "error: %s\n", revoked.error().message.c_str());
    return 1;
  }
  if (id)
    std::fprintf(stderr, "revoked key %lld\n", static_cast<long long>(*id));
  else
    std::fprintf(stderr, "revoked %s\n", flags.name.c_str());
  return 0;
}

int update(const std::string& db, const std::string& name, const LimitChangeFlags& flags) {
  auto body = flags.patch_body();
  if (!body.ok()) {
    std::fprintf(stderr, "error: %s\n", body.error().message.c_str());
    return 1;
  }
  auto store = open_store(db, /*must_exist=*/true);
  if (!store) return 1;
  auto key = store->find_active_key_named(name);
  if (!key.ok()) {
    std::fprintf(stderr, "error: %s\n", key.error().message.c_str());
    return 1;
  }
  if (!*key) {
    std::fprintf(stderr, "error: no active API key is named '%s'\n", name.c_str());
    return 1;
  }
  auto updated = api::update_key_limits(*store, (*key)->id, *body, cli_actor(), nullptr);
  if (!updated.ok()) {
    std::fprintf(stderr, "error: %s\n", updated.error().message.c_str());
    return 1;
  }
  std::fprintf(stderr, "updated key '%s' (id %lld): %s\n", name.c_str(),
               static_cast<long long>(updated->id), limits_text(updated->limits).c_str());
  return 0;
}

}  // namespace

void add_keys_command(CLI::App& app, int& exit_code) {
  auto db = std::make_shared<std::string>("gengyun.db");
  auto name = std::make_shared<std::string>();
  auto* keys = app.add_subcommand("keys", "create, list, revoke and update API keys");
  keys->require_subcommand(1);

  auto flags = std::make_shared<CreateFlags>();
  auto* create_cmd = keys->add_subcommand(
      "create", "create a key and print it alone on stdout (shown only once)");
  create_cmd->add_option("--db", *db, kDbCreatedHelp)->capture_default_str();
  create_cmd->add_option("--name", *name, "name of the key")->required();
  create_cmd->add_option("--tenant", flags->tenant, "tenant of the key")->capture_default_str();
  create_cmd->add_option("--role", flags->role, "admin, owner or member")->capture_default_str();
  create_cmd->add_option("--models", flags->models, "models it may use, a,b (default: all)");
  create_cmd->add_option("--expires-in", flags->expires_in_days,
                         "days until the key expires, 1 to " + std::to_string(api::kMaxExpiryDays));
  flags->limits.add_to(*create_cmd);
  create_cmd->callback([db, name, flags, &exit_code] { exit_code = create(*db, *name, *flags); });

  auto* list_cmd = keys->add_subcommand("list", "list keys (never their secrets)");
  list_cmd->add_option("--db", *db, kDbMustExistHelp)->capture_default_str();
  list_cmd->callback([db, &exit_code] { exit_code = list(*db); });

  auto which = std::make_shared<RevokeFlags>();
  auto* revoke_cmd = keys->add_subcommand(
      "revoke", "revoke a key by its name or by its id (keys list shows both)");
  revoke_cmd->add_option("--db", *db, kDbMustExistHelp)->capture_default_str();
  revoke_cmd->add_option("--name", which->name, "name of the active key to revoke (the name only)");
  revoke_cmd->add_option("--id", which->id, "id of the key to revoke, as keys list shows it");
  revoke_cmd->callback([db, which, &exit_code] { exit_code = revoke(*db, *which); });

  auto changes = std::make_shared<LimitChangeFlags>();
  auto* update_cmd = keys->add_subcommand(
      "update", "change an active key's limits (only those given; none clears one)");
  update_cmd->add_option("--db", *db, kDbMustExistHelp)->capture_default_str();
  update_cmd->add_option("--name", *name, "name of the key")->required();
  changes->add_to(*update_cmd);
  update_cmd->callback(
      [db, name, changes, &exit_code] { exit_code = update(*db, *name, *changes); });
}

}  // namespace gengyun::cli
