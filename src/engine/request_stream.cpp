#include "engine/request_stream.h"

#include <chrono>

#include "util/clock.h"

namespace gengyun::engine {

void RequestStream::append_locked(std::span<const int32_t> tokens, std::string_view text,
                                  const Usage& usage, std::span<const TokenLogprobs> logprobs) {
  if (!pending_) {
    pending_.emplace();
    pending_since_us_ = monotonic_us();
  }
  pending_->token_ids.insert(pending_->token_ids.end(), tokens.begin(), tokens.end());
  pending_->text += text;
  pending_->logprobs.insert(pending_->logprobs.end(), logprobs.begin(), logprobs.end());
  pending_->usage = usage;
}

void RequestStream::push(std::span<const int32_t> tokens, std::string_view text,
                         const Usage& usage, std::span<const TokenLogprobs> logprobs) {
  std::unique_lock lock(mutex_);
  append_locked(tokens, text, usage, logprobs);
  notify_locked(lock);
}

void RequestStream::finish(std::span<const int32_t> tokens, std::string_view text,
                           const Usage& usage, const RequestTimes& times, FinishReason reason,
                           bool stop_string, std::string error,
                           std::span<const TokenLogprobs> logprobs, std::vector<float> embedding) {
  std::unique_lock lock(mutex_);
  append_locked(tokens, text, usage, logprobs);
  pending_->embedding = std::move(embedding);
  pending_->times = times;
  pending_->finished = true;
  pending_->finish_reason = reason;
  pending_->stop_string = stop_string;
  pending_->error = std::move(error);
  finished_ = true;
  notify_locked(lock);
}

void RequestStream::notify_locked(std::unique_lock<std::mutex>& lock) {
  ready_.notify_all();
  std::function<void()> notify = notify_;
  lock.unlock();
  if (notify) notify();
}

std::optional<GenerationEvent> RequestStream::next(int64_t timeout_us) {
  std::unique_lock lock(mutex_);
  if (!pending_ && timeout_us > 0)
    ready_.wait_for(lock, std::chrono::microseconds(timeout_us),
                    [this] { return pending_.has_value() || finished_; });
  if (!pending_) return std::nullopt;
  std::optional<GenerationEvent> out = std::move(pending_);
  pending_.reset();
  pending_since_us_ = 0;
  return out;
}

void RequestStream::on_ready(std::function<void()> notify) {
  std::unique_lock lock(mutex_);
  notify_ = std::move(notify);
  if (pending_ && notify_) notify_locked(lock);
}

bool RequestStream::finished() const {
  std::lock_guard lock(mutex_);
  return finished_;
}

int64_t RequestStream::unread_since_us() const {
  std::lock_guard lock(mutex_);
  return pending_since_us_;
}

}  // namespace gengyun::engine
