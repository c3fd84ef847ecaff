#include "platform/store.h"

#include <charconv>
#include <filesystem>
#include <system_error>
#include <utility>

#include "platform/key_secret.h"
#include "platform/sqlite_statement.h"
#include "platform/store_schema.h"
#include "util/clock.h"

namespace gengyun::platform {
namespace {

using sqlite::Statement;
using sqlite::Transaction;

constexpr int kBusyTimeoutMs = 5000;

constexpr const char* kKeyColumns = "id, name, prefix, created_at_us, revoked_at_us";

KeyInfo read_key(const Statement& row) {
  KeyInfo key{row.column_int64(0), row.column_text(1), row.column_text(2), row.column_int64(3),
              std::nullopt};
  if (!row.column_is_null(4)) key.revoked_at_us = row.column_int64(4);
  return key;
}

/// Runs `stmt` (already bound) to completion and collects its rows as keys.
Result<std::vector<KeyInfo>> collect_keys(Statement& stmt) {
  std::vector<KeyInfo> keys;
  for (;;) {
    auto row = stmt.step();
    if (!row) return row.error();
    if (!*row) return keys;
    keys.push_back(read_key(stmt));
  }
}

/// Keys matching `condition` (a constant SQL fragment whose one parameter ?1 takes `value`).
template <class Value>
Result<std::vector<KeyInfo>> keys_where(sqlite3* db, std::string_view condition,
                                        const Value& value) {
  auto stmt = Statement::prepare(db, std::string("SELECT ") + kKeyColumns +
                                         " FROM api_keys WHERE " + std::string(condition) +
                                         " ORDER BY id");
  if (!stmt) return stmt.error();
  stmt->bind(1, value);
  return collect_keys(*stmt);
}

std::optional<int64_t> parse_id(std::string_view text) {
  int64_t id = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty() || text[0] == '-')
    return std::nullopt;
  return id;
}

/// The keys that `selector` names, per the revoke_key() order: by name, else by id, else by
/// display prefix. Empty when nothing matches.
Result<std::vector<KeyInfo>> resolve_selector(sqlite3* db, const std::string& selector) {
  auto by_name = keys_where(db, "name = ?1", selector);
  if (!by_name || !by_name->empty()) return by_name;
  if (auto id = parse_id(selector)) {
    auto by_id = keys_where(db, "id = ?1", *id);
    if (!by_id || !by_id->empty()) return by_id;
  }
  return keys_where(db, "prefix = ?1", selector);
}

Result<void> validate(const UsageRecord& r) {
  if (r.prompt_tokens < 0 || r.completion_tokens < 0)
    return make_error("token counts must be >= 0 (prompt_tokens " +
                      std::to_string(r.prompt_tokens) + ", completion_tokens " +
                      std::to_string(r.completion_tokens) + ")");
  if (r.finished_at_us < r.started_at_us)
    return make_error("finished_at_us (" + std::to_string(r.finished_at_us) +
                      ") is before started_at_us (" + std::to_string(r.started_at_us) + ")");
  if (r.http_status < 100 || r.http_status > 599)
    return make_error("http_status " + std::to_string(r.http_status) +
                      " is not an HTTP status code (100..599)");
  if (r.status != "ok" && r.status != "error" && r.status != "cancelled")
    return make_error("status '" + r.status + "' is not one of \"ok\", \"error\", \"cancelled\"");
  return {};
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

}  // namespace

Result<std::unique_ptr<Store>> Store::open(const std::string& path) {
  if (path.empty()) return make_error("cannot open the platform store: the database path is empty");
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                           nullptr);
  if (rc != SQLITE_OK) {
    std::string reason = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close_v2(db);
    return make_error("cannot open database '" + path + "': " + reason + open_hint(path));
  }
  std::unique_ptr<Store> store(new Store(db, path));
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, kBusyTimeoutMs);

  // journal_mode is the first statement that reads the file header, so a file that is not a
  // database fails here, before anything is written to it.
  auto setup = sqlite::exec(db, "PRAGMA journal_mode = WAL");
  if (!setup && (sqlite3_extended_errcode(db) & 0xff) == SQLITE_NOTADB)
    return make_error("cannot open database '" + path +
                      "': the file is not a SQLite database (wrong path, or a damaged file)");
  if (setup) setup = sqlite::exec(db, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON");
  if (setup) setup = ensure_schema(db);
  if (!setup) return make_error("cannot open database '" + path + "': " + setup.error().message);
  return store;
}

Store::~Store() { sqlite3_close_v2(db_); }

Error Store::fail(std::string_view what, const Error& cause) const {
  return make_error(std::string(what) + " (database '" + path_ + "'): " + cause.message);
}

Result<std::string> Store::create_key(const std::string& name) {
  if (name.empty()) return make_error("cannot create API key: the key name is empty");
  auto secret = generate_key_secret();
  if (!secret) return secret.error();

  std::lock_guard lock(mutex_);
  auto txn = Transaction::begin(db_);
  if (!txn) return fail("cannot create API key", txn.error());
  auto active = keys_where(db_, "name = ?1 AND revoked_at_us IS NULL", name);
  if (!active) return fail("cannot create API key", active.error());
  if (!active->empty())
    return make_error("cannot create API key: an active key named '" + name +
                      "' already exists (id " + std::to_string(active->front().id) +
                      "); revoke it first or choose another name");

  auto insert = Statement::prepare(
      db_,
      "INSERT INTO api_keys(name, prefix, secret_sha256, created_at_us) VALUES (?1, ?2, ?3, ?4)");
  if (!insert) return fail("cannot create API key", insert.error());
  insert->bind(1, name);
  insert->bind(2, std::string_view(*secret).substr(0, kKeyPrefixChars));
  insert->bind(3, sha256_hex(*secret));
  insert->bind(4, unix_time_us());
  if (auto done = insert->step(); !done) return fail("cannot create API key", done.error());
  if (auto committed = txn->commit(); !committed)
    return fail("cannot create API key", committed.error());
  return secret;
}

Result<std::vector<KeyInfo>> Store::list_keys() {
  std::lock_guard lock(mutex_);
  auto stmt = Statement::prepare(db_, std::string("SELECT ") + kKeyColumns +
                                          " FROM api_keys ORDER BY id");
  if (!stmt) return fail("cannot list API keys", stmt.error());
  auto keys = collect_keys(*stmt);
  if (!keys) return fail("cannot list API keys", keys.error());
  return keys;
}

Result<void> Store::revoke_key(const std::string& name) {
  std::lock_guard lock(mutex_);
  auto txn = Transaction::begin(db_);
  if (!txn) return fail("cannot revoke API key", txn.error());
  auto matches = resolve_selector(db_, name);
  if (!matches) return fail("cannot revoke API key", matches.error());
  if (matches->empty())
    return make_error("cannot revoke API key: no key has the name, id or prefix '" + name + "'");

  std::vector<const KeyInfo*> active;
  for (const KeyInfo& key : *matches)
    if (!key.revoked_at_us) active.push_back(&key);
  if (active.empty())
    return make_error("cannot revoke API key '" + name + "': it is already revoked (id " +
                      std::to_string(matches->back().id) + ")");
  if (active.size() > 1) {
    std::string ids;
    for (const KeyInfo* key : active) ids += (ids.empty() ? "" : ", ") + std::to_string(key->id);
    return make_error("cannot revoke API key: prefix '" + name + "' matches " +
                      std::to_string(active.size()) + " active keys (ids " + ids +
                      "); revoke by name or id instead");
  }

  auto update = Statement::prepare(
      db_, "UPDATE api_keys SET revoked_at_us = ?1 WHERE id = ?2 AND revoked_at_us IS NULL");
  if (!update) return fail("cannot revoke API key", update.error());
  update->bind(1, unix_time_us());
  update->bind(2, active.front()->id);
  if (auto done = update->step(); !done) return fail("cannot revoke API key", done.error());
  if (auto committed = txn->commit(); !committed)
    return fail("cannot revoke API key", committed.error());
  return {};
}

Result<std::optional<KeyInfo>> Store::authenticate(std::string_view secret) {
  std::string hash = sha256_hex(secret);
  std::lock_guard lock(mutex_);
  auto keys = keys_where(db_, "secret_sha256 = ?1 AND revoked_at_us IS NULL", hash);
  if (!keys) return fail("cannot check API key", keys.error());
  if (keys->empty()) return std::optional<KeyInfo>();
  return std::optional<KeyInfo>(std::move(keys->front()));
}

Result<void> Store::record_usage(const UsageRecord& record) {
  if (auto valid = validate(record); !valid)
    return make_error("cannot record usage: " + valid.error().message);

  std::lock_guard lock(mutex_);
  auto insert = Statement::prepare(
      db_,
      "INSERT INTO usage_ledger(key_id, model, prompt_tokens, completion_tokens, started_at_us, "
      "finished_at_us, endpoint, http_status, status, error) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
  if (!insert) return fail("cannot record usage", insert.error());
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
  if (auto done = insert->step(); !done) {
    if (sqlite3_extended_errcode(db_) == SQLITE_CONSTRAINT_FOREIGNKEY)
      return make_error("cannot record usage: no API key has id " +
                        std::to_string(record.key_id));
    return fail("cannot record usage", done.error());
  }
  return {};
}

Result<std::vector<UsageRecord>> Store::usage_rows() {
  std::lock_guard lock(mutex_);
  auto stmt = Statement::prepare(
      db_,
      "SELECT key_id, model, prompt_tokens, completion_tokens, started_at_us, finished_at_us, "
      "endpoint, http_status, status, error FROM usage_ledger ORDER BY id");
  if (!stmt) return fail("cannot read usage ledger", stmt.error());
  std::vector<UsageRecord> rows;
  for (;;) {
    auto row = stmt->step();
    if (!row) return fail("cannot read usage ledger", row.error());
    if (!*row) return rows;
    rows.push_back(UsageRecord{stmt->column_int64(0), stmt->column_text(1),
                               stmt->column_int64(2), stmt->column_int64(3),
                               stmt->column_int64(4), stmt->column_int64(5),
                               stmt->column_text(6), static_cast<int>(stmt->column_int64(7)),
                               stmt->column_text(8), stmt->column_text(9)});
  }
}

Result<std::vector<UsageSummary>> Store::usage_summary() {
  std::lock_guard lock(mutex_);
  auto stmt = Statement::prepare(
      db_,
      "SELECT k.name, u.key_id, u.model, count(*), sum(u.prompt_tokens), "
      "sum(u.completion_tokens) FROM usage_ledger AS u JOIN api_keys AS k ON k.id = u.key_id "
      "GROUP BY u.key_id, u.model ORDER BY k.name, u.model, u.key_id");
  if (!stmt) return fail("cannot summarise usage", stmt.error());
  std::vector<UsageSummary> summary;
  for (;;) {
    auto row = stmt->step();
    if (!row) return fail("cannot summarise usage", row.error());
    if (!*row) return summary;
    summary.push_back(UsageSummary{stmt->column_text(0), stmt->column_int64(1),
                                   stmt->column_text(2), stmt->column_int64(3),
                                   stmt->column_int64(4), stmt->column_int64(5)});
  }
}

}  // namespace gengyun::platform
