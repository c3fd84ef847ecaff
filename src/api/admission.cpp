#include "api/admission.h"

#include <optional>
#include <string>

namespace gengyun::api {
namespace {

/// The x-ratelimit-* fields for `rate` (those of the limits that exist).
HttpHeaders rate_headers(const platform::RateStatus& rate) {
  HttpHeaders headers;
  const auto add = [&](const char* name, const std::optional<int64_t>& value) {
    if (value) headers.emplace_back(name, std::to_string(*value));
  };
  add("x-ratelimit-limit-requests", rate.limit_requests);
  add("x-ratelimit-remaining-requests", rate.remaining_requests);
  add("x-ratelimit-limit-tokens", rate.limit_tokens);
  add("x-ratelimit-remaining-tokens", rate.remaining_tokens);
  return headers;
}

}  // namespace

ApiResult<HttpHeaders> admit(platform::LedgerWriter& ledger,
                             const platform::AdmissionRequest& request, UsageEntry& entry) {
  if (auto writable = ledger.available(); !writable)
    return ledger_unavailable(writable.error().message);
  auto admission = ledger.admit(request);
  if (!admission.ok()) return ledger_unavailable(admission.error().message);
  HttpHeaders headers = rate_headers(admission->rate);
  headers.emplace(headers.begin(), "x-request-id", request.request_id);
  ApiError refusal;
  switch (admission->outcome) {
    case platform::Admission::Outcome::Admitted:
      entry.admitted(request, *admission);
      return headers;
    case platform::Admission::Outcome::OverBudget:
      refusal = insufficient_quota(admission->message);
      break;
    case platform::Admission::Outcome::OverRate:
      refusal =
          rate_limit_exceeded(admission->message, admission->retry_after_s, admission->over_tokens);
      break;
  }
  entry.refused(request);
  refusal.headers = std::move(headers);
  return refusal;
}

}  // namespace gengyun::api
