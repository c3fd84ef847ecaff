// The SQLite connection's statement cache: a statement done with is kept and handed out again
// reset, without its bindings, for the same SQL text; statements of one text in use at once
// are distinct; a kept one follows a schema change; the cache finalizes what it keeps.
#include "platform/sqlite_statement.h"

#include <gtest/gtest.h>

#include <memory>

namespace gengyun::platform::sqlite {
namespace {

/// The statements the connection holds (prepared and not finalized).
int statements_of(sqlite3* db) {
  int count = 0;
  for (sqlite3_stmt* s = sqlite3_next_stmt(db, nullptr); s; s = sqlite3_next_stmt(db, s)) ++count;
  return count;
}

class StatementCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(sqlite3_open(":memory:", &db_), SQLITE_OK);
    ASSERT_TRUE(exec(db_, "CREATE TABLE t(a INTEGER); INSERT INTO t VALUES (1), (2), (3)").ok());
  }
  void TearDown() override {
    cache_.reset();
    // sqlite3_close (not _v2) refuses a connection with statements left: none are.
    EXPECT_EQ(sqlite3_close(db_), SQLITE_OK);
  }

  sqlite3* db_ = nullptr;
  std::unique_ptr<StatementCache> cache_;
};

TEST_F(StatementCacheTest, WithoutACacheEveryStatementIsFinalized) {
  {
    auto stmt = Statement::prepare(db_, "SELECT a FROM t");
    ASSERT_TRUE(stmt.ok());
    EXPECT_EQ(statements_of(db_), 1);
  }
  EXPECT_EQ(statements_of(db_), 0);
}

TEST_F(StatementCacheTest, AStatementIsKeptAndHandedOutAgainResetWithoutItsBindings) {
  cache_ = std::make_unique<StatementCache>(db_);
  {
    auto stmt = Statement::prepare(db_, "SELECT ?1, a FROM t ORDER BY a");
    ASSERT_TRUE(stmt.ok());
    stmt->bind(1, 42);
    ASSERT_TRUE(stmt->step().value());
    EXPECT_EQ(stmt->column_int64(0), 42);
    EXPECT_EQ(stmt->column_int64(1), 1);  // left after its first row
  }
  EXPECT_EQ(statements_of(db_), 1);
  {
    auto again = Statement::prepare(db_, "SELECT ?1, a FROM t ORDER BY a");
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(statements_of(db_), 1);  // the kept one
    ASSERT_TRUE(again->step().value());
    EXPECT_TRUE(again->column_is_null(0));  // no binding left
    EXPECT_EQ(again->column_int64(1), 1);   // from the first row again
    // The same text in use twice at once: a second statement.
    auto nested = Statement::prepare(db_, "SELECT ?1, a FROM t ORDER BY a");
    ASSERT_TRUE(nested.ok());
    EXPECT_EQ(statements_of(db_), 2);
    nested->bind(1, 7);
    ASSERT_TRUE(nested->step().value());
    EXPECT_EQ(nested->column_int64(0), 7);
    ASSERT_TRUE(again->step().value());
    EXPECT_EQ(again->column_int64(1), 2);
  }
  EXPECT_EQ(statements_of(db_), 2);
  // A statement left reading is reset when kept: the table can be altered.
  {
    auto reading = Statement::prepare(db_, "SELECT a FROM t");
    ASSERT_TRUE(reading.ok());
    ASSERT_TRUE(reading->step().value());
  }
  EXPECT_TRUE(exec(db_, "ALTER TABLE t ADD COLUMN b INTEGER DEFAULT 9").ok());
  // A kept statement follows the schema change (SQLite prepares it again).
  auto star = Statement::prepare(db_, "SELECT * FROM t ORDER BY a");
  ASSERT_TRUE(star.ok());
  ASSERT_TRUE(star->step().value());
  EXPECT_EQ(star->column_int64(1), 9);
  auto bad = Statement::prepare(db_, "SELECT nope FROM t");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message, "SQLite cannot prepare statement: no such column: nope");
}

TEST_F(StatementCacheTest, AtMostkMaxKeptStatementsAreKept) {
  cache_ = std::make_unique<StatementCache>(db_);
  for (size_t i = 0; i < StatementCache::kMaxKept + 10; ++i)
    ASSERT_TRUE(Statement::prepare(db_, "SELECT " + std::to_string(i)).ok());
  EXPECT_EQ(statements_of(db_), static_cast<int>(StatementCache::kMaxKept));
}

}  // namespace
}  // namespace gengyun::platform::sqlite
