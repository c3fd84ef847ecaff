// The threads that run handler work which blocks (SQLite authentication and ledger writes,
// tokenization, generation), so that the HTTP server's I/O threads never wait on it.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace gengyun::api {

/// A fixed set of threads and a bounded queue of tasks. Thread-safe.
class HandlerPool {
 public:
  /// Starts `threads` threads (at least 1); at most `max_queued` tasks wait for one.
  HandlerPool(size_t threads, size_t max_queued);
  /// Runs the tasks already queued, then joins the threads.
  ~HandlerPool();
  HandlerPool(const HandlerPool&) = delete;
  HandlerPool& operator=(const HandlerPool&) = delete;

  /// Queues `task` to run on a pool thread. Returns false, and drops it, when max_queued tasks
  /// are already waiting. A task must not throw.
  bool try_post(std::function<void()> task);

  /// Blocks until no task is queued or running.
  void wait_idle();

 private:
  void work();

  const size_t max_queued_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable idle_;
  std::deque<std::function<void()>> queue_;
  size_t running_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace gengyun::api
