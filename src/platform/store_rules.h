// What every Store backend does the same way: validation of names, limits, counts and rows,
// the texts of the audit log, and the admission decision itself (budgets, then rates), so
// that the backends only read and write their database.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "gengyun/result.h"
#include "platform/store.h"

namespace gengyun::platform {

/// Why Store::open() with OpenMode::Existing or Read refuses a database without gengyun's
/// schema (an empty SQLite file or PostgreSQL database, another program's database), which it
/// leaves as it was.
inline constexpr std::string_view kNoSchemaError =
    "the database has no gengyun schema (create it with `gengyun keys create` or `gengyun "
    "serve`)";
/// The error of opening, to write, a database without gengyun's schema that holds tables of
/// another program: the schema is created only in an empty database (the tables' names follow).
inline constexpr std::string_view kForeignTablesError =
    "the database holds tables that are not gengyun's and no gengyun schema; give a new or an "
    "empty database, or a gengyun one";

/// The error of opening a database whose schema version `version` is newer than this build's:
/// "the database has schema version V, newer than this gengyun understands (N); run a gengyun
/// release at least as new as the one that wrote it".
Error newer_schema_error(int64_t version);
/// The error of opening with OpenMode::Read a database whose schema version `version` is older
/// than this build's, which a reader does not migrate: "the database has schema version V,
/// older than this gengyun's (N), and a command that reads does not migrate it; migrate it
/// with `gengyun migrate --db` (gengyun releases before this one then refuse it)".
Error older_schema_error(int64_t version);
/// The error of opening a database with gengyun's tables whose schema version `version` (as
/// shown: "-5", "'abc'") is below 1 or no integer, which no gengyun writes (a hand-edited or
/// damaged file; QA: a negative one read outside the migrations' table): "the database has schema
/// version V, which no gengyun writes (1 to N): it was edited or is damaged; restore it from a
/// backup".
Error unknown_schema_error(const std::string& version);

/// Names of tenants and keys are at most this many bytes.
inline constexpr size_t kMaxNameBytes = 200;

/// The error of a command that acts (`action`: "revoke", "update") on the active key named
/// `name` without naming its tenant, when active keys of `tenants` (> 1) tenants have that name:
/// "cannot ACTION API key 'NAME': N tenants have an active key of that name; give its --tenant
/// or its --id".
Error ambiguous_key_name(std::string_view action, const std::string& name, size_t tenants);

/// The key that revoking the key named `name` revokes among `named`, every key of that name in
/// the tenant named `tenant`, or in every tenant when `tenant` is "" (at most one active per
/// tenant: the schema's unique index): the active one. Errors: "cannot revoke API key: no key
/// is named 'NAME'[ in tenant 'TENANT']" when `named` is empty, "cannot revoke API key
/// 'NAME'[ in tenant 'TENANT']: it is already revoked (id ID)" when none is active (the newest
/// revoked key's id), ambiguous_key_name() when several are (of as many tenants).
Result<KeyInfo> key_to_revoke(const std::string& name, const std::vector<KeyInfo>& named,
                              const std::string& tenant = "");

/// How the error of revoking the last active, unexpired admin key ends (keeps_an_admin_key()).
inline constexpr std::string_view kLastAdminKey =
    "it is the last active admin key; create another admin key first";

/// Whether revoking `key` at `now_us` (microseconds since the Unix epoch) leaves an admin key
/// that the admin API accepts. `admin_ids` holds the ids of every active (unrevoked), unexpired
/// (no expiry, or one after `now_us`) admin key, read in the revocation's transaction (and, on
/// PostgreSQL, locked by it). Errors: "cannot revoke API key 'NAME' (id ID): " + kLastAdminKey
/// when `key` is such a key and `admin_ids` holds no other.
Result<void> keeps_an_admin_key(const KeyInfo& key, const std::vector<int64_t>& admin_ids,
                                int64_t now_us);
/// Whether `error` is keeps_an_admin_key()'s refusal (the API answers it with 409).
bool is_last_admin_key_error(const Error& error);

/// True for the statuses of closed rows ("ok", "error", "cancelled", "shutdown",
/// "interrupted").
bool is_closed_status(std::string_view status);

/// Errors: a negative count, cached_prompt_tokens > prompt_tokens.
Result<void> validate_counts(const TokenCounts& tokens);
/// Errors (for record_usage): invalid counts, finished before started, http_status outside
/// 100..599, a status that is not closed, a negative cost.
Result<void> validate_record(const UsageRecord& record);
/// Errors (for settle): invalid counts, a status that is not closed, http_status outside
/// 100..599.
Result<void> validate_settlement(const Settlement& settlement);
/// The token counts a LedgerWrite carries.
TokenCounts counts_of(const UsageRecord& row);
/// The Settlement a LedgerWrite of kind Settle carries.
Settlement settlement_of(const UsageRecord& row);
/// Errors: an empty request id (Checkpoint, Settle), what validate_counts(),
/// validate_settlement() or validate_record() refuse for its kind; each names the request.
Result<void> validate_write(const LedgerWrite& write);
/// The refusal `why` of `write`, naming what was refused ("cannot settle request 'r': ...").
Error describe_refusal(const LedgerWrite& write, const Error& why);

/// How long the ledger writer's writes may stay off the disk, in microseconds (docs/platform.md,
/// "A round of checkpoints commits without waiting for the disk"): a batch of checkpoints alone
/// commits without a sync while the last synced batch is younger than this, so a power loss or
/// an OS crash loses at most this much of the streams' checkpoints (a kill -9 of the server
/// loses none: the commit is in the operating system's hands).
inline constexpr int64_t kCheckpointSyncBoundUs = 1'000'000;

/// Whether the write batch `writes`, committed at `now_us` (a monotonic clock, microseconds)
/// when the last batch that reached the disk committed at `last_sync_us`, must reach the disk
/// before it returns: when it holds a settlement or a record (a completed response is
/// acknowledged only once its row is durable), or the last sync is kCheckpointSyncBoundUs old
/// or older.
bool must_sync(const std::vector<LedgerWrite>& writes, int64_t now_us, int64_t last_sync_us);

/// Errors: a negative budget, rpm or tpm.
Result<void> validate_limits(const Limits& limits);
/// The rule for every price set (the CLI, POST /admin/prices, a prices file, the store).
/// Errors: a negative price; a cached-input price above the input price (a prompt token found
/// in the prefix cache never costs more than one computed), naming both amounts.
Result<void> validate_price(const Price& price);
/// Errors: `name` (of a `what`: "tenant", "key") empty, over kMaxNameBytes, or not of the safe
/// charset: ASCII letters, digits, '.', '_', '-', starting with a letter, digit or '_'. Names
/// appear in CSV reports, logs and shells, so none can start a spreadsheet formula ('=', '+',
/// '-', '@') or hold quotes, commas, spaces or line breaks.
Result<void> validate_name(std::string_view what, const std::string& name);
/// The rule for a model name of prices, a key's models and usage filters: any name that
/// deploy may serve as a model id (util::model_name_flaw: letters of every script, spaces
/// inside, "org/model:tag"; no comma, as join_models() needs), so that every served model can
/// be priced and named in a key's models. Errors: `model` empty, over kMaxNameBytes, or a flaw
/// ("the model name holds the space U+00A0, ..."; the name itself is not quoted).
Result<void> validate_model_name(const std::string& model);
/// `models` joined with ',' (as stored). Errors: an empty name or one holding a comma.
Result<std::string> join_models(const std::vector<std::string>& models);
/// The stored text split at ','; "" gives no models.
std::vector<std::string> split_models(const std::string& joined);

/// Audit details: "budget_usd=2.5 budget_period=day rpm=5 tpm=100" (set fields only).
std::string describe_limits(const Limits& limits);
/// The audit detail of limits set to `limits` (tenant.limits, key.limits): describe_limits(),
/// "no limits" when none is set (every limit removed).
std::string describe_new_limits(const Limits& limits);
/// "tenant=T role=R[ models=a,b][ expires_at_us=N][ limits]".
std::string describe_key(const NewKey& key, const std::string& joined_models);
/// "input=0.15 cached_input=0.075 output=0.6 (USD per 1M tokens)".
std::string describe_price(const Price& price);

/// The SQL of a usage report in either dialect (`placeholder` '?' for SQLite's ?N, '$' for
/// PostgreSQL's $N): SELECT id, name, the sums, and the key's tenant id and name (0 and '' when
/// not grouped by key), unordered (finish_groups() orders them),
/// with parameters 1 start_us, 2 end_us, 3 key_id or NULL, 4 tenant_id or NULL. Grouped by
/// model, rows without a model (requests refused before one was read: they cost nothing) are
/// left out.
std::string usage_groups_sql(UsageGroupBy group_by, char placeholder);

/// Names the days of a report grouped by day and orders the groups by tenant name (keys' groups
/// only), name (bytes), then id.
void finish_groups(UsageGroupBy group_by, std::vector<UsageGroup>& groups);

/// "YYYY-MM-DD" of day `day` since the Unix epoch (UTC).
std::string day_name(int64_t day);

/// The error text of a row closed at a restart.
inline constexpr std::string_view kInterruptedError =
    "the server stopped before the request ended; billed up to its last checkpoint";

/// A request's worst case: prompt + max completion tokens, and their cost at the price.
struct Reservation {
  int64_t micro_usd = 0;
  int64_t tokens = 0;
};
/// Errors: the cost overflows (cost_micro_usd).
Result<Reservation> reserve(const AdmissionRequest& request, const Price& price);

/// The counts of one second of a scope's rate window.
struct RateBucket {
  int64_t second = 0;  ///< rate_second() of the admissions it counts
  int64_t requests = 0;
  int64_t tokens = 0;  ///< reserved at admission, less what settlement gave back
};

/// One scope of an admission (the key, then its tenant) as the database holds it now.
struct ScopeUsage {
  std::string label;  ///< "key 'a'", "tenant 'acme'"
  Limits limits;
  int64_t spent_micro_usd = 0;  ///< settled costs + open reservations in the budget's period
  /// The buckets of the rate window (second >= rate_window_first_second()), in any order;
  /// buckets of later seconds (another server's clock ahead of this one) count too.
  std::vector<RateBucket> window = {};
};

/// The rate bucket (second since the Unix epoch) that `at_us` (>= 0) falls in.
inline int64_t rate_second(int64_t at_us) { return at_us / kRateBucketUs; }
/// The oldest bucket of the window at `at_us`: buckets before it are out of the window (and
/// deleted at the scope's next admission).
inline int64_t rate_window_first_second(int64_t at_us) {
  return rate_second(at_us) - (kRateWindowBuckets - 1);
}

/// The decision on `request`: OverBudget when a scope's spend plus the reservation exceeds
/// its budget, else OverRate when one more request or the reserved tokens exceed a scope's
/// rpm / tpm in the sliding window, else Admitted; with the messages for the client, the tighter
/// rate status of the two scopes and, for OverRate, Retry-After: the whole seconds (>= 1) until
/// enough of the oldest buckets leave the windows for the request to fit both scopes, or 0
/// when it fits no window (an rpm of 0, a reservation over a tpm; that scope's message says
/// so). `price` and the reservation are copied in.
Admission decide_admission(const AdmissionRequest& request, const Price& price,
                           const Reservation& reservation, const ScopeUsage (&scopes)[2]);

}  // namespace gengyun::platform
