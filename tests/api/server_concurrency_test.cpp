// The server under load: requests queued on a busy model neither starve /health, /v1/models
// nor other models; a full model queue answers 429; a non-streamed request whose client leaves
// is cancelled.
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "kernels/simd_level.h"

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "api/generation_slots.h"
#include "server_fixture.h"

namespace gengyun::api::testing {
namespace {

using nlohmann::json;

std::string http_post(const std::string& key, const json& body) {
  const std::string text = body.dump();
  return "POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + key +
         "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(text.size()) +
         "\r\n\r\n" + text;
}

size_t count_of(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + 1)) ++n;
  return n;
}

/// Reads from `sock` until `received` holds at least `events` SSE events.
void read_events(int sock, std::string& received, size_t events) {
  char buffer[4096];
  while (count_of(received, "data: ") < events) {
    const ssize_t n = recv(sock, buffer, sizeof buffer, 0);
    ASSERT_GT(n, 0) << "the stream ended early: " << received;
    received.append(buffer, static_cast<size_t>(n));
  }
}

TEST(GenerationSlotsTest, AdmitsOneRunningPlusMaxWaitingPerModel) {
  GenerationSlots slots(2);
  std::vector<GenerationSlots::Ticket> held;
  for (int i = 0; i < 3; ++i) {
    held.push_back(slots.try_acquire("a"));
    ASSERT_TRUE(held.back()) << i;
  }
  EXPECT_EQ(slots.admitted("a"), 3u);
  EXPECT_FALSE(slots.try_acquire("a"));
  auto other = slots.try_acquire("b");
  EXPECT_TRUE(other);
  held.pop_back();
  EXPECT_EQ(slots.admitted("a"), 2u);
  EXPECT_TRUE(slots.try_acquire("a"));
  held.clear();
  other.reset();
  EXPECT_EQ(slots.admitted("a"), 0u);
  EXPECT_EQ(slots.admitted("b"), 0u);
}

class BusyServerTest : public ServerTest {
 protected:
  static constexpr size_t kMaxWaiting = 8;
  // The portable kernels decode several times slower than the SIMD ones, so the long stream
  // below outlasts the queued requests even on a fast, idle machine.
  void SetUp() override {
    ASSERT_TRUE(kernels::set_simd_level(kernels::SimdLevel::kScalar).ok());
    options_.max_waiting_per_model = kMaxWaiting;
    ServerTest::SetUp();
  }
  void TearDown() override {
    ServerTest::TearDown();
    ASSERT_TRUE(kernels::set_simd_level(kernels::cpu_simd_level()).ok());
  }
};

TEST_F(BusyServerTest, QueuedRequestsLeaveHealthModelsAndOtherModelsServed) {
  // A long stream on qwen2-tiny, provably running: its first events have arrived.
  const int stream = connect_to(port_);
  ASSERT_GE(stream, 0);
  const json long_request = {{"model", "qwen2-tiny"}, {"prompt", "The quick brown fox"},
                             {"max_tokens", 4000},   {"temperature", 0},
                             {"stream", true}};
  const std::string request = http_post(key_, long_request);
  ASSERT_EQ(send(stream, request.data(), request.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(request.size()));
  std::string received;
  read_events(stream, received, 3);

  // kMaxWaiting + 1 more requests for qwen2-tiny: kMaxWaiting wait (each holding a handler
  // thread), one is refused.
  std::vector<int> statuses(kMaxWaiting + 1, 0);
  std::vector<std::string> bodies(kMaxWaiting + 1);
  std::atomic<int> refused{0};
  std::vector<std::thread> queued;
  for (size_t i = 0; i < statuses.size(); ++i)
    queued.emplace_back([&, i] {
      auto r = post("/v1/completions",
                    {{"model", "qwen2-tiny"}, {"prompt", "Hi"}, {"max_tokens", 2}}, key_);
      statuses[i] = r ? r->status : -1;
      if (r) bodies[i] = r->body;
      if (statuses[i] == 429) ++refused;
    });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (refused == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(refused, 1) << "the model's queue never filled";

  httplib::Client client("127.0.0.1", port_);
  client.set_read_timeout(20, 0);
  auto health = client.Get("/health");
  ASSERT_TRUE(health) << httplib::to_string(health.error());
  EXPECT_EQ(health->status, 200);
  auto models = get("/v1/models", key_);
  ASSERT_TRUE(models);
  EXPECT_EQ(models->status, 200);
  auto other = post("/v1/completions",
                    {{"model", "stories"}, {"prompt", "Once"}, {"max_tokens", 4}}, key_);
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 200) << other->body;

  // All of that was answered while the long stream was still generating.
  const size_t events_before = count_of(received, "data: ");
  read_events(stream, received, events_before + 1);
  EXPECT_EQ(received.find("[DONE]"), std::string::npos);
  EXPECT_EQ(received.find("finish_reason\":\"length"), std::string::npos);
  close(stream);

  for (auto& t : queued) t.join();
  int served = 0;
  for (size_t i = 0; i < statuses.size(); ++i) {
    if (statuses[i] == 200) ++served;
    if (statuses[i] != 429) continue;
    const json error = json::parse(bodies[i])["error"];
    EXPECT_EQ(error["type"], "requests");
    EXPECT_EQ(error["code"], "rate_limit_exceeded");
    EXPECT_NE(error["message"].get<std::string>().find("8 requests are already waiting"),
              std::string::npos)
        << error;
  }
  EXPECT_EQ(served, static_cast<int>(kMaxWaiting));

  // stream (cancelled) + queued + /v1/models + stories.
  const auto ledger = wait_for_rows(1 + statuses.size() + 2);
  ASSERT_EQ(ledger.size(), 1 + statuses.size() + 2);
  int cancelled = 0, rate_limited = 0;
  for (const auto& row : ledger) {
    if (row.status == "cancelled") ++cancelled;
    if (row.http_status != 429) continue;
    ++rate_limited;
    EXPECT_EQ(row.status, "error");
    EXPECT_EQ(row.model, "qwen2-tiny");
    EXPECT_EQ(row.prompt_tokens, 0);
    EXPECT_EQ(row.completion_tokens, 0);
  }
  EXPECT_EQ(cancelled, 1);
  EXPECT_EQ(rate_limited, 1);
}

class OneHandlerThreadTest : public BusyServerTest {
 protected:
  void SetUp() override {
    options_.handler_threads = 1;
    options_.max_queued_requests = 1;
    BusyServerTest::SetUp();
  }
};

TEST_F(OneHandlerThreadTest, RequestsBeyondTheHandlerQueueAre503AndHealthStaysServed) {
  // The only handler thread streams.
  const int stream = connect_to(port_);
  ASSERT_GE(stream, 0);
  const std::string request = http_post(
      key_, {{"model", "qwen2-tiny"}, {"prompt", "The quick brown fox"}, {"max_tokens", 4000},
             {"temperature", 0}, {"stream", true}});
  ASSERT_EQ(send(stream, request.data(), request.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(request.size()));
  std::string received;
  read_events(stream, received, 3);

  // Two more requests: whichever arrives first waits in the queue, the other is refused at once.
  const std::string models =
      "GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + key_ + "\r\n\r\n";
  pollfd waiting[2];
  for (auto& p : waiting) {
    p = {connect_to(port_), POLLIN, 0};
    ASSERT_GE(p.fd, 0);
    ASSERT_EQ(send(p.fd, models.data(), models.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(models.size()));
  }
  ASSERT_EQ(poll(waiting, 2, 20000), 1) << "not exactly one of the two was answered";
  const int refused = waiting[0].revents ? waiting[0].fd : waiting[1].fd;
  const int queued = waiting[0].revents ? waiting[1].fd : waiting[0].fd;
  std::string answer;
  char buffer[4096];
  while (answer.find("}}") == std::string::npos) {
    const ssize_t n = recv(refused, buffer, sizeof buffer, 0);
    ASSERT_GT(n, 0) << answer;
    answer.append(buffer, static_cast<size_t>(n));
  }
  ASSERT_EQ(answer.rfind("HTTP/1.1 503 ", 0), 0u) << answer;
  const json error = json::parse(answer.substr(answer.find("\r\n\r\n") + 4))["error"];
  EXPECT_EQ(error["code"], "server_busy");
  EXPECT_EQ(error["type"], "server_error");
  EXPECT_NE(error["message"].get<std::string>().find("1 requests waiting"), std::string::npos)
      << error;

  httplib::Client client("127.0.0.1", port_);
  client.set_read_timeout(20, 0);
  auto health = client.Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);

  // The stream's client leaves: its generation is cancelled and the queued request served.
  close(stream);
  answer.clear();
  while (answer.find("\"object\":\"list\"") == std::string::npos) {
    const ssize_t n = recv(queued, buffer, sizeof buffer, 0);
    ASSERT_GT(n, 0) << answer;
    answer.append(buffer, static_cast<size_t>(n));
  }
  EXPECT_EQ(answer.rfind("HTTP/1.1 200 ", 0), 0u) << answer;
  close(refused);
  close(queued);
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
  EXPECT_EQ(ledger[0].prompt_tokens,
            static_cast<int64_t>(model("qwen2-tiny")->tokenize(prompt, true, false).size()));
  EXPECT_GE(ledger[0].completion_tokens, 1);
  EXPECT_LT(ledger[0].completion_tokens, 4000);

  auto after = post("/v1/completions", {{"model", "stories"}, {"prompt", "Once"}, {"max_tokens", 4}},
                    key_);
  ASSERT_TRUE(after);
  EXPECT_EQ(after->status, 200) << after->body;
  EXPECT_EQ(rows().size(), 2u);
}

}  // namespace
}  // namespace gengyun::api::testing
