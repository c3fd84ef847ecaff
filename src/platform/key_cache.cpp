#include "platform/key_cache.h"

#include <algorithm>
#include <charconv>

namespace gengyun::platform {

std::optional<KeyInfo> KeyCache::find(const std::string& sha256_hex) {
  std::lock_guard lock(mutex_);
  if (!fresh_locked(Clock::now())) return std::nullopt;
  auto it = keys_.find(sha256_hex);
  if (it == keys_.end()) return std::nullopt;
  ++stats_.hits;
  return it->second;
}

uint64_t KeyCache::generation() const {
  std::lock_guard lock(mutex_);
  return generation_;
}

void KeyCache::insert(const std::string& sha256_hex, const KeyInfo& key, uint64_t generation) {
  std::lock_guard lock(mutex_);
  if (generation != generation_ || !fresh_locked(Clock::now())) return;
  if (keys_.size() >= capacity_) keys_.clear();
  keys_.insert_or_assign(sha256_hex, key);
  changed_.notify_all();
}

template <typename Match>
void KeyCache::evict_locked(Match match) {
  std::erase_if(keys_, [&](const auto& entry) { return match(entry.second); });
  ++generation_;
  ++stats_.invalidations;
  changed_.notify_all();
}

void KeyCache::evict_key(int64_t key_id) {
  std::lock_guard lock(mutex_);
  evict_locked([&](const KeyInfo& key) { return key.id == key_id; });
}

void KeyCache::evict_tenant(int64_t tenant_id) {
  std::lock_guard lock(mutex_);
  evict_locked([&](const KeyInfo& key) { return key.tenant_id == tenant_id; });
}

namespace {

/// The id after `prefix` in `notice` ("key 12" with prefix "key "); nullopt when it is not so.
std::optional<int64_t> notice_id(std::string_view notice, std::string_view prefix) {
  if (!notice.starts_with(prefix)) return std::nullopt;
  notice.remove_prefix(prefix.size());
  int64_t id = 0;
  auto [end, ec] = std::from_chars(notice.data(), notice.data() + notice.size(), id);
  if (ec != std::errc() || end != notice.data() + notice.size()) return std::nullopt;
  return id;
}

}  // namespace

void KeyCache::apply_notice(std::string_view notice) {
  if (auto id = notice_id(notice, "key ")) return evict_key(*id);
  if (auto id = notice_id(notice, "tenant ")) return evict_tenant(*id);
  std::lock_guard lock(mutex_);
  evict_locked([](const KeyInfo&) { return true; });
}

void KeyCache::observe_revision(int64_t revision, Clock::time_point read_at) {
  {
    std::lock_guard lock(mutex_);
    if (revision_ && *revision_ != revision) evict_locked([](const KeyInfo&) { return true; });
    revision_ = revision;
  }
  confirm(read_at);
}

void KeyCache::confirm(Clock::time_point as_of) {
  std::lock_guard lock(mutex_);
  if (lost_) {
    clear_locked();
    lost_ = false;
  }
  confirmed_as_of_ = std::max(confirmed_as_of_, as_of);
  ++stats_.confirmations;
  changed_.notify_all();
}

void KeyCache::lose() {
  std::lock_guard lock(mutex_);
  clear_locked();
  lost_ = true;
  revision_.reset();
  ++stats_.losses;
  changed_.notify_all();
}

void KeyCache::clear_locked() {
  keys_.clear();
  ++generation_;
}

bool KeyCache::fresh_locked(Clock::time_point now) const {
  return !lost_ && now - confirmed_as_of_ <= max_staleness_;
}

KeyCacheStats KeyCache::stats_locked() const {
  KeyCacheStats stats = stats_;
  stats.entries = keys_.size();
  stats.fresh = fresh_locked(Clock::now());
  return stats;
}

KeyCacheStats KeyCache::stats() const {
  std::lock_guard lock(mutex_);
  return stats_locked();
}

bool KeyCache::wait_until(const std::function<bool(const KeyCacheStats&)>& done,
                          std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return done(stats_locked()); });
}

}  // namespace gengyun::platform
