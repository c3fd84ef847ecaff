// `gengyun tenants create NAME --db PATH [limits]`, `gengyun tenants list --db PATH`,
// `gengyun tenants update NAME --db PATH [limit changes]` (PATCH /admin/tenants/ID's checks).
#include <cstdio>
#include <memory>
#include <string>

#include "api/admin_handler.h"
#include "cli/admin_flags.h"
#include "cli/commands.h"
#include "platform/money.h"
#include "platform/store.h"
#include "platform/store_rules.h"

namespace gengyun::cli {
namespace {

int create(const std::string& db, const std::string& name, const LimitFlags& flags) {
  // Checked before the database is opened, so that refused input creates no file.
  if (auto valid = platform::validate_name("tenant", name); !valid) {
    std::fprintf(stderr, "error: cannot create tenant: %s\n", valid.error().message.c_str());
    return 1;
  }
  // Every database has it, also one that does not exist yet (the store's own refusal).
  if (name == platform::kDefaultTenant) {
    std::fprintf(stderr, "error: cannot create tenant: a tenant named '%s' already exists\n",
                 name.c_str());
    return 1;
  }
  auto limits = flags.limits();
  if (!limits.ok()) {
    std::fprintf(stderr, "error: %s\n", limits.error().message.c_str());
    return 1;
  }
  auto store = open_store(db);
  if (!store) return 1;
  auto tenant = store->create_tenant(name, limits.value(), cli_actor());
  if (!tenant.ok()) {
    std::fprintf(stderr, "error: %s\n", tenant.error().message.c_str());
    return 1;
  }
  std::fprintf(stderr, "created tenant '%s' (id %lld)\n", name.c_str(),
               static_cast<long long>(tenant->id));
  return 0;
}

std::string optional_text(const std::optional<int64_t>& value) {
  return value ? std::to_string(*value) : "-";
}

int list(const std::string& db) {
  auto store = open_store(db, platform::OpenMode::Read);
  if (!store) return 1;
  std::printf("%-6s %-24s %-22s %-10s %s\n", "ID", "NAME", "BUDGET_USD", "RPM", "TPM");
  // Every tenant, read in pages of kListPageRows as the admin API's pages read them.
  platform::Page page{0, kListPageRows};
  for (;;) {
    auto tenants = store->tenants_page(page);
    if (!tenants.ok()) {
      std::fprintf(stderr, "error: %s\n", tenants.error().message.c_str());
      return 1;
    }
    for (const auto& t : tenants.value()) {
      const auto& l = t.limits;
      const std::string budget = l.budget_micro_usd
                                     ? platform::format_usd(*l.budget_micro_usd) + "/" +
                                           std::string(platform::period_name(l.budget_period))
                                     : "-";
      std::printf("%-6lld %-24s %-22s %-10s %s\n", static_cast<long long>(t.id), t.name.c_str(),
                  budget.c_str(), optional_text(l.rpm).c_str(), optional_text(l.tpm).c_str());
    }
    if (static_cast<int64_t>(tenants->size()) < kListPageRows) return 0;
    page.after_id = tenants->back().id;
  }
}

int update(const std::string& db, const std::string& name, const LimitChangeFlags& flags) {
  auto body = flags.patch_body();
  if (!body.ok()) {
    std::fprintf(stderr, "error: %s\n", body.error().message.c_str());
    return 1;
  }
  auto store = open_store(db, platform::OpenMode::Existing);
  if (!store) return 1;
  auto tenant = store->find_tenant_named(name);
  if (!tenant.ok()) {
    std::fprintf(stderr, "error: %s\n", tenant.error().message.c_str());
    return 1;
  }
  if (!*tenant) {
    std::fprintf(stderr, "error: no tenant is named '%s'\n", name.c_str());
    return 1;
  }
  auto updated = api::update_tenant_limits(*store, (*tenant)->id, *body, cli_actor(), nullptr);
  if (!updated.ok()) {
    std::fprintf(
        stderr, "error: %s\n",
        LimitChangeFlags::with_flag_names(updated.error().message, updated.error().param).c_str());
    return 1;
  }
  std::fprintf(stderr, "updated tenant '%s' (id %lld): %s\n", name.c_str(),
               static_cast<long long>(updated->id), limits_text(updated->limits).c_str());
  return 0;
}

}  // namespace

void add_tenants_command(CLI::App& app, int& exit_code) {
  auto db = std::make_shared<std::string>("gengyun.db");
  auto name = std::make_shared<std::string>();
  auto flags = std::make_shared<LimitFlags>();
  auto* tenants = app.add_subcommand("tenants", "create, list and update tenants (organisations)");
  tenants->require_subcommand(1);

  auto* create_cmd = tenants->add_subcommand("create", "create a tenant with optional limits");
  create_cmd->add_option("name", *name, "name of the tenant")->required();
  create_cmd->add_option("--db", *db, kDbCreatedHelp)->capture_default_str();
  flags->add_to(*create_cmd);
  create_cmd->callback([db, name, flags, &exit_code] { exit_code = create(*db, *name, *flags); });

  auto* list_cmd = tenants->add_subcommand("list", "list tenants and their limits");
  list_cmd->add_option("--db", *db, kDbMustExistHelp)->capture_default_str();
  list_cmd->callback([db, &exit_code] { exit_code = list(*db); });

  auto changes = std::make_shared<LimitChangeFlags>();
  auto* update_cmd = tenants->add_subcommand(
      "update", "change a tenant's limits (only those given; none clears one)");
  update_cmd->add_option("name", *name, "name of the tenant")->required();
  update_cmd->add_option("--db", *db, kDbMustExistHelp)->capture_default_str();
  changes->add_to(*update_cmd);
  update_cmd->callback(
      [db, name, changes, &exit_code] { exit_code = update(*db, *name, *changes); });
}

}  // namespace gengyun::cli
