// The PostgreSQL store's source of key changes: a thread that LISTENs on the channel the
// schema's triggers notify (postgres_schema.cpp, version 4) and applies each notice to the
// store's KeyCache.
#pragma once

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "platform/key_cache.h"
#include "platform/pg_connection.h"

namespace gengyun::platform {

/// The channel every UPDATE or DELETE of api_keys and tenants notifies ("key <id>",
/// "tenant <id>").
inline constexpr const char* kKeyChangeChannel = "gengyun_keys";
/// The application_name of the listener's connection (pg_stat_activity shows it).
inline constexpr const char* kKeyListenerApplicationName = "gengyun-key-listener";

/// Listens for key changes on a connection of its own to `url` and applies them to `cache`.
/// Every kPingInterval it sends a query and, once answered, confirms the cache as of the
/// sending (the server delivers pending notifications before a query's answer), so the cache
/// stays fresh only while the listener keeps up. When the connection drops, fails or leaves a
/// ping unanswered for kPingTimeout, the cache is emptied and bypassed (KeyCache::lose) and the
/// listener reconnects every kReconnectDelay; once it LISTENs again, the cache is confirmed
/// from then on.
class PgKeyListener {
 public:
  static constexpr std::chrono::milliseconds kPingInterval{250};
  static constexpr std::chrono::milliseconds kPingTimeout{2000};
  static constexpr std::chrono::milliseconds kReconnectDelay{100};

  /// Starts the thread. `cache` must outlive this. Its connection's round trips (connecting,
  /// LISTEN) end within `timeout` (pg_connection.h). Errors never escape: a failed connection
  /// is a lost source (the cache is bypassed) and is retried.
  PgKeyListener(std::string url, KeyCache& cache,
                std::chrono::milliseconds timeout = pg::kDefaultRoundTripTimeout);
  /// Stops the thread at once (through a pipe it also waits on while it listens; within the
  /// timeout while it connects) and closes its connection.
  ~PgKeyListener();
  PgKeyListener(const PgKeyListener&) = delete;
  PgKeyListener& operator=(const PgKeyListener&) = delete;

 private:
  void run();
  /// Connects, LISTENs and applies notices until the connection is lost (false) or the
  /// listener stops (true).
  bool listen();
  /// Waits until `fd` is readable, the stop pipe is, or `timeout` passes; whether to stop.
  bool wait(int fd, std::chrono::milliseconds timeout, bool* readable);

  const std::string url_;
  KeyCache& cache_;
  const std::chrono::milliseconds timeout_;
  int stop_pipe_[2] = {-1, -1};
  bool lost_ = false;  ///< the connection was lost and is not back yet (the thread's own)
  std::thread thread_;
};

}  // namespace gengyun::platform
