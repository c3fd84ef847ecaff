// The store backends the platform suite runs against: every TEST_P over StoreBackendTest runs
// once per backend, "sqlite" (a file in a temporary directory) and "postgres" (a fresh
// database on the tests' own server, postgres_server.h).
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "platform/pg_connection.h"
#include "platform/store.h"
#include "postgres_server.h"
#include "temp_dir.h"

namespace gengyun::platform::testing {

/// A fresh, empty store of the backend named by the test parameter, reopenable (a restart).
class StoreBackendTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "sqlite") {
      location_ = dir_.file("platform.db");
      return;
    }
    PostgresServer* server = PostgresServer::get_or_skip();
    if (!server) return;
    auto database = server->new_database();
    ASSERT_TRUE(database.ok()) << database.error().message;
    location_ = database.value();
  }

  /// Opens (first call: creates) this test's database; fails the test and returns null on error.
  std::unique_ptr<Store> open() {
    auto store = Store::open(location_);
    EXPECT_TRUE(store.ok()) << store.error().message;
    return store.ok() ? std::move(store).value() : nullptr;
  }

  /// Runs `sql` on the database behind the store's back; "" on success, else the error.
  std::string raw_exec(const std::string& sql) {
    if (GetParam() == "sqlite") return RawDb(location_).exec(sql);
    auto conn = pg::Connection::connect(location_);
    if (!conn.ok()) return conn.error().message;
    auto done = conn.value()->script(sql.c_str());
    return done.ok() ? "" : done.error().message;
  }

  /// Every value of every row of `sql`, run behind the store's back, as text, row by row (an
  /// error fails the test and gives no rows).
  std::vector<std::vector<std::string>> raw_query(const std::string& sql) {
    if (GetParam() == "sqlite") return RawDb(location_).query(sql);
    std::vector<std::vector<std::string>> rows;
    auto conn = pg::Connection::connect(location_);
    EXPECT_TRUE(conn.ok()) << conn.error().message;
    if (!conn.ok()) return rows;
    auto result = conn.value()->query(sql);
    EXPECT_TRUE(result.ok()) << result.error().message;
    if (!result.ok()) return rows;
    for (int r = 0; r < result->count(); ++r) {
      std::vector<std::string>& row = rows.emplace_back();
      for (int c = 0; c < result->columns(); ++c) row.push_back(result->text(r, c));
    }
    return rows;
  }

  /// What the ledger bills each key and tenant per UTC day (open rows at their reservation,
  /// closed ones at their cost; sums of zero left out), rows of (scope, id, day, micro-USD):
  /// the definition of a budget's spend, summed from the ledger itself.
  std::vector<std::vector<std::string>> ledger_spend() {
    const std::string billed =
        "sum(CASE WHEN status = 'open' THEN reserved_micro_usd ELSE cost_micro_usd END)";
    return raw_query("SELECT * FROM (SELECT 'key' AS scope, key_id AS id, started_at_us / "
                     "86400000000 AS day, " + billed + " AS usd FROM usage_ledger GROUP BY "
                     "key_id, started_at_us / 86400000000 UNION ALL SELECT 'tenant', tenant_id, "
                     "started_at_us / 86400000000, " + billed + " FROM usage_ledger GROUP BY "
                     "tenant_id, started_at_us / 86400000000) s WHERE usd <> 0 ORDER BY 1, 2, 3");
  }

  /// The same as ledger_spend() from what the store keeps for budgets (schema 8: spend_days,
  /// and on PostgreSQL the spend_deltas not yet folded into them).
  std::vector<std::vector<std::string>> kept_spend() {
    return raw_query(std::string("SELECT scope, scope_id, day, sum(micro_usd) FROM (SELECT scope, "
                                 "scope_id, day, micro_usd FROM spend_days") +
                     (GetParam() == "postgres"
                          ? " UNION ALL SELECT scope, scope_id, day, micro_usd FROM spend_deltas"
                          : "") +
                     ") s GROUP BY scope, scope_id, day HAVING sum(micro_usd) <> 0 ORDER BY 1, "
                     "2, 3");
  }

  TempDir dir_;
  std::string location_;  ///< the SQLite file or the PostgreSQL URL
};

inline std::string backend_name(const ::testing::TestParamInfo<std::string>& info) {
  return info.param;
}

}  // namespace gengyun::platform::testing
