// `gengyun spool repair PATH`: sets the damaged lines of a ledger spool aside, so that `serve`,
// which refuses a spool it cannot read whole, can start and land the writes that are intact.
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "platform/ledger_spool.h"

namespace gengyun::cli {
namespace {

/// "PATH.damaged-YYYYMMDDTHHMMSSZ" (UTC now): where the spool as it was is kept.
std::string aside_path(const std::string& path) {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &utc);
  return path + ".damaged-" + stamp;
}

int repair(const std::string& path) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (!std::filesystem::exists(status)) {
    std::fprintf(stderr, "error: ledger spool '%s': no such file\n", path.c_str());
    return 1;
  }
  if (!std::filesystem::is_regular_file(status)) {
    std::fprintf(stderr, "error: ledger spool '%s': not a regular file\n", path.c_str());
    return 1;
  }
  bool held = false;
  // Its unfinished last line, if any, is set aside too (in the copy) rather than cut off.
  auto spool =
      platform::LedgerSpool::open(path, &held, platform::LedgerSpool::UnfinishedLine::Keep);
  if (!spool.ok() && held) {
    std::fprintf(stderr,
                 "error: ledger spool '%s' is held by a running server; stop it before repairing "
                 "its spool\n",
                 path.c_str());
    return 1;
  }
  if (!spool.ok()) {
    std::fprintf(stderr, "error: %s\n", spool.error().message.c_str());
    return 1;
  }
  // A second repair within the same second takes the next free name.
  const std::string stamped = aside_path(path);
  std::string aside = stamped;
  for (int n = 2; std::filesystem::exists(aside, ec) && n < 100; ++n)
    aside = stamped + "-" + std::to_string(n);
  auto repaired = spool.value()->set_aside_damaged(aside);
  if (!repaired.ok()) {
    std::fprintf(stderr, "error: %s\n", repaired.error().message.c_str());
    return 1;
  }
  if (repaired->damaged_lines.empty()) {
    std::printf("ledger spool '%s': all %zu line(s) are spooled writes; nothing to repair\n",
                path.c_str(), repaired->kept);
    return 0;
  }
  std::string lines;
  for (const size_t line : repaired->damaged_lines)
    lines += (lines.empty() ? "" : ", ") + std::to_string(line);
  std::printf(
      "ledger spool '%s': set aside %zu damaged line(s) (line %s) and kept %zu write(s); the "
      "spool as it was is in '%s'\n",
      path.c_str(), repaired->damaged_lines.size(), lines.c_str(), repaired->kept, aside.c_str());
  return 0;
}

}  // namespace

void add_spool_command(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("spool", "repair a ledger spool that serve refuses to read");
  cmd->require_subcommand(1);
  auto path = std::make_shared<std::string>();
  auto* repair_cmd = cmd->add_subcommand(
      "repair",
      "set aside the lines of a ledger spool that are not spooled writes (a copy of the whole "
      "spool is kept beside it); the server using the spool must be stopped");
  repair_cmd->add_option("PATH", *path, "the ledger spool (serve's --ledger-spool)")->required();
  repair_cmd->callback([path, &exit_code] { exit_code = repair(*path); });
}

}  // namespace gengyun::cli
