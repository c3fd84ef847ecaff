// The key cache of a store: the keys that authenticated recently, by the SHA-256 of their
// secret, so that a request on a warm key reads no database. What invalidates it is the
// backend's (docs/platform.md, "Key cache"): the store's own writes evict at once; writes of
// other servers and processes reach it through PostgreSQL's LISTEN/NOTIFY (pg_key_listener.h)
// or SQLite's revision row, read on every request.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "platform/store.h"

namespace gengyun::platform {

/// Counts of what happened to a KeyCache, for tests (waited on with KeyCache::wait_until) and
/// metrics.
struct KeyCacheStats {
  size_t entries = 0;          ///< keys held now
  uint64_t hits = 0;           ///< lookups answered from the cache
  uint64_t invalidations = 0;  ///< changes applied: evictions, a new revision, a full clear
  uint64_t confirmations = 0;  ///< times the source of changes said it is up to date
  uint64_t losses = 0;         ///< times the source of changes was lost (cache cleared)
  bool fresh = false;          ///< whether lookups may be answered from the cache now
};

/// Authenticated, unrevoked keys by the hex SHA-256 of their secret (never the secret), with
/// everything authentication returns (KeyInfo: tenant, role, expiry, models, limits); expiry
/// is the caller's to check on every request, as for a key read from the database. Only keys
/// that authenticated are inserted, so unknown secrets cannot grow it; at `capacity` entries it
/// is emptied before the next insert.
///
/// Freshness: the cache answers only while its source of changes has confirmed, no more than
/// `max_staleness` ago, that every change committed before the confirmation was applied
/// (confirm()); otherwise lookups miss and nothing is inserted, so a revoked key is never
/// served from a stale cache. Changes bump a generation, and a key read from the database is
/// inserted only if no change was applied since the read began (insert()'s `generation`), so a
/// read racing a revocation cannot put the revoked key back. Thread-safe.
class KeyCache {
 public:
  using Clock = std::chrono::steady_clock;

  explicit KeyCache(size_t capacity = 65536,
                    Clock::duration max_staleness = std::chrono::seconds(1))
      : capacity_(capacity), max_staleness_(max_staleness) {}

  /// The key whose secret hashes to `sha256_hex`, when cached and fresh; nullopt otherwise.
  std::optional<KeyInfo> find(const std::string& sha256_hex);
  /// The generation to pass to insert() for a database read that starts now.
  uint64_t generation() const;
  /// Caches `key` under `sha256_hex` unless a change was applied since `generation` was taken
  /// or the cache is not fresh.
  void insert(const std::string& sha256_hex, const KeyInfo& key, uint64_t generation);

  /// Evicts key `key_id` (it was revoked or changed).
  void evict_key(int64_t key_id);
  /// Evicts the keys of tenant `tenant_id` (it changed).
  void evict_tenant(int64_t tenant_id);
  /// Applies a change notice: "key <id>" or "tenant <id>" evicts that key or tenant's keys;
  /// anything else empties the cache.
  void apply_notice(std::string_view notice);
  /// Records the database's key revision (a counter every change of keys and tenants bumps),
  /// read at `read_at`: a revision other than the last one seen empties the cache; the read
  /// confirms the cache as of `read_at`.
  void observe_revision(int64_t revision, Clock::time_point read_at);

  /// The source of changes has applied everything committed before `as_of`: lookups are
  /// answered until `as_of + max_staleness`. The first confirmation after a loss empties the
  /// cache again and bumps the generation (reads begun while it was lost are not inserted).
  void confirm(Clock::time_point as_of);
  /// The source of changes is lost (its connection dropped, the revision cannot be read): the
  /// cache is emptied and bypassed until the next confirm().
  void lose();

  KeyCacheStats stats() const;
  /// Waits until `done(stats())` holds, at most `timeout`; whether it holds.
  bool wait_until(const std::function<bool(const KeyCacheStats&)>& done,
                  std::chrono::milliseconds timeout) const;

 private:
  /// Empties the cache and bumps the generation; mutex_ held.
  void clear_locked();
  bool fresh_locked(Clock::time_point now) const;
  KeyCacheStats stats_locked() const;
  template <typename Match>
  void evict_locked(Match match);

  const size_t capacity_;
  const Clock::duration max_staleness_;
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  std::unordered_map<std::string, KeyInfo> keys_;
  uint64_t generation_ = 0;
  bool lost_ = true;                     ///< no confirmation since the start or a loss
  Clock::time_point confirmed_as_of_{};  ///< the last confirm()'s `as_of`
  std::optional<int64_t> revision_;      ///< the last revision observed
  KeyCacheStats stats_;
};

}  // namespace gengyun::platform
