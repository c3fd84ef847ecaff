// pg::Connection's prepared statements (docs/platform.md, "PostgreSQL
// statements are prepared once"): a statement with parameters, and every
// statement of a pipeline, is prepared on the session the first time its text
// runs and run by name after; what the server never prepared (a pipeline
// aborted before it, a Parse it refused) is prepared again next time; at most
// kMaxPreparedStatements texts are prepared. Checked against the server's own
// list, pg_prepared_statements.
#include "platform/pg_connection.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "postgres_server.h"

namespace gengyun::platform::pg {
namespace {

using platform::testing::PostgresServer;

class PgConnectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    PostgresServer *server = PostgresServer::get_or_skip();
    if (!server) GTEST_SKIP() << "no PostgreSQL server for the tests";
    auto url = server->new_database();
    ASSERT_TRUE(url.ok()) << url.error().message;
    url_ = *url;
    auto conn = Connection::connect(url_);
    ASSERT_TRUE(conn.ok()) << conn.error().message;
    conn_ = std::move(*conn);
  }

  /// The texts of the statements prepared on the session, in byte order.
  std::vector<std::string> prepared() {
    std::vector<std::string> texts;
    auto rows = conn_->query(
        "SELECT statement FROM pg_prepared_statements "
        "ORDER BY statement COLLATE \"C\"");
    EXPECT_TRUE(rows.ok()) << rows.error().message;
    if (!rows.ok()) return texts;
    for (int r = 0; r < rows->count(); ++r) texts.push_back(rows->text(r, 0));
    return texts;
  }

  /// The one value `sql` answers with `params`, or the error's message.
  std::string value(const std::string &sql, const std::vector<Param> &params) {
    auto rows = conn_->query(sql, params);
    if (!rows.ok()) return rows.error().message;
    return rows->text(0, 0);
  }

  std::string url_;
  std::unique_ptr<Connection> conn_;
};

TEST_F(PgConnectionTest, AStatementWithParametersIsPreparedOnceAndRunByName) {
  const std::string plus_one = "SELECT $1::BIGINT + 1";
  EXPECT_EQ(value(plus_one, {param(41)}), "42");
  EXPECT_EQ(prepared(), std::vector<std::string>{plus_one});
  EXPECT_EQ(value(plus_one, {param(1)}), "2");
  auto both = conn_->pipeline({{plus_one, {param(9)}}, {"SELECT $1::TEXT", {param("x")}}});
  ASSERT_TRUE(both.ok()) << both.error().message;
  EXPECT_EQ((*both)[0].text(0, 0), "10");
  EXPECT_EQ((*both)[1].text(0, 0), "x");
  // A lone statement without parameters runs unnamed.
  ASSERT_TRUE(conn_->query("SELECT 7").ok());
  EXPECT_EQ(prepared(), (std::vector<std::string>{plus_one, "SELECT $1::TEXT"}));
}

// A ledger transaction's BEGIN, SET LOCAL and COMMIT are parsed once per session too.
TEST_F(PgConnectionTest, APipelinesStatementsWithoutParametersArePreparedToo) {
  const std::vector<Statement> transaction{{"BEGIN", {}},
                                           {"SET LOCAL synchronous_commit = off", {}},
                                           {"SELECT $1::INT + 1", {param(2)}},
                                           {"COMMIT", {}}};
  for (int run = 0; run < 2; ++run) {
    auto rows = conn_->pipeline(transaction);
    ASSERT_TRUE(rows.ok()) << rows.error().message;
    EXPECT_EQ((*rows)[2].text(0, 0), "3");
    EXPECT_FALSE(conn_->in_transaction());
  }
  EXPECT_EQ(prepared(), (std::vector<std::string>{"BEGIN", "COMMIT", "SELECT $1::INT + 1",
                                                  "SET LOCAL synchronous_commit = off"}));
}

TEST_F(PgConnectionTest, AStatementTwiceInOnePipelineIsPreparedOnce) {
  const std::string times_two = "SELECT $1::INT * 2";
  auto rows = conn_->pipeline({{times_two, {param(3)}}, {times_two, {param(4)}}});
  ASSERT_TRUE(rows.ok()) << rows.error().message;
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[0].text(0, 0), "6");
  EXPECT_EQ((*rows)[1].text(0, 0), "8");
  EXPECT_EQ(prepared(), std::vector<std::string>{times_two});
}

// The pipeline stops at a failing statement: a text first sent after it was
// never prepared, and is prepared (under a new name) when it runs again.
TEST_F(PgConnectionTest, AStatementAfterAFailureInItsPipelineIsPreparedWhenItNextRuns) {
  const std::string divide = "SELECT 1 / $1::INT";
  const std::string times_two = "SELECT $1::INT * 2";
  auto failed = conn_->pipeline({{divide, {param(0)}}, {times_two, {param(3)}}});
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.error().message.find("division by zero"), std::string::npos)
      << failed.error().message;
  EXPECT_EQ(conn_->last_sqlstate(), "22012");
  EXPECT_EQ(prepared(), std::vector<std::string>{divide});
  EXPECT_EQ(value(times_two, {param(5)}), "10");
  EXPECT_EQ(value(divide, {param(1)}), "1");
  EXPECT_EQ(prepared(), (std::vector<std::string>{times_two, divide}));
}

TEST_F(PgConnectionTest, AStatementTheServerCannotPrepareIsItsErrorAndNothingIsKept) {
  EXPECT_NE(value("SELEC $1::INT", {param(1)}).find("syntax error"), std::string::npos);
  EXPECT_EQ(conn_->last_sqlstate(), "42601");
  EXPECT_EQ(value("SELECT $1::INT", {param(1)}), "1");
  EXPECT_EQ(prepared(), std::vector<std::string>{"SELECT $1::INT"});
}

// Prepared statements belong to the session, not to a transaction: one prepared
// in a transaction that is rolled back still runs by name.
TEST_F(PgConnectionTest, AStatementPreparedInARolledBackTransactionStillRuns) {
  ASSERT_TRUE(conn_->script("BEGIN").ok());
  EXPECT_EQ(value("SELECT $1::INT + 2", {param(1)}), "3");
  ASSERT_TRUE(conn_->script("ROLLBACK").ok());
  EXPECT_EQ(value("SELECT $1::INT + 2", {param(2)}), "4");
  EXPECT_EQ(prepared(), std::vector<std::string>{"SELECT $1::INT + 2"});
}

// A column's type changes under a prepared statement (a migration of a newer release, run while
// this server serves): the call after fails as the server says, and the one after that
// prepares it again and runs (QA 2026-12-03, fourth: every admission failed until a restart).
// Likewise after the session's statements are deallocated.
TEST_F(PgConnectionTest, AStatementIsPreparedAgainOnceTheServerNoLongerRunsItAsPrepared) {
  ASSERT_TRUE(conn_->script("CREATE TABLE t(x INT); INSERT INTO t VALUES (7)").ok());
  const std::string select = "SELECT x FROM t WHERE x > $1";
  EXPECT_EQ(value(select, {param(1)}), "7");
  ASSERT_TRUE(conn_->script("ALTER TABLE t ALTER COLUMN x TYPE BIGINT").ok());
  auto failed = conn_->query(select, {param(1)});
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.error().message.find("cached plan must not change result type"),
            std::string::npos)
      << failed.error().message;
  EXPECT_EQ(value(select, {param(1)}), "7");
  ASSERT_TRUE(conn_->script("DEALLOCATE ALL").ok());
  auto deallocated = conn_->query(select, {param(1)});
  ASSERT_FALSE(deallocated.ok());
  EXPECT_EQ(conn_->last_sqlstate(), "26000");
  EXPECT_EQ(value(select, {param(1)}), "7");
}

// A trigger's PL/pgSQL plans are cached in the session: once a column's type changes under
// one, only a new session plans it again, so the session that meets the error is given up
// and a new one runs the statement (QA of 2026-12-03, fifth: a ledger column's type changed,
// every request refused until the server restarted).
TEST_F(PgConnectionTest, ASessionWhoseTriggerPlanNoLongerFitsIsGivenUp) {
  ASSERT_TRUE(conn_
                  ->script("CREATE TABLE t(x BIGINT); CREATE TABLE u(y BIGINT); "
                           "CREATE FUNCTION copy_x() RETURNS trigger LANGUAGE plpgsql AS $$ "
                           "DECLARE v BIGINT := NEW.x; BEGIN INSERT INTO u VALUES (v); "
                           "RETURN NULL; END $$; "
                           "CREATE TRIGGER t_copy AFTER INSERT ON t FOR EACH ROW "
                           "EXECUTE FUNCTION copy_x()")
                  .ok());
  const std::string insert = "INSERT INTO t VALUES ($1)";
  ASSERT_TRUE(conn_->query(insert, {param(1)}).ok());
  auto other = Connection::connect(url_);
  ASSERT_TRUE(other.ok()) << other.error().message;
  ASSERT_TRUE((*other)->script("ALTER TABLE t ALTER COLUMN x TYPE NUMERIC").ok());
  auto failed = conn_->query(insert, {param(2)});
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.error().message.find("does not match that when preparing the plan"),
            std::string::npos)
      << failed.error().message;
  EXPECT_TRUE(conn_->broken());
  auto fresh = Connection::connect(url_);
  ASSERT_TRUE(fresh.ok()) << fresh.error().message;
  ASSERT_TRUE((*fresh)->query(insert, {param(3)}).ok());
  auto copied = (*fresh)->query("SELECT string_agg(y::TEXT, ',' ORDER BY y) FROM u");
  ASSERT_TRUE(copied.ok()) << copied.error().message;
  EXPECT_EQ(copied->text(0, 0), "1,3");
}

// A client stalled inside a transaction (a frozen server) holds its row locks only until the
// server ends its session (idle_in_transaction_session_timeout, half the lock timeout): a
// session waiting for one of those locks then goes on, within its own lock timeout (QA
// 2026-12-03, fourth: a frozen server's locks refused every other server's admissions for the
// tenant as long as it stayed frozen).
TEST_F(PgConnectionTest, ASessionStalledInATransactionIsEndedAndItsLocksFreed) {
  ASSERT_TRUE(conn_->script("CREATE TABLE t(x INT); INSERT INTO t VALUES (1)").ok());
  // Round trips of at most 1 s: a lock timeout of 500 ms, 250 ms idle in a transaction.
  auto stalled = Connection::connect(url_, std::chrono::seconds(1));
  ASSERT_TRUE(stalled.ok()) << stalled.error().message;
  ASSERT_TRUE((*stalled)->script("BEGIN; SELECT x FROM t FOR UPDATE").ok());
  // conn_ (a 5 s lock timeout) waits for the row and gets it once the stalled session ends.
  auto locked = conn_->query("SELECT x FROM t FOR UPDATE");
  ASSERT_TRUE(locked.ok()) << locked.error().message;
  EXPECT_EQ(locked->text(0, 0), "1");
  EXPECT_FALSE((*stalled)->query("SELECT 1").ok());
}

TEST_F(PgConnectionTest, AtMostTheCapOfTextsIsPreparedAndLaterOnesRunUnnamed) {
  for (size_t i = 0; i <= kMaxPreparedStatements; ++i)
    ASSERT_EQ(value("SELECT $1::BIGINT + " + std::to_string(i), {param(1)}), std::to_string(i + 1));
  EXPECT_EQ(prepared().size(), kMaxPreparedStatements);
  const std::string last = "SELECT $1::BIGINT + " + std::to_string(kMaxPreparedStatements);
  EXPECT_EQ(value(last, {param(2)}), std::to_string(kMaxPreparedStatements + 2));
  EXPECT_EQ(prepared().size(), kMaxPreparedStatements);
}

}  // namespace
}  // namespace gengyun::platform::pg
