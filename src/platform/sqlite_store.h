// The platform Store on SQLite: one file, WAL journal, for a single server or several on one
// machine.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "platform/key_cache.h"
#include "platform/sqlite_key_revision.h"
#include "platform/sqlite_statement.h"
#include "platform/store.h"

struct sqlite3;

namespace gengyun::platform {

/// One SQLite connection guarded by a mutex; WAL journal mode so readers in other processes
/// (the CLI's `keys list` while a server runs) do not block writers; a 5 s busy timeout when
/// another process holds the write lock. Admission takes the write lock (BEGIN IMMEDIATE), so
/// budgets and rate limits hold across every process sharing the file.
///
/// Key cache: every authenticate() reads the auth_revision counter on a connection of its own
/// (SqliteKeyRevision; one row, no wait for this store's connection) and empties the cache when
/// it moved, so a change made by any process, `gengyun keys revoke` included, shows at the
/// next request; the store's own changes also evict at once (an in-memory database has no
/// other connection and no revision read).
///
/// Durability: synchronous=FULL. In WAL mode NORMAL would skip the fsync of the WAL at each
/// commit, so a power loss or OS crash could roll back the most recent commits, i.e. usage that
/// a client was already billed for; FULL makes every commit durable when it returns. Group
/// admissions (admit_batch) alone commit at NORMAL: the WAL is written in order, so the next
/// FULL commit (the request's checkpoint or settlement) makes its admission durable too, and an
/// admission that a power loss takes back goes with the process that would have settled it
/// (billed as an interrupted row without a checkpoint would be: nothing).
class SqliteStore final : public Store {
 public:
  /// See Store::open().
  static Result<std::unique_ptr<Store>> open(const std::string& path, OpenMode mode);
  ~SqliteStore() override;

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

 private:
  SqliteStore(sqlite3* db, std::string path)
      : db_(db),
        statements_(std::make_unique<sqlite::StatementCache>(db)),
        path_(std::move(path)),
        key_revision_(path_) {}
  Error fail(std::string_view what, const Error& cause) const;
  Result<void> audit(const Actor& actor, std::string_view action, const std::string& target,
                     const std::string& detail);
  // The ledger writes (mutex_ held, in the caller's transaction). The outer error is the
  // database's; a returned Error is the write's refusal (it never applies).
  Result<void> checkpoint_locked(const std::string& request_id, const TokenCounts& tokens,
                                 int64_t at_us);
  /// Sets *row_id (when given) to the settled row's id.
  Result<std::optional<Error>> settle_locked(const std::string& request_id,
                                             const Settlement& settlement, int64_t* row_id);
  Result<std::optional<Error>> record_locked(const UsageRecord& record);
  /// A checkpoint or settlement `write` that carries its admission and whose request id no
  /// row has: inserts the whole row (LedgerWrite::carries_admission). Sets *restored to whether
  /// it did (false: a row with that id exists).
  Result<std::optional<Error>> restore_locked(const LedgerWrite& write, bool* restored);
  /// apply_writes() in one transaction, mutex_ held, at the connection's synchronous setting.
  Result<std::vector<Result<void>>> apply_writes_locked(const std::vector<LedgerWrite>& writes);
  /// Revokes the active `key` and logs it; in the caller's transaction, mutex_ held.
  Result<void> revoke_locked(const KeyInfo& key, const Actor& actor);
  /// store_rules.h's keeps_an_admin_key() for revoking `key` now, reading the active, unexpired
  /// admin keys in the caller's transaction (BEGIN IMMEDIATE: no other writer until it ends),
  /// mutex_ held. Errors: the refusal, database errors (after `what`).
  Result<void> keep_an_admin_key_locked(const KeyInfo& key, const std::string& what);
  /// The lock file of server `id`; "" for an in-memory database (no other process sees it).
  std::string server_lock_path(const std::string& id) const;
  /// Whether server `id` holds its lock file (this store's own server counts as live).
  bool server_is_live(const std::string& id) const;

  std::mutex mutex_;
  sqlite3* db_;
  std::unique_ptr<sqlite::StatementCache> statements_;  ///< db_'s; reset before it is closed
  std::string path_;
  std::string server_id_;    ///< start_server()'s id; "" before
  int server_lock_fd_ = -1;  ///< holds the flock that says this server is live
  KeyCache key_cache_;
  SqliteKeyRevision key_revision_;  ///< unused for ":memory:"
};

}  // namespace gengyun::platform
