// The platform store: API keys and the append-only usage ledger in one SQLite database.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gengyun/result.h"
#include "platform/sha256.h"

struct sqlite3;

namespace gengyun::platform {

/// An API key as shown to operators; the secret itself is never kept.
struct KeyInfo {
  int64_t id;
  std::string name;
  std::string prefix;  // first 8 chars of the key ("gy-" + 5), for display
  int64_t created_at_us;  // microseconds since the Unix epoch
  std::optional<int64_t> revoked_at_us;
};

/// One finished (or failed, or cancelled) request, as billed.
struct UsageRecord {
  int64_t key_id;
  std::string model;
  int64_t prompt_tokens;
  int64_t completion_tokens;
  int64_t started_at_us;   // microseconds since the Unix epoch
  int64_t finished_at_us;  // >= started_at_us
  std::string endpoint;    // "/v1/chat/completions"
  int http_status;         // 100..599
  std::string status;      // "ok", "error", "cancelled"
  std::string error;       // empty when status is "ok"
};

/// Usage of one key with one model, summed over the whole ledger.
struct UsageSummary {
  std::string key_name;
  int64_t key_id;
  std::string model;
  int64_t requests;
  int64_t prompt_tokens;
  int64_t completion_tokens;
};

/// One SQLite database holding keys and the append-only usage ledger. Thread-safe: one
/// connection guarded by a mutex; WAL journal mode so readers in other processes (the CLI's
/// `keys list` while a server runs) do not block writers; a 5 s busy timeout when another
/// process holds the write lock. All SQL takes user data through bound parameters only.
///
/// Durability: synchronous=FULL. In WAL mode NORMAL would skip the fsync of the WAL at each
/// commit, so a power loss or OS crash could roll back the most recent commits, i.e. usage that
/// a client was already billed for; FULL makes every commit durable when it returns, at the cost
/// of one fsync per record_usage().
class Store {
 public:
  /// Opens (creating if absent) the database at `path`; ":memory:" gives a private in-memory
  /// store. Creates the schema on a new file. Errors: empty path, the file cannot be created or
  /// opened (missing directory, a directory, no permission), the file is not a SQLite database,
  /// its schema is from a newer gengyun.
  static Result<std::unique_ptr<Store>> open(const std::string& path);

  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  /// Creates a key named `name` and returns its secret ("gy-" + 43 random base62 characters)
  /// exactly once; only its SHA-256 (hex) is stored. Errors: empty name, an active (unrevoked)
  /// key with that name exists, the random generator fails, SQLite errors.
  Result<std::string> create_key(const std::string& name);

  /// All keys, active and revoked, ordered by id (creation order).
  Result<std::vector<KeyInfo>> list_keys();

  /// Revokes one key chosen by `name`, tried in turn as: the name of a key; a decimal key id;
  /// a display prefix (KeyInfo::prefix). Errors: no key matches, the matching key is already
  /// revoked, a prefix matches several active keys.
  Result<void> revoke_key(const std::string& name);

  /// The active key whose secret is `secret` (looked up by its SHA-256); nullopt for an
  /// unknown or revoked secret. Errors: SQLite errors only.
  Result<std::optional<KeyInfo>> authenticate(std::string_view secret);

  /// Appends one row to the usage ledger, committed and fsynced before returning. Revoked keys
  /// may still be billed (requests in flight at revocation). Errors: no key with record.key_id,
  /// negative token counts, finished_at_us before started_at_us, http_status outside 100..599,
  /// status not one of "ok"/"error"/"cancelled", SQLite errors (disk full, I/O).
  Result<void> record_usage(const UsageRecord& record);

  /// Every ledger row in insertion order (tests, audits).
  Result<std::vector<UsageRecord>> usage_rows();

  /// Requests and token sums per key and model, ordered by key name, model, key id (revoked
  /// keys can share a name with a later key).
  Result<std::vector<UsageSummary>> usage_summary();

 private:
  Store(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  Error fail(std::string_view what, const Error& cause) const;

  std::mutex mutex_;
  sqlite3* db_;
  std::string path_;
};

}  // namespace gengyun::platform
