// The generations a server is running, so that a server that stops can end those still
// running when its grace period is over.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>

namespace gengyun::api {

/// A set of callbacks that end running generations. Thread-safe.
class InFlight {
 public:
  /// Adds `end` (it must not block) and returns its id. After end_all(), `end` is called at
  /// once instead (a request that starts while the server is ending).
  uint64_t add(std::function<void()> end);
  /// Removes the callback `id` (its generation finished); unknown ids are ignored.
  void remove(uint64_t id);
  /// Calls every callback added and not removed, outside the lock.
  void end_all();

 private:
  std::mutex mutex_;
  std::map<uint64_t, std::function<void()>> ends_;
  uint64_t next_id_ = 1;
  bool ending_ = false;
};

}  // namespace gengyun::api
