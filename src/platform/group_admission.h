// Group admission (Store::admit_batch): the requests of a batch decided in order in one
// transaction, each seeing the reservations of those before it, with each key, tenant, price
// and scope read once per batch. The backends supply the reads and writes (AdmissionSource);
// the decision itself is decide_admission (store_rules.h).
#pragma once

#include <compare>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "gengyun/result.h"
#include "platform/store.h"
#include "platform/store_rules.h"

namespace gengyun::platform {

/// The two scopes an admission counts against.
enum class Scope { Key, Tenant };
/// The scope as `rate_buckets.scope` names it: "key", "tenant".
const char* scope_name(Scope scope);
/// The UTC day (days since the Unix epoch) of `at_us` (microseconds since it, >= 0): the day
/// of a row's start in `spend_days`, and that of a budget period's start (a midnight).
inline int64_t spend_day(int64_t at_us) { return at_us / 86'400'000'000; }

/// A scope and its id (a key's or a tenant's).
using ScopeId = std::pair<Scope, int64_t>;

/// What admit_in_order() reads of a batch before deciding it (AdmissionSource::read).
struct AdmissionQuery {
  std::vector<int64_t> key_ids;          ///< distinct, increasing
  std::vector<std::string> models;       ///< distinct: the models and their price fallbacks
  std::vector<std::string> request_ids;  ///< distinct, non-empty
  int64_t first_second = 0;              ///< the oldest rate-window second any request counts
};

/// What the database holds for an AdmissionQuery.
struct AdmissionReads {
  std::map<int64_t, KeyInfo> keys;        ///< the queried keys that exist (revoked ones too)
  std::map<int64_t, TenantInfo> tenants;  ///< the tenants of those keys
  std::map<std::string, Price> prices;    ///< the queried models that have prices
  /// The rate buckets of those keys and tenants from first_second on; a scope without one is
  /// absent. Older buckets are deleted.
  std::map<ScopeId, std::vector<RateBucket>> windows;
  std::set<std::string> recorded;  ///< the queried request ids already in the ledger
};

/// A scope's spend since a budget period's start (AdmissionSource::spent).
struct SpendQuery {
  Scope scope;
  int64_t id;
  int64_t since_us;
  auto operator<=>(const SpendQuery&) const = default;
};

/// The open ledger row of an admitted request (AdmissionSource::write).
struct OpenRowInsert {
  const AdmissionRequest* request;
  int64_t key_id, tenant_id;
  Price price;  ///< the admission's prices
  int64_t reserved_micro_usd, reserved_tokens;
};

/// Requests and tokens a batch adds to one rate bucket (AdmissionSource::write).
struct BucketCount {
  Scope scope;
  int64_t id;
  int64_t second;
  int64_t requests, tokens;
};

/// What a backend reads and writes for admit_in_order(), in bulk so that a remote database
/// answers a batch in few round trips, all inside one transaction: admit_in_order() calls
/// read() once first, spent() at most once, write() once last; a backend may open the
/// transaction in read() and commit it in write() (PostgreSQL, to save round trips). Database
/// errors are returned as errors (they fail the whole batch).
class AdmissionSource {
 public:
  virtual ~AdmissionSource() = default;
  /// Reads `query`'s keys, then locks and reads their tenants in increasing id order where the
  /// backend needs a lock (PostgreSQL: their rows, FOR UPDATE; so that two servers locking the
  /// same tenants never wait on each other in a cycle), then the rest of AdmissionReads.
  virtual Result<AdmissionReads> read(const AdmissionQuery& query) = 0;
  /// For each of `queries` (distinct, sorted): the settled costs plus open reservations of the
  /// scope's rows started at or after its since_us.
  virtual Result<std::map<SpendQuery, int64_t>> spent(const std::vector<SpendQuery>& queries) = 0;
  /// Inserts `rows` (their request ids are not in the ledger as read()) and adds `counts` to
  /// their buckets (created when missing; distinct, sorted). Errors: the database's, among them
  /// a unique violation when another transaction inserted one of the request ids since read().
  virtual Result<void> write(const std::vector<OpenRowInsert>& rows,
                             const std::vector<BucketCount>& counts) = 0;
};

/// Decides `requests` in order (Store::admit_batch): reads what the batch needs at once (its
/// keys, their tenants locked in increasing id order, prices, windows, request ids already
/// recorded; then the spends of the budget periods its requests fall in), then for each
/// request: its reservation, decide_admission(); an admitted request's reservation and rate
/// counts are added to what the next requests of the batch see; the admitted rows and the rate
/// buckets (one update per bucket) are written at the end. A request that cannot be decided
/// (negative counts, an empty id, an unknown key or tenant, a cost that overflows, a request id
/// already recorded or earlier in the batch) gets its error and adds nothing. Errors: the
/// source's (database) errors, which fail the whole batch.
Result<std::vector<Result<Admission>>> admit_in_order(
    AdmissionSource& source, const std::vector<AdmissionRequest>& requests);

}  // namespace gengyun::platform
