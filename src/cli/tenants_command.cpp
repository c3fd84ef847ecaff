// `gengyun tenants create NAME --db PATH [limits]`, `gengyun tenants list --db PATH`.
#include <cstdio>
#include <memory>
#include <string>

#include "cli/admin_flags.h"
#include "cli/commands.h"
#include "platform/money.h"
#include "platform/store.h"

namespace gengyun::cli {
namespace {

int create(const std::string& db, const std::string& name, const LimitFlags& flags) {
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
  auto store = open_store(db, /*must_exist=*/true);
  if (!store) return 1;
  auto tenants = store->list_tenants();
  if (!tenants.ok()) {
    std::fprintf(stderr, "error: %s\n", tenants.error().message.c_str());
    return 1;
  }
  std::printf("%-6s %-24s %-22s %-10s %s\n", "ID", "NAME", "BUDGET_USD", "RPM", "TPM");
  for (const auto& t : tenants.value()) {
    const auto& l = t.limits;
    const std::string budget = l.budget_micro_usd
                                   ? platform::format_usd(*l.budget_micro_usd) + "/" +
                                         std::string(platform::period_name(l.budget_period))
                                   : "-";
    std::printf("%-6lld %-24s %-22s %-10s %s\n", static_cast<long long>(t.id), t.name.c_str(),
                budget.c_str(), optional_text(l.rpm).c_str(), optional_text(l.tpm).c_str());
  }
  return 0;
}

}  // namespace

void add_tenants_command(CLI::App& app, int& exit_code) {
  auto db = std::make_shared<std::string>("gengyun.db");
  auto name = std::make_shared<std::string>();
  auto flags = std::make_shared<LimitFlags>();
  auto* tenants = app.add_subcommand("tenants", "create and list tenants (organisations)");
  tenants->require_subcommand(1);

  auto* create_cmd = tenants->add_subcommand("create", "create a tenant with optional limits");
  create_cmd->add_option("name", *name, "name of the tenant")->required();
  create_cmd->add_option("--db", *db, "SQLite file or postgres:// URL")->capture_default_str();
  flags->add_to(*create_cmd);
  create_cmd->callback([db, name, flags, &exit_code] { exit_code = create(*db, *name, *flags); });

  auto* list_cmd = tenants->add_subcommand("list", "list tenants and their limits");
  list_cmd->add_option("--db", *db, "SQLite file or postgres:// URL")->capture_default_str();
  list_cmd->callback([db, &exit_code] { exit_code = list(*db); });
}

}  // namespace gengyun::cli
