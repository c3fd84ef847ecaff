// The usage-ledger row of one authenticated request.
#pragma once

#include <cstdint>
#include <string>

#include "gengyun/result.h"
#include "platform/store.h"

namespace gengyun::api {

/// Collects one request's usage as it proceeds and writes exactly one ledger row: finish()
/// writes it; a request abandoned without finish() (an exception escaped its handler) is
/// written by the destructor as http_status 500, status "error". Not thread-safe; not copyable.
class UsageEntry {
 public:
  UsageEntry(platform::Store& store, int64_t key_id, std::string endpoint, int64_t started_at_us);
  ~UsageEntry();
  UsageEntry(const UsageEntry&) = delete;
  UsageEntry& operator=(const UsageEntry&) = delete;

  /// The model name as the client requested it.
  void set_model(std::string model) { record_.model = std::move(model); }
  void set_tokens(int64_t prompt_tokens, int64_t completion_tokens) {
    record_.prompt_tokens = prompt_tokens;
    record_.completion_tokens = completion_tokens;
  }

  /// Writes the row (finished now) unless it was written already; `status` is "ok", "error"
  /// or "cancelled", `error` empty for "ok". Errors: the store's (the row is then lost and
  /// not retried).
  Result<void> finish(int http_status, std::string status, std::string error = {});
  bool finished() const { return finished_; }

 private:
  platform::Store& store_;
  platform::UsageRecord record_;
  bool finished_ = false;
};

}  // namespace gengyun::api
