#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <string>

#include "platform/store.h"
#include "platform/store_schema.h"
#include "store_reads.h"
#include "temp_dir.h"

namespace gengyun::platform {
namespace {

using testing::all_tenants;

using testing::RawDb;
using testing::TempDir;

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(StoreOpen, NewFileGetsSchemaVersionAndWalMode) {
  TempDir dir;
  std::string path = dir.file("platform.db");
  {
    auto store = Store::open(path);
    ASSERT_TRUE(store.ok()) << store.error().message;
  }
  RawDb raw(path);
  EXPECT_EQ(raw.query("SELECT version FROM schema_version"),
            (std::vector<std::vector<std::string>>{{std::to_string(kStoreSchemaVersion)}}));
  EXPECT_EQ(raw.query("PRAGMA journal_mode"), (std::vector<std::vector<std::string>>{{"wal"}}));
  // Reopening an existing database of the current version keeps its single version row.
  {
    auto again = Store::open(path);
    ASSERT_TRUE(again.ok()) << again.error().message;
  }
  EXPECT_EQ(raw.query("SELECT count(*) FROM schema_version"),
            (std::vector<std::vector<std::string>>{{"1"}}));
}

TEST(StoreOpen, GarbageFileIsAClearErrorAndLeftUntouched) {
  TempDir dir;
  std::mt19937 rng(12345);
  std::string noise(8192, '\0');
  for (char& c : noise) c = static_cast<char>(rng());
  for (const std::string& garbage :
       {noise, std::string("this is a text file, not a database\n")}) {
    std::string path = dir.file("garbage.db");
    write_file(path, garbage);
    auto store = Store::open(path);
    ASSERT_FALSE(store.ok());
    EXPECT_TRUE(contains(store.error().message, "is not a SQLite database"))
        << store.error().message;
    EXPECT_TRUE(contains(store.error().message, path)) << store.error().message;
    EXPECT_EQ(read_file(path), garbage);
  }
}

// A reader (OpenMode::Read) refuses a file without gengyun's schema, as PostgreSQL's readers refuse
// a database without it (store_postgres_test.cpp), and leaves it byte for byte as it was: an
// empty file, another program's database in either journal mode.
TEST(StoreOpen, ReadersRefuseAFileWithoutTheSchemaAndLeaveItAsItWas) {
  TempDir dir;
  const std::string empty = dir.file("empty.db");
  write_file(empty, "");
  const std::string foreign = dir.file("foreign.db");
  const std::string foreign_wal = dir.file("foreign-wal.db");
  for (const std::string& path : {foreign, foreign_wal}) {
    RawDb raw(path);
    if (path == foreign_wal) {
      ASSERT_EQ(raw.exec("PRAGMA journal_mode = WAL"), "");
    }
    ASSERT_EQ(raw.exec("CREATE TABLE notes(id INTEGER PRIMARY KEY, text TEXT);"
                       "INSERT INTO notes(text) VALUES ('keep me')"),
              "");
  }
  for (const std::string& path : {empty, foreign, foreign_wal}) {
    const std::string before = read_file(path);
    for (int attempt = 0; attempt < 2; ++attempt) {
      auto store = Store::open(path, OpenMode::Read);
      ASSERT_FALSE(store.ok()) << path;
      EXPECT_EQ(store.error().message,
                "cannot open database '" + path +
                    "': the database has no gengyun schema (create it with `gengyun keys "
                    "create` or `gengyun serve`)");
      EXPECT_EQ(read_file(path), before) << path;
    }
  }
  EXPECT_EQ(RawDb(foreign).query("SELECT name FROM sqlite_master"),
            (std::vector<std::vector<std::string>>{{"notes"}}));
  EXPECT_EQ(RawDb(foreign).query("PRAGMA journal_mode"),
            (std::vector<std::vector<std::string>>{{"delete"}}));
  // Opened to write, the empty file gets the schema; then a reader opens it.
  ASSERT_TRUE(Store::open(empty).ok());
  auto reader = Store::open(empty, OpenMode::Read);
  ASSERT_TRUE(reader.ok()) << reader.error().message;
  EXPECT_EQ(all_tenants(**reader)->size(), 1u);
}

TEST(StoreOpen, ReadersRefuseAFileThatIsNotADatabaseAndLeaveIt) {
  TempDir dir;
  const std::string path = dir.file("text.db");
  const std::string text = "this is a text file, not a database\n";
  write_file(path, text);
  auto store = Store::open(path, OpenMode::Read);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().message, "cannot open database '" + path +
                                       "': the file is not a SQLite database (wrong path, or a "
                                       "damaged file)");
  EXPECT_EQ(read_file(path), text);
}

TEST(StoreOpen, MissingDirectoryIsAnError) {
  TempDir dir;
  std::string path = dir.file("no-such-dir/platform.db");
  auto store = Store::open(path);
  ASSERT_FALSE(store.ok());
  EXPECT_TRUE(contains(store.error().message, "cannot open database '" + path + "'"))
      << store.error().message;
  EXPECT_TRUE(contains(store.error().message, "does not exist")) << store.error().message;
}

TEST(StoreOpen, DirectoryPathIsAnError) {
  TempDir dir;
  auto store = Store::open(dir.path().string());
  ASSERT_FALSE(store.ok());
  EXPECT_TRUE(contains(store.error().message, "it is a directory")) << store.error().message;
}

TEST(StoreOpen, EmptyPathIsAnError) {
  auto store = Store::open("");
  ASSERT_FALSE(store.ok());
  EXPECT_TRUE(contains(store.error().message, "path is empty")) << store.error().message;
}

TEST(StoreOpen, NewerSchemaVersionIsRefused) {
  TempDir dir;
  std::string path = dir.file("platform.db");
  {
    auto store = Store::open(path);
    ASSERT_TRUE(store.ok()) << store.error().message;
  }
  {
    RawDb raw(path);
    ASSERT_EQ(raw.exec("UPDATE schema_version SET version = " +
                       std::to_string(kStoreSchemaVersion + 1)),
              "");
  }
  auto store = Store::open(path);
  ASSERT_FALSE(store.ok());
  EXPECT_TRUE(contains(store.error().message,
                       "schema version " + std::to_string(kStoreSchemaVersion + 1) +
                           ", newer than this gengyun understands"))
      << store.error().message;
}

TEST(StoreOpen, InMemoryStoreWorks) {
  auto store = Store::open(":memory:");
  ASSERT_TRUE(store.ok()) << store.error().message;
  auto secret = (*store)->create_key("team-a");
  ASSERT_TRUE(secret.ok()) << secret.error().message;
  auto who = (*store)->authenticate(*secret);
  ASSERT_TRUE(who.ok() && who->has_value());
  EXPECT_EQ((*who)->name, "team-a");
}

}  // namespace
}  // namespace gengyun::platform
