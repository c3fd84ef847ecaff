// The events of one request on their way from the engine's thread to the request's handle.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "gengyun/engine.h"

namespace gengyun::engine {

/// A one-slot mailbox: the engine adds tokens and text to the pending event (merging the
/// steps its reader has not yet taken, so the buffer holds at most one event of at most the
/// request's tokens), then finishes it; the reader takes events. Thread-safe.
class RequestStream {
 public:
  /// Adds tokens, their text and (when asked for) their log-probabilities to the pending event;
  /// `usage` replaces its usage.
  void push(std::span<const int32_t> tokens, std::string_view text, const Usage& usage,
            std::span<const TokenLogprobs> logprobs = {});
  /// Like push(), then marks the pending event as the last one (with an embedding request's
  /// vector); `stop_string`: GenerationEvent::stop_string.
  void finish(std::span<const int32_t> tokens, std::string_view text, const Usage& usage,
              const RequestTimes& times, FinishReason reason, bool stop_string,
              std::string error = {}, std::span<const TokenLogprobs> logprobs = {},
              std::vector<float> embedding = {});

  /// The pending event, waiting up to timeout_us for one; nullopt when none came or the
  /// finished event was already taken.
  std::optional<GenerationEvent> next(int64_t timeout_us);
  /// See RequestHandle::on_ready.
  void on_ready(std::function<void()> notify);

  /// Asks the engine to stop the request (it polls cancel_requested() every step).
  void request_cancel() { cancel_requested_.store(true, std::memory_order_relaxed); }
  bool cancel_requested() const { return cancel_requested_.load(std::memory_order_relaxed); }
  /// Whether finish() was called.
  bool finished() const;
  /// steady-clock microseconds at which the oldest event still unread was pushed; 0 when the
  /// reader has taken everything.
  int64_t unread_since_us() const;

 private:
  /// Adds to the pending event (creating it); mutex_ held.
  void append_locked(std::span<const int32_t> tokens, std::string_view text, const Usage& usage,
                     std::span<const TokenLogprobs> logprobs);
  /// Wakes next() and calls the on_ready callback; releases the lock.
  void notify_locked(std::unique_lock<std::mutex>& lock);

  mutable std::mutex mutex_;
  std::condition_variable ready_;
  std::optional<GenerationEvent> pending_;
  int64_t pending_since_us_ = 0;
  bool finished_ = false;
  std::function<void()> notify_;
  std::atomic<bool> cancel_requested_{false};
};

}  // namespace gengyun::engine
