// Group admission (Store::admit_batch): the requests of a batch decided in order in one
// transaction, each seeing the reservations of those before it, with each key, tenant, price
// and scope read once per batch. The backends supply the reads and writes (AdmissionSource);
// the decision itself is decide_admission (store_rules.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "gengyun/result.h"
#include "platform/store.h"
#include "platform/store_rules.h"

namespace gengyun::platform {

/// The two scopes an admission counts against.
enum class Scope { Key, Tenant };
/// The scope as `rate_buckets.scope` names it: "key", "tenant".
const char* scope_name(Scope scope);
/// The column of `usage_ledger` that holds the scope's id: "key_id", "tenant_id".
const char* scope_column(Scope scope);

/// What a backend reads and writes for admit_in_order(), all inside the one transaction the
/// backend opened. Database errors are returned as errors (they fail the whole batch).
class AdmissionSource {
 public:
  virtual ~AdmissionSource() = default;
  /// The key with id `key_id` (revoked ones too); nullopt when there is none.
  virtual Result<std::optional<KeyInfo>> key(int64_t key_id) = 0;
  /// The tenant with id `tenant_id` (name and limits), locked for the rest of the transaction
  /// where the backend needs a lock (PostgreSQL: its row, FOR UPDATE); nullopt when none.
  /// admit_in_order() asks for a batch's tenants in increasing id order before anything else,
  /// so two servers locking the same tenants never wait on each other in a cycle.
  virtual Result<std::optional<TenantInfo>> tenant(int64_t tenant_id) = 0;
  /// The prices of `model`; nullopt when none are set.
  virtual Result<std::optional<Price>> price(const std::string& model) = 0;
  /// Settled costs plus open reservations of the scope's rows started at or after `since_us`.
  virtual Result<int64_t> spent_since(Scope scope, int64_t id, int64_t since_us) = 0;
  /// Deletes the scope's rate buckets before `first_second` and returns the others.
  virtual Result<std::vector<RateBucket>> window(Scope scope, int64_t id, int64_t first_second) = 0;
  /// Inserts the open ledger row of an admitted `request` (key `key`, at the admission's
  /// prices and reservation); false, writing nothing, when its request id is in the ledger.
  virtual Result<bool> insert_open_row(const AdmissionRequest& request, const KeyInfo& key,
                                       const Admission& admission, int64_t reserved_tokens) = 0;
  /// Adds `requests` and `tokens` to the scope's bucket of `second` (created when missing).
  virtual Result<void> count_in_bucket(Scope scope, int64_t id, int64_t second, int64_t requests,
                                       int64_t tokens) = 0;
};

/// Decides `requests` in order (Store::admit_batch): reads each key of the batch, then locks
/// and reads its tenants in increasing id order, then for each request: its price, its
/// reservation, its scopes' spend and sliding window (each scope read once per batch, and again
/// only for a request in another budget period), decide_admission(); an admitted request's row
/// is inserted at once and its reservation and rate counts are added to what the next requests
/// of the batch see; the rate buckets are written at the end, one update per bucket. A request
/// that cannot be decided (negative counts, an empty id, an unknown key or tenant, a cost that
/// overflows, a duplicate request id) gets its error and adds nothing. Errors: the source's
/// (database) errors, which fail the whole batch.
Result<std::vector<Result<Admission>>> admit_in_order(
    AdmissionSource& source, const std::vector<AdmissionRequest>& requests);

}  // namespace gengyun::platform
