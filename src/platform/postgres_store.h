// The platform Store on PostgreSQL (`--db postgres://...`), for several servers sharing one
// ledger, one set of budgets and one set of rate windows.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "platform/pg_connection.h"
#include "platform/store.h"

namespace gengyun::platform {

/// A small pool of libpq connections (pg_connection.h: up to 8), so that admissions of
/// concurrent requests do not queue behind each other or behind the ledger writer. Admission locks
/// the tenant's row (SELECT ... FOR UPDATE) for its transaction, so admissions of one tenant
/// serialise across every server on the database and its budgets and rate limits hold for all of
/// them together. Commits are durable when they return (the server's synchronous_commit, on by
/// default).
class PostgresStore final : public Store {
 public:
  /// Connects to `url` and migrates the schema (postgres_schema.h). Errors: the connection's,
  /// the schema's.
  static Result<std::unique_ptr<Store>> open(const std::string& url, bool must_exist);
  /// Releases the server's advisory lock before the connection closes, so that other servers
  /// see at once that it is gone (PostgreSQL releases it on its own only once it notices the
  /// closed connection).
  ~PostgresStore() override;

  Result<TenantInfo> create_tenant(const std::string& name, const Limits& limits,
                                   const Actor& actor) override;
  Result<std::vector<TenantInfo>> list_tenants() override;
  Result<std::vector<TenantInfo>> tenants_page(const Page& page) override;
  Result<std::optional<TenantInfo>> find_tenant(int64_t tenant_id) override;
  Result<TenantInfo> set_tenant_limits(int64_t tenant_id, const Limits& limits,
                                       const Actor& actor) override;
  using Store::create_key;
  Result<std::string> create_key(const NewKey& key, const Actor& actor) override;
  Result<std::vector<KeyInfo>> list_keys() override;
  Result<std::vector<KeyInfo>> keys_page(const KeyPage& query) override;
  Result<std::optional<KeyInfo>> find_key(int64_t key_id) override;
  Result<void> revoke_key(const std::string& name, const Actor& actor) override;
  Result<void> revoke_key_id(int64_t key_id, const Actor& actor) override;
  Result<KeyInfo> set_key_limits(int64_t key_id, const Limits& limits,
                                 const Actor& actor) override;
  Result<std::optional<KeyInfo>> authenticate(std::string_view secret) override;
  Result<void> set_price(const std::string& model, const Price& price, const Actor& actor) override;
  Result<std::optional<Price>> price(const std::string& model) override;
  Result<std::vector<ModelPrice>> list_prices() override;
  Result<std::vector<Result<Admission>>> admit_batch(
      const std::vector<AdmissionRequest>& requests) override;
  Result<void> checkpoint(const std::string& request_id, const TokenCounts& tokens,
                          int64_t at_us) override;
  Result<UsageRecord> settle(const std::string& request_id, const Settlement& settlement) override;
  Result<std::string> start_server() override;
  Result<int64_t> close_interrupted() override;
  Result<void> record_usage(const UsageRecord& record) override;
  Result<std::vector<Result<void>>> apply_writes(const std::vector<LedgerWrite>& writes) override;
  Result<std::vector<UsageRecord>> usage_rows() override;
  Result<std::vector<UsageSummary>> usage_summary() override;
  Result<std::vector<UsageGroup>> usage_groups(const UsageQuery& query) override;
  Result<std::vector<AuditEntry>> audit_log() override;
  Result<std::vector<AuditEntry>> audit_page(const Page& page) override;

 private:
  explicit PostgresStore(std::unique_ptr<pg::Pool> pool) : pool_(std::move(pool)) {}
  Result<void> audit(pg::Connection& conn, const Actor& actor, std::string_view action,
                     const std::string& target, const std::string& detail);
  /// Revokes the active `key` and logs it; in the caller's transaction on `conn`.
  Result<void> revoke_locked(pg::Connection& conn, const KeyInfo& key, const Actor& actor);
  /// Whether server `id` holds its advisory lock (this store's own server counts as live).
  Result<bool> server_is_live(pg::Connection& conn, const std::string& id);
  // The ledger writes, in the caller's transaction on `conn`. The outer error is the
  // database's; a returned Error is the write's refusal (it never applies).
  Result<std::optional<Error>> settle_locked(pg::Connection& conn, const std::string& request_id,
                                             const Settlement& settlement, int64_t* row_id);
  Result<std::optional<Error>> record_locked(pg::Connection& conn, const UsageRecord& record);

  std::unique_ptr<pg::Pool> pool_;
  std::mutex server_mutex_;  ///< start_server()
  /// The connection holding the server's advisory lock, out of the pool (after start_server).
  std::unique_ptr<pg::Connection> server_conn_;
  std::string server_id_;  ///< start_server()'s id ("" before); set before serving
};

}  // namespace gengyun::platform
