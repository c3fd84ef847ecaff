// Closing the rows that crashed servers left open while this server runs: with several
// servers on one database, a server that dies is noticed by the others, not only at the next
// start of one of them.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>

#include "gengyun/result.h"
#include "platform/store.h"

namespace gengyun::platform {

/// A thread that runs Store::close_interrupted() and then Store::fold_spend() every `period`
/// until destroyed.
class Reconciler {
 public:
  /// Starts the thread; after each pass it calls `after_pass` with the rows closed (or the
  /// error of either call) on that thread. `store` must outlive the Reconciler.
  Reconciler(Store& store, std::chrono::milliseconds period,
             std::function<void(const Result<int64_t>&)> after_pass);
  /// Stops the thread (a pass under way finishes first) and joins it.
  ~Reconciler();
  Reconciler(const Reconciler&) = delete;
  Reconciler& operator=(const Reconciler&) = delete;

 private:
  void run();

  Store& store_;
  const std::chrono::milliseconds period_;
  const std::function<void(const Result<int64_t>&)> after_pass_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;  ///< last: started once the members above exist
};

}  // namespace gengyun::platform
