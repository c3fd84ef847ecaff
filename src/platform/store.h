// The platform store: tenants, API keys, prices, limits, the usage ledger and the audit log,
// behind one interface with one implementation per database (sqlite_store.h,
// postgres_store.h). Billing policy (what a request costs, whether it is
// admitted) lives here, not in the API layer.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gengyun/result.h"
#include "platform/limits.h"
#include "platform/money.h"
#include "platform/sha256.h"

namespace gengyun::platform {

class KeyCache;

/// The tenant that keys created without --tenant belong to (id 1, created by the schema).
inline constexpr std::string_view kDefaultTenant = "default";

/// A tenant (an organisation): its keys share its limits.
struct TenantInfo {
  int64_t id = 0;
  std::string name;
  Limits limits;
  int64_t created_at_us = 0;  ///< microseconds since the Unix epoch
};

/// An API key as shown to operators; the secret itself is never kept.
struct KeyInfo {
  int64_t id;
  std::string name;
  std::string prefix;     ///< first 8 chars of the key ("gy-" + 5), for display
  int64_t created_at_us;  ///< microseconds since the Unix epoch
  std::optional<int64_t> revoked_at_us;
  int64_t tenant_id = 1;
  Role role = Role::Member;
  std::optional<int64_t> expires_at_us = {};  ///< the key is refused from then on
  std::vector<std::string> models = {};       ///< models it may use; empty: all
  Limits limits = {};
};

/// What create_key() makes.
struct NewKey {
  std::string name;
  std::string tenant = std::string(kDefaultTenant);  ///< by name
  Role role = Role::Member;
  Limits limits = {};
  std::vector<std::string> models = {};  ///< empty: all models
  std::optional<int64_t> expires_at_us = {};
};

/// The prices of one model.
struct ModelPrice {
  std::string model;
  Price price;
};

/// Who performed an admin action, for the audit log: a key, or a local command ("cli").
struct Actor {
  std::optional<int64_t> key_id;
  std::string name = "cli";
};

/// One row of the audit log.
struct AuditEntry {
  int64_t at_us;
  std::optional<int64_t> actor_key_id;
  std::string actor;
  std::string action;  ///< "tenant.create", "key.create", "key.revoke", "price.set"
  std::string target;  ///< the name of what was acted on
  std::string detail;  ///< the values set, as text
  int64_t id = 0;      ///< its place in the log: increasing, from 1
};

/// One page of a list read in id order (the admin API's `limit` and `after`): the rows whose
/// id is above `after_id`, at most `limit` (>= 1) of them.
struct Page {
  int64_t after_id = 0;
  int64_t limit = 1;
};

/// One page of the prices read in model-name order (GET /admin/prices' `limit` and `after`):
/// the models whose names come after `after_model` in byte order ("": from the first), at most
/// `limit` (>= 1) of them.
struct PricePage {
  std::string after_model;
  int64_t limit = 1;
};

/// Which keys Store::keys_page() reads.
struct KeyPage {
  Page page;
  std::optional<int64_t> tenant_id;  ///< only the keys of this tenant; nullopt: every tenant's
  bool admin_keys = true;            ///< false: leaves out keys of role admin
};

/// Statuses of closed ledger rows: "ok", "error", "cancelled" (the client left), "shutdown"
/// (the server ended it), "interrupted" (the server died; closed at the next start from its
/// last checkpoint). A row being served is "open".
inline constexpr std::string_view kOpenStatus = "open";

/// One request's row of the usage ledger, as billed.
struct UsageRecord {
  int64_t key_id;
  std::string model;
  int64_t prompt_tokens;
  int64_t completion_tokens;
  int64_t started_at_us;        ///< microseconds since the Unix epoch
  int64_t finished_at_us;       ///< >= started_at_us
  std::string endpoint;         ///< "/v1/chat/completions"
  int http_status;              ///< 100..599
  std::string status;           ///< a closed status (above)
  std::string error;            ///< empty when status is "ok"
  std::string request_id = {};  ///< unique; record_usage() makes one when empty
  int64_t cached_prompt_tokens = 0;
  int64_t cost_micro_usd = 0;
  Price price = {};  ///< the prices the cost was computed with
  int64_t tenant_id = 0;
  /// The client's end user (the OpenAI request field `user`), at most kMaxEndUserBytes; ""
  /// when the request named none.
  std::string end_user = {};
};

/// The longest end-user id a ledger row records (the API refuses a longer `user`).
inline constexpr size_t kMaxEndUserBytes = 256;

/// Usage of one key with one model, summed over the whole ledger.
struct UsageSummary {
  std::string key_name;
  int64_t key_id;
  std::string model;
  int64_t requests;
  int64_t prompt_tokens;
  int64_t completion_tokens;
  int64_t cost_micro_usd = 0;
  std::string tenant_name = {};  ///< the key's tenant (key names are a tenant's own)
  int64_t tenant_id = 0;
  int64_t cached_prompt_tokens = 0;
};

/// How usage is grouped (GET /v1/usage, `gengyun usage`).
enum class UsageGroupBy { Key, Model, Day, Tenant, User };

/// Which rows a usage report sums: those started in [start_us, end_us), of one key or one
/// tenant when set (a member sees its key, an owner its tenant, an admin everything).
struct UsageQuery {
  int64_t start_us = 0;
  int64_t end_us = 0;
  UsageGroupBy group_by = UsageGroupBy::Key;
  std::optional<int64_t> key_id = {};
  std::optional<int64_t> tenant_id = {};
};

/// One group of a usage report. `id` is the key's or tenant's id, or the day's number since
/// the Unix epoch (UTC); 0 for models and end users. `name` is the key's, model's, tenant's or
/// end user's name ("" for the requests that named no end user), or the day as "YYYY-MM-DD".
/// A key's and an end user's group also name its tenant (key names and end-user ids are a
/// tenant's own, so two tenants may each have a key "bot" or a user "u1"); other groups leave
/// tenant_id 0 and tenant_name "".
struct UsageGroup {
  int64_t id = 0;
  std::string name;
  int64_t requests = 0;
  int64_t prompt_tokens = 0;
  int64_t cached_prompt_tokens = 0;
  int64_t completion_tokens = 0;
  int64_t cost_micro_usd = 0;
  int64_t tenant_id = 0;
  std::string tenant_name = {};
};

/// A request asking to be served: its worst case is reserved against the budgets and rates.
struct AdmissionRequest {
  std::string request_id;  ///< unique (the response id)
  int64_t key_id = 0;
  std::string model;
  std::string endpoint;
  int64_t prompt_tokens = 0;
  int64_t max_completion_tokens = 0;  ///< the most it can generate
  int64_t started_at_us = 0;          ///< now; also picks the rate window and budget period
  /// The model whose prices apply when `model` has none (a LoRA derivative's base); "" none.
  std::string price_fallback = {};
  std::string end_user = {};  ///< UsageRecord::end_user
};

/// The tighter of the key's and the tenant's rate limits after an admission, or, for a
/// refused request, without it (the x-ratelimit-* headers); absent where neither has a limit.
struct RateStatus {
  std::optional<int64_t> limit_requests, remaining_requests;
  std::optional<int64_t> limit_tokens, remaining_tokens;
};

/// The answer to an AdmissionRequest.
struct Admission {
  enum class Outcome { Admitted, OverBudget, OverRate };
  Outcome outcome = Outcome::Admitted;
  std::string message;    ///< why it was refused, for the client
  /// OverRate: whole seconds (>= 1) until enough of the sliding window's oldest buckets leave
  /// for it to fit; 0 when no window can admit it (an rpm of 0, a worst case over the tpm).
  int retry_after_s = 0;
  bool over_tokens = false;  ///< OverRate: the tokens-per-minute limit refused it (else requests)
  RateStatus rate;
  Price price;  ///< Admitted: the prices the request is billed at
  int64_t reserved_micro_usd = 0;
  int64_t tenant_id = 0;  ///< Admitted: the tenant of the key, which its row is billed to
};

/// How an admitted request ended.
struct Settlement {
  TokenCounts tokens;
  int http_status = 200;
  std::string status = "ok";  ///< a closed status
  std::string error;
  int64_t finished_at_us = 0;
};

/// One ledger write after admission, as the batched writer (ledger_writer.h) queues it and its
/// spool (ledger_spool.h) keeps it: a checkpoint or a settlement of the open row
/// `row.request_id`, or a closed row of its own (Store::record_usage). A checkpoint uses
/// `row`'s token counts and finished_at_us (the time of the counts); a settlement also its
/// http_status, status and error; a record all of `row`.
struct LedgerWrite {
  enum class Kind { Checkpoint, Settle, Record };
  Kind kind = Kind::Record;
  UsageRecord row = {};
  /// Checkpoint, Settle: `row` also holds what the request's admission wrote (key_id,
  /// tenant_id, model, endpoint, started_at_us, price) and reserved_micro_usd is its
  /// reservation. When no row has the request id at all (the admission was lost: PostgreSQL
  /// admissions commit without waiting for the disk, and a crash of the database takes back
  /// the latest), the write then inserts the whole row, open (a checkpoint) or closed (a
  /// settlement), with reserved_tokens 0: its rate counts were lost with it. Without it, such a
  /// write finds no row (a settlement is refused), as for an id that was never admitted.
  bool carries_admission = false;
  int64_t reserved_micro_usd = 0;
};

/// Whether Store::apply_writes waits for the disk before it returns (docs/platform.md, "A round
/// of checkpoints commits without waiting for the disk"; the ledger writer decides, must_sync()).
enum class Durability {
  Synced,    ///< on disk when it returns (SQLite synchronous = FULL, PostgreSQL's default)
  Unsynced,  ///< committed, in the operating system's hands: survives a crash of the server,
             ///< not a power loss or an OS crash (PostgreSQL's: a crash of the database)
};

/// True for a "postgres://" or "postgresql://" URL (a PostgreSQL database for Store::open);
/// any other path is a SQLite file, unless is_libpq_keywords().
bool is_postgres_url(std::string_view path);

/// True for text that starts as libpq's key=value connection string ("host=db dbname=x",
/// keywords in any case, spaces allowed around '='), which Store::open refuses rather than take
/// it for a SQLite file's name.
bool is_libpq_keywords(std::string_view path);

/// What Store::open may do to the database it finds (docs/platform.md, "A missing --db" and
/// "Readers do not migrate").
enum class OpenMode {
  Create,    ///< creates a missing SQLite file, gives an empty database the schema, migrates an
             ///< older one (`serve`, the commands that add something)
  Existing,  ///< refuses a missing file or a database without gengyun's schema, migrates an
             ///< older one (the commands that change what exists, `migrate`)
  Read,      ///< as Existing, and refuses an older schema instead of migrating it, so that a
             ///< reader writes nothing (`usage`, `keys list`, `tenants list`)
};

/// Keys, tenants, prices, limits, ledger and audit log in one database. Thread-safe. All SQL
/// takes user data through bound parameters only. Every method that changes something is one
/// transaction, durable when it returns.
class Store {
 public:
  /// Opens the database at `path` as `mode` says: a PostgreSQL database for a "postgres://" or
  /// "postgresql://" URL (postgres_store.h), else a SQLite file (":memory:" gives a private
  /// in-memory store). Errors: empty path; libpq's key=value text (is_libpq_keywords()) or
  /// another "scheme://" (PostgreSQL's scheme in capitals: libpq reads it in lowercase only); the
  /// database cannot be created, opened or reached, is not a database, or has a schema from a
  /// newer gengyun; unless OpenMode::Create, a missing file or a database without gengyun's
  /// schema (an empty file or database, another program's; store_rules.h's kNoSchemaError);
  /// with OpenMode::Read, a schema older than this build's (older_schema_error()). A refused
  /// database is left as it was.
  static Result<std::unique_ptr<Store>> open(const std::string& path,
                                             OpenMode mode = OpenMode::Create);

  /// The schema version the database had when it was opened: 0 for a database created then,
  /// below kStoreSchemaVersion (store_schema.h) for one migrated then.
  int64_t schema_version_found() const { return schema_version_found_; }

  virtual ~Store() = default;

  /// Now on the ledger's clock, in microseconds since the Unix epoch: the time requests are
  /// stamped with (`started_at_us`, checkpoints, `finished_at_us`), which places them in rate
  /// windows and budget days, and keys' expiry is compared with. The local clock
  /// (unix_time_us()) on SQLite; on PostgreSQL the local clock corrected by its offset to the
  /// database's, so that servers sharing one database share one clock (postgres_store.h).
  /// Thread-safe.
  virtual int64_t now_us() const;

  /// Creates tenant `name` with `limits`. Errors: a name validate_name() refuses, a tenant of
  /// that name exists, negative limits, database errors.
  virtual Result<TenantInfo> create_tenant(const std::string& name, const Limits& limits,
                                           const Actor& actor = {}) = 0;
  /// The tenants of `page`, by id. Errors: a limit below 1, database errors.
  virtual Result<std::vector<TenantInfo>> tenants_page(const Page& page) = 0;
  /// The tenant with id `tenant_id`; nullopt when there is none. Errors: database errors.
  virtual Result<std::optional<TenantInfo>> find_tenant(int64_t tenant_id) = 0;
  /// The tenant named `name` (bytes, exactly; any text, checked against nothing); nullopt when
  /// there is none. One read of the unique index on tenants' names. Errors: database errors.
  virtual Result<std::optional<TenantInfo>> find_tenant_named(const std::string& name) = 0;
  /// Replaces the limits of tenant `tenant_id` and returns it. Errors: no such tenant,
  /// negative limits, database errors.
  virtual Result<TenantInfo> set_tenant_limits(int64_t tenant_id, const Limits& limits,
                                               const Actor& actor = {}) = 0;

  /// Creates a key in tenant kDefaultTenant with role member and no limits; see below.
  Result<std::string> create_key(const std::string& name) { return create_key(NewKey{name}); }
  /// Creates a key and returns its secret ("gy-" + 43 random base62 characters) exactly once;
  /// only its SHA-256 (hex) is stored. Errors: a name validate_name() refuses, an active key of
  /// that name exists in the key's tenant, an unknown tenant, an empty or comma-holding model name,
  /// negative limits, the random generator fails, database errors.
  virtual Result<std::string> create_key(const NewKey& key, const Actor& actor = {}) = 0;

  /// The keys `query` selects, active and revoked, by id. Errors: a limit below 1, database
  /// errors.
  virtual Result<std::vector<KeyInfo>> keys_page(const KeyPage& query) = 0;
  /// The key with id `key_id`, active or revoked; nullopt when there is none. Errors: database
  /// errors.
  virtual Result<std::optional<KeyInfo>> find_key(int64_t key_id) = 0;
  /// The active (unrevoked) key named `name` (bytes, exactly; any text, checked against
  /// nothing) in tenant `tenant_id`: at most one key has it, names being unique among a
  /// tenant's active keys (other tenants' keys may have it too); nullopt when none has, whatever
  /// revoked keys or other tenants' keys have that name. Expiry is the caller's to check. One
  /// read of the unique index on active keys' tenants and names. Errors: database errors.
  virtual Result<std::optional<KeyInfo>> find_active_key_named(int64_t tenant_id,
                                                               const std::string& name) = 0;
  /// Every key named `name` (bytes, exactly; any text), active and revoked, of every tenant, by
  /// id: what `gengyun keys update --name [--tenant]` reads before it picks the active one. One
  /// read of the index on keys' names. Errors: database errors.
  virtual Result<std::vector<KeyInfo>> keys_named(const std::string& name) = 0;

  /// Revokes the active key named `name` (the name only: never an id or a display prefix;
  /// revoke_key_id() takes an id) of the tenant named `tenant`, or of any tenant when `tenant`
  /// is "", as `gengyun keys revoke --name [--tenant]` does, and returns it as read before its
  /// revocation; the read and the revocation are one transaction. Errors: no tenant is named
  /// `tenant`; store_rules.h's key_to_revoke: no key has that name (there), every key of that
  /// name is already revoked, active keys of several tenants have it; database errors.
  virtual Result<KeyInfo> revoke_key(const std::string& name, const Actor& actor = {},
                                     const std::string& tenant = "") = 0;

  /// Revokes the key with id `key_id`. Errors: no such key, the key is already revoked,
  /// database errors.
  virtual Result<void> revoke_key_id(int64_t key_id, const Actor& actor = {}) = 0;

  /// Replaces the limits of the active key `key_id` and returns it. Errors: no such key, a
  /// revoked key, negative limits, database errors.
  virtual Result<KeyInfo> set_key_limits(int64_t key_id, const Limits& limits,
                                         const Actor& actor = {}) = 0;

  /// The unrevoked key whose secret is `secret` (looked up by its SHA-256; expiry is the
  /// caller's to check); nullopt for an unknown or revoked secret. A key that authenticated
  /// before is answered from key_cache() without reading the database while the cache is
  /// fresh; a change made through this store shows at the next call, one made by another
  /// process or server within 1 s (SQLite: at the next call). Errors: database errors.
  virtual Result<std::optional<KeyInfo>> authenticate(std::string_view secret) = 0;
  /// The cache authenticate() answers from (key_cache.h): what it holds and its events.
  virtual const KeyCache& key_cache() const = 0;

  /// Sets the prices of `model` (replacing earlier ones). Errors: a model name that is not
  /// validate_model_name()'s, prices validate_price() refuses, database errors.
  virtual Result<void> set_price(const std::string& model, const Price& price,
                                 const Actor& actor = {}) = 0;
  /// The prices of `model`; nullopt when none were set (the model is then free).
  virtual Result<std::optional<Price>> price(const std::string& model) = 0;
  /// The prices of `page`, ordered by model name (bytes), read through the index on it.
  /// Errors: a limit below 1, database errors.
  virtual Result<std::vector<ModelPrice>> prices_page(const PricePage& page) = 0;

  /// Admits a request or refuses it, in one transaction: reserves its worst case
  /// (prompt_tokens + max_completion_tokens at the model's current prices) against the spend
  /// budgets of its key and its tenant (settled rows count their cost, open rows their
  /// reservation, within the budget's period), and counts one request and its worst-case
  /// tokens against their rate limits (the sliding window). Admitted: an "open" ledger row is
  /// written. Refused (OverBudget, OverRate): nothing is written. Errors: unknown key, a
  /// duplicate request_id, negative counts, database errors (the caller must then refuse the
  /// request: nothing may be served unbilled). admit_batch() of this one request.
  Result<Admission> admit(const AdmissionRequest& request);

  /// Decides `requests` in order in one transaction (group admission), each as admit() would,
  /// seeing the reservations and rate counts of those admitted before it in the batch, under
  /// the lock that admit() takes (SQLite's write lock; on PostgreSQL the rows of every tenant
  /// in the batch, locked in the order of their ids), so the budgets and rates stay exact
  /// across every server on the database. Returns one result per request: its Admission, or
  /// why it cannot be decided (unknown key, a duplicate request id, negative counts, an empty
  /// request id), which leaves the others as if it had not been asked. Errors: the database
  /// cannot be written (locked past the timeout, I/O, connection lost): nothing admitted.
  /// Cost: one read of each key, tenant and price in the batch and of each scope's spend and
  /// window, then one insert per admitted request and one update per rate bucket. Unlike the
  /// other writes, it commits without waiting for the disk (SQLite: synchronous NORMAL;
  /// PostgreSQL: synchronous_commit off): a crash of the database (not of the server) may take
  /// back the latest admissions, whose rows the requests' writes then restore
  /// (LedgerWrite::carries_admission).
  virtual Result<std::vector<Result<Admission>>> admit_batch(
      const std::vector<AdmissionRequest>& requests) = 0;

  /// Records the counts an open row has reached so far (a long stream's checkpoint). A row
  /// closed as interrupted is closed again from `tokens`, its cost with them (a checkpoint its
  /// gone server spooled: docs/platform.md, "Spooled writes raise or replace an interrupted
  /// closing"); other closed rows and unknown ones are left alone, and so is a row whose
  /// completion tokens are already above `tokens`' (an older checkpoint applied after a newer
  /// one, as a spool replayed after a journal may: ledger_writer.h). Errors: database errors.
  virtual Result<void> checkpoint(const std::string& request_id, const TokenCounts& tokens,
                                  int64_t at_us) = 0;

  /// Closes the open row `request_id` with its actual counts and its cost at the prices of its
  /// admission; the unused part of its token reservation is returned to the minute it was
  /// counted in. Errors: no open row with that id, invalid counts or status, database errors.
  virtual Result<UsageRecord> settle(const std::string& request_id,
                                     const Settlement& settlement) = 0;

  /// Registers this store as a live server of the database and returns its id ("srv-" + 16
  /// base62): rows it admits carry the id; it counts as live until the store is destroyed or
  /// its process dies (PostgreSQL: a session advisory lock, and a heartbeat, postgres_store.h;
  /// SQLite: an flock on the file "<database>-server-<id>.lock" beside it). Errors: a second
  /// call, the lock cannot be taken, database errors.
  virtual Result<std::string> start_server() = 0;

  /// Keeps this server live (PostgreSQL: renews its heartbeat, takes its lock again if lost),
  /// then closes the open rows of servers no longer live (and rows admitted without a server)
  /// as "interrupted" with their last checkpoint, whose time becomes their end. Rows of live
  /// servers, this one included, stay open. Returns how many were closed. Errors: database's.
  virtual Result<int64_t> close_interrupted() = 0;

  /// Folds what was billed since the last fold into the per-day spend sums that budgets read
  /// (schema 8): PostgreSQL's ledger trigger appends each change to spend_deltas, folded here
  /// into spend_days by one server at a time (another folding meanwhile: nothing to do);
  /// SQLite's triggers keep the sums themselves (nothing to do). A budget reads the same spend
  /// before and after. The Reconciler calls it after each close_interrupted(). Errors: the
  /// database's.
  virtual Result<void> fold_spend() = 0;

  /// Appends one closed row (a request that ended before admission, e.g. invalid). Revoked
  /// keys may still be billed. Errors: no key with record.key_id, negative token counts,
  /// finished_at_us before started_at_us, http_status outside 100..599, status not a closed
  /// status, a duplicate request_id, database errors.
  virtual Result<void> record_usage(const UsageRecord& record) = 0;

  /// Applies `writes` in order in one transaction (group commit): each as checkpoint(),
  /// settle() or record_usage() would, inside a savepoint of its own. Returns one result per
  /// write: ok, or why that write is refused, which it always will be (invalid counts, no open
  /// row to settle, a duplicate request id, an unknown key); a refused write changes nothing and
  /// the others still apply. So applying the same writes again, or an older checkpoint after a
  /// newer one, changes nothing: a settlement only closes an open row, a record only inserts a
  /// new request id, a checkpoint never lowers a row's completion tokens. Errors: the database
  /// cannot be written (locked past the busy timeout, I/O, connection lost): nothing applied.
  /// Unlike the other methods, durable when it returns only when `durability` is Synced.
  virtual Result<std::vector<Result<void>>> apply_writes(const std::vector<LedgerWrite>& writes,
                                                         Durability durability) = 0;

  /// Every ledger row in insertion order (tests, audits).
  virtual Result<std::vector<UsageRecord>> usage_rows() = 0;

  /// The ledger row of `request_id`, open (status "open", finished_at_us its started_at_us) or
  /// closed; none when no row has that id. Errors: database errors.
  virtual Result<std::optional<UsageRecord>> usage_row(const std::string& request_id) = 0;

  /// Requests, token and cost sums per key and model, ordered by the key's tenant name, key
  /// name, model, key id (revoked keys can share a name with a later key; keys of two tenants
  /// can share a name).
  virtual Result<std::vector<UsageSummary>> usage_summary() = 0;

  /// Requests, token and cost sums of the rows `query` selects (open rows count their
  /// checkpoint and no cost yet), one group per key, model, UTC day or tenant, ordered by
  /// group (keys by tenant name, name, id; models and tenants by name, then id; days by date); grouped by model,
  /// without the rows that have no model (refused before one was read, at no cost). Errors:
  /// database errors.
  virtual Result<std::vector<UsageGroup>> usage_groups(const UsageQuery& query) = 0;

  /// The entries of the audit log in `page` (by AuditEntry::id), oldest first. Errors: a limit
  /// below 1, database errors.
  virtual Result<std::vector<AuditEntry>> audit_page(const Page& page) = 0;

 protected:
  int64_t schema_version_found_ = 0;  ///< set by the backend's open
};

}  // namespace gengyun::platform
