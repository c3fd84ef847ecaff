// The platform Store on PostgreSQL (`--db postgres://...`), for several servers sharing one
// ledger, one set of budgets and one set of rate windows.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <tuple>

#include "platform/key_cache.h"
#include "platform/pg_connection.h"
#include "platform/pg_key_listener.h"
#include "platform/store.h"
#include "util/clock.h"

namespace gengyun::platform {

/// Tokens to give back to PostgreSQL rate buckets, by (second, scope, scope id): the order in
/// which every transaction of PostgresStore locks rate buckets (admissions: the buckets they
/// delete, older than any they count, then those they count; settlements: those they give
/// back to, all at the end of their transaction), so that two servers' transactions never wait
/// on each other's buckets in a cycle.
using GiveBacks = std::map<std::tuple<int64_t, std::string, int64_t>, int64_t>;

/// How old a server's heartbeat (its row in the table servers, written by its start_server()
/// and each of its close_interrupted(), every 5 s in `serve`) may be, in microseconds of the
/// database's clock, for the server to count as live while its advisory lock is free: three
/// reconcile periods, so that a live server whose lock's session alone ended (pg_terminate_backend,
/// a network cut) takes the lock again before anyone judges it gone, even after a slow pass.
inline constexpr int64_t kServerHeartbeatBoundUs = 15'000'000;

/// A small pool of libpq connections (pg_connection.h: up to 8), so that admissions of
/// concurrent requests do not queue behind each other or behind the ledger writer. Admission locks
/// the tenant's row (SELECT ... FOR UPDATE) for its transaction, so admissions of one tenant
/// serialise across every server on the database and its budgets and rate limits hold for all of
/// them together. Commits are durable when they return (the server's synchronous_commit, on by
/// default), except admissions': they commit with synchronous_commit off, and a row a crash of
/// PostgreSQL takes back is written whole by its request's next checkpoint or settlement
/// (LedgerWrite::carries_admission).
///
/// Key cache: the first authenticate() starts a PgKeyListener, which applies the notices the
/// schema's triggers send on every change of a key or a tenant, by any server or command; the
/// store's own changes also evict at once. Until the listener confirms, and whenever it has not
/// for 1 s, keys are read from the database.
///
/// Clock: now_us() is the local clock plus its offset to the database's `clock_timestamp()`,
/// measured at open and at every heartbeat (keep_server_live(), every 5 s in `serve`) as the
/// database's time against the midpoint of the local times around the query, so within half a
/// round trip (plus the local clock's drift over 5 s). Requests are stamped with it, so rate
/// windows and budget days are the same for every server on the database whatever their own
/// clocks say (docs/platform.md, "One clock for servers sharing PostgreSQL").
class PostgresStore final : public Store {
 public:
  /// Connects to `url` and checks or migrates the schema as `mode` says (postgres_schema.h);
  /// every later round trip to the database, and every wait for a pooled connection, ends
  /// within `deadlines.round_trip`, and after one went unanswered the pool refuses at once for
  /// `deadlines.retry_after` (pg_connection.h). Errors: the connection's, the schema's.
  static Result<std::unique_ptr<Store>> open(const std::string& url, OpenMode mode,
                                             pg::Deadlines deadlines = {});
  /// Deletes the server's heartbeat and releases its advisory lock before the connection
  /// closes, so that other servers see at once that it is gone (PostgreSQL releases the lock on
  /// its own only once it notices the closed connection, and the heartbeat would count for
  /// kServerHeartbeatBoundUs).
  ~PostgresStore() override;

  Result<TenantInfo> create_tenant(const std::string& name, const Limits& limits,
                                   const Actor& actor) override;
  Result<std::vector<TenantInfo>> tenants_page(const Page& page) override;
  Result<std::optional<TenantInfo>> find_tenant(int64_t tenant_id) override;
  Result<std::optional<TenantInfo>> find_tenant_named(const std::string& name) override;
  Result<TenantInfo> set_tenant_limits(int64_t tenant_id, const Limits& limits,
                                       const Actor& actor) override;
  using Store::create_key;
  Result<std::string> create_key(const NewKey& key, const Actor& actor) override;
  Result<std::vector<KeyInfo>> keys_page(const KeyPage& query) override;
  Result<std::optional<KeyInfo>> find_key(int64_t key_id) override;
  Result<std::optional<KeyInfo>> find_active_key_named(int64_t tenant_id,
                                                       const std::string& name) override;
  Result<std::vector<KeyInfo>> keys_named(const std::string& name) override;
  Result<KeyInfo> revoke_key(const std::string& name, const Actor& actor,
                             const std::string& tenant) override;
  Result<void> revoke_key_id(int64_t key_id, const Actor& actor) override;
  Result<KeyInfo> set_key_limits(int64_t key_id, const Limits& limits,
                                 const Actor& actor) override;
  Result<std::optional<KeyInfo>> authenticate(std::string_view secret) override;
  const KeyCache& key_cache() const override { return key_cache_; }
  Result<void> set_price(const std::string& model, const Price& price, const Actor& actor) override;
  Result<std::optional<Price>> price(const std::string& model) override;
  Result<std::vector<ModelPrice>> prices_page(const PricePage& page) override;
  Result<std::vector<Result<Admission>>> admit_batch(
      const std::vector<AdmissionRequest>& requests) override;
  Result<void> checkpoint(const std::string& request_id, const TokenCounts& tokens,
                          int64_t at_us) override;
  Result<UsageRecord> settle(const std::string& request_id, const Settlement& settlement) override;
  Result<std::string> start_server() override;
  Result<int64_t> close_interrupted() override;
  Result<void> fold_spend() override;
  Result<void> record_usage(const UsageRecord& record) override;
  Result<std::vector<Result<void>>> apply_writes(const std::vector<LedgerWrite>& writes,
                                                 Durability durability) override;
  Result<std::vector<UsageRecord>> usage_rows() override;
  Result<std::optional<UsageRecord>> usage_row(const std::string& request_id) override;
  Result<std::vector<UsageSummary>> usage_summary() override;
  Result<std::vector<UsageGroup>> usage_groups(const UsageQuery& query) override;
  Result<std::vector<AuditEntry>> audit_page(const Page& page) override;
  int64_t now_us() const override {
    return unix_time_us() + clock_offset_us_.load(std::memory_order_relaxed);
  }

 private:
  PostgresStore(std::unique_ptr<pg::Pool> pool, std::string url, std::chrono::milliseconds timeout)
      : pool_(std::move(pool)), url_(std::move(url)), timeout_(timeout) {}
  /// Measures the offset of the local clock to the database's on `conn` and keeps it for
  /// now_us(): runs `sql` (one round trip), whose first row's first column is the database's
  /// clock_timestamp() in microseconds since the epoch (kDatabaseClock, or the heartbeat, which
  /// returns the time it records). Errors: the connection's.
  Result<void> measure_clock_offset(pg::Connection& conn, std::string_view sql,
                                    const std::vector<pg::Param>& params = {});
  Result<void> audit(pg::Connection& conn, const Actor& actor, std::string_view action,
                     const std::string& target, const std::string& detail);
  /// Revokes the active `key` and logs it; in the caller's transaction on `conn`.
  Result<void> revoke_locked(pg::Connection& conn, const KeyInfo& key, const Actor& actor);
  /// Whether server `id` holds its advisory lock or has a heartbeat in `fresh` (this store's own
  /// server counts as live).
  Result<bool> server_is_live(pg::Connection& conn, const std::string& id,
                              const std::set<std::string>& fresh);
  /// Records this server's heartbeat on the connection holding its advisory lock, or, when that
  /// one is gone (a PostgreSQL restart or a terminated session ends the lock with it), on a new
  /// connection that then takes the lock again. Nothing to do before start_server(). Errors:
  /// the connection's, or the lock taken by another session (the heartbeat is written first).
  Result<void> keep_server_live();
  /// Applies `writes` as apply_writes() does, in one transaction on `conn` made of two round
  /// trips whatever their number (libpq pipelines): BEGIN and the reads (the open rows of the
  /// checkpoints and settlements, locked; the records' request ids and keys), then, decided in
  /// C++ in the writes' order, one UPDATE for the checkpoints, one for the settlements, one
  /// INSERT for the records, the tokens given back, and COMMIT, which waits for the disk when
  /// `sync` (else synchronous_commit is off for it). Rolled back on an error.
  Result<std::vector<Result<void>>> apply_batch(pg::Connection& conn,
                                                const std::vector<LedgerWrite>& writes,
                                                bool sync = true);
  /// apply_batch() without the rollback.
  Result<std::vector<Result<void>>> apply_in_transaction(pg::Connection& conn,
                                                         const std::vector<LedgerWrite>& writes,
                                                         bool sync);

  std::unique_ptr<pg::Pool> pool_;
  std::mutex server_mutex_;  ///< start_server()
  /// The connection holding the server's advisory lock, out of the pool (after start_server).
  std::unique_ptr<pg::Connection> server_conn_;
  std::string server_id_;  ///< start_server()'s id ("" before); set before serving
  /// pg_postmaster_start_time() in microseconds since the epoch when start_server() ran: a
  /// later one means PostgreSQL restarted while this server lived (close_interrupted()'s grace).
  int64_t postmaster_started_us_ = 0;
  const std::string url_;
  const std::chrono::milliseconds timeout_;  ///< of every round trip (pg_connection.h)
  /// The database's clock minus the local one, in microseconds (measure_clock_offset()).
  std::atomic<int64_t> clock_offset_us_{0};
  KeyCache key_cache_;
  std::once_flag listener_started_;
  /// Feeds key_cache_ (declared after it: stopped first); started by the first authenticate().
  std::unique_ptr<PgKeyListener> key_listener_;
};

}  // namespace gengyun::platform
