// The API on PostgreSQL when the database cannot be reached: every request is answered 503
// "ledger_unavailable" with a plain message (never libpq's, which names the database's host and
// port), whether authentication, admission, the usage report, the prices or the admin API
// meets the failure first, and requests are served again once the database is back; and
// concurrent admin writes that race on PostgreSQL's unique indexes are answered 409 as on
// SQLite.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "../platform/postgres_server.h"
#include "platform/key_cache.h"
#include "platform/pg_connection.h"
#include "platform/pg_key_listener.h"
#include "platform/postgres_store.h"
#include "server_fixture.h"

namespace gengyun::api::testing {
namespace {

using nlohmann::json;
using platform::testing::PostgresServer;

const json kRequest = {{"model", "qwen2-tiny"},
                       {"prompt", "The quick brown fox"},
                       {"max_tokens", 2},
                       {"temperature", 0}};
const std::string kUnavailable =
    "The usage ledger is unavailable, so no request is served now; try again later.";

class PostgresDownTest : public ServerTest {
 protected:
  void SetUp() override {
    REQUIRE_TESTDATA();
    pg_ = PostgresServer::get_or_skip();
    if (!pg_) return;
    auto database = pg_->new_database();
    ASSERT_TRUE(database.ok()) << database.error().message;
    url_ = database.value();
    if (database_clock_ahead_s_ != 0) {
      auto shifted = PostgresServer::shift_clock(url_, database_clock_ahead_s_);
      ASSERT_TRUE(shifted.ok()) << shifted.error().message;
    }
    auto store = platform::PostgresStore::open(url_, platform::OpenMode::Create, deadlines_);
    ASSERT_TRUE(store.ok()) << store.error().message;
    store_ = std::move(store.value());
    admin_ = new_key({"root", "default", platform::Role::Admin});
    key_ = new_key({"member"});
    ASSERT_TRUE(warm(admin_) && warm(key_));
    start_server();
  }

  void TearDown() override {
    if (stopped_) (void)pg_->start();
    ServerTest::TearDown();
  }

  std::string new_key(const platform::NewKey& key) {
    auto secret = store_->create_key(key);
    EXPECT_TRUE(secret.ok()) << secret.error().message;
    return secret.ok() ? secret.value() : "";
  }

  /// Authenticates `secret` until the store's key cache answers it without the database (the
  /// first calls, the first of which starts the cache's PostgreSQL listener, may come before
  /// the listener is up); whether it does.
  bool warm(const std::string& secret) {
    const platform::KeyCache& cache = store_->key_cache();
    for (int attempt = 0; attempt < 3; ++attempt) {
      const uint64_t hits = cache.stats().hits;
      auto who = store_->authenticate(secret);
      if (!who.ok() || !who.value()) return false;
      if (cache.stats().hits > hits) return true;
      if (!cache.wait_until([](const platform::KeyCacheStats& s) { return s.fresh; },
                            std::chrono::seconds(30)))
        return false;
    }
    return false;
  }

  /// Runs `sql` on the server's database "postgres" (not the store's); "" or the error.
  std::string on_server(const std::string& sql) {
    auto conn = platform::pg::Connection::connect(url_.substr(0, url_.rfind('/') + 1) + "postgres");
    if (!conn.ok()) return conn.error().message;
    auto done = conn.value()->script(sql.c_str());
    return done.ok() ? "" : done.error().message;
  }

  /// The name of the store's database.
  std::string database_name() const { return url_.substr(url_.rfind('/') + 1); }

  /// Ends every session on the store's database but the key cache's listener, so that the
  /// server's next statements find their connections gone; "" or the error.
  std::string end_sessions() {
    return on_server("SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity WHERE "
                     "datname = '" +
                     database_name() + "' AND application_name <> '" +
                     platform::kKeyListenerApplicationName + "'");
  }

  /// Asserts the 503 of an unreachable database: the plain message, Retry-After, and nothing
  /// in the body that names the database's server.
  void expect_unavailable(const httplib::Result& r, const std::string& what) {
    SCOPED_TRACE(what);
    const json error = expect_error(r, 503, "ledger_unavailable");
    if (!r) return;
    EXPECT_EQ(error["message"], kUnavailable);
    EXPECT_EQ(r->get_header_value("Retry-After"), "1");
    const std::string port =
        url_.substr(url_.rfind(':') + 1, url_.rfind('/') - url_.rfind(':') - 1);
    for (const std::string& server_detail :
         {std::string("127.0.0.1"), port, std::string("PostgreSQL"), std::string("postgres")})
      EXPECT_EQ(r->body.find(server_detail), std::string::npos)
          << server_detail << " in " << r->body;
  }

  /// Asserts that requests are served again: the models `cold` (a key that was not cached) may
  /// use, and a completion with key_.
  void expect_served_again(const std::string& cold) {
    const auto models = get("/v1/models", cold);
    ASSERT_TRUE(models);
    EXPECT_EQ(models->status, 200) << models->body;
    const auto served = post("/v1/completions", kRequest, key_);
    ASSERT_TRUE(served);
    EXPECT_EQ(served->status, 200) << served->body;
  }

  PostgresServer* pg_ = nullptr;
  std::string url_;
  std::string admin_;
  bool stopped_ = false;
  /// How long the store waits for PostgreSQL in one round trip, and refuses at once after one
  /// went unanswered (pg_connection.h).
  platform::pg::Deadlines deadlines_;
  /// How far the database's clock is ahead of the server's, in seconds (negative: behind).
  int64_t database_clock_ahead_s_ = 0;
};

/// PostgresDownTest whose store gives a round trip up after 500 ms, to freeze PostgreSQL under
/// (PostgresServer::freeze()), and asks it again at each call (no refusal at once, so that
/// requests are served at once after the thaw).
class PostgresFrozenTest : public PostgresDownTest {
 protected:
  PostgresFrozenTest() {
    deadlines_ = {std::chrono::milliseconds(500), std::chrono::milliseconds(0)};
  }
  void TearDown() override {
    if (frozen_) {
      EXPECT_TRUE(pg_->thaw().ok());
    }
    PostgresDownTest::TearDown();
  }
  bool frozen_ = false;
};

/// PostgresDownTest whose server's clock is `skew_s` seconds ahead of the database's
/// (PostgresServer::shift_clock()).
class PostgresSkewedClockTest : public PostgresDownTest {
 protected:
  explicit PostgresSkewedClockTest(int64_t skew_s) { database_clock_ahead_s_ = -skew_s; }
  /// Now on the database's clock, in microseconds since the epoch (0 when it cannot be read).
  int64_t database_now_us() {
    auto conn = platform::pg::Connection::connect(url_);
    if (!conn.ok()) return 0;
    auto now =
        conn.value()->query("SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint");
    return now.ok() ? now->int64(0, 0) : 0;
  }
  /// Far below the skews: the offset is measured within half a round trip.
  static constexpr int64_t kSlackUs = 5'000'000;
};

class PostgresClockAheadTest : public PostgresSkewedClockTest {
 protected:
  PostgresClockAheadTest() : PostgresSkewedClockTest(120) {}
};

class PostgresClockBehindTest : public PostgresSkewedClockTest {
 protected:
  PostgresClockBehindTest() : PostgresSkewedClockTest(-120) {}
};

// The database refuses new connections and its sessions end, all but the key cache's listener:
// warm keys are still answered from the cache, so admission, the usage report, the prices and
// the admin API meet the failure themselves; a key that is not cached meets it at
// authentication.
TEST_F(PostgresDownTest, EveryPathAnswers503WhileTheDatabaseRefusesConnections) {
  const std::string cold = new_key({"cold"});
  const std::string database = database_name();
  ASSERT_EQ(on_server("ALTER DATABASE " + database + " ALLOW_CONNECTIONS false"), "");
  ASSERT_EQ(end_sessions(), "");
  expect_unavailable(post("/v1/completions", kRequest, key_), "admission");
  expect_unavailable(get("/v1/usage", key_), "usage");
  expect_unavailable(get("/v1/models", key_), "prices");
  expect_unavailable(get("/admin/tenants", admin_), "admin");
  expect_unavailable(
      call("POST", "/admin/prices", R"({"model": "qwen2-tiny", "input": 1, "output": 2})", admin_),
      "admin write");
  expect_unavailable(get("/v1/models", cold), "authentication");

  ASSERT_EQ(on_server("ALTER DATABASE " + database + " ALLOW_CONNECTIONS true"), "");
  expect_served_again(cold);
  const auto tenants = get("/admin/tenants", admin_);
  ASSERT_TRUE(tenants);
  EXPECT_EQ(tenants->status, 200) << tenants->body;
}

// PostgreSQL stops while the server runs: 503 for every request, then served again once it is
// started again.
TEST_F(PostgresDownTest, RequestsAreServedAgainOnceAStoppedPostgreSQLIsBack) {
  const std::string cold = new_key({"cold"});
  ASSERT_TRUE(pg_->stop().ok());
  stopped_ = true;
  expect_unavailable(get("/v1/models", cold), "authentication");
  expect_unavailable(post("/v1/completions", kRequest, key_), "completion");
  expect_unavailable(get("/v1/usage", key_), "usage");
  expect_unavailable(get("/admin/keys", admin_), "admin");

  ASSERT_TRUE(pg_->start().ok());
  stopped_ = false;
  expect_served_again(cold);
  const auto usage = get("/v1/usage", admin_);
  ASSERT_TRUE(usage);
  EXPECT_EQ(usage->status, 200) << usage->body;
}

// PostgreSQL's text cannot hold NUL: a client's NUL in a model name or in a field name (which
// the error quotes) is written as U+FFFD and the row lands, and a NUL in `user` is a 400 (QA
// 2026-12-07: the row could not be written, went to the spool, and every request of every
// tenant was a 503 from then on, a restart included).
TEST_F(PostgresDownTest, AClientsNulBytesNeverStopTheLedger) {
  json model = kRequest;
  model["model"] = std::string("qw\0en", 5);
  json field = kRequest;
  field[std::string("x\0y", 3)] = 1;
  json user = kRequest;
  user["user"] = std::string("u\0", 2);
  for (const auto& [body, status] : {std::pair{model, 404}, {field, 400}, {user, 400}}) {
    auto r = post("/v1/completions", body, key_);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, status) << r->body;
  }
  auto served = post("/v1/completions", kRequest, key_);
  ASSERT_TRUE(served);
  EXPECT_EQ(served->status, 200) << served->body;
  auto rows = store_->usage_rows();
  ASSERT_TRUE(rows.ok()) << rows.error().message;
  ASSERT_EQ(rows->size(), 4u);
  EXPECT_EQ((*rows)[0].model,
            "qw\xEF\xBF\xBD"
            "en");
  EXPECT_NE((*rows)[1].error.find("x\xEF\xBF\xBDy"), std::string::npos) << (*rows)[1].error;
  EXPECT_EQ((*rows)[2].end_user, "");
  EXPECT_EQ((*rows)[3].status, "ok");
}

// A server whose clock is 2 minutes ahead of the database's takes the database's time for what
// the ledger and the keys compare (docs/platform.md, "One clock for servers sharing
// PostgreSQL"): a request's row is stamped with it (so rate windows and budget days are those of
// the other servers), a key is refused only once the database's clock says it has expired, and
// an expiry the admin API sets counts from it.
TEST_F(PostgresClockAheadTest, RequestsAndKeysGoByTheDatabasesClock) {
  const int64_t before_us = database_now_us();
  ASSERT_NE(before_us, 0);
  platform::NewKey expiring{"expiring"};
  expiring.expires_at_us = before_us + 60'000'000;
  const std::string secret = new_key(expiring);
  auto served = post("/v1/completions", kRequest, secret);
  ASSERT_TRUE(served);
  EXPECT_EQ(served->status, 200) << served->body;
  auto created = post("/admin/keys", {{"name", "a-day"}, {"expires_in_days", 1}}, admin_);
  const int64_t after_us = database_now_us();
  auto rows = store_->usage_rows();
  ASSERT_TRUE(rows.ok()) << rows.error().message;
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_GT((*rows)[0].started_at_us, before_us - kSlackUs);
  EXPECT_LT((*rows)[0].finished_at_us, after_us + kSlackUs);
  ASSERT_TRUE(created);
  ASSERT_EQ(created->status, 201) << created->body;
  const int64_t expires_us = json::parse(created->body)["expires_at"].get<int64_t>() * 1'000'000;
  EXPECT_GT(expires_us, before_us + 86'400'000'000 - kSlackUs);
  EXPECT_LT(expires_us, after_us + 86'400'000'000 + kSlackUs);
}

// A server whose clock is 2 minutes behind the database's: the usage report's default range ends
// at the database's now, so a request just served is in it; a key the database's clock says has
// expired is refused.
TEST_F(PostgresClockBehindTest, TheReportAndExpiryGoByTheDatabasesClock) {
  auto served = post("/v1/completions", kRequest, key_);
  ASSERT_TRUE(served);
  EXPECT_EQ(served->status, 200) << served->body;
  auto usage = get("/v1/usage", key_);
  ASSERT_TRUE(usage);
  ASSERT_EQ(usage->status, 200) << usage->body;
  const json report = json::parse(usage->body);
  ASSERT_EQ(report["data"].size(), 1u) << usage->body;
  EXPECT_EQ(report["data"][0]["requests"], 1);

  platform::NewKey expired{"expired"};
  expired.expires_at_us = database_now_us() - 1'000'000;
  const std::string secret = new_key(expired);
  const json refused =
      expect_error(post("/v1/completions", kRequest, secret), 401, "invalid_api_key");
  EXPECT_EQ(refused["message"], "Incorrect API key provided: the key has expired.");
}

// A database that takes no writes for now (read-only, as a standby during a failover): the
// admin API's writes are 503 with the plain message, not 500 with PostgreSQL's text, and are
// taken again once it is writable.
TEST_F(PostgresDownTest, AReadOnlyDatabaseIs503ForWrites) {
  const std::string database = database_name();
  const std::string body = R"({"model": "qwen2-tiny", "input": 1, "output": 2})";
  ASSERT_EQ(on_server("ALTER DATABASE " + database + " SET default_transaction_read_only = on"),
            "");
  ASSERT_EQ(end_sessions(), "");
  expect_unavailable(call("POST", "/admin/prices", body, admin_), "admin write");
  ASSERT_EQ(on_server("ALTER DATABASE " + database + " RESET default_transaction_read_only"), "");
  ASSERT_EQ(end_sessions(), "");
  const auto set = call("POST", "/admin/prices", body, admin_);
  ASSERT_TRUE(set);
  EXPECT_EQ(set->status, 200) << set->body;
}

// Sixteen creations of one name at once: whichever the handlers' check lets through to the
// store, PostgreSQL's unique index refuses all but one, and those refusals are 409 (the name is
// taken), never 500 with the database's text; then ten revocations of one key at once.
TEST_F(PostgresDownTest, RacingAdminWritesAreConflictsNotServerErrors) {
  const auto statuses = [&](const std::string& method, const std::string& path,
                            const std::string& body, int n) {
    std::vector<int> status(n, 0);
    std::vector<std::string> bodies(n);
    std::vector<std::thread> threads;
    for (int i = 0; i < n; ++i)
      threads.emplace_back([&, i] {
        const auto r = call(method, path, body, admin_);
        status[i] = r ? r->status : -1;
        bodies[i] = r ? r->body : "";
      });
    for (std::thread& t : threads) t.join();
    std::map<int, int> count;
    for (int i = 0; i < n; ++i) {
      ++count[status[i]];
      EXPECT_TRUE(status[i] == 200 || status[i] == 201 || status[i] == 409)
          << status[i] << " " << bodies[i];
    }
    return count;
  };
  EXPECT_EQ(statuses("POST", "/admin/keys", R"({"name": "race"})", 16),
            (std::map<int, int>{{201, 1}, {409, 15}}));
  EXPECT_EQ(statuses("POST", "/admin/tenants", R"({"name": "race"})", 16),
            (std::map<int, int>{{201, 1}, {409, 15}}));
  const auto keys = get("/admin/keys?limit=100", admin_);
  ASSERT_TRUE(keys);
  int64_t race_id = 0;
  const json listed = json::parse(keys->body);
  for (const json& key : listed.at("data"))
    if (key.at("name") == "race") race_id = key.at("id").get<int64_t>();
  ASSERT_NE(race_id, 0) << keys->body;
  EXPECT_EQ(statuses("DELETE", "/admin/keys/" + std::to_string(race_id), "", 10),
            (std::map<int, int>{{200, 1}, {409, 9}}));
}

// PostgreSQL stops answering (frozen: it takes connections and statements and answers none).
// Each request that needs it is answered 503 once its round trip's deadline passes, instead of
// holding a handler thread for as long as the database is gone: forty at once, more than the
// pool has connections, all get their answer. Once PostgreSQL answers again, so does the server.
TEST_F(PostgresFrozenTest, RequestsAre503WhileTheDatabaseDoesNotAnswerAndServedOnceItDoes) {
  const std::string cold = new_key({"cold"});
  ASSERT_TRUE(pg_->freeze().ok());
  frozen_ = true;
  expect_unavailable(post("/v1/completions", kRequest, key_), "admission");
  expect_unavailable(get("/v1/models", cold), "authentication");
  expect_unavailable(get("/v1/usage", key_), "usage");
  expect_unavailable(get("/admin/tenants", admin_), "admin");
  // The prices of the admin model list (QA 2026-12-03: 200 with the prices left out).
  expect_unavailable(get("/admin/models", admin_), "admin models");
  constexpr int kRequests = 40;
  std::vector<std::optional<httplib::Result>> answers(kRequests);
  std::vector<std::thread> clients;
  for (int i = 0; i < kRequests; ++i)
    clients.emplace_back([&, i] { answers[i].emplace(post("/v1/completions", kRequest, key_)); });
  for (std::thread& client : clients) client.join();
  for (int i = 0; i < kRequests; ++i)
    expect_unavailable(*answers[i], "concurrent admission " + std::to_string(i));

  ASSERT_TRUE(pg_->thaw().ok());
  frozen_ = false;
  expect_served_again(cold);
}

}  // namespace
}  // namespace gengyun::api::testing
