#include "api/usage_entry.h"

#include <spdlog/spdlog.h>

#include "util/clock.h"

namespace gengyun::api {

UsageEntry::UsageEntry(platform::LedgerWriter& ledger, int64_t key_id, std::string endpoint,
                       int64_t started_at_us)
    : ledger_(ledger) {
  record_.key_id = key_id;
  record_.prompt_tokens = 0;
  record_.completion_tokens = 0;
  record_.started_at_us = started_at_us;
  record_.finished_at_us = started_at_us;
  record_.endpoint = std::move(endpoint);
  record_.http_status = 500;
}

void UsageEntry::set_model(std::string model) {
  if (model.size() > kMaxModelBytes) {
    size_t cut = kMaxModelBytes;
    while (cut > 0 && (static_cast<unsigned char>(model[cut]) & 0xC0) == 0x80) --cut;
    model.resize(cut);
  }
  record_.model = std::move(model);
}

UsageEntry::~UsageEntry() {
  if (finished_) return;
  if (auto written = finish(500, "error", "the request ended without a response"); !written.ok())
    spdlog::error("usage ledger: {}", written.error().message);
}

Result<void> UsageEntry::finish(int http_status, std::string status, std::string error) {
  if (finished_) return {};
  finished_ = true;
  record_.http_status = http_status;
  record_.status = std::move(status);
  record_.error = std::move(error);
  record_.finished_at_us = std::max(unix_time_us(), record_.started_at_us);
  return ledger_.write(
      {admitted_ ? platform::LedgerWrite::Kind::Settle : platform::LedgerWrite::Kind::Record,
       record_});
}

}  // namespace gengyun::api
