// `gengyun migrate --db DB`: brings a database's schema to this build's version. `serve` and the
// commands that write migrate on their own; the commands that only read refuse an older schema
// (docs/platform.md, "Readers do not migrate") and name this command.
#include <cstdio>
#include <memory>
#include <string>

#include "cli/admin_flags.h"
#include "cli/commands.h"
#include "platform/store.h"
#include "platform/store_schema.h"

namespace gengyun::cli {
namespace {

int migrate(const std::string& db) {
  auto store = platform::Store::open(db, platform::OpenMode::Existing);
  if (!store.ok()) {
    std::fprintf(stderr, "error: %s\n", store.error().message.c_str());
    return 1;
  }
  if (const std::string note = migration_note(*store.value()); !note.empty()) {
    std::printf("%s\n", note.c_str());
    return 0;
  }
  std::printf("the database is at schema version %lld already; nothing to migrate\n",
              static_cast<long long>(platform::kStoreSchemaVersion));
  return 0;
}

}  // namespace

void add_migrate_command(CLI::App& app, int& exit_code) {
  auto db = std::make_shared<std::string>("gengyun.db");
  auto* cmd = app.add_subcommand(
      "migrate",
      "bring a database's schema to this gengyun's version (one way: older gengyun releases "
      "then refuse it)");
  cmd->add_option("--db", *db, kDbMustExistHelp)->capture_default_str();
  cmd->callback([db, &exit_code] { exit_code = migrate(*db); });
}

}  // namespace gengyun::cli
