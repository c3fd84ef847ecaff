#include "api/usage_entry.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "api/http_reply.h"
#include "api/openai_response.h"
#include "tokenizer/utf8.h"

namespace gengyun::api {
namespace {

/// `text` with each NUL byte as U+FFFD: PostgreSQL's text cannot hold NUL, so a client's NUL
/// (in a model name, or an error quoting its request) would make the row unwritable and stop
/// the server's ledger (QA 2026-12-07).
void replace_nul(std::string& text) {
  for (size_t at = text.find('\0'); at != std::string::npos; at = text.find('\0', at + 3))
    text.replace(at, 1, "\xEF\xBF\xBD");
}

/// Cuts `text` to at most `max_bytes`, at the start of a UTF-8 character.
void cut_at_character(std::string& text, size_t max_bytes) {
  text.resize(tokenizer::utf8_prefix_length(text, max_bytes));
}

}  // namespace

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
  record_.request_id = random_id("req-");
}

void UsageEntry::set_model(std::string model) {
  replace_nul(model);
  cut_at_character(model, kMaxModelBytes);
  record_.model = std::move(model);
}

void UsageEntry::admitted(const platform::AdmissionRequest& request,
                          const platform::Admission& admission) {
  record_.request_id = request.request_id;
  record_.model = request.model;
  record_.endpoint = request.endpoint;
  record_.started_at_us = request.started_at_us;
  record_.price = admission.price;
  record_.tenant_id = admission.tenant_id;
  reserved_micro_usd_ = admission.reserved_micro_usd;
  admitted_ = true;
}

platform::LedgerWrite UsageEntry::checkpoint(const platform::TokenCounts& tokens,
                                             int64_t at_us) const {
  platform::LedgerWrite write{platform::LedgerWrite::Kind::Checkpoint};
  write.row.request_id = record_.request_id;
  write.row.key_id = record_.key_id;
  write.row.tenant_id = record_.tenant_id;
  write.row.model = record_.model;
  write.row.endpoint = record_.endpoint;
  write.row.started_at_us = record_.started_at_us;
  write.row.end_user = record_.end_user;
  write.row.price = record_.price;
  write.row.prompt_tokens = tokens.prompt_tokens;
  write.row.cached_prompt_tokens = tokens.cached_prompt_tokens;
  write.row.completion_tokens = tokens.completion_tokens;
  write.row.finished_at_us = at_us;
  write.carries_admission = true;
  write.reserved_micro_usd = reserved_micro_usd_;
  return write;
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
  replace_nul(error);
  cut_at_character(error, kMaxErrorBytes);
  record_.error = std::move(error);
  record_.finished_at_us = std::max(ledger_.now_us(), record_.started_at_us);
  return ledger_.write(
      {admitted_ ? platform::LedgerWrite::Kind::Settle : platform::LedgerWrite::Kind::Record,
       record_, admitted_, reserved_micro_usd_});
}

void record(UsageEntry& entry, int http_status, const char* status, const std::string& error) {
  if (auto written = entry.finish(http_status, status, error); !written.ok())
    spdlog::error("usage ledger: {}", written.error().message);
}

void fail(Responder& out, UsageEntry& entry, ApiError error) {
  record(entry, error.http_status,
         error.http_status == kClientClosedRequest ? "cancelled" : "error", error.message);
  const bool named = std::any_of(error.headers.begin(), error.headers.end(),
                                 [](const auto& h) { return h.first == "x-request-id"; });
  if (!named) error.headers.emplace_back("x-request-id", entry.request_id());
  send_error(out, error);
}

}  // namespace gengyun::api
