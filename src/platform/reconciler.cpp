#include "platform/reconciler.h"

namespace gengyun::platform {

Reconciler::Reconciler(Store& store, std::chrono::milliseconds period,
                       std::function<void(const Result<int64_t>&)> after_pass)
    : store_(store),
      period_(period),
      after_pass_(std::move(after_pass)),
      thread_([this] { run(); }) {}

Reconciler::~Reconciler() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void Reconciler::run() {
  std::unique_lock lock(mutex_);
  while (!wake_.wait_for(lock, period_, [this] { return stopping_; })) {
    lock.unlock();
    Result<int64_t> closed = store_.close_interrupted();
    if (closed)
      if (auto folded = store_.fold_spend(); !folded) closed = folded.error();
    after_pass_(closed);
    lock.lock();
  }
}

}  // namespace gengyun::platform
