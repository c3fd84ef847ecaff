// `gengyun keys create|list|revoke|update --db PATH`: API keys, their tenant, role and limits
// (`update` with PATCH /admin/keys/ID's checks).
#include <cstdio>
#include <ctime>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "api/admin_handler.h"
#include "cli/admin_flags.h"
#include "cli/commands.h"
#include "platform/store.h"
#include "platform/store_rules.h"
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

/// The key `flags` describe. Errors: a name platform::validate_name() refuses, an unknown role,
/// bad limits or models, an expiry that api::key_expiry() refuses (with its message, naming
/// --expires-in).
Result<platform::NewKey> new_key(const std::string& name, const CreateFlags& flags) {
  if (auto valid = platform::validate_name("key", name); !valid)
    return make_error("cannot create API key: " + valid.error().message);
  platform::NewKey key{name, flags.tenant};
  auto role = platform::parse_role(flags.role);
  if (!role) return make_error("--role '" + flags.role + "' is not one of admin, owner, member");
  key.role = *role;
  auto limits = flags.limits.limits();
  if (!limits) return limits.error();
  key.limits = *limits;
  if (flags.models) {
    auto models = parse_model_names(*flags.models, "--models");
    if (!models) return models.error();
    key.models = *models;
  }
  if (flags.expires_in_days) {
    // The flag's text as the JSON value POST /admin/keys would get: a number when it is one.
    nlohmann::json days = nlohmann::json::parse(*flags.expires_in_days, nullptr, false);
    if (days.is_discarded()) days = *flags.expires_in_days;
    auto expiry = api::key_expiry(days, unix_time_us(), "--expires-in");
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
  // Checked before the database is opened, so that refused input creates no file; a database
  // that is not there yet has no tenant but the default one.
  auto wanted = new_key(name, flags);
  if (!wanted.ok()) {
    std::fprintf(stderr, "error: %s\n", wanted.error().message.c_str());
    return 1;
  }
  if (flags.tenant != platform::kDefaultTenant && creates_database(db)) {
    std::fprintf(stderr,
                 "error: cannot create API key '%s': no tenant is named '%s' (there is no "
                 "database '%s' yet; create the tenant with `gengyun tenants create`)\n",
                 name.c_str(), flags.tenant.c_str(), db.c_str());
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
  auto store = open_store(db, platform::OpenMode::Read);
  if (!store) return 1;
  std::printf("%-6s %-24s %-10s %-16s %-7s %-22s %s\n", "ID", "NAME", "PREFIX", "TENANT", "ROLE",
              "CREATED", "STATUS");
  // Key names are a tenant's own: each row names its tenant, read once per tenant.
  std::map<int64_t, std::string> tenant_names;
  const auto tenant_name = [&](int64_t id) -> Result<std::string> {
    if (auto known = tenant_names.find(id); known != tenant_names.end()) return known->second;
    auto tenant = store->find_tenant(id);
    if (!tenant.ok()) return tenant.error();
    const std::string name = tenant->has_value() ? (*tenant)->name : std::to_string(id);
    tenant_names.emplace(id, name);
    return name;
  };
  // Every key, read in pages of kListPageRows as the admin API's pages read them.
  platform::KeyPage query{{0, kListPageRows}, std::nullopt, true};
  for (;;) {
    auto keys = store->keys_page(query);
    if (!keys.ok()) {
      std::fprintf(stderr, "error: %s\n", keys.error().message.c_str());
      return 1;
    }
    for (const auto& k : keys.value()) {
      auto tenant = tenant_name(k.tenant_id);
      if (!tenant.ok()) {
        std::fprintf(stderr, "error: %s\n", tenant.error().message.c_str());
        return 1;
      }
      std::string status = "active";
      if (k.revoked_at_us)
        status = "revoked " + utc_time(*k.revoked_at_us);
      else if (k.expires_at_us)
        status = (*k.expires_at_us <= store->now_us() ? "expired " : "expires ") +
                 utc_time(*k.expires_at_us);
      std::printf("%-6lld %-24s %-10s %-16s %-7s %-22s %s\n", static_cast<long long>(k.id),
                  k.name.c_str(), k.prefix.c_str(), tenant->c_str(),
                  std::string(platform::role_name(k.role)).c_str(),
                  utc_time(k.created_at_us).c_str(), status.c_str());
    }
    if (static_cast<int64_t>(keys->size()) < kListPageRows) return 0;
    query.page.after_id = keys->back().id;
  }
}

/// Which key `keys revoke` and `keys update` act on: --name (with its --tenant when several
/// tenants have an active key of that name) or --id, as given.
struct WhichKey {
  std::string name;
  std::optional<std::string> tenant;
  std::string id;

  /// Registers --name (described by `name_help`), --tenant and --id on `cmd`.
  void add_to(CLI::App& cmd, const std::string& name_help) {
    cmd.add_option("--name", name, name_help);
    cmd.add_option("--tenant", tenant,
                   "tenant of the key named by --name (needed when several tenants have an "
                   "active key of that name)");
    cmd.add_option("--id", id, "id of the key, as keys list shows it");
  }
  /// The --id given; nullopt when --name is. Errors: neither or both given, --tenant without
  /// --name or empty, an --id that is not a whole number from 0 to 2^63-1 (as the admin API's
  /// `after`).
  Result<std::optional<int64_t>> checked_id() const {
    if (name.empty() == id.empty())
      return make_error("give the key's --name or its --id (one of them)");
    if (tenant && name.empty())
      return make_error("--tenant goes with --name (an --id names one key of one tenant)");
    if (tenant && tenant->empty()) return make_error("--tenant is empty: give a tenant's name");
    if (id.empty()) return std::optional<int64_t>();
    auto parsed = parse_count(id, "--id", std::numeric_limits<int64_t>::max());
    if (!parsed) return parsed.error();
    return std::optional<int64_t>(*parsed);
  }
};

/// Every key named `which.name` (for `keys update`), active and revoked, of the tenant
/// `which.tenant` when given, else of every tenant, by id. Errors: no tenant is named
/// `which.tenant`, the store's.
Result<std::vector<platform::KeyInfo>> keys_named(platform::Store& store, const WhichKey& which) {
  auto keys = store.keys_named(which.name);
  if (!keys) return keys.error();
  if (!which.tenant) return keys;
  auto tenant = store.find_tenant_named(*which.tenant);
  if (!tenant) return tenant.error();
  if (!*tenant) return make_error("no tenant is named '" + *which.tenant + "'");
  std::vector<platform::KeyInfo> of_tenant;
  for (platform::KeyInfo& k : *keys)
    if (k.tenant_id == (*tenant)->id) of_tenant.push_back(std::move(k));
  return of_tenant;
}

int revoke(const std::string& db, const WhichKey& which) {
  auto id = which.checked_id();
  if (!id) {
    std::fprintf(stderr, "error: %s\n", id.error().message.c_str());
    return 1;
  }
  auto store = open_store(db, platform::OpenMode::Existing);
  if (!store) return 1;
  if (!*id) {
    // By name: the store reads the keys of the name and revokes the active one together.
    auto revoked = store->revoke_key(which.name, cli_actor(), which.tenant.value_or(""));
    if (!revoked) {
      std::fprintf(stderr, "error: %s\n", revoked.error().message.c_str());
      return 1;
    }
    std::fprintf(stderr, "revoked key '%s' (id %lld)\n", revoked->name.c_str(),
                 static_cast<long long>(revoked->id));
    return 0;
  }
  // The key's name, for the message; a key of no such id is refused by revoke_key_id().
  auto key = store->find_key(**id);
  if (!key) {
    std::fprintf(stderr, "error: %s\n", key.error().message.c_str());
    return 1;
  }
  if (auto revoked = store->revoke_key_id(**id, cli_actor()); !revoked) {
    std::fprintf(stderr, "error: %s\n", revoked.error().message.c_str());
    return 1;
  }
  std::fprintf(stderr, "revoked key '%s' (id %lld)\n", (*key)->name.c_str(),
               static_cast<long long>(**id));
  return 0;
}

/// The id of the key that `keys update` changes: `id` when a key has it; else the active key
/// named `which.name` (of `which.tenant` when given). Errors: no key has that id, no active
/// key has that name (in that tenant), active keys of several tenants have it
/// (platform::ambiguous_key_name()), those of keys_named().
Result<int64_t> key_to_update(platform::Store& store, const std::optional<int64_t>& id,
                              const WhichKey& which) {
  if (id) {
    auto key = store.find_key(*id);
    if (!key) return key.error();
    if (!*key) return make_error("no API key has the id " + std::to_string(*id));
    return *id;
  }
  auto named = keys_named(store, which);
  if (!named) return named.error();
  std::vector<int64_t> active;
  for (const platform::KeyInfo& k : *named)
    if (!k.revoked_at_us) active.push_back(k.id);
  if (active.size() > 1) return platform::ambiguous_key_name("update", which.name, active.size());
  if (active.empty())
    return make_error("no active API key is named '" + which.name + "'" +
                      (which.tenant ? " in tenant '" + *which.tenant + "'" : ""));
  return active.front();
}

int update(const std::string& db, const WhichKey& which, const LimitChangeFlags& flags) {
  auto id = which.checked_id();
  if (!id) {
    std::fprintf(stderr, "error: %s\n", id.error().message.c_str());
    return 1;
  }
  auto body = flags.patch_body();
  if (!body.ok()) {
    std::fprintf(stderr, "error: %s\n", body.error().message.c_str());
    return 1;
  }
  auto store = open_store(db, platform::OpenMode::Existing);
  if (!store) return 1;
  auto key = key_to_update(*store, *id, which);
  if (!key) {
    std::fprintf(stderr, "error: %s\n", key.error().message.c_str());
    return 1;
  }
  auto updated = api::update_key_limits(*store, *key, *body, cli_actor(), nullptr);
  if (!updated.ok()) {
    std::fprintf(
        stderr, "error: %s\n",
        LimitChangeFlags::with_flag_names(updated.error().message, updated.error().param).c_str());
    return 1;
  }
  std::fprintf(stderr, "updated key '%s' (id %lld): %s\n", updated->name.c_str(),
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

  auto which = std::make_shared<WhichKey>();
  auto* revoke_cmd = keys->add_subcommand(
      "revoke", "revoke a key by its name or by its id (keys list shows both)");
  revoke_cmd->add_option("--db", *db, kDbMustExistHelp)->capture_default_str();
  which->add_to(*revoke_cmd, "name of the active key to revoke (the name only)");
  revoke_cmd->callback([db, which, &exit_code] { exit_code = revoke(*db, *which); });

  auto changes = std::make_shared<LimitChangeFlags>();
  auto* update_cmd = keys->add_subcommand(
      "update",
      "change an active key's limits (only those given; none clears one), the key by its name "
      "or by its id");
  update_cmd->add_option("--db", *db, kDbMustExistHelp)->capture_default_str();
  auto target = std::make_shared<WhichKey>();
  target->add_to(*update_cmd, "name of the key (the active key of that name)");
  changes->add_to(*update_cmd);
  update_cmd->callback(
      [db, target, changes, &exit_code] { exit_code = update(*db, *target, *changes); });
}

}  // namespace gengyun::cli
