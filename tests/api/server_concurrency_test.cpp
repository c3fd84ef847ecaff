// The server under load: a full model queue answers 503 with Retry-After; a client that stops
// reading holds no thread and is billed; concurrent requests are billed exactly; a
// non-streamed request whose client leaves is cancelled.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "eventually.h"
#include "log_capture.h"
#include "server_fixture.h"

namespace gengyun::api::testing {
namespace {

using nlohmann::json;

/// A server whose model runs one request at a time and queues none (max_seqs 1,
/// max_waiting 0): a second request while one runs is refused.
class FullQueueTest : public ServerTest {
 protected:
  static void SetUpTestSuite() {
    if (!gengyun::testing::testdata_present()) return;
    registry_ = make_registry(
        {{"qwen2-tiny", gengyun::testing::testdata_path("models/qwen2-tiny-q8_0.gguf")}},
        {.n_threads = 1, .max_seqs = 1, .max_waiting = 0});
  }
};

TEST_F(FullQueueTest, AFullModelQueueIs503WithRetryAfterAndCostsNothing) {
  // The one place is taken by a stream of up to 4000 tokens, provably running (its first
  // events have arrived and the engine counts it).
  const int stream = connect_to(port_);
  ASSERT_GE(stream, 0);
  const std::string request = http_post(
      key_, {{"model", "qwen2-tiny"}, {"prompt", "The quick brown fox"}, {"max_tokens", 4000},
             {"temperature", 0}, {"stream", true}});
  ASSERT_EQ(send(stream, request.data(), request.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(request.size()));
  std::string received;
  read_events(stream, received, 2);
  ASSERT_TRUE(model("qwen2-tiny")->wait_until([](const EngineStats& s) { return s.running == 1; },
                                              10'000'000));
  auto r = post("/v1/completions", {{"model", "qwen2-tiny"}, {"prompt", "Hi"}, {"max_tokens", 2}},
                key_);
  const json error = expect_error(r, 503, "server_busy");
  EXPECT_EQ(error["type"], "server_error");
  EXPECT_EQ(error["message"],
            "The model 'qwen2-tiny' is busy: this model has 1 running and 0 queued (at most 1 "
            "running and 0 more queued); retry later.");
  EXPECT_EQ(r->get_header_value("Retry-After"), "1");
  close(stream);
  const auto ledger = wait_for_rows(2);
  ASSERT_EQ(ledger.size(), 2u);
  const auto refused = std::find_if(ledger.begin(), ledger.end(),
                                    [](const auto& row) { return row.http_status == 503; });
  ASSERT_NE(refused, ledger.end());
  EXPECT_EQ(refused->status, "error");
  EXPECT_EQ(refused->model, "qwen2-tiny");
  EXPECT_EQ(refused->prompt_tokens, 0);
  EXPECT_EQ(refused->completion_tokens, 0);
}

// A request that needs more engine requests than the model ever holds (here 1) could never be
// served: 400 naming what to ask less of (n or the prompts), not 503 "busy" with a Retry-After
// that no retry would mend; the idle model serves one at a time as before. (An embedding model
// holds at least 2048, OpenAI's most inputs a request.)
TEST_F(FullQueueTest, ARequestOfMoreSequencesThanTheModelHoldsIs400NotBusy) {
  auto r = post("/v1/completions",
                {{"model", "qwen2-tiny"}, {"prompt", "Hi"}, {"max_tokens", 2}, {"n", 2}}, key_);
  const json error = expect_error(r, 400, nullptr);
  EXPECT_EQ(error["param"], "n");
  EXPECT_EQ(error["message"],
            "the request needs 2 sequences (1 prompt(s) x n = 2), more than the model "
            "'qwen2-tiny' holds at once (1: its running and waiting places); ask for fewer");
  EXPECT_FALSE(r->has_header("Retry-After"));
  r = post("/v1/chat/completions",
           {{"model", "qwen2-tiny"},
            {"messages", json::array({{{"role", "user"}, {"content", "Hi"}}})},
            {"max_tokens", 2},
            {"n", 3}},
           key_);
  EXPECT_EQ(expect_error(r, 400, nullptr)["param"], "n");
  r = post("/v1/completions",
           {{"model", "qwen2-tiny"}, {"prompt", json::array({"Hi", "Ho"})}, {"max_tokens", 2}},
           key_);
  EXPECT_EQ(expect_error(r, 400, nullptr)["param"], "prompt");
  r = post("/v1/completions", {{"model", "qwen2-tiny"}, {"prompt", "Hi"}, {"max_tokens", 2}}, key_);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
}

class OneHandlerThreadTest : public ServerTest {
 protected:
  void SetUp() override {
    options_.handler_threads = 1;
    options_.max_queued_requests = 1;
    ServerTest::SetUp();
  }
};

// A stream whose client reads its first events and then stops reading: generation runs to its
// end regardless (the engine never waits for a client), the request is billed when it ends,
// and it holds no thread meanwhile (one handler thread serves the next requests). When the
// client reads again, the whole stream is there.
TEST_F(OneHandlerThreadTest, AClientThatStopsReadingHoldsNoThreadAndIsBilledInFull) {
  const int stream = connect_to(port_);
  ASSERT_GE(stream, 0);
  const std::string request = http_post(
      key_, {{"model", "qwen2-tiny"}, {"prompt", "The quick brown fox"}, {"max_tokens", 300},
             {"temperature", 0}, {"stream", true}});
  ASSERT_EQ(send(stream, request.data(), request.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(request.size()));
  std::string received;
  read_events(stream, received, 2);

  const auto ledger = wait_for_rows(1);
  ASSERT_EQ(ledger.size(), 1u) << "the row is written when generation ends, not when read";
  EXPECT_EQ(ledger[0].status, "ok");
  EXPECT_EQ(ledger[0].completion_tokens, 300);

  for (int i = 0; i < 3; ++i) {
    auto other = post("/v1/completions",
                      {{"model", "stories"}, {"prompt", "Once"}, {"max_tokens", 4}}, key_);
    ASSERT_TRUE(other);
    EXPECT_EQ(other->status, 200) << other->body;
  }
  char buffer[4096];
  while (received.find("data: [DONE]") == std::string::npos) {
    const ssize_t n = recv(stream, buffer, sizeof buffer, 0);
    ASSERT_GT(n, 0) << "the stream ended early";
    received.append(buffer, static_cast<size_t>(n));
  }
  EXPECT_NE(received.find("\"completion_tokens\":300"), std::string::npos);
  close(stream);
  EXPECT_EQ(rows().size(), 4u);
}

// Many clients at once on one model: each gets the answer it gets alone, and one ledger row
// with exactly its own token counts.
TEST_F(ServerTest, SixteenConcurrentRequestsAreEachBilledExactly) {
  std::vector<json> requests;
  std::vector<std::string> solo;
  std::vector<int64_t> solo_tokens;
  for (int i = 0; i < 16; ++i) {
    requests.push_back({{"model", i % 2 ? "stories" : "qwen2-tiny"},
                        {"prompt", "Request number " + std::to_string(i)},
                        {"max_tokens", 5 + i},
                        {"temperature", 0}});
    const json whole = json::parse(post("/v1/completions", requests.back(), key_)->body);
    solo.push_back(whole["choices"][0]["text"]);
    solo_tokens.push_back(whole["usage"]["completion_tokens"]);
  }
  const size_t before = rows().size();
  std::vector<std::string> texts(16);
  std::vector<std::thread> clients;
  for (int i = 0; i < 16; ++i)
    clients.emplace_back([&, i] {
      auto r = post("/v1/completions", requests[i], key_);
      if (r && r->status == 200) texts[i] = json::parse(r->body)["choices"][0]["text"];
    });
  for (auto& c : clients) c.join();
  for (int i = 0; i < 16; ++i) EXPECT_EQ(texts[i], solo[i]) << "request " << i;
  const auto ledger = rows();
  ASSERT_EQ(ledger.size(), before + 16);
  std::vector<int64_t> billed;
  for (size_t i = before; i < ledger.size(); ++i) {
    EXPECT_EQ(ledger[i].status, "ok");
    billed.push_back(ledger[i].completion_tokens);
  }
  std::sort(billed.begin(), billed.end());
  std::sort(solo_tokens.begin(), solo_tokens.end());
  EXPECT_EQ(billed, solo_tokens);
}

TEST_F(ServerTest, SlowHeaderConnectionsDoNotBlockHealth) {
  // Ten clients that never finish their headers hold no thread; /health is answered at once.
  std::vector<int> slow;
  for (int i = 0; i < 10; ++i) {
    const int sock = connect_to(port_);
    ASSERT_GE(sock, 0);
    const std::string partial = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    ASSERT_EQ(send(sock, partial.data(), partial.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(partial.size()));
    slow.push_back(sock);
  }
  httplib::Client client("127.0.0.1", port_);
  client.set_read_timeout(4, 0);  // under the server's 10 s header deadline for the slow clients
  auto health = client.Get("/health");
  ASSERT_TRUE(health) << httplib::to_string(health.error());
  EXPECT_EQ(health->status, 200);
  for (int sock : slow) close(sock);
}

TEST_F(ServerTest, ClientThatLeavesAWholeResponseRequestIsCancelled) {
  LogCapture log;
  const std::string prompt = "The quick brown fox";
  const int sock = connect_to(port_);
  ASSERT_GE(sock, 0);
  const std::string request = http_post(
      key_, {{"model", "qwen2-tiny"}, {"prompt", prompt}, {"max_tokens", 4000}, {"temperature", 0}});
  ASSERT_EQ(send(sock, request.data(), request.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(request.size()));
  close(sock);

  const auto ledger = wait_for_rows(1);
  ASSERT_EQ(ledger.size(), 1u);
  EXPECT_EQ(ledger[0].status, "cancelled");
  EXPECT_EQ(ledger[0].http_status, 499);
  EXPECT_EQ(ledger[0].model, "qwen2-tiny");
  EXPECT_NE(ledger[0].error.find("the client disconnected"), std::string::npos);
  // Billed for what it used: nothing when it was cancelled before its first step, else its
  // prompt and the tokens generated until the cancel.
  const int64_t n_prompt =
      static_cast<int64_t>(model("qwen2-tiny")->tokenize(prompt, true, false).size());
  if (ledger[0].prompt_tokens == 0) {
    EXPECT_EQ(ledger[0].completion_tokens, 0);
  } else {
    EXPECT_EQ(ledger[0].prompt_tokens, n_prompt);
  }
  EXPECT_LT(ledger[0].completion_tokens, 4000);
  // Its access line says 499, as its row does (it said 0).
  ASSERT_TRUE(
      eventually([&] { return log.lines_with("access: POST /v1/completions ").size() == 1; }));
  EXPECT_EQ(log.lines_with("access: POST /v1/completions 499 ").size(), 1u);
  EXPECT_EQ(log.lines_with(" client gone").size(), 1u);

  auto after = post("/v1/completions", {{"model", "stories"}, {"prompt", "Once"}, {"max_tokens", 4}},
                    key_);
  ASSERT_TRUE(after);
  EXPECT_EQ(after->status, 200) << after->body;
  EXPECT_EQ(rows().size(), 2u);
}

}  // namespace
}  // namespace gengyun::api::testing
