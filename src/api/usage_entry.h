// The usage-ledger row of one authenticated request.
#pragma once

#include <cstdint>
#include <string>

#include "api/errors.h"
#include "api/responder.h"
#include "gengyun/result.h"
#include "platform/ledger_writer.h"
#include "platform/store.h"

namespace gengyun::api {

/// Collects one request's usage as it proceeds and closes exactly one ledger row, under a
/// request id of its own from the start ("req-" and 24 base62 characters; admitted() and
/// refused() replace it with the response's id), which every answer names in x-request-id. A
/// request refused before admission gets a closed row of its own (Store::record_usage); an
/// admitted one (admitted()) has its open row settled. finish() writes it through the ledger
/// writer and returns once it is durable (committed or spooled: ledger_writer.h); a request
/// abandoned without finish() (an exception escaped its handler) is written by the destructor
/// as http_status 500, status "error". Not thread-safe; not copyable.
class UsageEntry {
 public:
  UsageEntry(platform::LedgerWriter& ledger, int64_t key_id, std::string endpoint,
             int64_t started_at_us);
  ~UsageEntry();
  UsageEntry(const UsageEntry&) = delete;
  UsageEntry& operator=(const UsageEntry&) = delete;

  /// The model name as the client requested it (a NUL byte as U+FFFD: PostgreSQL's text cannot
  /// hold NUL), or the model an alias names; at most
  /// kMaxModelBytes of it (cut at a UTF-8 character's start), so a client cannot make a
  /// ledger row as large as its request body.
  void set_model(std::string model);
  static constexpr size_t kMaxModelBytes = 256;
  /// The request's end user (its OpenAI `user`, at most platform::kMaxEndUserBytes: the API
  /// refuses a longer one), as its AdmissionRequest names it when it is admitted.
  void set_end_user(std::string end_user) { record_.end_user = std::move(end_user); }
  void set_tokens(int64_t prompt_tokens, int64_t completion_tokens,
                  int64_t cached_prompt_tokens = 0) {
    record_.prompt_tokens = prompt_tokens;
    record_.completion_tokens = completion_tokens;
    record_.cached_prompt_tokens = cached_prompt_tokens;
  }
  /// The store admitted `request` with `admission` (its row is open); finish() settles it. Its
  /// writes from now on carry what the admission wrote (LedgerWrite::carries_admission), so that
  /// a row lost in a crash of the database is written whole.
  void admitted(const platform::AdmissionRequest& request, const platform::Admission& admission);
  /// The store refused `request` (over a budget or a rate): the row records the request id the
  /// refusal's x-request-id names.
  void refused(const platform::AdmissionRequest& request) {
    record_.request_id = request.request_id;
  }
  const std::string& request_id() const { return record_.request_id; }
  /// A checkpoint of the admitted request's counts `tokens` at `at_us`, carrying its admission
  /// as finish()'s settlement does (for LedgerWriter::post). Only after admitted(); reads only
  /// what admitted() set, so the engine's thread may call it while the request runs.
  platform::LedgerWrite checkpoint(const platform::TokenCounts& tokens, int64_t at_us) const;

  /// Writes the row (finished now) unless it was written already; `status` is a closed status
  /// (Store), `error` empty for "ok". Errors: LedgerWriter::write's (the write is refused, or
  /// the database and the spool both failed: an admitted row then stays open and is closed from
  /// its last checkpoint once its server is gone). `error` is kept to its first kMaxErrorBytes
  /// (cut at a UTF-8 character's start), its NUL bytes as U+FFFD: an error may quote the request
  /// (an unknown model, an unknown field).
  Result<void> finish(int http_status, std::string status, std::string error = {});
  static constexpr size_t kMaxErrorBytes = 1024;
  bool finished() const { return finished_; }

 private:
  platform::LedgerWriter& ledger_;
  platform::UsageRecord record_;
  bool admitted_ = false;
  int64_t reserved_micro_usd_ = 0;  ///< the admission's reservation
  bool finished_ = false;
};

/// Writes `entry`'s row (UsageEntry::finish); a failure to write it is logged.
void record(UsageEntry& entry, int http_status, const char* status, const std::string& error = {});

/// Answers `error` and records it as the request's row ("error"; "cancelled" for
/// kClientClosedRequest); the answer carries x-request-id, the row's request id, unless
/// `error` names one already (a refusal by admission).
void fail(Responder& out, UsageEntry& entry, ApiError error);

}  // namespace gengyun::api
