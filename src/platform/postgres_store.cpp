#include "platform/postgres_store.h"

#include <algorithm>
#include <charconv>
#include <set>
#include <tuple>
#include <utility>

#include "platform/database_errors.h"
#include "platform/group_admission.h"
#include "platform/key_secret.h"
#include "platform/postgres_schema.h"
#include "platform/store_rules.h"

namespace gengyun::platform {
namespace {

using pg::param;
using pg::Rows;

/// Connections of a store: admissions of concurrent requests, the ledger writer and reads each
/// take one; more wait for one to be returned.
constexpr size_t kPoolConnections = 8;
constexpr const char* kUniqueViolation = "23505";
constexpr const char* kForeignKeyViolation = "23503";
/// The advisory lock key of server $1: a 64-bit hash of its id, which a live server's
/// connection holds (released by PostgreSQL when the connection ends, e.g. its process dies).
constexpr const char* kServerLockKey = "hashtextextended($1, 0)";
/// Now on the database's clock, in microseconds since the epoch.
constexpr const char* kDatabaseClock =
    "SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint";
/// When PostgreSQL started and now, in microseconds since the epoch.
constexpr const char* kPostmasterClock =
    "SELECT (extract(epoch FROM pg_postmaster_start_time()) * 1000000)::bigint, "
    "(extract(epoch FROM clock_timestamp()) * 1000000)::bigint";
/// Records server $1's heartbeat: now on the database's clock, in microseconds since the epoch
/// (heartbeats are written and compared on one clock, whatever the servers' clocks say), and
/// returns it (measure_clock_offset).
constexpr const char* kHeartbeat =
    "INSERT INTO servers(id, seen_at_us) "
    "VALUES ($1, (extract(epoch FROM clock_timestamp()) * 1000000)::bigint) "
    "ON CONFLICT (id) DO UPDATE SET seen_at_us = excluded.seen_at_us RETURNING seen_at_us";
/// The servers whose heartbeat is at most $1 microseconds old.
constexpr const char* kFreshServers =
    "SELECT id FROM servers "
    "WHERE seen_at_us > (extract(epoch FROM clock_timestamp()) * 1000000)::bigint - $1";
/// The servers to judge: those with open rows, and those whose heartbeat is over $1
/// microseconds old (gone without a row open: their heartbeat is deleted once judged).
constexpr const char* kServersToJudge =
    "SELECT server_id FROM usage_ledger WHERE status = 'open' UNION "
    "SELECT id FROM servers "
    "WHERE seen_at_us <= (extract(epoch FROM clock_timestamp()) * 1000000)::bigint - $1 "
    "ORDER BY 1";
/// After a restart of PostgreSQL, how long servers that lived through it have to take their
/// advisory locks again (each does at its next close_interrupted(), every 5 s when serving)
/// before a free lock counts as a dead server: two reconcile periods.
constexpr int64_t kRestartGraceUs = 10'000'000;

/// The ledger's transactions (group admission, apply_writes) plan their prepared statements
/// generically (docs/platform.md, "PostgreSQL statements are prepared once"): left to choose,
/// PostgreSQL planned them anew at every execution (custom plans, 0.1-0.25 ms each), which was
/// most of an admission's time on the server. For this transaction only: reports keep the
/// planner's choice. A select list item: "SELECT " + it is the statement.
constexpr const char* kGenericPlanMode =
    "set_config('plan_cache_mode', 'force_generic_plan', true)";

constexpr const char* kKeyColumns =
    "id, name, prefix, created_at_us, revoked_at_us, tenant_id, role, expires_at_us, models, "
    "budget_micro_usd, budget_period, rpm, tpm";

constexpr const char* kLedgerColumns =
    "key_id, model, prompt_tokens, completion_tokens, started_at_us, "
    "coalesce(finished_at_us, started_at_us), endpoint, http_status, status, error, request_id, "
    "cached_prompt_tokens, cost_micro_usd, input_micro_usd, cached_input_micro_usd, "
    "output_micro_usd, tenant_id, end_user";

constexpr const char* kOpenRowColumns =
    "id, key_id, tenant_id, started_at_us, reserved_tokens, input_micro_usd, "
    "cached_input_micro_usd, output_micro_usd, prompt_tokens, cached_prompt_tokens, "
    "completion_tokens, checkpoint_at_us";

/// `cause` after `what`; still an unreachable database's error (database_errors.h) if it was one.
Error fail(std::string_view what, const Error& cause) {
  if (database_unreachable(cause))
    return unreachable_error(std::string(what) + " (PostgreSQL): " +
                             cause.message.substr(kDatabaseUnreachable.size()));
  return make_error(std::string(what) + " (PostgreSQL): " + cause.message);
}

/// Reads budget_micro_usd, budget_period, rpm, tpm from columns first..first+3 of `row`.
Limits read_limits(const Rows& rows, int row, int first) {
  Limits limits;
  limits.budget_micro_usd = rows.optional_int(row, first);
  limits.budget_period = parse_period(rows.text(row, first + 1)).value_or(BudgetPeriod::Total);
  limits.rpm = rows.optional_int(row, first + 2);
  limits.tpm = rows.optional_int(row, first + 3);
  return limits;
}

std::vector<pg::Param> limit_params(const Limits& limits) {
  return {param(limits.budget_micro_usd), param(period_name(limits.budget_period)),
          param(limits.rpm), param(limits.tpm)};
}

std::vector<KeyInfo> read_keys(const Rows& rows) {
  std::vector<KeyInfo> keys;
  for (int r = 0; r < rows.count(); ++r) {
    KeyInfo key{rows.int64(r, 0), rows.text(r, 1), rows.text(r, 2), rows.int64(r, 3),
                rows.optional_int(r, 4)};
    key.tenant_id = rows.int64(r, 5);
    key.role = parse_role(rows.text(r, 6)).value_or(Role::Member);
    key.expires_at_us = rows.optional_int(r, 7);
    key.models = split_models(rows.text(r, 8));
    key.limits = read_limits(rows, r, 9);
    keys.push_back(std::move(key));
  }
  return keys;
}

/// Keys matching `condition` (a constant SQL fragment whose parameters $1, $2, ... take
/// `params` in order), by id.
Result<std::vector<KeyInfo>> keys_where(pg::Connection& conn, std::string_view condition,
                                        const std::vector<pg::Param>& params) {
  auto rows = conn.query(std::string("SELECT ") + kKeyColumns + " FROM api_keys WHERE " +
                             std::string(condition) + " ORDER BY id",
                         params);
  if (!rows) return rows.error();
  return read_keys(*rows);
}

/// store_rules.h's keeps_an_admin_key() for revoking `key` now, in the caller's transaction on
/// `conn`. The active, unexpired admin keys are read FOR UPDATE (in id order, so that two
/// revocations lock them in the same order): a concurrent revocation of one of them waits for
/// this transaction, then reads them again, so that two revocations of the last two admin keys
/// cannot both pass. Errors: the refusal, database errors (after `what`).
Result<void> keep_an_admin_key(pg::Connection& conn, const KeyInfo& key, const std::string& what,
                               int64_t now_us) {
  if (key.role != Role::Admin) return {};
  auto admins = conn.query(
      "SELECT id FROM api_keys WHERE role = 'admin' AND revoked_at_us IS NULL AND "
      "(expires_at_us IS NULL OR expires_at_us > $1) ORDER BY id FOR UPDATE",
      {param(now_us)});
  if (!admins) return fail(what, admins.error());
  std::vector<int64_t> ids;
  for (int row = 0; row < admins->count(); ++row) ids.push_back(admins->int64(row, 0));
  return keeps_an_admin_key(key, ids, now_us);
}

UsageRecord read_record(const Rows& rows, int r) {
  return UsageRecord{
      rows.int64(r, 0),  rows.text(r, 1),
      rows.int64(r, 2),  rows.int64(r, 3),
      rows.int64(r, 4),  rows.int64(r, 5),
      rows.text(r, 6),   static_cast<int>(rows.int64(r, 7)),
      rows.text(r, 8),   rows.text(r, 9),
      rows.text(r, 10),  rows.int64(r, 11),
      rows.int64(r, 12), Price{rows.int64(r, 13), rows.int64(r, 14), rows.int64(r, 15)},
      rows.int64(r, 16), rows.text(r, 17)};
}

/// Rows of model, input_micro_usd, cached_input_micro_usd, output_micro_usd.
std::vector<ModelPrice> read_model_prices(const Rows& rows) {
  std::vector<ModelPrice> prices;
  for (int r = 0; r < rows.count(); ++r)
    prices.push_back(
        ModelPrice{rows.text(r, 0), Price{rows.int64(r, 1), rows.int64(r, 2), rows.int64(r, 3)}});
  return prices;
}

Result<std::optional<Price>> read_price(pg::Connection& conn, const std::string& model) {
  auto rows = conn.query(
      "SELECT input_micro_usd, cached_input_micro_usd, output_micro_usd FROM prices "
      "WHERE model = $1",
      {param(model)});
  if (!rows) return rows.error();
  if (rows->count() == 0) return std::optional<Price>();
  return std::optional<Price>(Price{rows->int64(0, 0), rows->int64(0, 1), rows->int64(0, 2)});
}

/// The statements that give `give_backs` back to their buckets (each sum stays >= 0): the
/// buckets locked in GiveBacks order first (ORDER BY is applied before FOR UPDATE locks the rows
/// it returns), then updated; a bucket that has left the window and was deleted gets nothing.
/// None when there is nothing to give back.
std::vector<pg::Statement> give_back_statements(const GiveBacks& give_backs) {
  if (give_backs.empty()) return {};
  std::vector<int64_t> seconds, ids, tokens;
  std::vector<std::string> scopes;
  for (const auto& [where, count] : give_backs) {
    seconds.push_back(std::get<0>(where));
    scopes.push_back(std::get<1>(where));
    ids.push_back(std::get<2>(where));
    tokens.push_back(count);
  }
  const std::string given =
      "unnest($1::BIGINT[], $2::TEXT[], $3::BIGINT[], $4::BIGINT[]) AS g(second, scope, id, "
      "tokens)";
  const std::vector<pg::Param> params = {pg::array(seconds), pg::array(scopes), pg::array(ids),
                                         pg::array(tokens)};
  return {{"SELECT 1 FROM rate_buckets b JOIN " + given +
               " ON b.second = g.second AND b.scope = g.scope AND b.scope_id = g.id "
               "ORDER BY b.second, b.scope, b.scope_id FOR UPDATE OF b",
           params},
          {"UPDATE rate_buckets b SET tokens = GREATEST(b.tokens - g.tokens, 0) FROM " + given +
               " WHERE b.second = g.second AND b.scope = g.scope AND b.scope_id = g.id",
           params}};
}

struct OpenRow {
  int64_t id, key_id, tenant_id, started_at_us, reserved_tokens;
  Price price;
  TokenCounts checkpoint;
  std::optional<int64_t> checkpoint_at_us;
};

OpenRow read_open_row(const Rows& rows, int r) {
  return OpenRow{rows.int64(r, 0),
                 rows.int64(r, 1),
                 rows.int64(r, 2),
                 rows.int64(r, 3),
                 rows.int64(r, 4),
                 {rows.int64(r, 5), rows.int64(r, 6), rows.int64(r, 7)},
                 {rows.int64(r, 8), rows.int64(r, 9), rows.int64(r, 10)},
                 rows.optional_int(r, 11)};
}

/// An open row to close: how it ended and what it costs.
struct Closing {
  int64_t row_id = 0;
  Settlement settlement;
  int64_t cost_micro_usd = 0;
};

/// The Closing of `row` by `settlement` (validated): its cost at the row's prices, its end no
/// earlier than its start; the unused part of its token reservation is added to `give_backs`,
/// for the rate buckets it was admitted in (the caller gives them back, all together, before
/// its commit). Errors: the cost overflows (nothing added).
Result<Closing> close_row(const OpenRow& row, const Settlement& settlement, GiveBacks& give_backs) {
  auto cost = cost_micro_usd(settlement.tokens, row.price);
  if (!cost) return cost.error();
  Closing closing{row.id, settlement, *cost};
  closing.settlement.finished_at_us = std::max(settlement.finished_at_us, row.started_at_us);
  const int64_t unused =
      row.reserved_tokens - settlement.tokens.prompt_tokens - settlement.tokens.completion_tokens;
  if (unused > 0) {
    const int64_t second = rate_second(row.started_at_us);
    give_backs[{second, "key", row.key_id}] += unused;
    give_backs[{second, "tenant", row.tenant_id}] += unused;
  }
  return closing;
}

/// One UPDATE that closes every row of `closings` still open (or closed as interrupted, which a
/// settlement replaces), each with its settlement and cost.
pg::Statement close_statement(const std::vector<Closing>& closings) {
  std::vector<int64_t> ids, http_statuses, prompt, cached, completion, costs, finished;
  std::vector<std::string> statuses, errors;
  for (const Closing& c : closings) {
    ids.push_back(c.row_id);
    statuses.push_back(c.settlement.status);
    http_statuses.push_back(c.settlement.http_status);
    errors.push_back(c.settlement.error);
    prompt.push_back(c.settlement.tokens.prompt_tokens);
    cached.push_back(c.settlement.tokens.cached_prompt_tokens);
    completion.push_back(c.settlement.tokens.completion_tokens);
    costs.push_back(c.cost_micro_usd);
    finished.push_back(c.settlement.finished_at_us);
  }
  return {
      "UPDATE usage_ledger u SET status = s.status, http_status = s.http, error = s.error, "
      "prompt_tokens = s.p, cached_prompt_tokens = s.c, completion_tokens = s.o, "
      "cost_micro_usd = s.cost, finished_at_us = s.fin FROM unnest($1::BIGINT[], $2::TEXT[], "
      "$3::BIGINT[], $4::TEXT[], $5::BIGINT[], $6::BIGINT[], $7::BIGINT[], $8::BIGINT[], "
      "$9::BIGINT[]) AS s(id, status, http, error, p, c, o, cost, fin) "
      "WHERE u.id = s.id AND u.status IN ('open', 'interrupted')",
      {pg::array(ids), pg::array(statuses), pg::array(http_statuses), pg::array(errors),
       pg::array(prompt), pg::array(cached), pg::array(completion), pg::array(costs),
       pg::array(finished)}};
}

}  // namespace

Result<std::unique_ptr<Store>> PostgresStore::open(const std::string& url, OpenMode mode,
                                                   pg::Deadlines deadlines) {
  auto conn = pg::Connection::connect(url, deadlines.round_trip);
  if (!conn) return conn.error();
  auto version = ensure_postgres_schema(**conn, mode);
  if (!version)
    return make_error("cannot open the PostgreSQL database: " + version.error().message);
  pg::Connection& first = **conn;
  std::unique_ptr<PostgresStore> store(new PostgresStore(
      std::make_unique<pg::Pool>(url, kPoolConnections, std::move(*conn), deadlines), url,
      deadlines.round_trip));
  if (auto measured = store->measure_clock_offset(first, kDatabaseClock); !measured)
    return make_error("cannot open the PostgreSQL database: " + measured.error().message);
  store->schema_version_found_ = *version;
  return std::unique_ptr<Store>(std::move(store));
}

Result<void> PostgresStore::measure_clock_offset(pg::Connection& conn, std::string_view sql,
                                                 const std::vector<pg::Param>& params) {
  const int64_t sent_us = unix_time_us();
  auto clock = conn.query(sql, params);
  if (!clock) return clock.error();
  const int64_t received_us = unix_time_us();
  const int64_t midpoint_us = sent_us + (received_us - sent_us) / 2;
  clock_offset_us_.store(clock->int64(0, 0) - midpoint_us, std::memory_order_relaxed);
  return {};
}

PostgresStore::~PostgresStore() {
  if (!server_conn_) return;
  (void)server_conn_->query("DELETE FROM servers WHERE id = $1", {param(server_id_)});
  (void)server_conn_->query("SELECT pg_advisory_unlock_all()");
}

Result<void> PostgresStore::audit(pg::Connection& conn, const Actor& actor, std::string_view action,
                                  const std::string& target, const std::string& detail) {
  auto done = conn.query(
      "INSERT INTO audit_log(at_us, actor_key_id, actor, action, target, detail) "
      "VALUES ($1, $2, $3, $4, $5, $6)",
      {param(now_us()), param(actor.key_id), param(actor.name), param(action), param(target),
       param(detail)});
  if (!done) return done.error();
  return {};
}

Result<TenantInfo> PostgresStore::create_tenant(const std::string& name, const Limits& limits,
                                                const Actor& actor) {
  const std::string what = "cannot create tenant";
  if (auto valid = validate_name("tenant", name); !valid)
    return make_error(what + ": " + valid.error().message);
  if (auto valid = validate_limits(limits); !valid)
    return make_error(what + " '" + name + "': " + valid.error().message);
  auto lease = pool_->acquire();
  if (!lease) return lease.error();
  pg::Connection& conn = **lease;
  auto txn = pg::Transaction::begin(conn);
  if (!txn) return fail(what, txn.error());
  TenantInfo tenant{0, name, limits, now_us()};
  std::vector<pg::Param> params = {param(name), param(tenant.created_at_us)};
  for (auto& p : limit_params(limits)) params.push_back(std::move(p));
  auto inserted = conn.query(
      "INSERT INTO tenants(name, created_at_us, budget_micro_usd, budget_period, rpm, tpm) "
      "VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
      params);
  if (!inserted) {
    if (conn.last_sqlstate() == kUniqueViolation)
      return make_error(what + ": a tenant named '" + name + "' already exists");
    return fail(what, inserted.error());
  }
  tenant.id = inserted->int64(0, 0);
  if (auto logged = audit(conn, actor, "tenant.create", name, describe_limits(limits)); !logged)
    return fail(what, logged.error());
  if (auto committed = txn->commit(); !committed) return fail(what, committed.error());
  return tenant;
}

namespace {

/// Tenants matching `condition` (a constant SQL fragment taking `params`), by id; at most
/// `limit` of them when it is not negative.
Result<std::vector<TenantInfo>> tenants_where(pg::Connection& conn, std::string_view condition,
                                              std::vector<pg::Param> params = {},
                                              int64_t limit = -1) {
  // The limit is bound, not spliced, so that the text (the prepared statement) is one.
  std::string sql =
      "SELECT id, name, created_at_us, budget_micro_usd, budget_period, rpm, tpm FROM tenants "
      "WHERE " +
      std::string(condition) + " ORDER BY id";
  if (limit >= 0) {
    params.push_back(param(limit));
    sql += " LIMIT $" + std::to_string(params.size());
  }
  auto rows = conn.query(sql, params);
  if (!rows) return rows.error();
  std::vector<TenantInfo> tenants;
  for (int r = 0; r < rows->count(); ++r)
    tenants.push_back(TenantInfo{rows->int64(r, 0), rows->text(r, 1), read_limits(*rows, r, 3),
                                 rows->int64(r, 2)});
  return tenants;
}

}  // namespace

Result<std::vector<TenantInfo>> PostgresStore::tenants_page(const Page& page) {
  if (page.limit < 1) return make_error("cannot list tenants: a page holds at least 1");
  auto lease = pool_->acquire();
  if (!lease) return lease.error();
  auto tenants = tenants_where(**lease, "id > $1", {param(page.after_id)}, page.limit);
  if (!tenants) return fail("cannot list tenants", tenants.error());
  return tenants;
}

Result<std::optional<TenantInfo>> PostgresStore::find_tenant(int64_t tenant_id) {
  auto lease = pool_->acquire();
  if (!lease) return lease.error();
  auto tenants = tenants_where(**lease, "id = $1", {param(tenant_id)});
  if (!tenants) return fail("cannot read tenant " + std::to_string(tenant_id), tenants.error());
  if (tenants->empty()) return std::optional<TenantInfo>();
  return std::optional<TenantInfo>(tenants->front());
}

Result<std::optional<TenantInfo>> PostgresStore::find_tenant_named(const std::string& name) {
  auto lease = pool_->acquire();
  if (!lease) return lease.error();
  auto tenants = tenants_where(**lease, "name = $1", {param(name)});
  if (!tenants) return fail("cannot read tenant '" + name + "'", tenants.error());
  if (tenants->empty()) return std::optional<TenantInfo>();
  return std::optional<TenantInfo>(tenants->front());
}

Result<TenantInfo> PostgresStore::set_tenant_limits(int64_t tenant_id, const Limits& limits,
                                                    const Actor& actor) {
  const std::string what = "cannot set the limits of tenant " + std::to_string(tenant_id);
  if (auto valid = validate_limits(limits); !valid)
    return make_error(what + ": " + valid.error().message);
  auto lease = pool_->acquire();
  if (!lease) return lease.error();
  pg::Connection& conn = **lease;
  auto txn = pg::Transaction::begin(conn);
  if (!txn) return fail(what, txn.error());
  std::vector<pg::Param> params = limit_params(limits);
  params.push_back(param(tenant_id));
  auto updated = conn.query(
      "UPDATE tenants SET budget_micro_usd = $1, budget_period = $2, rpm = $3, tpm = $4 "
      "WHERE id = $5",
      params);
  if (!updated) return fail(what, updated.error());
  auto tenant = tenants_where(conn, "id = $1", {param(tenant_id)});
  if (!tenant) return fail(what, tenant.error());
  if (tenant->empty()) return make_error(what + ": no such tenant");
  if (auto logged =
          audit(conn, actor, "tenant.limits", tenant->front().name, describe_new_limits(limits));
      !logged)
    return fail(what, logged.error());
  if (auto committed = txn->commit(); !committed) return fail(what, committed.error());
  key_cache_.evict_tenant(tenant_id);
  return tenant->front();
}

Result<std::string> PostgresStore::create_key(const NewKey& key, const Actor& actor) {
  const std::string what = "cannot create API key";
  if (key.name.empty()) return make_error(what + ": the key name is empty");
  if (auto valid = validate_name("key", key.name); !valid)
    return make_error(what + ": " + valid.error().message);
  if (auto valid = validate_limits(key.limits); !valid)
    return make_error(what + " '" + key.name + "': " + valid.error().message);
  auto models = join_models(key.models);
  if (!models) return make_error(what + " '" + key.name + "': " + models.error().message);
  auto secret = generate_key_secret();
  if (!secret) return secret.error();

  auto lease = pool_->acquire();
  if (!lease) return lease.error();
  pg::Connection& conn = **lease;
  auto txn = pg::Transaction::begin(conn);
  if (!txn) return fail(what, txn.error());
  auto tenant = conn.query("SELECT id FROM tenants WHERE name = $1", {param(key.tenant)});
  if (!tenant) return fail(what, tenant.error());
  if (tenant->count() == 0)
    return make_error(what + " '" + key.name + "': no tenant is named '" + key.tenant +
                      "' (create it with `gengyun tenants create`)");
  auto active = keys_where(conn, "tenant_id = $1 AND name = $2 AND revoked_at_us IS NULL",
                           {param(tenant->int64(0, 0)), param(key.name)});
  if (!active) return fail(what, active.error());
  if (!active->empty())
    return make_error(what + ": an active key named '" + key.name + "' already exists in tenant '" +
                      key.tenant + "' (id " + std::to_string(active->front().id) +
                      "); revoke it first or choose another name");
  std::vector<pg::Param> params = {param(key.name),
                                   param(std::string_view(*secret).substr(0, kKeyPrefixChars)),
                                   param(sha256_hex(*secret)),
                                   param(now_us()),
                                   param(tenant->int64(0, 0)),
                                   param(role_name(key.role)),
                                   param(key.expires_at_us),
                                   param(*models)};
  for (auto& p : limit_params(key.limits)) params.push_back(std::move(p));
  auto inserted = conn.query(
      "INSERT INTO api_keys(name, prefix, secret_sha256, created_at_us, tenant_id, role, "
      "expires_at_us, models, budget_micro_usd, budget_period, rpm, tpm) "
      "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
      params);
  if (!inserted) return fail(what, inserted.error());
  if (auto logged = audit(conn, actor, "key.create", key.name, describe_key(key, *models)); !logged)
    return fail(what, logged.error());
  if (auto committed = txn->commit(); !committed) return fail(what, committed.error());
  return secret;
}

Result<std::vector<KeyInfo>> PostgresStore::keys_page(const KeyPage& query) {
  if (query.page.limit < 1) return make_error("cannot list API keys: a page holds at least 1");
  std::string sql = std::string("SELECT ") + kKeyColumns + " FROM api_keys WHERE id > $1";
  std::vector<pg::Param> params = {param(query.page.after_id)};
  if (query.tenant_id) {
    sql += " AND tenant_id = $2";
    params.push_back(param(*query.tenant_id));
  }
  if (!query.admin_keys) sql += " AND role <> 'admin'";
  params.push_back(param(query.page.limit));
  sql += " ORDER BY id LIMIT $" + std::to_string(params.size());
  auto lease = pool_->acquire();
  if (!lease) return lease.error();
  pg::Connection& conn = **lease;
  auto rows = conn.query(sql, params);
  if (!rows) return fail("cannot list API keys", rows.error());
  return read_keys(*rows);
}

Result<std::optional<KeyInfo>> PostgresStore::find_key(int64_t key_id) {
  auto lease = pool_->acquire();
  if (!lease) return lease.error();
  auto keys = keys_where(**lease, "id = $1", {param(key_id)});
  if (!keys) return fail("cannot read API key " + std::to_string(key_id), keys.error());
  if (keys->empty()) return std::optional<KeyInfo>();
  return std::optional<KeyInfo>(keys->front());
}

Result<std::optional<KeyInfo>> PostgresStore::find_active_key_named(int64_t tenant_id,
                                                                    const std::string& name) {
  auto lease = pool_->acquire();
  if (!lease) return lease.error();
  // The condition of the partial index api_keys_active_name, so that the index answers it.
  auto keys = keys_where(**lease, "tenant_id = $1 AND name = $2 AND revoked_at_us IS NULL",
                         {param(tenant_id), param(name)});
  if (!keys) return fail("cannot read API key '" + name + "'", keys.error());
  if (keys->empty()) return std::optional<KeyInfo>();
  return std::optional<KeyInfo>(keys->front());
}

Result<std::vector<KeyInfo>> PostgresStore::keys_named(const std::string& name) {
  auto lease = pool_->acquire();
  if (!lease) return lease.error();
  auto keys = keys_where(**lease, "name = $1", {param(name)});
  if (!keys) return fail("cannot read the API keys named '" + name + "'", keys.error());
  return keys;
}

Result<KeyInfo> PostgresStore::revoke_key(const std::string& name, const Actor& actor,
                                          const std::string& tenant) {
  const std::string what = "cannot revoke API key";
  auto lease = pool_->acquire();
  if (!lease) return lease.error();
  pg::Connection& conn = **lease;
  auto txn = pg::Transaction::begin(conn);
  if (!txn) return fail(what, txn.error());
  Result<std::vector<KeyInfo>> named = std::vector<KeyInfo>();
  if (tenant.empty()) {
    named = keys_where(conn, "name = $1", {param(name)});
  } else {
    auto owner = tenants_where(conn, "name = $1", {param(tenant)});
    if (!owner) return fail(what, owner.error());
    if (owner->empty()) return make_error(what + ": no tenant is named '" + tenant + "'");
    named =
        keys_where(conn, "name = $1 AND tenant_id = $2", {param(name), param(owner->front().id)});
  }
  if (!named) return fail(what, named.error());
  auto key = key_to_revoke(name, *named, tenant);
  if (!key) return key.error();
  if (auto kept = keep_an_admin_key(conn, *key, what, now_us()); !kept) return kept.error();
  if (auto revoked = revoke_locked(conn, *key, actor); !revoked) return fail(what, revoked.error());
  if (auto committed = txn->commit(); !committed) return fail(what, committed.error());
  key_cache_.evict_key(key->id);
  return key;
}

Result<void> PostgresStore::revoke_locked(pg::Connection& conn, const KeyInfo& key,
                                          const Actor& actor) {
  auto updated = conn.query(
      "UPDATE api_keys SET revoked_at_us = $1 WHERE id = $2 AND revoked_at_us IS NULL "
      "RETURNING id",
      {param(now_us()), param(key.id)});
  if (!updated) return updated.error();
  if (updated->count() == 0) return make_error("it is already revoked");
  return audit(conn, actor, "key.revoke", key.name, "id=" + std::to_string(key.id));
}

Result<void> PostgresStore::revoke_key_id(int64_t key_id, const Actor& actor) {
  const std::string what = "cannot revoke API key " + std::to_string(key_id);
  auto lease = pool_->acquire();
  if (!lease) return lease.error();
  pg::Connection& conn = **lease;
  auto txn = pg::Transaction::begin(conn);
  if (!txn) return fail(what, txn.error());
  auto key = keys_where(conn, "id = $1", {param(key_id)});
  if (!key) return fail(what, key.error());
  if (key->empty()) return make_error(what + ": no such key");
  if (key->front().revoked_at_us) return make_error(what + ": it is already revoked");
  if (auto kept = keep_an_admin_key(conn, key->front(), what, now_us()); !kept) return kept.error();
  if (auto revoked = revoke_locked(conn, key->front(), actor); !revoked)
    return fail(what, revoked.error());
  if (auto committed = txn->commit(); !committed) return fail(what, committed.error());
  key_cache_.evict_key(key_id);
  return {};
}

Result<KeyInfo> PostgresStore::set_key_limits(int64_t key_id, const Limits& limits,
                                              const Actor& actor) {
  const std::string what = "cannot set the limits of API key " + std::to_string(key_id);
  if (auto valid = validate_limits(limits); !valid)
    return make_error(what + ": " + valid.error().message);
  auto lease = pool_->acquire();
  if (!lease) return lease.error();
  pg::Connection& conn = **lease;
  auto txn = pg::Transaction::begin(conn);
  if (!txn) return fail(what, txn.error());
  std::vector<pg::Param> params = limit_params(limits);
  params.push_back(param(key_id));
  auto updated = conn.query(
      "UPDATE api_keys SET budget_micro_usd = $1, budget_period = $2, rpm = $3, tpm = $4 "
      "WHERE id = $5 AND revoked_at_us IS NULL",
      params);
  if (!updated) return fail(what, updated.error());
  auto key = keys_where(conn, "id = $1", {param(key_id)});
  if (!key) return fail(what, key.error());
  if (key->empty()) return make_error(what + ": no such key");
  if (key->front().revoked_at_us) return make_error(what + ": it is revoked");
  if (auto logged =
          audit(conn, actor, "key.limits", key->front().name, describe_new_limits(limits));
      !logged)
    return fail(what, logged.error());
  if (auto committed = txn->commit(); !committed) return fail(what, committed.error());
  key_cache_.evict_key(key_id);
  return key->front();
}

Result<std::optional<KeyInfo>> PostgresStore::authenticate(std::string_view secret) {
  const std::string hash = sha256_hex(secret);
  std::call_once(listener_started_, [&] {
    key_listener_ = std::make_unique<PgKeyListener>(url_, key_cache_, timeout_);
  });
  if (auto cached = key_cache_.find(hash)) return cached;
  const uint64_t generation = key_cache_.generation();
  auto lease = pool_->acquire();
  if (!lease) return lease.error();
  pg::Connection& conn = **lease;
  auto keys = keys_where(conn, "secret_sha256 = $1 AND revoked_at_us IS NULL", {param(hash)});
  if (!keys) return fail("cannot check API key", keys.error());
  if (keys->empty()) return std::optional<KeyInfo>();
  key_cache_.insert(hash, keys->front(), generation);
  return std::optional<KeyInfo>(std::move(keys->front()));
}

Result<void> PostgresStore::set_price(const std::string& model, const Price& price,
                                      const Actor& actor) {
  if (auto valid = validate_model_name(model); !valid)
    return make_error("cannot set a price: " + valid.error().message);
  const std::string what = "cannot set the price of model '" + model + "'";
  if (auto valid = validate_price(price); !valid)
    return make_error(what + ": " + valid.error().message);
  auto lease = pool_->acquire();
  if (!lease) return lease.error();
  pg::Connection& conn = **lease;
  auto txn = pg::Transaction::begin(conn);
  if (!txn) return fail(what, txn.error());
  auto done = conn.query(
      "INSERT INTO prices(model, input_micro_usd, cached_input_micro_usd, output_micro_usd, "
      "updated_at_us) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (model) DO UPDATE SET "
      "input_micro_usd = $2, cached_input_micro_usd = $3, output_micro_usd = $4, "
      "updated_at_us = $5",
      {param(model), param(price.input), param(price.cached_input), param(price.output),
       param(now_us())});
  if (!done) return fail(what, done.error());
  if (auto logged = audit(conn, actor, "price.set", model, describe_price(price)); !logged)
    return fail(what, logged.error());
  if (auto committed = txn->commit(); !committed) return fail(what, committed.error());
  return {};
}

Result<std::optional<Price>> PostgresStore::price(const std::string& model) {
  auto lease = pool_->acquire();
  if (!lease) return lease.error();
  pg::Connection& conn = **lease;
  auto price = read_price(conn, model);
  if (!price) return fail("cannot read the price of model '" + model + "'", price.error());
  return price;
}

Result<std::vector<ModelPrice>> PostgresStore::prices_page(const PricePage& page) {
  if (page.limit < 1) return make_error("cannot list prices: a page holds at least 1");
  auto lease = pool_->acquire();
  if (!lease) return lease.error();
  pg::Connection& conn = **lease;
  // Byte order, as SQLite's, through the index prices_model_bytes (schema version 6), of the
  // same collation.
  auto rows = conn.query(
      "SELECT model, input_micro_usd, cached_input_micro_usd, output_micro_usd FROM prices "
      "WHERE model COLLATE \"C\" > $1 ORDER BY model COLLATE \"C\" LIMIT $2",
      {param(page.after_model), param(page.limit)});
  if (!rows) return fail("cannot list prices", rows.error());
  return read_model_prices(*rows);
}

namespace {

/// The reads and writes of a group admission on one connection, in three round trips at most
/// (libpq pipelines): BEGIN and every read but the spends; the spends (only when a scope has a
/// budget); the writes and COMMIT. The transaction is opened by read() and committed by
/// write(); on an error the caller rolls it back.
class PostgresAdmissionSource final : public AdmissionSource {
 public:
  PostgresAdmissionSource(pg::Connection& conn, const std::string& server_id)
      : conn_(conn), server_id_(server_id) {}

  Result<AdmissionReads> read(const AdmissionQuery& query) override {
    const pg::Param keys = pg::array(query.key_ids);
    // The tenants' row locks serialise the admissions of all their keys on every server; taken
    // in id order (ORDER BY is applied before FOR UPDATE locks the rows it returns), and every
    // read after them sees what the transactions that held them committed.
    const std::string key_tenants = "(SELECT tenant_id FROM api_keys WHERE id = ANY($1::BIGINT[]))";
    const std::string scopes =
        "((scope = 'key' AND scope_id = ANY($1::BIGINT[])) OR (scope = 'tenant' AND scope_id IN " +
        key_tenants + "))";
    auto results = conn_.pipeline({
        {"BEGIN", {}},
        // Committed without waiting for the disk (docs/platform.md, "An admission commits
        // without waiting for the disk"): a row lost in a crash of PostgreSQL is written whole
        // by the request's next checkpoint or settlement (LedgerWrite::carries_admission).
        // SET LOCAL both, in one statement.
        {"SELECT set_config('synchronous_commit', 'off', true), " + std::string(kGenericPlanMode),
         {}},
        {std::string("SELECT ") + kKeyColumns + " FROM api_keys WHERE id = ANY($1::BIGINT[])",
         {keys}},
        {"SELECT id, name, budget_micro_usd, budget_period, rpm, tpm FROM tenants WHERE id IN " +
             key_tenants + " ORDER BY id FOR UPDATE",
         {keys}},
        {"SELECT model, input_micro_usd, cached_input_micro_usd, output_micro_usd FROM prices "
         "WHERE model = ANY($1::TEXT[])",
         {pg::array(query.models)}},
        // Locked in GiveBacks order: (second, scope, scope id).
        {"DELETE FROM rate_buckets WHERE (second, scope, scope_id) IN (SELECT second, scope, "
         "scope_id FROM rate_buckets WHERE second < $2 AND " +
             scopes + " ORDER BY second, scope, scope_id FOR UPDATE)",
         {keys, param(query.first_second)}},
        {"SELECT scope, scope_id, second, requests, tokens FROM rate_buckets WHERE second >= $2 "
         "AND " +
             scopes + " ORDER BY scope, scope_id, second",
         {keys, param(query.first_second)}},
        {"SELECT request_id FROM usage_ledger WHERE request_id = ANY($1::TEXT[])",
         {pg::array(query.request_ids)}},
    });
    if (!results) return results.error();
    const std::vector<Rows>& rows = *results;
    AdmissionReads reads;
    for (KeyInfo& key : read_keys(rows[2])) reads.keys.emplace(key.id, std::move(key));
    for (int r = 0; r < rows[3].count(); ++r)
      reads.tenants.emplace(rows[3].int64(r, 0), TenantInfo{rows[3].int64(r, 0), rows[3].text(r, 1),
                                                            read_limits(rows[3], r, 2)});
    for (int r = 0; r < rows[4].count(); ++r)
      reads.prices.emplace(rows[4].text(r, 0),
                           Price{rows[4].int64(r, 1), rows[4].int64(r, 2), rows[4].int64(r, 3)});
    for (int r = 0; r < rows[6].count(); ++r) {
      const Scope scope = rows[6].text(r, 0) == "key" ? Scope::Key : Scope::Tenant;
      reads.windows[{scope, rows[6].int64(r, 1)}].push_back(
          {rows[6].int64(r, 2), rows[6].int64(r, 3), rows[6].int64(r, 4)});
    }
    for (int r = 0; r < rows[7].count(); ++r) reads.recorded.insert(rows[7].text(r, 0));
    return reads;
  }

  Result<std::map<SpendQuery, int64_t>> spent(const std::vector<SpendQuery>& queries) override {
    std::vector<pg::Statement> statements;
    std::vector<std::vector<const SpendQuery*>> asked;
    for (const Scope scope : {Scope::Key, Scope::Tenant}) {
      std::vector<int64_t> ids, since;
      std::vector<const SpendQuery*> of_scope;
      for (const SpendQuery& query : queries)
        if (query.scope == scope) {
          ids.push_back(query.id);
          since.push_back(spend_day(query.since_us));
          of_scope.push_back(&query);
        }
      if (ids.empty()) continue;
      // In the order of the arrays (WITH ORDINALITY), one sum per query: the day sums and the
      // deltas not yet folded into them (schema 8), of the days from the period's first.
      const std::string of_scope_since = std::string(" WHERE scope = '") + scope_name(scope) +
                                         "' AND scope_id = q.id AND day >= q.since_day), 0)";
      statements.push_back(
          {"SELECT (coalesce((SELECT sum(micro_usd) FROM spend_days" + of_scope_since +
               " + coalesce((SELECT sum(micro_usd) FROM spend_deltas" + of_scope_since +
               ")::BIGINT FROM unnest($1::BIGINT[], $2::BIGINT[]) WITH ORDINALITY AS q(id, "
               "since_day, n) ORDER BY q.n",
           {pg::array(ids), pg::array(since)}});
      asked.push_back(std::move(of_scope));
    }
    auto results = conn_.pipeline(statements);
    if (!results) return results.error();
    std::map<SpendQuery, int64_t> spent;
    for (size_t s = 0; s < asked.size(); ++s)
      for (size_t i = 0; i < asked[s].size(); ++i)
        spent.emplace(*asked[s][i], (*results)[s].int64(static_cast<int>(i), 0));
    return spent;
  }

  Result<void> write(const std::vector<OpenRowInsert>& rows,
                     const std::vector<BucketCount>& counts) override {
    std::vector<pg::Statement> statements;
    if (!rows.empty()) {
      std::vector<std::string> request_ids, models, endpoints, end_users;
      std::vector<int64_t> key_ids, tenant_ids, input, cached_input, output, reserved_micro_usd,
          reserved_tokens, started_at_us;
      for (const OpenRowInsert& row : rows) {
        request_ids.push_back(row.request->request_id);
        key_ids.push_back(row.key_id);
        tenant_ids.push_back(row.tenant_id);
        models.push_back(row.request->model);
        endpoints.push_back(row.request->endpoint);
        input.push_back(row.price.input);
        cached_input.push_back(row.price.cached_input);
        output.push_back(row.price.output);
        reserved_micro_usd.push_back(row.reserved_micro_usd);
        reserved_tokens.push_back(row.reserved_tokens);
        started_at_us.push_back(row.request->started_at_us);
        end_users.push_back(row.request->end_user);
      }
      // No ON CONFLICT: a request id another transaction inserted since read() fails the
      // batch with a unique violation (PostgresStore::admit_batch then decides it again).
      statements.push_back(
          {"INSERT INTO usage_ledger(request_id, key_id, tenant_id, model, endpoint, status, "
           "http_status, error, prompt_tokens, cached_prompt_tokens, completion_tokens, "
           "input_micro_usd, cached_input_micro_usd, output_micro_usd, reserved_micro_usd, "
           "reserved_tokens, started_at_us, server_id, end_user) "
           "SELECT r, k, t, m, e, 'open', 200, '', 0, 0, 0, i, c, o, rm, rt, s, $12, eu FROM "
           "unnest($1::TEXT[], $2::BIGINT[], $3::BIGINT[], $4::TEXT[], $5::TEXT[], $6::BIGINT[], "
           "$7::BIGINT[], $8::BIGINT[], $9::BIGINT[], $10::BIGINT[], $11::BIGINT[], $13::TEXT[]) "
           "AS u(r, k, t, m, e, i, c, o, rm, rt, s, eu)",
           {pg::array(request_ids), pg::array(key_ids), pg::array(tenant_ids), pg::array(models),
            pg::array(endpoints), pg::array(input), pg::array(cached_input), pg::array(output),
            pg::array(reserved_micro_usd), pg::array(reserved_tokens), pg::array(started_at_us),
            param(server_id_), pg::array(end_users)}});
    }
    if (!counts.empty()) {
      // Counted (and so locked) in GiveBacks order: (second, scope, scope id); the scopes'
      // enum order is their names' ("key" < "tenant").
      std::vector<BucketCount> ordered = counts;
      std::sort(ordered.begin(), ordered.end(), [](const BucketCount& a, const BucketCount& b) {
        return std::tie(a.second, a.scope, a.id) < std::tie(b.second, b.scope, b.id);
      });
      std::vector<std::string> scopes;
      std::vector<int64_t> ids, seconds, requests, tokens;
      for (const BucketCount& count : ordered) {
        scopes.push_back(scope_name(count.scope));
        ids.push_back(count.id);
        seconds.push_back(count.second);
        requests.push_back(count.requests);
        tokens.push_back(count.tokens);
      }
      statements.push_back(
          {"INSERT INTO rate_buckets(scope, scope_id, second, requests, tokens) "
           "SELECT * FROM unnest($1::TEXT[], $2::BIGINT[], $3::BIGINT[], $4::BIGINT[], "
           "$5::BIGINT[]) ON CONFLICT (scope, scope_id, second) DO UPDATE SET "
           "requests = rate_buckets.requests + excluded.requests, "
           "tokens = rate_buckets.tokens + excluded.tokens",
           {pg::array(scopes), pg::array(ids), pg::array(seconds), pg::array(requests),
            pg::array(tokens)}});
    }
    statements.push_back({"COMMIT", {}});
    auto results = conn_.pipeline(statements);
    if (!results) return results.error();
    return {};
  }

 private:
  pg::Connection& conn_;
  const std::string& server_id_;
};

/// How often a batch is decided again after another server inserted one of its request ids
/// between its reads and its writes (each time, that id is then read as recorded).
constexpr int kAdmissionAttempts = 3;

}  // namespace

Result<std::vector<Result<Admission>>> PostgresStore::admit_batch(
    const std::vector<AdmissionRequest>& requests) {
  const std::string what = "cannot admit requests";
  auto lease = pool_->acquire();
  if (!lease) return lease.error();
  pg::Connection& conn = **lease;
  for (int attempt = 1;; ++attempt) {
    PostgresAdmissionSource source(conn, server_id_);
    auto results = admit_in_order(source, requests);
    if (results) return results;
    const bool raced = conn.last_sqlstate() == kUniqueViolation;
    if (!conn.broken() && conn.in_transaction()) (void)conn.query("ROLLBACK");
    if (!raced || attempt == kAdmissionAttempts) return fail(what, results.error());
  }
}

Result<void> PostgresStore::checkpoint(const std::string& request_id, const TokenCounts& tokens,
                                       int64_t at_us) {
  if (auto valid = validate_counts(tokens); !valid)
    return make_error("cannot checkpoint request '" + request_id + "': " + valid.error().message);
  // The batch's statements: an open row takes the counts, an interrupted one is closed again.
  LedgerWrite write{LedgerWrite::Kind::Checkpoint};
  write.row.request_id = request_id;
  write.row.prompt_tokens = tokens.prompt_tokens;
  write.row.cached_prompt_tokens = tokens.cached_prompt_tokens;
  write.row.completion_tokens = tokens.completion_tokens;
  write.row.finished_at_us = at_us;
  auto lease = pool_->acquire();
  if (!lease) return lease.error();
  auto applied = apply_batch(**lease, {write});
  if (!applied) return fail("cannot checkpoint request", applied.error());
  return {};
}

Result<UsageRecord> PostgresStore::settle(const std::string& request_id,
                                          const Settlement& settlement) {
  const std::string what = "cannot settle request '" + request_id + "'";
  LedgerWrite write{LedgerWrite::Kind::Settle};
  write.row.request_id = request_id;
  write.row.prompt_tokens = settlement.tokens.prompt_tokens;
  write.row.cached_prompt_tokens = settlement.tokens.cached_prompt_tokens;
  write.row.completion_tokens = settlement.tokens.completion_tokens;
  write.row.http_status = settlement.http_status;
  write.row.status = settlement.status;
  write.row.error = settlement.error;
  write.row.finished_at_us = settlement.finished_at_us;
  auto lease = pool_->acquire();
  if (!lease) return lease.error();
  pg::Connection& conn = **lease;
  auto applied = apply_batch(conn, {write});
  if (!applied) return fail(what, applied.error());
  if (!(*applied)[0]) return (*applied)[0].error();
  // Closed rows never change again (the ledger's trigger), so reading it after the commit
  // reads what was settled.
  auto read = conn.query(
      std::string("SELECT ") + kLedgerColumns + " FROM usage_ledger WHERE request_id = $1",
      {param(request_id)});
  if (!read) return fail(what, read.error());
  if (read->count() != 1) return make_error(what + ": its row is gone");
  return read_record(*read, 0);
}

namespace {

/// A checkpoint or settlement target of a batch of writes: the open row read at the batch's
/// start, and what the writes of the batch do to it, in their order.
struct RowChanges {
  OpenRow row;
  /// The checkpoint before the row's settlement with the most completion tokens (counts, time),
  /// the last of those if several have as many; none if none.
  std::optional<std::pair<TokenCounts, int64_t>> checkpoint = {};
  bool settled = false;
  /// Closed as "interrupted" (its server judged gone) from its last checkpoint: its settlement,
  /// spooled by that server, is the better bill and replaces that closing; nothing else
  /// changes it but a later checkpoint, which closes it again from its counts (docs/platform.md,
  /// "Spooled writes raise or replace an interrupted closing").
  bool interrupted = false;
  /// A row no longer in the database, written whole from this write's admission
  /// (LedgerWrite::carries_admission): `row` has no id, and the batch inserts it.
  const LedgerWrite* restore = nullptr;
  std::optional<Closing> closing = {};  ///< restore: its settlement, if any
  size_t settled_by = 0;                ///< restore, closing: the write that settled it
};

/// One UPDATE that sets the checkpoint of each open row of `changes` that has one (interrupted
/// rows are closed again instead: apply_writes).
pg::Statement checkpoint_statement(const std::map<std::string, RowChanges>& changes) {
  std::vector<int64_t> ids, prompt, cached, completion, at;
  for (const auto& [request_id, change] : changes) {
    if (!change.checkpoint || change.restore || change.interrupted) continue;
    const auto& [tokens, at_us] = *change.checkpoint;
    ids.push_back(change.row.id);
    prompt.push_back(tokens.prompt_tokens);
    cached.push_back(tokens.cached_prompt_tokens);
    completion.push_back(tokens.completion_tokens);
    at.push_back(at_us);
  }
  return {
      "UPDATE usage_ledger u SET prompt_tokens = c.p, cached_prompt_tokens = c.c, "
      "completion_tokens = c.o, checkpoint_at_us = c.at FROM unnest($1::BIGINT[], "
      "$2::BIGINT[], $3::BIGINT[], $4::BIGINT[], $5::BIGINT[]) AS c(id, p, c, o, at) "
      "WHERE u.id = c.id AND u.status = 'open' AND u.completion_tokens <= c.o",
      {pg::array(ids), pg::array(prompt), pg::array(cached), pg::array(completion), pg::array(at)}};
}

/// One INSERT of the closed rows `records` (request ids given), with each key's tenant from
/// `tenants`; a request id that another transaction inserted since the batch's reads is skipped
/// (ON CONFLICT), and the ids inserted are returned.
pg::Statement record_statement(const std::vector<const UsageRecord*>& records,
                               const std::map<int64_t, int64_t>& tenants) {
  std::vector<std::string> request_ids, models, endpoints, statuses, errors, end_users;
  std::vector<int64_t> key_ids, tenant_ids, prompt, cached, completion, started, finished,
      http_statuses, costs, input, cached_input, output;
  for (const UsageRecord* r : records) {
    request_ids.push_back(r->request_id);
    end_users.push_back(r->end_user);
    key_ids.push_back(r->key_id);
    tenant_ids.push_back(tenants.at(r->key_id));
    models.push_back(r->model);
    endpoints.push_back(r->endpoint);
    statuses.push_back(r->status);
    http_statuses.push_back(r->http_status);
    errors.push_back(r->error);
    prompt.push_back(r->prompt_tokens);
    cached.push_back(r->cached_prompt_tokens);
    completion.push_back(r->completion_tokens);
    started.push_back(r->started_at_us);
    finished.push_back(r->finished_at_us);
    costs.push_back(r->cost_micro_usd);
    input.push_back(r->price.input);
    cached_input.push_back(r->price.cached_input);
    output.push_back(r->price.output);
  }
  return {
      "INSERT INTO usage_ledger(request_id, key_id, tenant_id, model, endpoint, status, "
      "http_status, error, prompt_tokens, cached_prompt_tokens, completion_tokens, "
      "started_at_us, finished_at_us, cost_micro_usd, input_micro_usd, "
      "cached_input_micro_usd, output_micro_usd, end_user) "
      "SELECT * FROM unnest($1::TEXT[], $2::BIGINT[], $3::BIGINT[], $4::TEXT[], $5::TEXT[], "
      "$6::TEXT[], $7::BIGINT[], $8::TEXT[], $9::BIGINT[], $10::BIGINT[], $11::BIGINT[], "
      "$12::BIGINT[], $13::BIGINT[], $14::BIGINT[], $15::BIGINT[], $16::BIGINT[], "
      "$17::BIGINT[], $18::TEXT[]) ON CONFLICT (request_id) DO NOTHING RETURNING request_id",
      {pg::array(request_ids), pg::array(key_ids), pg::array(tenant_ids), pg::array(models),
       pg::array(endpoints), pg::array(statuses), pg::array(http_statuses), pg::array(errors),
       pg::array(prompt), pg::array(cached), pg::array(completion), pg::array(started),
       pg::array(finished), pg::array(costs), pg::array(input), pg::array(cached_input),
       pg::array(output), pg::array(end_users)}};
}

/// One INSERT of the rows of `changes` to restore (RowChanges::restore), each as its writes left
/// it: open with its last checkpoint, or closed by its settlement; rows of server `server_id`.
/// A request id another transaction inserted since the batch's reads is skipped (ON CONFLICT),
/// and the ids inserted are returned.
pg::Statement restore_statement(const std::map<std::string, RowChanges>& changes,
                                const std::string& server_id) {
  std::vector<std::string> request_ids, models, endpoints, statuses, errors, end_users;
  std::vector<int64_t> key_ids, tenant_ids, http_statuses, prompt, cached, completion, input,
      cached_input, output, costs, reserved, started, checkpoint_at, finished;
  for (const auto& [request_id, change] : changes) {
    if (!change.restore) continue;
    const UsageRecord& admitted = change.restore->row;
    request_ids.push_back(request_id);
    end_users.push_back(admitted.end_user);
    key_ids.push_back(admitted.key_id);
    tenant_ids.push_back(admitted.tenant_id);
    models.push_back(admitted.model);
    endpoints.push_back(admitted.endpoint);
    input.push_back(admitted.price.input);
    cached_input.push_back(admitted.price.cached_input);
    output.push_back(admitted.price.output);
    reserved.push_back(change.restore->reserved_micro_usd);
    started.push_back(admitted.started_at_us);
    // -1: NULL (times are >= 0).
    checkpoint_at.push_back(change.checkpoint ? change.checkpoint->second : -1);
    TokenCounts tokens = change.checkpoint ? change.checkpoint->first : TokenCounts{};
    if (change.closing) {
      const Settlement& settlement = change.closing->settlement;
      tokens = settlement.tokens;
      statuses.push_back(settlement.status);
      http_statuses.push_back(settlement.http_status);
      errors.push_back(settlement.error);
      costs.push_back(change.closing->cost_micro_usd);
      finished.push_back(settlement.finished_at_us);
    } else {
      statuses.push_back(std::string(kOpenStatus));
      http_statuses.push_back(200);
      errors.emplace_back();
      costs.push_back(0);
      finished.push_back(-1);
    }
    prompt.push_back(tokens.prompt_tokens);
    cached.push_back(tokens.cached_prompt_tokens);
    completion.push_back(tokens.completion_tokens);
  }
  return {
      "INSERT INTO usage_ledger(request_id, key_id, tenant_id, model, endpoint, status, "
      "http_status, error, prompt_tokens, cached_prompt_tokens, completion_tokens, "
      "input_micro_usd, cached_input_micro_usd, output_micro_usd, cost_micro_usd, "
      "reserved_micro_usd, reserved_tokens, started_at_us, checkpoint_at_us, server_id, "
      "finished_at_us, end_user) "
      "SELECT r, k, t, m, e, st, h, er, p, c, o, i, ci, oi, co, rm, 0, s, NULLIF(ca, -1), $19, "
      "NULLIF(f, -1), eu FROM unnest($1::TEXT[], $2::BIGINT[], $3::BIGINT[], $4::TEXT[], "
      "$5::TEXT[], $6::TEXT[], $7::BIGINT[], $8::TEXT[], $9::BIGINT[], $10::BIGINT[], "
      "$11::BIGINT[], $12::BIGINT[], $13::BIGINT[], $14::BIGINT[], $15::BIGINT[], $16::BIGINT[], "
      "$17::BIGINT[], $18::BIGINT[], $20::BIGINT[], $21::TEXT[]) "
      "AS u(r, k, t, m, e, st, h, er, p, c, o, i, ci, oi, co, rm, s, ca, f, eu) "
      "ON CONFLICT (request_id) DO NOTHING RETURNING request_id",
      {pg::array(request_ids),   pg::array(key_ids),    pg::array(tenant_ids),
       pg::array(models),        pg::array(endpoints),  pg::array(statuses),
       pg::array(http_statuses), pg::array(errors),     pg::array(prompt),
       pg::array(cached),        pg::array(completion), pg::array(input),
       pg::array(cached_input),  pg::array(output),     pg::array(costs),
       pg::array(reserved),      pg::array(started),    pg::array(checkpoint_at),
       param(server_id),         pg::array(finished),   pg::array(end_users)}};
}

}  // namespace

Result<std::vector<Result<void>>> PostgresStore::apply_batch(
    pg::Connection& conn, const std::vector<LedgerWrite>& writes, bool sync) {
  auto results = apply_in_transaction(conn, writes, sync);
  if (!results && !conn.broken() && conn.in_transaction()) (void)conn.query("ROLLBACK");
  return results;
}

Result<std::vector<Result<void>>> PostgresStore::apply_in_transaction(
    pg::Connection& conn, const std::vector<LedgerWrite>& writes, bool sync) {
  std::vector<Result<void>> results(writes.size());
  // The records, with a request id made for those without one.
  std::vector<UsageRecord> records(writes.size());
  // Request ids whose open rows are read; those looked for whatever their status (records,
  // writes that can restore their row); the keys and tenants those rows need.
  std::vector<std::string> row_ids, record_ids;
  std::vector<int64_t> record_keys, restore_tenants;
  for (size_t i = 0; i < writes.size(); ++i) {
    const LedgerWrite& write = writes[i];
    if (auto valid = validate_write(write); !valid) {
      results[i] = valid.error();
      continue;
    }
    if (write.kind != LedgerWrite::Kind::Record) {
      row_ids.push_back(write.row.request_id);
      if (write.carries_admission) {
        record_ids.push_back(write.row.request_id);
        record_keys.push_back(write.row.key_id);
        restore_tenants.push_back(write.row.tenant_id);
      }
      continue;
    }
    records[i] = write.row;
    if (records[i].request_id.empty()) {
      auto random = random_base62(24);
      if (!random) return random.error();
      records[i].request_id = "req-" + *random;
    }
    record_ids.push_back(records[i].request_id);
    record_keys.push_back(records[i].key_id);
  }
  // First round trip: the open rows of the checkpoints and settlements, locked in id order
  // (ORDER BY is applied before FOR UPDATE); which of the records' (and restorable rows')
  // request ids are taken; their keys, locked against deletion until the commit (FOR KEY
  // SHARE, as the foreign key would); the tenants of restorable rows (never deleted).
  auto read = conn.pipeline({
      {"BEGIN", {}},
      {std::string("SELECT ") + kGenericPlanMode, {}},
      {std::string("SELECT ") + kOpenRowColumns +
           ", request_id, status FROM usage_ledger WHERE request_id = ANY($1::TEXT[]) AND status "
           "IN ('open', 'interrupted') ORDER BY id FOR UPDATE",
       {pg::array(row_ids)}},
      {"SELECT request_id FROM usage_ledger WHERE request_id = ANY($1::TEXT[])",
       {pg::array(record_ids)}},
      {"SELECT id, tenant_id FROM api_keys WHERE id = ANY($1::BIGINT[]) FOR KEY SHARE",
       {pg::array(record_keys)}},
      {"SELECT id FROM tenants WHERE id = ANY($1::BIGINT[])", {pg::array(restore_tenants)}},
  });
  if (!read) return read.error();
  const std::vector<Rows>& rows = *read;
  std::map<std::string, RowChanges> changes;
  for (int r = 0; r < rows[2].count(); ++r) {
    RowChanges change{read_open_row(rows[2], r)};
    change.interrupted = rows[2].text(r, 13) == "interrupted";
    changes.emplace(rows[2].text(r, 12), std::move(change));
  }
  std::set<std::string> taken;
  for (int r = 0; r < rows[3].count(); ++r) taken.insert(rows[3].text(r, 0));
  std::map<int64_t, int64_t> tenants;
  for (int r = 0; r < rows[4].count(); ++r)
    tenants.emplace(rows[4].int64(r, 0), rows[4].int64(r, 1));
  std::set<int64_t> tenant_ids;
  for (int r = 0; r < rows[5].count(); ++r) tenant_ids.insert(rows[5].int64(r, 0));

  // Each write decided in order, as if applied one after another.
  GiveBacks give_backs;
  std::vector<Closing> closings;
  std::vector<size_t> inserted;  ///< the writes whose records are inserted
  for (size_t i = 0; i < writes.size(); ++i) {
    if (!results[i]) continue;
    const LedgerWrite& write = writes[i];
    auto change = changes.find(write.row.request_id);
    if (change == changes.end() && write.carries_admission &&
        !taken.contains(write.row.request_id)) {
      // No row has the id: the admission was lost; the row is written whole from this write.
      const UsageRecord& admitted = write.row;
      if (!tenants.contains(admitted.key_id) || !tenant_ids.contains(admitted.tenant_id)) {
        results[i] = describe_refusal(
            write, make_error("no API key has id " + std::to_string(admitted.key_id) +
                              " or no tenant has id " + std::to_string(admitted.tenant_id)));
        continue;
      }
      OpenRow row{
          0,  admitted.key_id, admitted.tenant_id, admitted.started_at_us, 0, admitted.price,
          {}, std::nullopt};
      change = changes.emplace(admitted.request_id, RowChanges{row}).first;
      change->second.restore = &write;
      taken.insert(admitted.request_id);
    }
    const bool open =
        change != changes.end() && !change->second.settled && !change->second.interrupted;
    switch (write.kind) {
      case LedgerWrite::Kind::Checkpoint: {
        // A checkpoint never lowers the counts (Store::checkpoint): an older one replayed
        // after a newer one changes nothing. A row closed as interrupted (its server judged
        // gone) from an older checkpoint is closed again from this one, which its server
        // spooled (docs/platform.md, "Spooled writes raise or replace an interrupted closing").
        if (change == changes.end()) break;
        RowChanges& row = change->second;
        const bool raises = !row.settled && row.interrupted;
        if (!open && !raises) break;
        const int64_t have = row.checkpoint ? row.checkpoint->first.completion_tokens
                             : raises       ? row.row.checkpoint.completion_tokens
                                            : 0;
        if (write.row.completion_tokens >= have)
          row.checkpoint = {counts_of(write.row), write.row.finished_at_us};
        break;
      }
      case LedgerWrite::Kind::Settle: {
        const bool replaces = change != changes.end() && !change->second.settled &&
                              change->second.interrupted;
        if (!open && !replaces) {
          results[i] = describe_refusal(write, make_error("no open ledger row has that id"));
          break;
        }
        // An interrupted closing gave its unused tokens back already.
        GiveBacks given_back_already;
        auto closing = close_row(change->second.row, settlement_of(write.row),
                                 replaces ? given_back_already : give_backs);
        if (!closing) {
          results[i] = describe_refusal(write, closing.error());
          break;
        }
        change->second.settled = true;
        if (change->second.restore) {
          change->second.closing = std::move(*closing);
          change->second.settled_by = i;
        } else {
          closings.push_back(std::move(*closing));
        }
        break;
      }
      case LedgerWrite::Kind::Record: {
        const UsageRecord& record = records[i];
        if (taken.contains(record.request_id)) {
          results[i] = describe_refusal(
              write, make_error("request id '" + record.request_id + "' is already in the ledger"));
        } else if (!tenants.contains(record.key_id)) {
          results[i] = describe_refusal(
              write, make_error("no API key has id " + std::to_string(record.key_id)));
        } else {
          taken.insert(record.request_id);
          inserted.push_back(i);
        }
        break;
      }
    }
  }

  // An interrupted row's last checkpoint (unless settled since) closes it again.
  for (auto& [request_id, change] : changes) {
    if (!change.interrupted || change.settled || !change.checkpoint) continue;
    const auto& [tokens, at_us] = *change.checkpoint;
    GiveBacks given_back_already;
    // A cost that overflows leaves the closing as it is (a settlement of it is refused too).
    auto closing = close_row(change.row,
                             Settlement{tokens, 200, "interrupted",
                                        std::string(kInterruptedError), at_us},
                             given_back_already);
    if (closing) closings.push_back(std::move(*closing));
  }

  // Second round trip: every change in a constant number of statements, then COMMIT. The
  // checkpoints go first: a row checkpointed then settled in one batch ends as its settlement.
  std::vector<pg::Statement> statements;
  const auto sets_checkpoint = [](const auto& change) {
    return change.second.checkpoint.has_value() && !change.second.interrupted;
  };
  if (std::any_of(changes.begin(), changes.end(), sets_checkpoint))
    statements.push_back(checkpoint_statement(changes));
  if (!closings.empty()) statements.push_back(close_statement(closings));
  std::optional<size_t> insert_at;
  if (!inserted.empty()) {
    std::vector<const UsageRecord*> inserts;
    for (size_t i : inserted) inserts.push_back(&records[i]);
    insert_at = statements.size();
    statements.push_back(record_statement(inserts, tenants));
  }
  std::optional<size_t> restore_at;
  if (std::any_of(changes.begin(), changes.end(),
                  [](const auto& change) { return change.second.restore != nullptr; })) {
    restore_at = statements.size();
    statements.push_back(restore_statement(changes, server_id_));
  }
  for (pg::Statement& give_back : give_back_statements(give_backs))
    statements.push_back(std::move(give_back));
  // Unsynced (the ledger writer's must_sync()): PostgreSQL's WAL writer flushes the commit
  // within three wal_writer_delay (600 ms by default), and the next synced commit with its own.
  if (!sync) statements.push_back({"SET LOCAL synchronous_commit = off", {}});
  statements.push_back({"COMMIT", {}});
  auto written = conn.pipeline(statements);
  if (!written) return written.error();
  if (insert_at) {
    std::set<std::string> landed;
    const Rows& returned = (*written)[*insert_at];
    for (int r = 0; r < returned.count(); ++r) landed.insert(returned.text(r, 0));
    for (size_t i : inserted)
      if (!landed.contains(records[i].request_id))
        results[i] = describe_refusal(writes[i], make_error("request id '" + records[i].request_id +
                                                            "' is already in the ledger"));
  }
  if (restore_at) {
    // A row another transaction inserted since the reads (only an id reused across servers):
    // its settlement here found no open row.
    std::set<std::string> landed;
    const Rows& returned = (*written)[*restore_at];
    for (int r = 0; r < returned.count(); ++r) landed.insert(returned.text(r, 0));
    for (const auto& [request_id, change] : changes)
      if (change.restore && change.closing && !landed.contains(request_id))
        results[change.settled_by] = describe_refusal(writes[change.settled_by],
                                                      make_error("no open ledger row has that id"));
  }
  return results;
}

Result<std::vector<Result<void>>> PostgresStore::apply_writes(
    const std::vector<LedgerWrite>& writes, Durability durability) {
  auto lease = pool_->acquire();
  if (!lease) return lease.error();
  auto results = apply_batch(**lease, writes, durability == Durability::Synced);
  if (!results) return fail("cannot write the usage ledger", results.error());
  return results;
}

Result<std::string> PostgresStore::start_server() {
  std::lock_guard lock(server_mutex_);
  if (!server_id_.empty()) return make_error("this store is already server " + server_id_);
  auto lease = pool_->acquire();
  if (!lease) return lease.error();
  pg::Connection& conn = **lease;
  auto random = random_base62(16);
  if (!random) return random.error();
  const std::string id = "srv-" + *random;
  auto locked =
      conn.query(std::string("SELECT pg_try_advisory_lock(") + kServerLockKey + ")", {param(id)});
  if (!locked) return fail("cannot register the server", locked.error());
  if (locked->text(0, 0) != "t")
    return make_error("cannot register the server: its advisory lock is taken");
  if (auto beat = measure_clock_offset(conn, kHeartbeat, {param(id)}); !beat)
    return fail("cannot register the server", beat.error());
  auto started = conn.query(kPostmasterClock);
  if (!started) return fail("cannot register the server", started.error());
  postmaster_started_us_ = std::stoll(started->text(0, 0));
  // The lock lives as long as its session: the connection leaves the pool for good.
  server_conn_ = lease->keep();
  server_id_ = id;
  return id;
}

Result<void> PostgresStore::keep_server_live() {
  std::lock_guard lock(server_mutex_);
  if (server_id_.empty()) return {};
  // The session that took the lock never releases it: while it answers, the lock is held.
  if (server_conn_ && measure_clock_offset(*server_conn_, kHeartbeat, {param(server_id_)}))
    return {};
  auto conn = pg::Connection::connect(url_, timeout_);
  if (!conn) return conn.error();
  // First the heartbeat, which keeps the server live even while another server's probe holds
  // the lock for a moment (server_is_live) and the next pass takes it.
  if (auto beat = measure_clock_offset(**conn, kHeartbeat, {param(server_id_)}); !beat)
    return beat.error();
  auto locked = (*conn)->query(std::string("SELECT pg_try_advisory_lock(") + kServerLockKey + ")",
                               {param(server_id_)});
  if (!locked) return locked.error();
  if (locked->text(0, 0) != "t")
    return make_error("the advisory lock of server " + server_id_ + " is taken");
  server_conn_ = std::move(*conn);
  return {};
}

Result<bool> PostgresStore::server_is_live(pg::Connection& conn, const std::string& id,
                                           const std::set<std::string>& fresh) {
  if (id.empty()) return false;
  if (id == server_id_ || fresh.count(id) != 0) return true;
  auto free =
      conn.query(std::string("SELECT pg_try_advisory_lock(") + kServerLockKey + ")", {param(id)});
  if (!free) return free.error();
  if (free->text(0, 0) != "t") return true;
  auto released =
      conn.query(std::string("SELECT pg_advisory_unlock(") + kServerLockKey + ")", {param(id)});
  if (!released) return released.error();
  return false;
}

Result<void> PostgresStore::fold_spend() {
  constexpr std::string_view what = "cannot fold the spend deltas";
  auto lease = pool_->acquire();
  if (!lease) return lease.error();
  pg::Connection& conn = **lease;
  auto txn = pg::Transaction::begin(conn);
  if (!txn) return fail(what, txn.error());
  // One server folds at a time: another that holds the lock is folding these deltas already.
  auto locked = conn.query("SELECT pg_try_advisory_xact_lock(hashtextextended('gengyun spend "
                           "fold', 0))");
  if (!locked) return fail(what, locked.error());
  if (locked->text(0, 0) != "t") return {};
  // The day sums are locked in (scope, scope id, day) order; the deltas another transaction
  // appends meanwhile are not seen and stay for the next fold.
  auto folded = conn.query(
      "WITH moved AS (DELETE FROM spend_deltas RETURNING scope, scope_id, day, micro_usd) "
      "INSERT INTO spend_days(scope, scope_id, day, micro_usd) SELECT scope, scope_id, day, "
      "sum(micro_usd) FROM moved GROUP BY scope, scope_id, day ORDER BY scope, scope_id, day "
      "ON CONFLICT (scope, scope_id, day) DO UPDATE SET micro_usd = spend_days.micro_usd + "
      "excluded.micro_usd");
  if (!folded) return fail(what, folded.error());
  if (auto committed = txn->commit(); !committed) return fail(what, committed.error());
  return {};
}

Result<int64_t> PostgresStore::close_interrupted() {
  const std::string what = "cannot close interrupted requests";
  if (auto live = keep_server_live(); !live) return fail(what, live.error());
  auto lease = pool_->acquire();
  if (!lease) return lease.error();
  pg::Connection& conn = **lease;
  if (postmaster_started_us_ != 0) {
    // PostgreSQL restarted while this server lived: every server lost its lock with its
    // session, and live ones take it again at their next call here. Until then, a free lock
    // does not mean a dead server.
    auto clock = conn.query(kPostmasterClock);
    if (!clock) return fail(what, clock.error());
    const int64_t started_us = std::stoll(clock->text(0, 0));
    if (started_us > postmaster_started_us_ &&
        std::stoll(clock->text(0, 1)) - started_us < kRestartGraceUs)
      return 0;
  }
  auto txn = pg::Transaction::begin(conn);
  if (!txn) return fail(what, txn.error());
  // A free lock alone is no dead server: the session holding it may have ended while the
  // server lives (pg_terminate_backend, a network cut), and the server takes the lock again at
  // its next pass. A recent heartbeat says it lives.
  auto heartbeats = conn.query(kFreshServers, {param(kServerHeartbeatBoundUs)});
  if (!heartbeats) return fail(what, heartbeats.error());
  std::set<std::string> fresh;
  for (int r = 0; r < heartbeats->count(); ++r) fresh.insert(heartbeats->text(r, 0));
  auto servers = conn.query(kServersToJudge, {param(kServerHeartbeatBoundUs)});
  if (!servers) return fail(what, servers.error());
  int64_t closed_rows = 0;
  GiveBacks give_backs;
  std::vector<Closing> closings;
  for (int s = 0; s < servers->count(); ++s) {
    const std::string id = servers->text(s, 0);
    auto live = server_is_live(conn, id, fresh);
    if (!live) return fail(what, live.error());
    if (*live) continue;
    if (auto forgotten = conn.query("DELETE FROM servers WHERE id = $1", {param(id)}); !forgotten)
      return fail(what, forgotten.error());
    auto open = conn.query(std::string("SELECT ") + kOpenRowColumns +
                               " FROM usage_ledger WHERE status = 'open' AND server_id = $1 "
                               "ORDER BY id FOR UPDATE",
                           {param(id)});
    if (!open) return fail(what, open.error());
    for (int r = 0; r < open->count(); ++r) {
      const OpenRow row = read_open_row(*open, r);
      Settlement settlement{row.checkpoint, 200, "interrupted", std::string(kInterruptedError),
                            row.checkpoint_at_us.value_or(row.started_at_us)};
      auto closing = close_row(row, settlement, give_backs);
      if (!closing) return fail(what, closing.error());
      closings.push_back(std::move(*closing));
    }
    closed_rows += open->count();
  }
  std::vector<pg::Statement> statements = give_back_statements(give_backs);
  if (!closings.empty()) statements.insert(statements.begin(), close_statement(closings));
  if (!statements.empty())
    if (auto closed = conn.pipeline(statements); !closed) return fail(what, closed.error());
  if (auto committed = txn->commit(); !committed) return fail(what, committed.error());
  return closed_rows;
}

Result<void> PostgresStore::record_usage(const UsageRecord& record) {
  auto lease = pool_->acquire();
  if (!lease) return lease.error();
  LedgerWrite write{LedgerWrite::Kind::Record, record};
  auto applied = apply_batch(**lease, {write});
  if (!applied) return fail("cannot record usage", applied.error());
  return (*applied)[0];
}

Result<std::vector<UsageRecord>> PostgresStore::usage_rows() {
  auto lease = pool_->acquire();
  if (!lease) return lease.error();
  pg::Connection& conn = **lease;
  auto rows =
      conn.query(std::string("SELECT ") + kLedgerColumns + " FROM usage_ledger ORDER BY id");
  if (!rows) return fail("cannot read usage ledger", rows.error());
  std::vector<UsageRecord> records;
  for (int r = 0; r < rows->count(); ++r) records.push_back(read_record(*rows, r));
  return records;
}

Result<std::optional<UsageRecord>> PostgresStore::usage_row(const std::string& request_id) {
  const std::string what = "cannot read the ledger row of request '" + request_id + "'";
  auto lease = pool_->acquire();
  if (!lease) return lease.error();
  pg::Connection& conn = **lease;
  auto rows = conn.query(
      std::string("SELECT ") + kLedgerColumns + " FROM usage_ledger WHERE request_id = $1",
      {param(request_id)});
  if (!rows) return fail(what, rows.error());
  if (rows->count() == 0) return std::optional<UsageRecord>();
  return std::optional<UsageRecord>(read_record(*rows, 0));
}

Result<std::vector<UsageSummary>> PostgresStore::usage_summary() {
  auto lease = pool_->acquire();
  if (!lease) return lease.error();
  pg::Connection& conn = **lease;
  auto rows = conn.query(
      "SELECT k.name, u.key_id, u.model, count(*), sum(u.prompt_tokens), "
      "sum(u.completion_tokens), sum(u.cost_micro_usd), t.name, t.id, "
      "sum(u.cached_prompt_tokens) FROM usage_ledger AS u "
      "JOIN api_keys AS k ON k.id = u.key_id JOIN tenants AS t ON t.id = k.tenant_id "
      "GROUP BY t.id, t.name, k.name, u.key_id, u.model ORDER BY t.name COLLATE \"C\", "
      "k.name COLLATE \"C\", u.model COLLATE \"C\", u.key_id");
  if (!rows) return fail("cannot summarise usage", rows.error());
  std::vector<UsageSummary> summary;
  for (int r = 0; r < rows->count(); ++r)
    summary.push_back(UsageSummary{rows->text(r, 0), rows->int64(r, 1), rows->text(r, 2),
                                   rows->int64(r, 3), rows->int64(r, 4), rows->int64(r, 5),
                                   rows->int64(r, 6), rows->text(r, 7), rows->int64(r, 8),
                                   rows->int64(r, 9)});
  return summary;
}

Result<std::vector<UsageGroup>> PostgresStore::usage_groups(const UsageQuery& query) {
  auto lease = pool_->acquire();
  if (!lease) return lease.error();
  pg::Connection& conn = **lease;
  // PostgreSQL must know the type of a parameter that may be NULL: the casts say BIGINT.
  std::string sql = usage_groups_sql(query.group_by, '$');
  for (const char* p : {"$3", "$4"})
    for (size_t at = sql.find(p); at != std::string::npos; at = sql.find(p, at + 10))
      sql.replace(at, 2, std::string(p) + "::BIGINT");
  auto rows = conn.query(sql, {param(query.start_us), param(query.end_us), param(query.key_id),
                               param(query.tenant_id)});
  if (!rows) return fail("cannot report usage", rows.error());
  std::vector<UsageGroup> groups;
  for (int r = 0; r < rows->count(); ++r)
    groups.push_back(UsageGroup{rows->int64(r, 0), rows->text(r, 1), rows->int64(r, 2),
                                rows->int64(r, 3), rows->int64(r, 4), rows->int64(r, 5),
                                rows->int64(r, 6), rows->int64(r, 7), rows->text(r, 8)});
  finish_groups(query.group_by, groups);
  return groups;
}

namespace {

/// The audit log's entries with an id above `after_id`, by id; at most `limit` of them.
Result<std::vector<AuditEntry>> audit_entries(pg::Connection& conn, int64_t after_id,
                                              int64_t limit) {
  auto rows = conn.query(
      "SELECT at_us, actor_key_id, actor, action, target, detail, id FROM audit_log "
      "WHERE id > $1 ORDER BY id LIMIT $2",
      {param(after_id), param(limit)});
  if (!rows) return rows.error();
  std::vector<AuditEntry> entries;
  for (int r = 0; r < rows->count(); ++r)
    entries.push_back(AuditEntry{rows->int64(r, 0), rows->optional_int(r, 1), rows->text(r, 2),
                                 rows->text(r, 3), rows->text(r, 4), rows->text(r, 5),
                                 rows->int64(r, 6)});
  return entries;
}

}  // namespace

Result<std::vector<AuditEntry>> PostgresStore::audit_page(const Page& page) {
  if (page.limit < 1) return make_error("cannot read the audit log: a page holds at least 1");
  auto lease = pool_->acquire();
  if (!lease) return lease.error();
  auto entries = audit_entries(**lease, page.after_id, page.limit);
  if (!entries) return fail("cannot read the audit log", entries.error());
  return entries;
}

}  // namespace gengyun::platform
