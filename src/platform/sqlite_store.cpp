#include "platform/sqlite_store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <utility>

#include "platform/database_errors.h"
#include "platform/group_admission.h"
#include "platform/key_secret.h"
#include "platform/sqlite_statement.h"
#include "platform/store_rules.h"
#include "platform/store_schema.h"
#include "util/clock.h"

namespace gengyun::platform {
namespace {

using sqlite::Statement;
using sqlite::Transaction;

constexpr int kBusyTimeoutMs = 5000;

constexpr const char* kKeyColumns =
    "id, name, prefix, created_at_us, revoked_at_us, tenant_id, role, expires_at_us, models, "
    "budget_micro_usd, budget_period, rpm, tpm";

constexpr const char* kLedgerColumns =
    "key_id, model, prompt_tokens, completion_tokens, started_at_us, "
    "coalesce(finished_at_us, started_at_us), endpoint, http_status, status, error, request_id, "
    "cached_prompt_tokens, cost_micro_usd, input_micro_usd, cached_input_micro_usd, "
    "output_micro_usd, tenant_id, end_user";

/// A row of kLedgerColumns.
UsageRecord read_record(const Statement& row) {
  return UsageRecord{
      row.column_int64(0),  row.column_text(1),
      row.column_int64(2),  row.column_int64(3),
      row.column_int64(4),  row.column_int64(5),
      row.column_text(6),   static_cast<int>(row.column_int64(7)),
      row.column_text(8),   row.column_text(9),
      row.column_text(10),  row.column_int64(11),
      row.column_int64(12), Price{row.column_int64(13), row.column_int64(14), row.column_int64(15)},
      row.column_int64(16), row.column_text(17)};
}

std::optional<int64_t> optional_int(const Statement& row, int col) {
  if (row.column_is_null(col)) return std::nullopt;
  return row.column_int64(col);
}

/// Reads budget_micro_usd, budget_period, rpm, tpm from columns first..first+3.
Limits read_limits(const Statement& row, int first) {
  Limits limits;
  limits.budget_micro_usd = optional_int(row, first);
  limits.budget_period = parse_period(row.column_text(first + 1)).value_or(BudgetPeriod::Total);
  limits.rpm = optional_int(row, first + 2);
  limits.tpm = optional_int(row, first + 3);
  return limits;
}

/// Binds budget_micro_usd, budget_period, rpm, tpm to parameters first..first+3.
void bind_limits(Statement& stmt, int first, const Limits& limits) {
  const auto bind_optional = [&](int index, const std::optional<int64_t>& value) {
    if (value)
      stmt.bind(index, *value);
    else
      stmt.bind_null(index);
  };
  bind_optional(first, limits.budget_micro_usd);
  stmt.bind(first + 1, period_name(limits.budget_period));
  bind_optional(first + 2, limits.rpm);
  bind_optional(first + 3, limits.tpm);
}

KeyInfo read_key(const Statement& row) {
  KeyInfo key{row.column_int64(0), row.column_text(1), row.column_text(2), row.column_int64(3),
              optional_int(row, 4)};
  key.tenant_id = row.column_int64(5);
  key.role = parse_role(row.column_text(6)).value_or(Role::Member);
  key.expires_at_us = optional_int(row, 7);
  key.models = split_models(row.column_text(8));
  key.limits = read_limits(row, 9);
  return key;
}

/// Runs `stmt` (already bound) to completion and collects its rows with `read`.
template <class Read>
auto collect(Statement& stmt, Read read) -> Result<std::vector<decltype(read(stmt))>> {
  std::vector<decltype(read(stmt))> rows;
  for (;;) {
    auto row = stmt.step();
    if (!row) return row.error();
    if (!*row) return rows;
    rows.push_back(read(stmt));
  }
}

/// Keys matching `condition` (a constant SQL fragment whose parameters ?1, ?2, ... take
/// `values` in order), by id.
template <class... Values>
Result<std::vector<KeyInfo>> keys_where(sqlite3* db, std::string_view condition,
                                        const Values&... values) {
  auto stmt =
      Statement::prepare(db, std::string("SELECT ") + kKeyColumns + " FROM api_keys WHERE " +
                                 std::string(condition) + " ORDER BY id");
  if (!stmt) return stmt.error();
  int index = 0;
  (stmt->bind(++index, values), ...);
  return collect(*stmt, read_key);
}

std::string open_hint(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path parent = fs::path(path).parent_path();
  if (!parent.empty() && !fs::is_directory(parent, ec))
    return " (directory '" + parent.string() + "' does not exist)";
  if (fs::is_directory(path, ec)) return " (it is a directory)";
  return "";
}

/// Why a database this user may read cannot be opened read-only where SQLite said "readonly":
/// in WAL mode even a reader creates the WAL index ('PATH-shm') beside the file.
std::string readonly_hint(const std::string& path) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  const std::string folder = parent.empty() ? "." : parent.string();
  if (::access(folder.c_str(), W_OK) == 0) return "";
  const std::string index = path + "-shm";
  return " (SQLite creates its WAL index '" + index +
         "' beside the database even to read it, and this user may not write in '" + folder +
         "': run as the user that owns the database, or let this user write in its folder)";
}

Result<void> run(Statement& stmt) {
  auto done = stmt.step();
  if (!done) return done.error();
  return {};
}

/// Spend counted against a budget: settled rows at their cost, open rows at their reservation,
/// of the rows of scope `scope` ("key" or "tenant") `id` started at or after `since_us` (a UTC
/// day's start: budget periods start at midnight), read from the day sums (schema 8).
Result<int64_t> spent_since(sqlite3* db, const char* scope, int64_t id, int64_t since_us) {
  auto stmt = Statement::prepare(db,
                                 "SELECT coalesce(sum(micro_usd), 0) FROM spend_days WHERE "
                                 "scope = ?1 AND scope_id = ?2 AND day >= ?3");
  if (!stmt) return stmt.error();
  stmt->bind(1, std::string_view(scope));
  stmt->bind(2, id);
  stmt->bind(3, spend_day(since_us));
  auto row = stmt->step();
  if (!row) return row.error();
  return stmt->column_int64(0);
}

/// Deletes the scope's buckets before `first_second` and returns the others.
Result<std::vector<RateBucket>> read_window(sqlite3* db, const char* scope, int64_t id,
                                            int64_t first_second) {
  auto purge = Statement::prepare(
      db, "DELETE FROM rate_buckets WHERE scope = ?1 AND scope_id = ?2 AND second < ?3");
  if (!purge) return purge.error();
  purge->bind(1, std::string_view(scope));
  purge->bind(2, id);
  purge->bind(3, first_second);
  if (auto done = run(*purge); !done) return done.error();
  auto stmt = Statement::prepare(
      db,
      "SELECT second, requests, tokens FROM rate_buckets WHERE scope = ?1 AND scope_id = ?2 AND "
      "second >= ?3");
  if (!stmt) return stmt.error();
  stmt->bind(1, std::string_view(scope));
  stmt->bind(2, id);
  stmt->bind(3, first_second);
  return collect(*stmt, [](const Statement& row) {
    return RateBucket{row.column_int64(0), row.column_int64(1), row.column_int64(2)};
  });
}

/// Counts `requests` requests of `tokens` tokens in all in the scope's bucket of `second`.
Result<void> count_in_bucket(sqlite3* db, const char* scope, int64_t id, int64_t second,
                             int64_t requests, int64_t tokens) {
  auto stmt = Statement::prepare(
      db,
      "INSERT INTO rate_buckets(scope, scope_id, second, requests, tokens) "
      "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(scope, scope_id, second) DO UPDATE "
      "SET requests = requests + ?4, tokens = tokens + ?5");
  if (!stmt) return stmt.error();
  stmt->bind(1, std::string_view(scope));
  stmt->bind(2, id);
  stmt->bind(3, second);
  stmt->bind(4, requests);
  stmt->bind(5, tokens);
  return run(*stmt);
}

/// Gives `tokens` back to the scope's bucket of `second` (the sum stays >= 0); nothing when
/// the bucket has left the window and was deleted.
Result<void> give_back_tokens(sqlite3* db, const char* scope, int64_t id, int64_t second,
                              int64_t tokens) {
  auto stmt = Statement::prepare(
      db,
      "UPDATE rate_buckets SET tokens = max(tokens - ?4, 0) WHERE scope = ?1 AND scope_id = ?2 "
      "AND second = ?3");
  if (!stmt) return stmt.error();
  stmt->bind(1, std::string_view(scope));
  stmt->bind(2, id);
  stmt->bind(3, second);
  stmt->bind(4, tokens);
  return run(*stmt);
}

}  // namespace

Result<std::unique_ptr<Store>> SqliteStore::open(const std::string& path, OpenMode mode) {
  if (path.empty()) return make_error("cannot open the platform store: the database path is empty");
  std::error_code ec;
  const bool must_exist = mode != OpenMode::Create && path != ":memory:";
  if (must_exist && !std::filesystem::exists(path, ec))
    return make_error("cannot open database '" + path + "': no such file" + open_hint(path));
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(
      path.c_str(), &db,
      SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (must_exist ? 0 : SQLITE_OPEN_CREATE),
      nullptr);
  if (rc != SQLITE_OK) {
    std::string reason = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close_v2(db);
    return make_error("cannot open database '" + path + "': " + reason + open_hint(path));
  }
  std::unique_ptr<SqliteStore> store(new SqliteStore(db, path));
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, kBusyTimeoutMs);

  // The first statement reads the file header, so a file that is not a database fails here,
  // before anything is written to it. A database without gengyun's schema is refused before
  // anything is written to it either, as on PostgreSQL: unless creating, any (an empty file,
  // another program's); creating, one that holds another program's tables. A reader refuses an
  // older schema as well (docs/platform.md, "Readers do not migrate").
  const std::string not_a_database =
      "cannot open database '" + path +
      "': the file is not a SQLite database (wrong path, or a damaged file)";
  auto has = has_schema(db);
  if (!has && (sqlite3_extended_errcode(db) & 0xff) == SQLITE_NOTADB)
    return make_error(not_a_database);
  if (!has && (sqlite3_extended_errcode(db) & 0xff) == SQLITE_READONLY)
    return make_error("cannot open database '" + path + "': " + has.error().message +
                      readonly_hint(path));
  if (!has) return make_error("cannot open database '" + path + "': " + has.error().message);
  if (!*has && mode != OpenMode::Create)
    return make_error("cannot open database '" + path + "': " + std::string(kNoSchemaError));
  if (!*has)
    if (auto empty = refuse_foreign_tables(db); !empty)
      return make_error("cannot open database '" + path + "': " + empty.error().message);
  // A newer release's database is refused before WAL mode is set on it (QA 2026-12-07).
  if (*has)
    if (auto current = refuse_newer_schema(db); !current)
      return make_error("cannot open database '" + path + "': " + current.error().message);
  auto setup = sqlite::exec(db, "PRAGMA journal_mode = WAL");
  if (!setup && (sqlite3_extended_errcode(db) & 0xff) == SQLITE_NOTADB)
    return make_error(not_a_database);
  if (setup) setup = sqlite::exec(db, "PRAGMA synchronous = FULL");
  // Migrations rebuild tables that others reference, so foreign keys are enforced only after.
  if (setup) {
    auto version = mode == OpenMode::Read ? check_schema_is_current(db) : ensure_schema(db);
    if (version) store->schema_version_found_ = *version;
    else setup = version.error();
  }
  if (setup) setup = sqlite::exec(db, "PRAGMA foreign_keys = ON");
  if (!setup) return make_error("cannot open database '" + path + "': " + setup.error().message);
  return std::unique_ptr<Store>(std::move(store));
}

SqliteStore::~SqliteStore() {
  if (server_lock_fd_ >= 0) {
    unlink(server_lock_path(server_id_).c_str());
    close(server_lock_fd_);
  }
  statements_.reset();
  sqlite3_close_v2(db_);
}

std::string SqliteStore::server_lock_path(const std::string& id) const {
  return path_ == ":memory:" ? "" : path_ + "-server-" + id + ".lock";
}

bool SqliteStore::server_is_live(const std::string& id) const {
  if (id == server_id_ && !id.empty()) return true;
  const std::string path = server_lock_path(id);
  if (id.empty() || path.empty()) return false;
  const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return false;
  const bool held = flock(fd, LOCK_EX | LOCK_NB) != 0;
  if (!held) unlink(path.c_str());
  close(fd);
  return held;
}

Result<std::string> SqliteStore::start_server() {
  std::lock_guard lock(mutex_);
  if (!server_id_.empty()) return make_error("this store is already server " + server_id_);
  auto random = random_base62(16);
  if (!random) return random.error();
  const std::string id = "srv-" + *random;
  if (const std::string path = server_lock_path(id); !path.empty()) {
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const std::string reason = std::strerror(errno);
      if (fd >= 0) close(fd);
      return make_error("cannot lock '" + path + "' (the mark of a live server): " + reason);
    }
    server_lock_fd_ = fd;
  }
  server_id_ = id;
  return id;
}

Error SqliteStore::fail(std::string_view what, const Error& cause) const {
  if (database_unreachable(cause))
    return unreachable_error(std::string(what) + " (database '" + path_ +
                             "'): " + cause.message.substr(kDatabaseUnreachable.size()));
  return make_error(std::string(what) + " (database '" + path_ + "'): " + cause.message);
}

Result<void> SqliteStore::audit(const Actor& actor, std::string_view action,
                                const std::string& target, const std::string& detail) {
  auto insert = Statement::prepare(
      db_,
      "INSERT INTO audit_log(at_us, actor_key_id, actor, action, target, detail) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
  if (!insert) return insert.error();
  insert->bind(1, unix_time_us());
  if (actor.key_id)
    insert->bind(2, *actor.key_id);
  else
    insert->bind_null(2);
  insert->bind(3, actor.name);
  insert->bind(4, action);
  insert->bind(5, target);
  insert->bind(6, detail);
  return run(*insert);
}

Result<TenantInfo> SqliteStore::create_tenant(const std::string& name, const Limits& limits,
                                              const Actor& actor) {
  const std::string what = "cannot create tenant";
  if (auto valid = validate_name("tenant", name); !valid)
    return make_error(what + ": " + valid.error().message);
  if (auto valid = validate_limits(limits); !valid)
    return make_error(what + " '" + name + "': " + valid.error().message);

  std::lock_guard lock(mutex_);
  auto txn = Transaction::begin(db_);
  if (!txn) return fail(what, txn.error());
  auto existing = Statement::prepare(db_, "SELECT id FROM tenants WHERE name = ?1");
  if (!existing) return fail(what, existing.error());
  existing->bind(1, name);
  auto found = existing->step();
  if (!found) return fail(what, found.error());
  if (*found) return make_error(what + ": a tenant named '" + name + "' already exists");

  TenantInfo tenant{0, name, limits, unix_time_us()};
  auto insert = Statement::prepare(
      db_,
      "INSERT INTO tenants(name, created_at_us, budget_micro_usd, budget_period, rpm, tpm) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
  if (!insert) return fail(what, insert.error());
  insert->bind(1, name);
  insert->bind(2, tenant.created_at_us);
  bind_limits(*insert, 3, limits);
  if (auto done = run(*insert); !done) return fail(what, done.error());
  tenant.id = sqlite3_last_insert_rowid(db_);
  if (auto logged = audit(actor, "tenant.create", name, describe_limits(limits)); !logged)
    return fail(what, logged.error());
  if (auto committed = txn->commit(); !committed) return fail(what, committed.error());
  return tenant;
}

namespace {

/// Tenants matching `condition` (a constant SQL fragment whose parameter ?1, if any, takes
/// `value`: an id or a name), by id; at most `limit` of them when it is not negative. The limit
/// is bound, not spliced, so that every call has the same SQL text (StatementCache).
template <class Value = int64_t>
Result<std::vector<TenantInfo>> tenants_where(sqlite3* db, std::string_view condition,
                                              const Value& value = {}, int64_t limit = -1) {
  auto stmt = Statement::prepare(
      db,
      "SELECT id, name, created_at_us, budget_micro_usd, budget_period, rpm, tpm FROM tenants "
      "WHERE " +
          std::string(condition) + " ORDER BY id LIMIT ?2");
  if (!stmt) return stmt.error();
  if (condition.find("?1") != std::string_view::npos) stmt->bind(1, value);
  stmt->bind(2, limit);  // SQLite: a negative limit is none
  return collect(*stmt, [](const Statement& row) {
    return TenantInfo{row.column_int64(0), row.column_text(1), read_limits(row, 3),
                      row.column_int64(2)};
  });
}

}  // namespace

Result<std::vector<TenantInfo>> SqliteStore::tenants_page(const Page& page) {
  if (page.limit < 1) return make_error("cannot list tenants: a page holds at least 1");
  std::lock_guard lock(mutex_);
  auto tenants = tenants_where(db_, "id > ?1", page.after_id, page.limit);
  if (!tenants) return fail("cannot list tenants", tenants.error());
  return tenants;
}

Result<std::optional<TenantInfo>> SqliteStore::find_tenant(int64_t tenant_id) {
  std::lock_guard lock(mutex_);
  auto tenants = tenants_where(db_, "id = ?1", tenant_id);
  if (!tenants) return fail("cannot read tenant " + std::to_string(tenant_id), tenants.error());
  if (tenants->empty()) return std::optional<TenantInfo>();
  return std::optional<TenantInfo>(tenants->front());
}

Result<std::optional<TenantInfo>> SqliteStore::find_tenant_named(const std::string& name) {
  std::lock_guard lock(mutex_);
  auto tenants = tenants_where(db_, "name = ?1", std::string_view(name));
  if (!tenants) return fail("cannot read tenant '" + name + "'", tenants.error());
  if (tenants->empty()) return std::optional<TenantInfo>();
  return std::optional<TenantInfo>(tenants->front());
}

Result<TenantInfo> SqliteStore::set_tenant_limits(int64_t tenant_id, const Limits& limits,
                                                  const Actor& actor) {
  const std::string what = "cannot set the limits of tenant " + std::to_string(tenant_id);
  if (auto valid = validate_limits(limits); !valid)
    return make_error(what + ": " + valid.error().message);
  std::lock_guard lock(mutex_);
  auto txn = Transaction::begin(db_);
  if (!txn) return fail(what, txn.error());
  auto update = Statement::prepare(
      db_, "UPDATE tenants SET budget_micro_usd = ?1, budget_period = ?2, rpm = ?3, tpm = ?4 "
           "WHERE id = ?5");
  if (!update) return fail(what, update.error());
  bind_limits(*update, 1, limits);
  update->bind(5, tenant_id);
  if (auto done = run(*update); !done) return fail(what, done.error());
  auto tenant = tenants_where(db_, "id = ?1", tenant_id);
  if (!tenant) return fail(what, tenant.error());
  if (tenant->empty()) return make_error(what + ": no such tenant");
  if (auto logged =
          audit(actor, "tenant.limits", tenant->front().name, describe_new_limits(limits));
      !logged)
    return fail(what, logged.error());
  if (auto committed = txn->commit(); !committed) return fail(what, committed.error());
  key_cache_.evict_tenant(tenant_id);
  return tenant->front();
}

Result<std::string> SqliteStore::create_key(const NewKey& key, const Actor& actor) {
  const std::string what = "cannot create API key";
  if (key.name.empty()) return make_error(what + ": the key name is empty");
  if (auto valid = validate_name("key", key.name); !valid)
    return make_error(what + ": " + valid.error().message);
  if (auto valid = validate_limits(key.limits); !valid)
    return make_error(what + " '" + key.name + "': " + valid.error().message);
  auto joined = join_models(key.models);
  if (!joined) return make_error(what + " '" + key.name + "': " + joined.error().message);
  const std::string& models = *joined;
  auto secret = generate_key_secret();
  if (!secret) return secret.error();

  std::lock_guard lock(mutex_);
  auto txn = Transaction::begin(db_);
  if (!txn) return fail(what, txn.error());
  auto tenant = Statement::prepare(db_, "SELECT id FROM tenants WHERE name = ?1");
  if (!tenant) return fail(what, tenant.error());
  tenant->bind(1, key.tenant);
  auto found = tenant->step();
  if (!found) return fail(what, found.error());
  if (!*found)
    return make_error(what + " '" + key.name + "': no tenant is named '" + key.tenant +
                      "' (create it with `gengyun tenants create`)");
  const int64_t tenant_id = tenant->column_int64(0);

  auto active = keys_where(db_, "tenant_id = ?1 AND name = ?2 AND revoked_at_us IS NULL", tenant_id,
                           key.name);
  if (!active) return fail(what, active.error());
  if (!active->empty())
    return make_error(what + ": an active key named '" + key.name + "' already exists in tenant '" +
                      key.tenant + "' (id " + std::to_string(active->front().id) +
                      "); revoke it first or choose another name");

  auto insert = Statement::prepare(
      db_,
      "INSERT INTO api_keys(name, prefix, secret_sha256, created_at_us, tenant_id, role, "
      "expires_at_us, models, budget_micro_usd, budget_period, rpm, tpm) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)");
  if (!insert) return fail(what, insert.error());
  insert->bind(1, key.name);
  insert->bind(2, std::string_view(*secret).substr(0, kKeyPrefixChars));
  insert->bind(3, sha256_hex(*secret));
  insert->bind(4, unix_time_us());
  insert->bind(5, tenant_id);
  insert->bind(6, role_name(key.role));
  if (key.expires_at_us)
    insert->bind(7, *key.expires_at_us);
  else
    insert->bind_null(7);
  insert->bind(8, models);
  bind_limits(*insert, 9, key.limits);
  if (auto done = run(*insert); !done) return fail(what, done.error());
  if (auto logged = audit(actor, "key.create", key.name, describe_key(key, models)); !logged)
    return fail(what, logged.error());
  if (auto committed = txn->commit(); !committed) return fail(what, committed.error());
  return secret;
}

Result<std::vector<KeyInfo>> SqliteStore::keys_page(const KeyPage& query) {
  if (query.page.limit < 1) return make_error("cannot list API keys: a page holds at least 1");
  std::string sql = std::string("SELECT ") + kKeyColumns + " FROM api_keys WHERE id > ?1";
  if (query.tenant_id) sql += " AND tenant_id = ?2";
  if (!query.admin_keys) sql += " AND role <> 'admin'";
  sql += " ORDER BY id LIMIT ?3";  // bound: one SQL text whatever the limit (StatementCache)
  std::lock_guard lock(mutex_);
  auto stmt = Statement::prepare(db_, sql);
  if (!stmt) return fail("cannot list API keys", stmt.error());
  stmt->bind(1, query.page.after_id);
  if (query.tenant_id) stmt->bind(2, *query.tenant_id);
  stmt->bind(3, query.page.limit);
  auto keys = collect(*stmt, read_key);
  if (!keys) return fail("cannot list API keys", keys.error());
  return keys;
}

Result<std::optional<KeyInfo>> SqliteStore::find_key(int64_t key_id) {
  std::lock_guard lock(mutex_);
  auto keys = keys_where(db_, "id = ?1", key_id);
  if (!keys) return fail("cannot read API key " + std::to_string(key_id), keys.error());
  if (keys->empty()) return std::optional<KeyInfo>();
  return std::optional<KeyInfo>(keys->front());
}

Result<std::optional<KeyInfo>> SqliteStore::find_active_key_named(int64_t tenant_id,
                                                                  const std::string& name) {
  std::lock_guard lock(mutex_);
  // The condition of the partial index api_keys_active_name, so that the index answers it.
  auto keys =
      keys_where(db_, "tenant_id = ?1 AND name = ?2 AND revoked_at_us IS NULL", tenant_id, name);
  if (!keys) return fail("cannot read API key '" + name + "'", keys.error());
  if (keys->empty()) return std::optional<KeyInfo>();
  return std::optional<KeyInfo>(keys->front());
}

Result<std::vector<KeyInfo>> SqliteStore::keys_named(const std::string& name) {
  std::lock_guard lock(mutex_);
  auto keys = keys_where(db_, "name = ?1", name);
  if (!keys) return fail("cannot read the API keys named '" + name + "'", keys.error());
  return keys;
}

Result<KeyInfo> SqliteStore::revoke_key(const std::string& name, const Actor& actor,
                                        const std::string& tenant) {
  const std::string what = "cannot revoke API key";
  std::lock_guard lock(mutex_);
  auto txn = Transaction::begin(db_);
  if (!txn) return fail(what, txn.error());
  Result<std::vector<KeyInfo>> named = std::vector<KeyInfo>();
  if (tenant.empty()) {
    named = keys_where(db_, "name = ?1", name);
  } else {
    auto owner = tenants_where(db_, "name = ?1", std::string_view(tenant));
    if (!owner) return fail(what, owner.error());
    if (owner->empty()) return make_error(what + ": no tenant is named '" + tenant + "'");
    named = keys_where(db_, "name = ?1 AND tenant_id = ?2", name, owner->front().id);
  }
  if (!named) return fail(what, named.error());
  auto key = key_to_revoke(name, *named, tenant);
  if (!key) return key.error();
  if (auto kept = keep_an_admin_key_locked(*key, what); !kept) return kept.error();
  if (auto revoked = revoke_locked(*key, actor); !revoked) return fail(what, revoked.error());
  if (auto committed = txn->commit(); !committed) return fail(what, committed.error());
  key_cache_.evict_key(key->id);
  return key;
}

Result<void> SqliteStore::revoke_locked(const KeyInfo& key, const Actor& actor) {
  auto update = Statement::prepare(
      db_, "UPDATE api_keys SET revoked_at_us = ?1 WHERE id = ?2 AND revoked_at_us IS NULL");
  if (!update) return update.error();
  update->bind(1, unix_time_us());
  update->bind(2, key.id);
  if (auto done = run(*update); !done) return done;
  return audit(actor, "key.revoke", key.name, "id=" + std::to_string(key.id));
}

Result<void> SqliteStore::keep_an_admin_key_locked(const KeyInfo& key, const std::string& what) {
  if (key.role != Role::Admin) return {};
  const int64_t now_us = unix_time_us();
  auto admins = keys_where(
      db_,
      "role = 'admin' AND revoked_at_us IS NULL AND (expires_at_us IS NULL OR expires_at_us > ?1)",
      now_us);
  if (!admins) return fail(what, admins.error());
  std::vector<int64_t> ids;
  for (const KeyInfo& admin : *admins) ids.push_back(admin.id);
  return keeps_an_admin_key(key, ids, now_us);
}

Result<void> SqliteStore::revoke_key_id(int64_t key_id, const Actor& actor) {
  const std::string what = "cannot revoke API key " + std::to_string(key_id);
  std::lock_guard lock(mutex_);
  auto txn = Transaction::begin(db_);
  if (!txn) return fail(what, txn.error());
  auto key = keys_where(db_, "id = ?1", key_id);
  if (!key) return fail(what, key.error());
  if (key->empty()) return make_error(what + ": no such key");
  if (key->front().revoked_at_us) return make_error(what + ": it is already revoked");
  if (auto kept = keep_an_admin_key_locked(key->front(), what); !kept) return kept.error();
  if (auto revoked = revoke_locked(key->front(), actor); !revoked)
    return fail(what, revoked.error());
  if (auto committed = txn->commit(); !committed) return fail(what, committed.error());
  key_cache_.evict_key(key_id);
  return {};
}

Result<KeyInfo> SqliteStore::set_key_limits(int64_t key_id, const Limits& limits,
                                            const Actor& actor) {
  const std::string what = "cannot set the limits of API key " + std::to_string(key_id);
  if (auto valid = validate_limits(limits); !valid)
    return make_error(what + ": " + valid.error().message);
  std::lock_guard lock(mutex_);
  auto txn = Transaction::begin(db_);
  if (!txn) return fail(what, txn.error());
  auto update = Statement::prepare(
      db_, "UPDATE api_keys SET budget_micro_usd = ?1, budget_period = ?2, rpm = ?3, tpm = ?4 "
           "WHERE id = ?5 AND revoked_at_us IS NULL");
  if (!update) return fail(what, update.error());
  bind_limits(*update, 1, limits);
  update->bind(5, key_id);
  if (auto done = run(*update); !done) return fail(what, done.error());
  auto key = keys_where(db_, "id = ?1", key_id);
  if (!key) return fail(what, key.error());
  if (key->empty()) return make_error(what + ": no such key");
  if (key->front().revoked_at_us) return make_error(what + ": it is revoked");
  if (auto logged = audit(actor, "key.limits", key->front().name, describe_new_limits(limits));
      !logged)
    return fail(what, logged.error());
  if (auto committed = txn->commit(); !committed) return fail(what, committed.error());
  key_cache_.evict_key(key_id);
  return key->front();
}

Result<std::optional<KeyInfo>> SqliteStore::authenticate(std::string_view secret) {
  std::string hash = sha256_hex(secret);
  const auto read_at = KeyCache::Clock::now();
  if (path_ == ":memory:") {
    key_cache_.confirm(read_at);
  } else if (auto revision = key_revision_.read(); revision) {
    key_cache_.observe_revision(*revision, read_at);
  } else {
    key_cache_.lose();
  }
  if (auto cached = key_cache_.find(hash)) return cached;
  const uint64_t generation = key_cache_.generation();
  std::lock_guard lock(mutex_);
  auto keys = keys_where(db_, "secret_sha256 = ?1 AND revoked_at_us IS NULL", hash);
  if (!keys) return fail("cannot check API key", keys.error());
  if (keys->empty()) return std::optional<KeyInfo>();
  key_cache_.insert(hash, keys->front(), generation);
  return std::optional<KeyInfo>(std::move(keys->front()));
}

Result<void> SqliteStore::set_price(const std::string& model, const Price& price,
                                    const Actor& actor) {
  if (auto valid = validate_model_name(model); !valid)
    return make_error("cannot set a price: " + valid.error().message);
  const std::string what = "cannot set the price of model '" + model + "'";
  if (auto valid = validate_price(price); !valid)
    return make_error(what + ": " + valid.error().message);
  std::lock_guard lock(mutex_);
  auto txn = Transaction::begin(db_);
  if (!txn) return fail(what, txn.error());
  auto upsert = Statement::prepare(
      db_,
      "INSERT INTO prices(model, input_micro_usd, cached_input_micro_usd, output_micro_usd, "
      "updated_at_us) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(model) DO UPDATE SET "
      "input_micro_usd = ?2, cached_input_micro_usd = ?3, output_micro_usd = ?4, "
      "updated_at_us = ?5");
  if (!upsert) return fail(what, upsert.error());
  upsert->bind(1, model);
  upsert->bind(2, price.input);
  upsert->bind(3, price.cached_input);
  upsert->bind(4, price.output);
  upsert->bind(5, unix_time_us());
  if (auto done = run(*upsert); !done) return fail(what, done.error());
  if (auto logged = audit(actor, "price.set", model, describe_price(price)); !logged)
    return fail(what, logged.error());
  if (auto committed = txn->commit(); !committed) return fail(what, committed.error());
  return {};
}

namespace {

/// A row of model, input_micro_usd, cached_input_micro_usd, output_micro_usd.
ModelPrice read_model_price(const Statement& row) {
  return ModelPrice{row.column_text(0),
                    Price{row.column_int64(1), row.column_int64(2), row.column_int64(3)}};
}

Result<std::optional<Price>> read_price(sqlite3* db, const std::string& model) {
  auto stmt = Statement::prepare(
      db,
      "SELECT input_micro_usd, cached_input_micro_usd, output_micro_usd FROM prices "
      "WHERE model = ?1");
  if (!stmt) return stmt.error();
  stmt->bind(1, model);
  auto row = stmt->step();
  if (!row) return row.error();
  if (!*row) return std::optional<Price>();
  return std::optional<Price>(
      Price{stmt->column_int64(0), stmt->column_int64(1), stmt->column_int64(2)});
}

}  // namespace

Result<std::optional<Price>> SqliteStore::price(const std::string& model) {
  std::lock_guard lock(mutex_);
  auto price = read_price(db_, model);
  if (!price) return fail("cannot read the price of model '" + model + "'", price.error());
  return price;
}

Result<std::vector<ModelPrice>> SqliteStore::prices_page(const PricePage& page) {
  if (page.limit < 1) return make_error("cannot list prices: a page holds at least 1");
  std::lock_guard lock(mutex_);
  // model is the primary key, of SQLite's BINARY collation (byte order): its index answers it.
  auto stmt = Statement::prepare(
      db_,
      "SELECT model, input_micro_usd, cached_input_micro_usd, output_micro_usd FROM prices "
      "WHERE model > ?1 ORDER BY model LIMIT ?2");
  if (!stmt) return fail("cannot list prices", stmt.error());
  stmt->bind(1, page.after_model);
  stmt->bind(2, page.limit);
  auto prices = collect(*stmt, read_model_price);
  if (!prices) return fail("cannot list prices", prices.error());
  return prices;
}

namespace {

/// The reads and writes of a group admission on one SQLite connection, in its transaction.
class SqliteAdmissionSource final : public AdmissionSource {
 public:
  SqliteAdmissionSource(sqlite3* db, const std::string& server_id)
      : db_(db), server_id_(server_id) {}

  // One statement per key, tenant, price, scope and request id: SQLite answers in-process, so
  // there is no round trip to save by reading them together.
  Result<AdmissionReads> read(const AdmissionQuery& query) override {
    AdmissionReads reads;
    for (int64_t key_id : query.key_ids) {
      auto keys = keys_where(db_, "id = ?1", key_id);
      if (!keys) return keys.error();
      if (!keys->empty()) reads.keys.emplace(key_id, keys->front());
    }
    for (const auto& [id, key] : reads.keys) reads.tenants.emplace(key.tenant_id, TenantInfo{});
    for (auto it = reads.tenants.begin(); it != reads.tenants.end();) {
      auto stmt = Statement::prepare(
          db_, "SELECT name, budget_micro_usd, budget_period, rpm, tpm FROM tenants WHERE id = ?1");
      if (!stmt) return stmt.error();
      stmt->bind(1, it->first);
      auto row = stmt->step();
      if (!row) return row.error();
      if (!*row) {
        it = reads.tenants.erase(it);
        continue;
      }
      it->second = TenantInfo{it->first, stmt->column_text(0), read_limits(*stmt, 1)};
      ++it;
    }
    for (const std::string& model : query.models) {
      auto price = read_price(db_, model);
      if (!price) return price.error();
      if (*price) reads.prices.emplace(model, **price);
    }
    std::vector<ScopeId> scopes;
    for (const auto& [id, key] : reads.keys) scopes.push_back({Scope::Key, id});
    for (const auto& [id, tenant] : reads.tenants) scopes.push_back({Scope::Tenant, id});
    for (const ScopeId& scope : scopes) {
      auto window = read_window(db_, scope_name(scope.first), scope.second, query.first_second);
      if (!window) return window.error();
      if (!window->empty()) reads.windows.emplace(scope, std::move(*window));
    }
    for (const std::string& request_id : query.request_ids) {
      auto stmt = Statement::prepare(db_, "SELECT 1 FROM usage_ledger WHERE request_id = ?1");
      if (!stmt) return stmt.error();
      stmt->bind(1, request_id);
      auto row = stmt->step();
      if (!row) return row.error();
      if (*row) reads.recorded.insert(request_id);
    }
    return reads;
  }

  Result<std::map<SpendQuery, int64_t>> spent(const std::vector<SpendQuery>& queries) override {
    std::map<SpendQuery, int64_t> spent;
    for (const SpendQuery& query : queries) {
      auto sum = spent_since(db_, scope_name(query.scope), query.id, query.since_us);
      if (!sum) return sum.error();
      spent.emplace(query, *sum);
    }
    return spent;
  }

  Result<void> write(const std::vector<OpenRowInsert>& rows,
                     const std::vector<BucketCount>& counts) override {
    for (const OpenRowInsert& row : rows) {
      auto insert = Statement::prepare(
          db_,
          "INSERT INTO usage_ledger(request_id, key_id, tenant_id, model, endpoint, status, "
          "http_status, error, prompt_tokens, cached_prompt_tokens, completion_tokens, "
          "input_micro_usd, cached_input_micro_usd, output_micro_usd, reserved_micro_usd, "
          "reserved_tokens, started_at_us, server_id, end_user) "
          "VALUES (?1, ?2, ?3, ?4, ?5, 'open', 200, '', 0, 0, 0, ?6, ?7, ?8, ?9, ?10, ?11, ?12, "
          "?13)");
      if (!insert) return insert.error();
      insert->bind(1, row.request->request_id);
      insert->bind(2, row.key_id);
      insert->bind(3, row.tenant_id);
      insert->bind(4, row.request->model);
      insert->bind(5, row.request->endpoint);
      insert->bind(6, row.price.input);
      insert->bind(7, row.price.cached_input);
      insert->bind(8, row.price.output);
      insert->bind(9, row.reserved_micro_usd);
      insert->bind(10, row.reserved_tokens);
      insert->bind(11, row.request->started_at_us);
      insert->bind(12, server_id_);
      insert->bind(13, row.request->end_user);
      if (auto done = run(*insert); !done) return done.error();
    }
    for (const BucketCount& count : counts)
      if (auto added = count_in_bucket(db_, scope_name(count.scope), count.id, count.second,
                                       count.requests, count.tokens);
          !added)
        return added.error();
    return {};
  }

 private:
  sqlite3* db_;
  const std::string& server_id_;
};

/// Runs `body` (a function returning a Result, which opens and commits a transaction of its
/// own) with synchronous = NORMAL: its commit writes the WAL without syncing it; the next commit
/// at FULL syncs both. synchronous cannot change inside a transaction, so it is set around it,
/// and FULL is restored after. Errors: `body`'s, or the pragmas'.
template <class Body>
auto without_sync(sqlite3* db, Body body) -> decltype(body()) {
  if (auto relaxed = sqlite::exec(db, "PRAGMA synchronous = NORMAL"); !relaxed)
    return relaxed.error();
  auto done = body();
  if (auto restored = sqlite::exec(db, "PRAGMA synchronous = FULL"); !restored)
    return restored.error();
  return done;
}

}  // namespace

Result<std::vector<Result<Admission>>> SqliteStore::admit_batch(
    const std::vector<AdmissionRequest>& requests) {
  const std::string what = "cannot admit requests";
  std::lock_guard lock(mutex_);
  // An admission commits without waiting for the disk (docs/platform.md, "Group admission"):
  // the next commit at FULL (a settlement's) syncs the WAL with it, and one lost to a power
  // loss goes with the server that would have settled it.
  auto decided = without_sync(db_, [&]() -> Result<std::vector<Result<Admission>>> {
    auto txn = Transaction::begin(db_);
    if (!txn) return txn.error();
    SqliteAdmissionSource source(db_, server_id_);
    auto results = admit_in_order(source, requests);
    if (!results) return results.error();
    if (auto committed = txn->commit(); !committed) return committed.error();
    return results;
  });
  if (!decided) return fail(what, decided.error());
  return decided;
}

Result<void> SqliteStore::checkpoint(const std::string& request_id, const TokenCounts& tokens,
                                     int64_t at_us) {
  if (auto valid = validate_counts(tokens); !valid)
    return make_error("cannot checkpoint request '" + request_id + "': " + valid.error().message);
  std::lock_guard lock(mutex_);
  if (auto done = checkpoint_locked(request_id, tokens, at_us); !done)
    return fail("cannot checkpoint request", done.error());
  return {};
}

namespace {

/// An open row's fields needed to close it.
struct OpenRow {
  int64_t id, key_id, tenant_id, started_at_us, reserved_tokens;
  Price price;
  TokenCounts checkpoint;
  std::optional<int64_t> checkpoint_at_us;
};

constexpr const char* kOpenRowColumns =
    "id, key_id, tenant_id, started_at_us, reserved_tokens, input_micro_usd, "
    "cached_input_micro_usd, output_micro_usd, prompt_tokens, cached_prompt_tokens, "
    "completion_tokens, checkpoint_at_us";

OpenRow read_open_row(const Statement& row) {
  return OpenRow{row.column_int64(0),
                 row.column_int64(1),
                 row.column_int64(2),
                 row.column_int64(3),
                 row.column_int64(4),
                 {row.column_int64(5), row.column_int64(6), row.column_int64(7)},
                 {row.column_int64(8), row.column_int64(9), row.column_int64(10)},
                 optional_int(row, 11)};
}

/// Closes `row` with `settlement` (validated) and, unless `given_back` (a row closed as
/// interrupted did it then), gives the unused part of its token reservation back to the rate
/// bucket it was admitted in.
Result<int64_t> close_row(sqlite3* db, const OpenRow& row, const Settlement& settlement,
                          bool given_back = false) {
  auto cost = cost_micro_usd(settlement.tokens, row.price);
  if (!cost) return cost.error();
  auto update = Statement::prepare(
      db,
      "UPDATE usage_ledger SET status = ?2, http_status = ?3, error = ?4, prompt_tokens = ?5, "
      "cached_prompt_tokens = ?6, completion_tokens = ?7, cost_micro_usd = ?8, "
      "finished_at_us = ?9 WHERE id = ?1 AND status IN ('open', 'interrupted')");
  if (!update) return update.error();
  update->bind(1, row.id);
  update->bind(2, settlement.status);
  update->bind(3, int64_t{settlement.http_status});
  update->bind(4, settlement.error);
  update->bind(5, settlement.tokens.prompt_tokens);
  update->bind(6, settlement.tokens.cached_prompt_tokens);
  update->bind(7, settlement.tokens.completion_tokens);
  update->bind(8, *cost);
  update->bind(9, std::max(settlement.finished_at_us, row.started_at_us));
  if (auto done = run(*update); !done) return done.error();
  const int64_t unused =
      row.reserved_tokens - settlement.tokens.prompt_tokens - settlement.tokens.completion_tokens;
  if (unused > 0 && !given_back) {
    const int64_t second = rate_second(row.started_at_us);
    if (auto r = give_back_tokens(db, "key", row.key_id, second, unused); !r) return r.error();
    if (auto r = give_back_tokens(db, "tenant", row.tenant_id, second, unused); !r)
      return r.error();
  }
  return *cost;
}

}  // namespace

Result<void> SqliteStore::checkpoint_locked(const std::string& request_id,
                                            const TokenCounts& tokens, int64_t at_us) {
  auto update = Statement::prepare(
      db_,
      "UPDATE usage_ledger SET prompt_tokens = ?2, cached_prompt_tokens = ?3, "
      "completion_tokens = ?4, checkpoint_at_us = ?5 WHERE request_id = ?1 AND status = 'open' "
      "AND completion_tokens <= ?4");
  if (!update) return update.error();
  update->bind(1, request_id);
  update->bind(2, tokens.prompt_tokens);
  update->bind(3, tokens.cached_prompt_tokens);
  update->bind(4, tokens.completion_tokens);
  update->bind(5, at_us);
  if (auto done = run(*update); !done || sqlite3_changes(db_) > 0) return done;
  // A row closed as interrupted (its server judged gone) from an older checkpoint is closed
  // again from this one, which its server spooled: the counts and the cost rise, never fall
  // (docs/platform.md, "Spooled writes raise or replace an interrupted closing").
  auto select = Statement::prepare(db_, std::string("SELECT ") + kOpenRowColumns +
                                            " FROM usage_ledger WHERE request_id = ?1 AND "
                                            "status = 'interrupted' AND completion_tokens <= ?2");
  if (!select) return select.error();
  select->bind(1, request_id);
  select->bind(2, tokens.completion_tokens);
  auto found = select->step();
  if (!found) return found.error();
  if (!*found) return {};
  const OpenRow row = read_open_row(*select);
  // A cost that overflows leaves the closing as it is (a settlement of it is refused likewise).
  if (!cost_micro_usd(tokens, row.price)) return {};
  const Settlement closing{tokens, 200, "interrupted", std::string(kInterruptedError), at_us};
  if (auto closed = close_row(db_, row, closing, /*given_back=*/true); !closed)
    return closed.error();
  return {};
}

Result<std::optional<Error>> SqliteStore::settle_locked(const std::string& request_id,
                                                        const Settlement& settlement,
                                                        int64_t* row_id) {
  // A row closed as interrupted (its server judged gone) takes its settlement too: the better
  // bill replaces the closing from its last checkpoint (docs/platform.md, "Spooled writes raise
  // or replace an interrupted closing").
  auto select = Statement::prepare(db_, std::string("SELECT ") + kOpenRowColumns +
                                            ", status FROM usage_ledger WHERE request_id = ?1 "
                                            "AND status IN ('open', 'interrupted')");
  if (!select) return select.error();
  select->bind(1, request_id);
  auto found = select->step();
  if (!found) return found.error();
  if (!*found) return std::optional<Error>(make_error("no open ledger row has that id"));
  const OpenRow row = read_open_row(*select);
  const bool interrupted = select->column_text(12) == "interrupted";
  // A cost that overflows is this write's refusal, as on PostgreSQL: it would fail every retry.
  if (auto cost = cost_micro_usd(settlement.tokens, row.price); !cost)
    return std::optional<Error>(cost.error());
  if (auto closed = close_row(db_, row, settlement, interrupted); !closed) return closed.error();
  if (row_id) *row_id = row.id;
  return std::optional<Error>();
}

Result<UsageRecord> SqliteStore::settle(const std::string& request_id,
                                        const Settlement& settlement) {
  const std::string what = "cannot settle request '" + request_id + "'";
  if (auto valid = validate_settlement(settlement); !valid)
    return make_error(what + ": " + valid.error().message);
  std::lock_guard lock(mutex_);
  auto txn = Transaction::begin(db_);
  if (!txn) return fail(what, txn.error());
  int64_t row_id = 0;
  auto settled = settle_locked(request_id, settlement, &row_id);
  if (!settled) return fail(what, settled.error());
  if (*settled) return make_error(what + ": " + (*settled)->message);
  auto read = Statement::prepare(
      db_, std::string("SELECT ") + kLedgerColumns + " FROM usage_ledger WHERE id = ?1");
  if (!read) return fail(what, read.error());
  read->bind(1, row_id);
  if (auto again = read->step(); !again) return fail(what, again.error());
  UsageRecord record = read_record(*read);
  if (auto committed = txn->commit(); !committed) return fail(what, committed.error());
  return record;
}

// The triggers on usage_ledger keep spend_days (schema 8): nothing waits to be folded.
Result<void> SqliteStore::fold_spend() { return {}; }

Result<int64_t> SqliteStore::close_interrupted() {
  const std::string what = "cannot close interrupted requests";
  std::lock_guard lock(mutex_);
  auto txn = Transaction::begin(db_);
  if (!txn) return fail(what, txn.error());
  auto servers = Statement::prepare(
      db_, "SELECT DISTINCT server_id FROM usage_ledger WHERE status = 'open' ORDER BY server_id");
  if (!servers) return fail(what, servers.error());
  auto ids = collect(*servers, [](const Statement& row) { return row.column_text(0); });
  if (!ids) return fail(what, ids.error());
  int64_t closed_rows = 0;
  for (const std::string& id : *ids) {
    if (server_is_live(id)) continue;
    auto select = Statement::prepare(db_, std::string("SELECT ") + kOpenRowColumns +
                                              " FROM usage_ledger WHERE status = 'open' AND "
                                              "server_id = ?1 ORDER BY id");
    if (!select) return fail(what, select.error());
    select->bind(1, id);
    auto rows = collect(*select, read_open_row);
    if (!rows) return fail(what, rows.error());
    for (const OpenRow& row : *rows) {
      Settlement settlement{row.checkpoint, 200, "interrupted", std::string(kInterruptedError),
                            row.checkpoint_at_us.value_or(row.started_at_us)};
      if (auto closed = close_row(db_, row, settlement); !closed) return fail(what, closed.error());
    }
    closed_rows += static_cast<int64_t>(rows->size());
  }
  if (auto committed = txn->commit(); !committed) return fail(what, committed.error());
  return closed_rows;
}

Result<void> SqliteStore::record_usage(const UsageRecord& record) {
  if (auto valid = validate_record(record); !valid)
    return make_error("cannot record usage: " + valid.error().message);
  std::lock_guard lock(mutex_);
  auto recorded = record_locked(record);
  if (!recorded) return fail("cannot record usage", recorded.error());
  if (*recorded) return make_error("cannot record usage: " + (*recorded)->message);
  return {};
}

Result<std::optional<Error>> SqliteStore::record_locked(const UsageRecord& record) {
  std::string request_id = record.request_id;
  if (request_id.empty()) {
    auto random = random_base62(24);
    if (!random) return random.error();
    request_id = "req-" + *random;
  }
  auto insert = Statement::prepare(
      db_,
      "INSERT INTO usage_ledger(key_id, model, prompt_tokens, completion_tokens, started_at_us, "
      "finished_at_us, endpoint, http_status, status, error, request_id, cached_prompt_tokens, "
      "cost_micro_usd, input_micro_usd, cached_input_micro_usd, output_micro_usd, end_user, "
      "tenant_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, "
      "?17, coalesce((SELECT tenant_id FROM api_keys WHERE id = ?1), 0))");
  if (!insert) return insert.error();
  insert->bind(1, record.key_id);
  insert->bind(2, record.model);
  insert->bind(3, record.prompt_tokens);
  insert->bind(4, record.completion_tokens);
  insert->bind(5, record.started_at_us);
  insert->bind(6, record.finished_at_us);
  insert->bind(7, record.endpoint);
  insert->bind(8, int64_t{record.http_status});
  insert->bind(9, record.status);
  insert->bind(10, record.error);
  insert->bind(11, request_id);
  insert->bind(12, record.cached_prompt_tokens);
  insert->bind(13, record.cost_micro_usd);
  insert->bind(14, record.price.input);
  insert->bind(15, record.price.cached_input);
  insert->bind(16, record.price.output);
  insert->bind(17, record.end_user);
  if (auto done = run(*insert); !done) {
    if (sqlite3_extended_errcode(db_) == SQLITE_CONSTRAINT_FOREIGNKEY)
      return std::optional<Error>(make_error("no API key has id " + std::to_string(record.key_id)));
    if (sqlite3_extended_errcode(db_) == SQLITE_CONSTRAINT_UNIQUE)
      return std::optional<Error>(
          make_error("request id '" + request_id + "' is already in the ledger"));
    return done.error();
  }
  return std::optional<Error>();
}

Result<std::optional<Error>> SqliteStore::restore_locked(const LedgerWrite& write, bool* restored) {
  const UsageRecord& row = write.row;
  auto exists = Statement::prepare(db_, "SELECT 1 FROM usage_ledger WHERE request_id = ?1");
  if (!exists) return exists.error();
  exists->bind(1, row.request_id);
  auto found = exists->step();
  if (!found) return found.error();
  *restored = false;
  if (*found) return std::optional<Error>();
  const bool settled = write.kind == LedgerWrite::Kind::Settle;
  int64_t cost = 0;
  if (settled) {
    auto computed = cost_micro_usd(counts_of(row), row.price);
    if (!computed) return std::optional<Error>(computed.error());
    cost = *computed;
  }
  auto insert = Statement::prepare(
      db_,
      "INSERT INTO usage_ledger(request_id, key_id, tenant_id, model, endpoint, status, "
      "http_status, error, prompt_tokens, cached_prompt_tokens, completion_tokens, "
      "input_micro_usd, cached_input_micro_usd, output_micro_usd, cost_micro_usd, "
      "reserved_micro_usd, reserved_tokens, started_at_us, checkpoint_at_us, server_id, "
      "finished_at_us, end_user) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, "
      "?14, ?15, ?16, 0, ?17, ?18, ?19, ?20, ?21)");
  if (!insert) return insert.error();
  insert->bind(1, row.request_id);
  insert->bind(2, row.key_id);
  insert->bind(3, row.tenant_id);
  insert->bind(4, row.model);
  insert->bind(5, row.endpoint);
  insert->bind(6, settled ? std::string_view(row.status) : kOpenStatus);
  insert->bind(7, settled ? int64_t{row.http_status} : int64_t{200});
  insert->bind(8, settled ? std::string_view(row.error) : std::string_view(""));
  insert->bind(9, row.prompt_tokens);
  insert->bind(10, row.cached_prompt_tokens);
  insert->bind(11, row.completion_tokens);
  insert->bind(12, row.price.input);
  insert->bind(13, row.price.cached_input);
  insert->bind(14, row.price.output);
  insert->bind(15, cost);
  insert->bind(16, write.reserved_micro_usd);
  insert->bind(17, row.started_at_us);
  if (settled) {
    insert->bind_null(18);
    insert->bind(20, std::max(row.finished_at_us, row.started_at_us));
  } else {
    insert->bind(18, row.finished_at_us);
    insert->bind_null(20);
  }
  insert->bind(19, server_id_);
  insert->bind(21, row.end_user);
  if (auto done = run(*insert); !done) {
    if (sqlite3_extended_errcode(db_) == SQLITE_CONSTRAINT_FOREIGNKEY)
      return std::optional<Error>(make_error("no API key has id " + std::to_string(row.key_id) +
                                             " or no tenant has id " +
                                             std::to_string(row.tenant_id)));
    return done.error();
  }
  *restored = true;
  return std::optional<Error>();
}

Result<std::vector<Result<void>>> SqliteStore::apply_writes(const std::vector<LedgerWrite>& writes,
                                                           Durability durability) {
  std::lock_guard lock(mutex_);
  if (durability == Durability::Unsynced)
    return without_sync(db_, [&] { return apply_writes_locked(writes); });
  return apply_writes_locked(writes);
}

Result<std::vector<Result<void>>> SqliteStore::apply_writes_locked(
    const std::vector<LedgerWrite>& writes) {
  const std::string what = "cannot write the usage ledger";
  auto txn = Transaction::begin(db_);
  if (!txn) return fail(what, txn.error());
  std::vector<Result<void>> results;
  results.reserve(writes.size());
  for (const LedgerWrite& write : writes) {
    if (auto valid = validate_write(write); !valid) {
      results.push_back(valid.error());
      continue;
    }
    if (auto saved = sqlite::exec(db_, "SAVEPOINT ledger_write"); !saved)
      return fail(what, saved.error());
    Result<std::optional<Error>> applied = std::optional<Error>();
    const UsageRecord& row = write.row;
    bool restored = false;
    switch (write.kind) {
      case LedgerWrite::Kind::Checkpoint:
        if (auto done = checkpoint_locked(row.request_id, counts_of(row), row.finished_at_us);
            !done)
          applied = done.error();
        else if (write.carries_admission && sqlite3_changes(db_) == 0)
          applied = restore_locked(write, &restored);
        break;
      case LedgerWrite::Kind::Settle:
        applied = settle_locked(row.request_id, settlement_of(row), nullptr);
        // No open row: its admission may have been lost (LedgerWrite::carries_admission).
        if (applied && *applied && write.carries_admission) {
          auto restoring = restore_locked(write, &restored);
          if (!restoring || *restoring || restored) applied = std::move(restoring);
        }
        break;
      case LedgerWrite::Kind::Record:
        applied = record_locked(row);
        break;
    }
    if (!applied) return fail(what, applied.error());
    if (*applied) {
      if (auto undone = sqlite::exec(db_, "ROLLBACK TO ledger_write"); !undone)
        return fail(what, undone.error());
      results.push_back(describe_refusal(write, **applied));
    } else {
      results.emplace_back();
    }
    if (auto released = sqlite::exec(db_, "RELEASE ledger_write"); !released)
      return fail(what, released.error());
  }
  if (auto committed = txn->commit(); !committed) return fail(what, committed.error());
  return results;
}

Result<std::vector<UsageRecord>> SqliteStore::usage_rows() {
  std::lock_guard lock(mutex_);
  auto stmt = Statement::prepare(
      db_, std::string("SELECT ") + kLedgerColumns + " FROM usage_ledger ORDER BY id");
  if (!stmt) return fail("cannot read usage ledger", stmt.error());
  auto rows = collect(*stmt, read_record);
  if (!rows) return fail("cannot read usage ledger", rows.error());
  return rows;
}

Result<std::optional<UsageRecord>> SqliteStore::usage_row(const std::string& request_id) {
  std::lock_guard lock(mutex_);
  const std::string what = "cannot read the ledger row of request '" + request_id + "'";
  auto stmt = Statement::prepare(
      db_, std::string("SELECT ") + kLedgerColumns + " FROM usage_ledger WHERE request_id = ?1");
  if (!stmt) return fail(what, stmt.error());
  stmt->bind(1, request_id);
  auto found = stmt->step();
  if (!found) return fail(what, found.error());
  if (!*found) return std::optional<UsageRecord>();
  return std::optional<UsageRecord>(read_record(*stmt));
}

Result<std::vector<UsageSummary>> SqliteStore::usage_summary() {
  std::lock_guard lock(mutex_);
  auto stmt =
      Statement::prepare(db_,
                         "SELECT k.name, u.key_id, u.model, count(*), sum(u.prompt_tokens), "
                         "sum(u.completion_tokens), sum(u.cost_micro_usd), t.name, t.id, "
                         "sum(u.cached_prompt_tokens) FROM usage_ledger AS u "
                         "JOIN api_keys AS k ON k.id = u.key_id "
                         "JOIN tenants AS t ON t.id = k.tenant_id GROUP BY u.key_id, u.model "
                         "ORDER BY t.name, k.name, u.model, u.key_id");
  if (!stmt) return fail("cannot summarise usage", stmt.error());
  auto summary = collect(*stmt, [](const Statement& row) {
    return UsageSummary{row.column_text(0),  row.column_int64(1), row.column_text(2),
                        row.column_int64(3), row.column_int64(4), row.column_int64(5),
                        row.column_int64(6), row.column_text(7),  row.column_int64(8),
                        row.column_int64(9)};
  });
  if (!summary) return fail("cannot summarise usage", summary.error());
  return summary;
}

Result<std::vector<UsageGroup>> SqliteStore::usage_groups(const UsageQuery& query) {
  std::lock_guard lock(mutex_);
  auto stmt = Statement::prepare(db_, usage_groups_sql(query.group_by, '?'));
  if (!stmt) return fail("cannot report usage", stmt.error());
  stmt->bind(1, query.start_us);
  stmt->bind(2, query.end_us);
  if (query.key_id)
    stmt->bind(3, *query.key_id);
  else
    stmt->bind_null(3);
  if (query.tenant_id)
    stmt->bind(4, *query.tenant_id);
  else
    stmt->bind_null(4);
  auto groups = collect(*stmt, [](const Statement& row) {
    return UsageGroup{row.column_int64(0), row.column_text(1),  row.column_int64(2),
                      row.column_int64(3), row.column_int64(4), row.column_int64(5),
                      row.column_int64(6), row.column_int64(7), row.column_text(8)};
  });
  if (!groups) return fail("cannot report usage", groups.error());
  finish_groups(query.group_by, *groups);
  return groups;
}

namespace {

/// The audit log's entries with an id above `after_id`, by id; at most `limit` of them.
Result<std::vector<AuditEntry>> audit_entries(sqlite3* db, int64_t after_id, int64_t limit) {
  auto stmt = Statement::prepare(
      db, "SELECT at_us, actor_key_id, actor, action, target, detail, id FROM audit_log "
          "WHERE id > ?1 ORDER BY id LIMIT ?2");
  if (!stmt) return stmt.error();
  stmt->bind(1, after_id);
  stmt->bind(2, limit);
  return collect(*stmt, [](const Statement& row) {
    return AuditEntry{row.column_int64(0), optional_int(row, 1), row.column_text(2),
                      row.column_text(3),  row.column_text(4),   row.column_text(5),
                      row.column_int64(6)};
  });
}

}  // namespace

Result<std::vector<AuditEntry>> SqliteStore::audit_page(const Page& page) {
  if (page.limit < 1) return make_error("cannot read the audit log: a page holds at least 1");
  std::lock_guard lock(mutex_);
  auto entries = audit_entries(db_, page.after_id, page.limit);
  if (!entries) return fail("cannot read the audit log", entries.error());
  return entries;
}

}  // namespace gengyun::platform
