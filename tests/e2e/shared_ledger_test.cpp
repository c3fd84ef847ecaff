// Two `gengyun serve` processes on one PostgreSQL database: a tenant's requests-per-minute
// limit holds for both together, and both bill into the one ledger.
#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "../platform/postgres_server.h"
#include "../platform/temp_dir.h"
#include "platform/limits.h"
#include "process.h"
#include "testdata.h"
#include "util/clock.h"

namespace gengyun::e2e {
namespace {

using nlohmann::json;

const std::string kBinary = GENGYUN_BINARY;

/// Starts `gengyun serve` on a free port with `db` and the ledger spool `spool` (each server
/// needs its own); returns its port once /health answers, or 0.
int start_server(std::unique_ptr<BackgroundProcess>& server, const std::string& db,
                 const std::string& spool) {
  const int port = free_port();
  server = std::make_unique<BackgroundProcess>(std::vector<std::string>{
      kBinary, "serve", "--model",
      "qwen2-tiny=" + gengyun::testing::testdata_path("models/qwen2-tiny-q8_0.gguf"), "--listen",
      "127.0.0.1:" + std::to_string(port), "--db", db, "--ledger-spool", spool, "--threads", "1"});
  if (wait_for_health(*server, port)) return port;
  ADD_FAILURE() << "gengyun serve did not start: " << server->err();
  return 0;
}

TEST(SharedLedger, TwoServersOnOnePostgresHoldOneRateLimit) {
  REQUIRE_TESTDATA();
  auto pg = platform::testing::PostgresServer::get();
  if (!pg.ok()) {
    if (gengyun::testing::running_in_ci()) FAIL() << pg.error().message;
    GTEST_SKIP() << pg.error().message;
  }
  auto db = pg.value()->new_database();
  ASSERT_TRUE(db.ok()) << db.error().message;
  platform::testing::TempDir dir;
  std::unique_ptr<BackgroundProcess> first, second;
  const int ports[] = {start_server(first, *db, dir.file("first-spool")),
                       start_server(second, *db, dir.file("second-spool"))};
  ASSERT_TRUE(ports[0] && ports[1]);
  const std::string body =
      json({{"model", "qwen2-tiny"}, {"prompt", "Hi"}, {"max_tokens", 2}, {"temperature", 0}})
          .dump();
  ASSERT_EQ(
      run_process({kBinary, "tenants", "create", "acme", "--db", *db, "--rpm", "4"}).exit_code, 0);
  const auto key =
      run_process({kBinary, "keys", "create", "--db", *db, "--name", "bot", "--tenant", "acme"});
  ASSERT_EQ(key.exit_code, 0) << key.err;
  ASSERT_TRUE(std::regex_match(key.out, std::regex("gy-[0-9A-Za-z]{43}\n"))) << key.out;
  const std::string secret = key.out.substr(0, key.out.size() - 1);
  // The six requests fall in one sliding window of a minute.
  const int64_t start_us = unix_time_us();
  int ok = 0, limited = 0;
  for (int i = 0; i < 6; ++i) {
    httplib::Client client("127.0.0.1", ports[i % 2]);
    client.set_read_timeout(60, 0);
    auto r = client.Post("/v1/completions", {{"Authorization", "Bearer " + secret}}, body,
                         "application/json");
    ASSERT_TRUE(r);
    if (r->status == 200) ++ok;
    if (r->status == 429) {
      ++limited;
      EXPECT_EQ(json::parse(r->body)["error"]["code"], "rate_limit_exceeded");
      EXPECT_FALSE(r->get_header_value("Retry-After").empty());
    }
  }
  ASSERT_LT(unix_time_us() - start_us, platform::kRateWindowUs - 1'000'000)
      << "the six requests took a minute";
  EXPECT_EQ(ok, 4);
  EXPECT_EQ(limited, 2);
  EXPECT_EQ(first->stop(), 0) << first->err();
  EXPECT_EQ(second->stop(), 0) << second->err();

  const auto usage = run_process({kBinary, "usage", "--db", *db, "--json"});
  ASSERT_EQ(usage.exit_code, 0) << usage.err;
  const json rows = json::parse(usage.out);
  ASSERT_EQ(rows.size(), 1u) << rows;
  EXPECT_EQ(rows.back()["requests"], 6);
}

}  // namespace
}  // namespace gengyun::e2e
