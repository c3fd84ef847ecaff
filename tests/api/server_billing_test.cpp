// Billing through the server: request ids, costs at the model's prices, budgets (429
// insufficient_quota), rate limits (429 rate_limit_exceeded with Retry-After and the
// x-ratelimit-* fields), allowed models and expiry, checkpoints of long streams.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "eventually.h"
#include "platform/ledger_writer.h"
#include "server_fixture.h"
#include "util/clock.h"

namespace gengyun::api::testing {
namespace {

using nlohmann::json;

const json kRequest = {{"model", "qwen2-tiny"},
                       {"prompt", "The quick brown fox"},
                       {"max_tokens", 8},
                       {"temperature", 0}};

std::string new_key(platform::Store& store, platform::NewKey key) {
  auto secret = store.create_key(key);
  EXPECT_TRUE(secret.ok()) << secret.error().message;
  return secret.ok() ? secret.value() : "";
}

/// The error object of a 429 answer, its type and code checked.
json expect_429(const httplib::Result& r, const char* type, const char* code) {
  EXPECT_TRUE(r);
  if (!r) return json();
  EXPECT_EQ(r->status, 429) << r->body;
  const json body = json::parse(r->body, nullptr, false);
  EXPECT_TRUE(body.contains("error")) << r->body;
  if (!body.contains("error")) return json();
  EXPECT_EQ(body["error"]["type"], type);
  EXPECT_EQ(body["error"]["code"], code);
  return body["error"];
}

TEST_F(ServerTest, RequestIdIsTheResponseIdTheHeaderAndTheLedgerRowsAndCostsItsPrice) {
  // $3 / $1 / $7 per million input / cached input / output tokens: whole micro-dollars per
  // token, so the cost is 3 * uncached + 1 * cached + 7 * completion micro-USD exactly.
  ASSERT_TRUE(store_->set_price("qwen2-tiny", {3'000'000, 1'000'000, 7'000'000}, {}).ok());
  const auto whole = post("/v1/completions", kRequest, key_);
  ASSERT_TRUE(whole);
  ASSERT_EQ(whole->status, 200) << whole->body;
  const json body = json::parse(whole->body);
  EXPECT_EQ(whole->get_header_value("x-request-id"), body["id"]);
  EXPECT_FALSE(whole->has_header("x-ratelimit-limit-requests"));  // the key has no limits

  json streamed_request = kRequest;
  streamed_request["stream"] = true;
  const auto streamed = post("/v1/completions", streamed_request, key_);
  ASSERT_TRUE(streamed);
  ASSERT_EQ(streamed->status, 200);
  const SseBody sse = parse_sse(streamed->body);
  ASSERT_FALSE(sse.events.empty());
  EXPECT_EQ(streamed->get_header_value("x-request-id"), sse.events[0]["id"]);
  const json& stream_usage = sse.events.back()["usage"];

  const auto ledger = rows();
  ASSERT_EQ(ledger.size(), 2u);
  const json usages[] = {body["usage"], stream_usage};
  const std::string ids[] = {body["id"], sse.events[0]["id"]};
  for (size_t i = 0; i < 2; ++i) {
    const json& usage = usages[i];
    const int64_t prompt = usage["prompt_tokens"];
    const int64_t cached = usage["prompt_tokens_details"]["cached_tokens"];
    const int64_t completion = usage["completion_tokens"];
    EXPECT_EQ(ledger[i].request_id, ids[i]);
    EXPECT_EQ(ledger[i].status, "ok");
    EXPECT_EQ(ledger[i].prompt_tokens, prompt);
    EXPECT_EQ(ledger[i].cached_prompt_tokens, cached);
    EXPECT_EQ(ledger[i].completion_tokens, completion);
    EXPECT_EQ(ledger[i].cost_micro_usd, 3 * (prompt - cached) + cached + 7 * completion);
    EXPECT_EQ(ledger[i].price.output, 7'000'000);
  }
}

TEST_F(ServerTest, OverTheBudgetIs429InsufficientQuotaAndNothingIsGenerated) {
  // $1 per token; a budget of $10 cannot hold the prompt plus 8 tokens.
  ASSERT_TRUE(store_->set_price("qwen2-tiny", {1'000'000'000'000, 0, 1'000'000'000'000}, {}).ok());
  const std::string key =
      new_key(*store_, {"poor", "default", platform::Role::Member, {10'000'000}});
  const auto r = post("/v1/completions", kRequest, key);
  const json error = expect_429(r, "insufficient_quota", "insufficient_quota");
  EXPECT_NE(error["message"].get<std::string>().find(
                "You exceeded your current quota: key 'poor' has used $0 of its $10 total budget"),
            std::string::npos)
      << error;
  EXPECT_FALSE(r->get_header_value("x-request-id").empty());
  const auto ledger = rows();
  ASSERT_EQ(ledger.size(), 1u);
  EXPECT_EQ(ledger[0].request_id, r->get_header_value("x-request-id"));  // support can find it
  EXPECT_EQ(ledger[0].http_status, 429);
  EXPECT_EQ(ledger[0].status, "error");
  EXPECT_EQ(ledger[0].completion_tokens, 0);
  EXPECT_EQ(ledger[0].cost_micro_usd, 0);
}

TEST_F(ServerTest, OverTheRequestRateIs429WithRetryAfterAndRateHeaders) {
  const std::string key =
      new_key(*store_, {"limited", "default", platform::Role::Member, {{}, {}, 2}});
  const int64_t before_us = unix_time_us();
  const auto first = post("/v1/completions", kRequest, key);
  const auto second = post("/v1/completions", kRequest, key);
  const auto third = post("/v1/completions", kRequest, key);
  const int64_t after_us = unix_time_us();
  ASSERT_TRUE(first && second);
  EXPECT_EQ(first->status, 200);
  EXPECT_EQ(first->get_header_value("x-ratelimit-limit-requests"), "2");
  EXPECT_EQ(first->get_header_value("x-ratelimit-remaining-requests"), "1");
  EXPECT_EQ(second->get_header_value("x-ratelimit-remaining-requests"), "0");
  const json error = expect_429(third, "requests", "rate_limit_exceeded");
  EXPECT_EQ(error["message"], "Rate limit reached for key 'limited': 2 requests per minute.");
  // The first request's second leaves the sliding window 60 s after it began: at most 60 s
  // after the third, at least 60 s after `before_us`'s second less the time the three took.
  const int retry_after = std::stoi(third->get_header_value("Retry-After"));
  const int64_t first_second_end_us = (before_us / 1'000'000 + 60) * 1'000'000;
  EXPECT_GE(retry_after, (first_second_end_us - after_us + 999'999) / 1'000'000);
  EXPECT_LE(retry_after, 60);
  EXPECT_EQ(third->get_header_value("x-ratelimit-limit-requests"), "2");
  EXPECT_EQ(third->get_header_value("x-ratelimit-remaining-requests"), "0");
  const auto ledger = rows();
  ASSERT_EQ(ledger.size(), 3u);
  EXPECT_EQ(ledger[2].http_status, 429);
  EXPECT_EQ(ledger[2].request_id, third->get_header_value("x-request-id"));
}

// Fail closed: while another process holds the database's write lock past the busy timeout,
// admission cannot write its row, so nothing is served (503); once the lock is gone, requests
// are served again.
TEST_F(ServerTest, ALedgerThatCannotBeWrittenRefusesNewRequestsWith503) {
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open((dir_ / "gengyun.db").string().c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  const auto refused = post("/v1/completions", kRequest, key_);
  const json error = expect_error(refused, 503, "ledger_unavailable");
  // Plain: the reason ("database is locked") is the server's log's.
  EXPECT_EQ(error["message"],
            "The usage ledger is unavailable, so no request is served now; try again later.");
  EXPECT_EQ(refused->get_header_value("Retry-After"), "1");
  ASSERT_EQ(sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(other);
  const auto served = post("/v1/completions", kRequest, key_);
  ASSERT_TRUE(served);
  EXPECT_EQ(served->status, 200) << served->body;
}

// The database's file removed while the server runs (QA 2026-12-07: it went on answering 200 and
// handing out keys, written to the removed file and lost at the restart): requests and admin
// writes are refused with 503, and served again once the file is back where it was.
TEST_F(ServerTest, ADatabaseFileRemovedWhileServingTakesNoMoreWrites) {
  platform::NewKey root{"root"};
  root.role = platform::Role::Admin;
  auto admin = store_->create_key(root);
  ASSERT_TRUE(admin.ok()) << admin.error().message;
  ASSERT_EQ(post("/v1/completions", kRequest, key_)->status, 200);
  const std::filesystem::path db = dir_ / "gengyun.db";
  const std::filesystem::path aside = dir_ / "aside.db";
  std::filesystem::rename(db, aside);
  expect_error(post("/v1/completions", kRequest, key_), 503, "ledger_unavailable");
  expect_error(post("/admin/keys", {{"name", "late"}}, admin.value()), 503, "ledger_unavailable");
  std::filesystem::rename(aside, db);
  ASSERT_EQ(post("/v1/completions", kRequest, key_)->status, 200);
  // (the refusal's row had no file to go to: `serve`'s spool would keep it)
  const auto rows = wait_for_rows(2);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1].status, "ok");
}

// A stream whose settlement cannot be written (the database file moved away while it ran, and
// no spool) ends with that error and [DONE], as every stream ends, but no usage chunk: it was
// not billed. (It ended with the error alone, without [DONE].)
TEST_F(ServerTest, AStreamWhoseSettlementCannotBeWrittenEndsWithTheErrorAndDone) {
  const std::filesystem::path db = dir_ / "gengyun.db";
  const std::filesystem::path aside = dir_ / "aside.db";
  bool moved = false;
  const std::string body = stream_acting_on_first_event(long_completion(true), [&] {
    std::filesystem::rename(db, aside);
    moved = true;
  });
  if (moved) std::filesystem::rename(aside, db);
  const SseBody sse = parse_sse(body);
  EXPECT_TRUE(sse.done);
  ASSERT_GE(sse.events.size(), 2u);
  const json& last = sse.events.back();
  ASSERT_TRUE(last.contains("error")) << last.dump();
  EXPECT_EQ(
      last["error"]["message"].get<std::string>().rfind("the usage ledger cannot be written: ", 0),
      0u)
      << last.dump();
  EXPECT_FALSE(sse.events[sse.events.size() - 2].contains("usage"));
}

/// A server whose ledger writer has a spool (as `serve` runs it), retried every 20 ms, whose
/// events the test waits on.
class SpooledLedgerTest : public ServerTest {
 protected:
  void SetUp() override {
    ServerTest::SetUp();
    if (HasFatalFailure() || IsSkipped()) return;
    stop_server();
    spool_ = (dir_ / "gengyun.db-ledger-spool").string();
    auto writer = platform::LedgerWriter::start(
        *store_, {spool_, 20'000, [this](const platform::LedgerEvent& event) {
                    std::lock_guard lock(mutex_);
                    ++seen_[event.kind];
                    // The writer reports Drained, and Committed, after it emptied the spool
                    // (if it did) and counts it empty.
                    using Kind = platform::LedgerEvent::Kind;
                    std::error_code error;  // on the writer's thread: no exception
                    if ((event.kind == Kind::Drained || event.kind == Kind::Committed) &&
                        seen_[Kind::Drained] > 0 &&
                        std::filesystem::file_size(spool_, error) == 0 && !error)
                      emptied_after_drain_ = true;
                    changed_.notify_all();
                  }});
    ASSERT_TRUE(writer.ok()) << writer.error().message;
    ledger_ = std::move(writer.value());
    options_.ledger = ledger_.get();
    start_server();
  }
  void TearDown() override {
    stop_server();
    ledger_.reset();
    ServerTest::TearDown();
  }
  /// Waits until the writer reported an event of `kind` (a minute's deadline: only a failure
  /// reaches it).
  bool wait_for(platform::LedgerEvent::Kind kind) {
    return wait_until([&] { return seen_[kind] > 0; });
  }
  /// Waits until `done()` holds, tested at each of the writer's events (the same deadline).
  template <typename Predicate>
  bool wait_until(Predicate done) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, std::chrono::minutes(1), done);
  }

  std::string spool_;
  std::unique_ptr<platform::LedgerWriter> ledger_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<platform::LedgerEvent::Kind, int> seen_;  ///< events by kind
  /// At a Drained or Committed event since the first Drained, the spool was empty.
  bool emptied_after_drain_ = false;
};

// Another process holds the database's write lock past the busy timeout while a stream runs:
// the client still gets its whole answer (its row is durable in the spool before the last
// chunk), new requests are refused (fail closed), and once the lock is gone the row lands with
// the counts the client was told.
TEST_F(SpooledLedgerTest, AStreamWhoseRowCannotBeWrittenIsAnsweredWholeAndItsRowLandsLater) {
  const int stream = connect_to(port_);
  ASSERT_GE(stream, 0);
  const std::string request = http_post(key_, {{"model", "qwen2-tiny"},
                                               {"prompt", "The quick brown fox"},
                                               {"max_tokens", 4000},
                                               {"temperature", 0},
                                               {"stream", true},
                                               {"stream_options", {{"include_usage", true}}}});
  ASSERT_EQ(send(stream, request.data(), request.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(request.size()));
  std::string received;
  read_events(stream, received, 10);

  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open((dir_ / "gengyun.db").string().c_str(), &other), SQLITE_OK);
  sqlite3_busy_timeout(other, 60'000);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr), SQLITE_OK);
  // The stream is still being generated: its row is open.
  sqlite3_stmt* status = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(other, "SELECT status FROM usage_ledger", -1, &status, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(status), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(status, 0)), "open");
  sqlite3_finalize(status);

  char buffer[4096];
  while (received.find("data: [DONE]") == std::string::npos) {
    const ssize_t n = recv(stream, buffer, sizeof buffer, 0);
    ASSERT_GT(n, 0) << "the stream ended before [DONE]";
    received.append(buffer, static_cast<size_t>(n));
  }
  close(stream);
  EXPECT_EQ(received.find("\"error\""), std::string::npos)
      << received.substr(received.size() - 600);
  const size_t usage_at = received.rfind("\"completion_tokens\":");
  ASSERT_NE(usage_at, std::string::npos);
  const int64_t completion = std::stoll(received.substr(usage_at + 20));
  EXPECT_GT(completion, 10);
  ASSERT_TRUE(wait_for(platform::LedgerEvent::Kind::Spooled));
  EXPECT_GT(std::filesystem::file_size(spool_), 0u);

  const json error =
      expect_error(post("/v1/completions", kRequest, key_), 503, "ledger_unavailable");
  // Plain: how many writes wait in which spool is the server's log's.
  EXPECT_EQ(error["message"],
            "The usage ledger is unavailable, so no request is served now; try again later.");

  ASSERT_EQ(sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(other);
  // Drained; the spool is empty then, or, when the writer journaled writes while it drained
  // (a round slower than its journal threshold: a loaded machine), after the round that
  // commits them, which it reports as Committed.
  ASSERT_TRUE(wait_for(platform::LedgerEvent::Kind::Drained));
  ASSERT_TRUE(wait_until([&] { return emptied_after_drain_; }))
      << "the spool holds " << std::filesystem::file_size(spool_) << " bytes";
  const auto ledger = rows();
  ASSERT_EQ(ledger.size(), 2u);
  EXPECT_EQ(ledger[0].status, "ok");
  EXPECT_EQ(ledger[0].completion_tokens, completion);
  EXPECT_EQ(ledger[1].http_status, 503);
  EXPECT_EQ(ledger[1].status, "error");
  const auto served = post("/v1/completions", kRequest, key_);
  ASSERT_TRUE(served);
  EXPECT_EQ(served->status, 200) << served->body;
}

TEST_F(ServerTest, KeysAreHeldToTheirModelsAndTheirExpiry) {
  const std::string stories_only =
      new_key(*store_, {"stories-only", "default", platform::Role::Member, {}, {"stories"}});
  const json error =
      expect_error(post("/v1/completions", kRequest, stories_only), 404, "model_not_found");
  EXPECT_EQ(error["message"],
            "The model 'qwen2-tiny' does not exist, is not served here, or is not one this API key "
            "may use.");
  // As for a model that does not exist: a key learns nothing of the models it may not use.
  json unknown = kRequest;
  unknown["model"] = "nope";
  const json missing =
      expect_error(post("/v1/completions", unknown, stories_only), 404, "model_not_found");
  EXPECT_EQ(missing["message"],
            "The model 'nope' does not exist, is not served here, or is not one this API key may "
            "use.");
  json stories = kRequest;
  stories["model"] = "stories";
  const auto allowed = post("/v1/completions", stories, stories_only);
  ASSERT_TRUE(allowed);
  EXPECT_EQ(allowed->status, 200) << allowed->body;

  const std::string expired =
      new_key(*store_, {"expired", "default", platform::Role::Member, {}, {}, unix_time_us()});
  const json expired_error =
      expect_error(post("/v1/completions", kRequest, expired), 401, "invalid_api_key");
  EXPECT_EQ(expired_error["message"], "Incorrect API key provided: the key has expired.");
  // A refused key writes no row; the two 404s and the 200 do.
  EXPECT_EQ(rows().size(), 3u);
}

TEST_F(ServerTest, ALongStreamCheckpointsItsOpenRow) {
  const int stream = connect_to(port_);
  ASSERT_GE(stream, 0);
  const std::string request = http_post(
      key_, {{"model", "qwen2-tiny"}, {"prompt", "The quick brown fox"}, {"max_tokens", 4000},
             {"temperature", 0}, {"stream", true}});
  ASSERT_EQ(send(stream, request.data(), request.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(request.size()));
  std::string received;
  read_events(stream, received, 80);
  // 80 events have arrived, so at least 64 tokens were generated: a checkpoint was posted.
  std::vector<platform::UsageRecord> ledger;
  ASSERT_TRUE(eventually([&] {
    ledger = rows();
    return ledger.size() == 1 && ledger[0].status == "open" && ledger[0].completion_tokens >= 64;
  })) << (ledger.empty() ? "no row" : ledger[0].status);
  const int64_t checkpointed = ledger[0].completion_tokens;
  close(stream);
  ASSERT_TRUE(eventually([&] {
    ledger = rows();
    return ledger.size() == 1 && ledger[0].status != "open";
  }));
  EXPECT_EQ(ledger[0].status, "cancelled");
  EXPECT_GE(ledger[0].completion_tokens, checkpointed);
}

// PostgreSQL admissions commit without waiting for the disk, so a crash of the database can
// take back an open row while its stream goes on (deleted here behind the server's back, the
// ledger's trigger set aside). The stream's checkpoints and settlement carry what its admission
// wrote: the row comes back whole, billed at the admission's prices.
TEST_F(ServerTest, AStreamWhoseOpenRowWasLostIsBilledWhole) {
  ASSERT_TRUE(store_->set_price("qwen2-tiny", {3'000'000, 1'000'000, 7'000'000}, {}).ok());
  const int stream = connect_to(port_);
  ASSERT_GE(stream, 0);
  const std::string request = http_post(key_, {{"model", "qwen2-tiny"},
                                               {"prompt", "The quick brown fox"},
                                               {"max_tokens", 4000},
                                               {"temperature", 0},
                                               {"stream", true}});
  ASSERT_EQ(send(stream, request.data(), request.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(request.size()));
  std::string received;
  read_events(stream, received, 1);
  std::vector<platform::UsageRecord> ledger = rows();
  ASSERT_EQ(ledger.size(), 1u);
  const std::string request_id = ledger[0].request_id;
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open((dir_ / "gengyun.db").string().c_str(), &other), SQLITE_OK);
  sqlite3_busy_timeout(other, 5000);  // the server's writer may be committing a checkpoint
  std::string trigger;
  ASSERT_EQ(sqlite3_exec(
                other, "SELECT sql FROM sqlite_master WHERE name = 'usage_ledger_no_delete'",
                [](void* out, int, char** values, char**) {
                  *static_cast<std::string*>(out) = values[0];
                  return 0;
                },
                &trigger, nullptr),
            SQLITE_OK);
  const std::string lose =
      "DROP TRIGGER usage_ledger_no_delete; DELETE FROM usage_ledger; " + trigger;
  ASSERT_EQ(sqlite3_exec(other, lose.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
  EXPECT_EQ(sqlite3_changes(other), 1);  // the open row is gone
  sqlite3_close(other);
  // Written whole again by the next checkpoint (every 64 tokens) or, at the latest, by the
  // settlement of the stream the client leaves.
  read_events(stream, received, 80);
  close(stream);
  ASSERT_TRUE(eventually([&] {
    ledger = rows();
    return ledger.size() == 1 && ledger[0].status != "open";
  })) << (ledger.empty() ? "no row" : ledger[0].status);
  const platform::UsageRecord& row = ledger[0];
  EXPECT_EQ(row.request_id, request_id);
  EXPECT_EQ(row.status, "cancelled");
  EXPECT_EQ(row.model, "qwen2-tiny");
  EXPECT_EQ(row.key_id, key_id_);
  EXPECT_EQ(row.endpoint, "/v1/completions");
  EXPECT_EQ(row.price.output, 7'000'000);
  EXPECT_GE(row.completion_tokens, 64);
  EXPECT_EQ(row.cost_micro_usd, 3 * (row.prompt_tokens - row.cached_prompt_tokens) +
                                    row.cached_prompt_tokens + 7 * row.completion_tokens);
}

// A server that stops waits for the requests in flight; when it ends them (the grace period
// is over), each is billed what it generated as "shutdown" and told so: a stream gets its
// usage chunk, the error and [DONE].
TEST_F(ServerTest, RequestsEndedByTheServerAreBilledAsShutdown) {
  const int stream = connect_to(port_);
  ASSERT_GE(stream, 0);
  const std::string request = http_post(
      key_, {{"model", "qwen2-tiny"}, {"prompt", "The quick brown fox"}, {"max_tokens", 4000},
             {"temperature", 0}, {"stream", true}});
  ASSERT_EQ(send(stream, request.data(), request.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(request.size()));
  std::string received;
  read_events(stream, received, 10);
  server_->stop();
  server_->end_in_flight();
  char buffer[4096];
  for (ssize_t n; (n = recv(stream, buffer, sizeof buffer, 0)) > 0;)
    received.append(buffer, static_cast<size_t>(n));
  close(stream);
  EXPECT_NE(received.find("\"code\":\"server_shutting_down\""), std::string::npos)
      << received.substr(received.size() > 600 ? received.size() - 600 : 0);
  // The stream ends as every stream does: the usage chunk, then (after the error) [DONE].
  EXPECT_NE(received.rfind("data: [DONE]"), std::string::npos);
  EXPECT_GT(received.rfind("data: [DONE]"), received.find("server_shutting_down"));
  const auto ledger = wait_for_rows(1);
  ASSERT_EQ(ledger.size(), 1u);
  EXPECT_NE(received.find("\"completion_tokens\":" + std::to_string(ledger[0].completion_tokens)),
            std::string::npos);
  EXPECT_LT(received.find("\"completion_tokens\":"), received.find("server_shutting_down"));
  EXPECT_EQ(ledger[0].status, "shutdown");
  EXPECT_GE(ledger[0].completion_tokens, 9);
  EXPECT_LT(ledger[0].completion_tokens, 4000);
  EXPECT_NE(ledger[0].error.find("The server is shutting down and ended this request after " +
                                 std::to_string(ledger[0].completion_tokens) + " generated tokens"),
            std::string::npos)
      << ledger[0].error;
}

// A key revoked while its request runs, and how the request was answered and billed.
class RevokedMidRequestTest : public ServerTest {
 protected:
  /// Streams long_completion() on key_ and calls `revoke` once, as soon as the first event
  /// has arrived (stream_acting_on_first_event); returns the SSE body.
  std::string stream_revoking(const std::function<void()>& revoke) {
    return stream_acting_on_first_event(long_completion(true), revoke);
  }

  /// Checks that `body`, a stream cut because its key `withdrawn` ("was revoked", "expired"),
  /// ends with the usage chunk, the 401 invalid_api_key error and [DONE], and that its ledger row
  /// bills exactly the tokens it carried, at qwen2-tiny's prices (set_prices()), as an error.
  void expect_cut_stream(const std::string& body, const std::string& withdrawn = "was revoked") {
    const SseBody sse = parse_sse(body);
    ASSERT_TRUE(sse.done) << body;
    ASSERT_GE(sse.events.size(), 3u) << body;
    size_t sent = 0;
    for (size_t i = 0; i + 2 < sse.events.size(); ++i) {
      const json& choice = sse.events[i]["choices"][0];
      ASSERT_TRUE(choice["finish_reason"].is_null()) << sse.events[i].dump();
      sent += choice["logprobs"]["tokens"].size();
    }
    const json& usage_chunk = sse.events[sse.events.size() - 2];
    ASSERT_EQ(usage_chunk["choices"], json::array()) << usage_chunk.dump();
    ASSERT_TRUE(usage_chunk.contains("usage")) << usage_chunk.dump();
    EXPECT_EQ(usage_chunk["usage"]["completion_tokens"], sent);
    const auto ledger = wait_for_rows(1);
    ASSERT_EQ(ledger.size(), 1u);
    const platform::UsageRecord& row = ledger[0];
    EXPECT_EQ(row.status, "error");
    EXPECT_EQ(row.http_status, 200);
    EXPECT_EQ(row.completion_tokens, static_cast<int64_t>(sent));
    EXPECT_GE(row.completion_tokens, 1);
    EXPECT_LT(row.completion_tokens, 4000);
    EXPECT_EQ(usage_chunk["usage"]["prompt_tokens"], row.prompt_tokens);
    EXPECT_EQ(row.cost_micro_usd, 3 * (row.prompt_tokens - row.cached_prompt_tokens) +
                                      row.cached_prompt_tokens + 7 * row.completion_tokens);
    const std::string message =
        "The API key " + withdrawn + " while this request ran; it was ended after " +
        std::to_string(sent) + (sent == 1 ? " generated token." : " generated tokens.");
    EXPECT_EQ(sse.events.back(), json({{"error",
                                        {{"message", message},
                                         {"type", "invalid_request_error"},
                                         {"param", nullptr},
                                         {"code", "invalid_api_key"}}}}));
    EXPECT_EQ(row.error, message);
  }

  /// $3 / $1 / $7 per million input / cached input / output tokens of qwen2-tiny.
  void set_prices() {
    ASSERT_TRUE(store_->set_price("qwen2-tiny", {3'000'000, 1'000'000, 7'000'000}, {}).ok());
  }
};

// Revoked through the admin API (the server's own store evicts the key from its cache at
// once): the stream ends at its next checkpoint (every 64 tokens), billed for what it sent.
TEST_F(RevokedMidRequestTest, AStreamWhoseKeyIsRevokedThroughTheAdminApiEndsBilledForWhatItSent) {
  set_prices();
  const std::string admin =
      new_key(*store_, {"root", std::string(platform::kDefaultTenant), platform::Role::Admin});
  const std::string body = stream_revoking([&] {
    const auto r = call("DELETE", "/admin/keys/" + std::to_string(key_id_), "", admin);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << r->body;
  });
  expect_cut_stream(body);
}

// Revoked by another process on the SQLite file (`gengyun keys revoke --db`): the server's
// cache hears of it through the key revision, which the checkpoint's key check reads.
TEST_F(RevokedMidRequestTest, AStreamWhoseKeyIsRevokedByAnotherProcessEnds) {
  set_prices();
  const std::string body = stream_revoking([&] {
    auto other = platform::Store::open((dir_ / "gengyun.db").string());
    ASSERT_TRUE(other.ok()) << other.error().message;
    ASSERT_TRUE(other.value()->revoke_key_id(key_id_).ok());
  });
  expect_cut_stream(body);
}

// A key that expires while its stream runs (here: its expiry moved into the past behind the
// server's back, as the clock passing it would): the stream ends at its next checkpoint too.
TEST_F(RevokedMidRequestTest, AStreamWhoseKeyExpiresEnds) {
  set_prices();
  const std::string body = stream_revoking([&] {
    sqlite3* other = nullptr;
    ASSERT_EQ(sqlite3_open((dir_ / "gengyun.db").string().c_str(), &other), SQLITE_OK);
    sqlite3_busy_timeout(other, 5000);  // the server's writer may be committing a checkpoint
    const std::string expire =
        "UPDATE api_keys SET expires_at_us = 1 WHERE id = " + std::to_string(key_id_);
    EXPECT_EQ(sqlite3_exec(other, expire.c_str(), nullptr, nullptr, nullptr), SQLITE_OK)
        << sqlite3_errmsg(other);
    sqlite3_close(other);
  });
  expect_cut_stream(body, "expired");
}

// Not streamed: once the row holds its first checkpoint the key is revoked; the request is
// answered 401 invalid_api_key saying so, and billed for the tokens generated.
TEST_F(RevokedMidRequestTest, ARequestWhoseKeyIsRevokedIsAnswered401AndBilled) {
  set_prices();
  httplib::Result answer(nullptr, httplib::Error::Unknown);
  std::thread client([&] { answer = post("/v1/completions", long_completion(false), key_); });
  ASSERT_TRUE(eventually([&] {
    const auto open = rows();
    return open.size() == 1 && open[0].completion_tokens > 0;
  }));
  ASSERT_TRUE(store_->revoke_key_id(key_id_).ok());
  client.join();
  json error = expect_error(answer, 401, "invalid_api_key");
  const auto ledger = wait_for_rows(1);
  ASSERT_EQ(ledger.size(), 1u);
  const platform::UsageRecord& row = ledger[0];
  EXPECT_EQ(row.status, "error");
  EXPECT_EQ(row.http_status, 401);
  EXPECT_GE(row.completion_tokens, 64);
  EXPECT_LT(row.completion_tokens, 4000);
  EXPECT_EQ(row.cost_micro_usd, 3 * (row.prompt_tokens - row.cached_prompt_tokens) +
                                    row.cached_prompt_tokens + 7 * row.completion_tokens);
  const std::string message =
      "The API key was revoked while this request ran; it was ended "
      "after " +
      std::to_string(row.completion_tokens) + " generated tokens.";
  EXPECT_EQ(error["message"], message);
  EXPECT_EQ(row.error, message);
}

}  // namespace
}  // namespace gengyun::api::testing
