// Flags shared by the admin commands (`tenants`, `keys`, `prices`): amounts, counts, limits and
// the actor recorded in the audit log. Each parser returns the error to print (exit 1).
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gengyun/result.h"
#include "platform/store.h"

namespace gengyun::cli {

/// --budget-usd, --budget-period, --rpm, --tpm as given (text; parsed by limits()).
struct LimitFlags {
  // As given: an empty value ("--rpm ''", an unset shell variable) is refused, not taken for
  // no limit.
  std::optional<std::string> budget_usd;
  /// As given: absent is `total` when --budget-usd is given, and given alone it is refused
  /// (also `total`), as POST /admin/keys and /admin/tenants refuse a budget_period alone.
  std::optional<std::string> budget_period;
  std::optional<std::string> rpm;
  std::optional<std::string> tpm;

  /// Registers the four flags on `cmd`.
  void add_to(CLI::App& cmd);
  /// The limits they give. Errors: an amount parse_usd() refuses, a period other than
  /// day|month|total, a count that is not a whole number in 0..10^12, --budget-period (any)
  /// without --budget-usd.
  Result<platform::Limits> limits() const;
};

/// --budget-usd, --budget-period, --rpm, --tpm of the `update` commands, as given: each one given
/// changes that limit, "none" clears --budget-usd, --rpm or --tpm (PATCH's null).
struct LimitChangeFlags {
  std::optional<std::string> budget_usd;
  std::optional<std::string> budget_period;
  std::optional<std::string> rpm;
  std::optional<std::string> tpm;

  /// Registers the four flags on `cmd`.
  void add_to(CLI::App& cmd);
  /// The body of PATCH /admin/tenants/ID or /admin/keys/ID they make (JSON text), so that the
  /// values are checked as the admin API checks them (api/admin_handler.h): amounts and the
  /// period as strings, counts as JSON numbers when they are numbers (as given otherwise, which
  /// the API refuses). Errors: no flag given.
  Result<std::string> patch_body() const;
  /// `message`, the admin API's refusal of patch_body() (api::update_key_limits,
  /// update_tenant_limits) whose `param` is `param`, with the fields named by their flags when
  /// `param` is one of them: budget_usd as --budget-usd, budget_period as --budget-period, rpm
  /// as --rpm, tpm as --tpm ("rpm must be a whole number ..." -> "--rpm must be a whole number
  /// ..."), so that the rules stay the API's. Text in single quotes (the values given) is kept.
  static std::string with_flag_names(const std::string& message, const std::string& param);
};

/// `text` (flag `flag`) as a whole number in 0..`max` (decimal digits only). Errors: anything
/// else, naming the flag and the range.
Result<int64_t> parse_count(const std::string& text, const std::string& flag,
                            int64_t max = 1'000'000'000'000);

/// Comma-separated model names ("a,b") as a list. Errors: an empty name ("a,,b", "a,"), a name
/// platform::validate_model_name() refuses (as POST /admin/keys does).
Result<std::vector<std::string>> parse_model_names(const std::string& text,
                                                   const std::string& flag);

/// The rows `keys list` and `tenants list` read per store call (Store::keys_page,
/// Store::tenants_page) as they print every key or tenant: the admin API's largest page, so a
/// list of any length is printed without holding it all.
inline constexpr int64_t kListPageRows = 100;

/// `limits` for a person: "budget 2.5/day, rpm 10, tpm -" ("-": no limit).
std::string limits_text(const platform::Limits& limits);

/// The audit log's actor for a command run by the current OS user: "cli:<user>".
platform::Actor cli_actor();

/// The --help of --db for the commands that create a missing SQLite file and for those that
/// refuse it (open_store()).
inline constexpr const char* kDbCreatedHelp =
    "SQLite file (created when missing) or postgres:// URL";
inline constexpr const char* kDbMustExistHelp = "SQLite file or postgres:// URL (must exist)";

/// True when `db` names a SQLite file that is not there, which open_store() with
/// OpenMode::Create would create.
bool creates_database(const std::string& db);

/// Opens the store at `db` as `mode` says (platform::OpenMode), printing the error and
/// returning null on failure. The rule (docs/platform.md, "A missing --db", "Readers do not
/// migrate"): `serve` and the commands that add something (`tenants create`, `keys create`,
/// `prices set`) pass Create: they create a SQLite file that is not there and say so on stderr
/// ("created the database 'PATH' (there was none)"), after they have checked their input, so that
/// refused input leaves no file; those that change what exists pass Existing and those that only
/// read pass Read, which refuse a path with no database or with a database that is not gengyun's,
/// and (Read) one of an older schema. A migration it made is said on stderr ("migrated the
/// database from schema version N to M").
std::unique_ptr<platform::Store> open_store(const std::string& db,
                                            platform::OpenMode mode = platform::OpenMode::Create);

/// "migrated the database from schema version N to M" when opening `store` migrated its
/// database (Store::schema_version_found() between 1 and kStoreSchemaVersion - 1), else "":
/// what `serve`, open_store() and `gengyun migrate` say of it.
std::string migration_note(const platform::Store& store);

}  // namespace gengyun::cli
