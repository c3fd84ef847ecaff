// Admission of a request against the budgets and rate limits of its key and tenant, as the
// answer's header fields or the error to answer with (shared by the generation and embeddings
// endpoints).
#pragma once

#include "api/errors.h"
#include "api/responder.h"
#include "api/usage_entry.h"
#include "platform/ledger_writer.h"
#include "platform/store.h"

namespace gengyun::api {

/// Refuses every request while `ledger` cannot write (its spool holds rows), else reserves
/// `request`'s worst case through the ledger writer's group admission (LedgerWriter::admit,
/// which writes its open ledger row), and
/// returns the header fields of its answer: x-request-id (request.request_id) and the
/// x-ratelimit-* fields of the limits that exist; `entry` is then admitted
/// (UsageEntry::admitted). Errors: 429 "insufficient_quota" over a budget, 429
/// "rate_limit_exceeded" over a rate (both with those fields; `entry` then records the
/// x-request-id, UsageEntry::refused), 503 "ledger_unavailable" when the
/// ledger cannot be written (fail closed).
ApiResult<HttpHeaders> admit(platform::LedgerWriter& ledger,
                             const platform::AdmissionRequest& request, UsageEntry& entry);

}  // namespace gengyun::api
