// What only the PostgreSQL backend has: URLs, connection errors, the schema check of
// commands that must not set up a database.
#include <gtest/gtest.h>

#include <string>

#include "platform/store.h"
#include "postgres_server.h"
#include "testdata.h"

namespace gengyun::platform {
namespace {

using testing::PostgresServer;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(StorePostgres, AnUnreachableServerIsAClearError) {
  // Port 1 on the loopback: nothing listens there.
  auto store = Store::open("postgresql://gengyun:secret@127.0.0.1:1/gengyun");
  ASSERT_FALSE(store.ok());
  EXPECT_TRUE(contains(store.error().message, "cannot connect to PostgreSQL"))
      << store.error().message;
  EXPECT_FALSE(contains(store.error().message, "secret")) << store.error().message;
}

TEST(StorePostgres, ReadersRefuseADatabaseWithoutTheSchemaAndLeaveItEmpty) {
  auto server = PostgresServer::get();
  if (!server.ok()) {
    if (gengyun::testing::running_in_ci()) FAIL() << server.error().message;
    GTEST_SKIP() << server.error().message;
  }
  auto url = server.value()->new_database();
  ASSERT_TRUE(url.ok()) << url.error().message;
  auto refused = Store::open(*url, /*must_exist=*/true);
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(contains(refused.error().message, "the database has no gengyun schema"))
      << refused.error().message;
  auto again = Store::open(*url, /*must_exist=*/true);
  EXPECT_FALSE(again.ok());
  // Opened to write, it gets the schema; a second open keeps it.
  ASSERT_TRUE(Store::open(*url).ok());
  auto reader = Store::open(*url, /*must_exist=*/true);
  ASSERT_TRUE(reader.ok()) << reader.error().message;
  EXPECT_EQ((*reader)->list_tenants()->size(), 1u);
}

}  // namespace
}  // namespace gengyun::platform
