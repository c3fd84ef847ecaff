// Admission control for generation: how many requests may be running or waiting on one model
// at a time. LoadedModel::generate() serializes its callers, so every waiting request holds a
// handler thread (api/handler_pool.h); bounding the waiters keeps threads free for /v1/models
// and the other models.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace gengyun::api {

/// Counts the requests admitted per model (one generating plus those waiting for it). Thread-safe.
class GenerationSlots {
 public:
  /// A request's place; the place is given back when the last copy is destroyed.
  using Ticket = std::shared_ptr<void>;

  /// At most `max_waiting_per_model` requests wait while one generates.
  explicit GenerationSlots(size_t max_waiting_per_model)
      : max_per_model_(max_waiting_per_model + 1) {}

  /// A ticket for `model`, or nullptr when max_waiting_per_model requests already wait for it.
  Ticket try_acquire(const std::string& model);

  /// Requests admitted for `model` now (running and waiting).
  size_t admitted(const std::string& model) const;

 private:
  void release(const std::string& model);

  const size_t max_per_model_;
  mutable std::mutex mutex_;
  std::map<std::string, size_t, std::less<>> admitted_;
};

}  // namespace gengyun::api
