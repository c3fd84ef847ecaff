// The API server under many connections: a thousand idle or slow clients, and a hundred that
// trickle their headers, leave /health and /v1/models answered. The server's own count of open
// connections tells when they are all held.
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "eventually.h"
#include "server_fixture.h"

namespace gengyun::api::testing {
namespace {

using namespace std::chrono_literals;

constexpr size_t kConnections = 1000;

bool wait_for_open_connections(const Server& server, size_t count) {
  return eventually([&] { return server.open_connections() >= count; }, 30s);
}

class ManyClientsTest : public ServerTest {
 protected:
  void SetUp() override {
    // Client and server ends of every connection live in this process.
    if (!have_descriptors(2 * kConnections + 200))
      GTEST_SKIP() << "needs " << 2 * kConnections + 200
                   << " file descriptors (RLIMIT_NOFILE), which this process cannot have";
    // Long enough that no slow client is cut off while the test runs.
    options_.http.idle_timeout = 120s;
    options_.http.header_timeout = 120s;
    ServerTest::SetUp();
  }

  /// `count` connections; every second one has sent an unfinished request header.
  std::vector<int> open_clients(size_t count) {
    std::vector<int> out;
    for (size_t i = 0; i < count; ++i) {
      const int sock = connect_to(port_);
      if (sock < 0) break;
      out.push_back(sock);
      if (i % 2 == 0) continue;
      const std::string partial = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n";
      EXPECT_EQ(send(sock, partial.data(), partial.size(), MSG_NOSIGNAL),
                static_cast<ssize_t>(partial.size()));
    }
    return out;
  }
};

TEST_F(ManyClientsTest, AThousandIdleAndSlowConnectionsLeaveHealthServed) {
  const std::vector<int> clients = open_clients(kConnections);
  ASSERT_EQ(clients.size(), kConnections);
  ASSERT_TRUE(wait_for_open_connections(*server_, kConnections))
      << "the server holds " << server_->open_connections() << " connections";

  httplib::Client client("127.0.0.1", port_);
  client.set_connection_timeout(5, 0);
  client.set_read_timeout(5, 0);
  auto health = client.Get("/health");
  ASSERT_TRUE(health) << httplib::to_string(health.error());
  EXPECT_EQ(health->status, 200);
  auto models = get("/v1/models", key_);
  ASSERT_TRUE(models);
  EXPECT_EQ(models->status, 200);

  size_t still_open = 0;
  for (int sock : clients) still_open += open_and_silent(sock) ? 1 : 0;
  EXPECT_EQ(still_open, kConnections);
  for (int sock : clients) close(sock);
}

TEST_F(ManyClientsTest, AHundredTricklingClientsDoNotBlockHealth) {
  std::vector<int> clients;
  for (int i = 0; i < 100; ++i) {
    const int sock = connect_to(port_);
    ASSERT_GE(sock, 0);
    clients.push_back(sock);
  }
  // Each client sends one more header line per round; a round takes ~100 ms.
  std::atomic<bool> done{false};
  std::atomic<int> rounds{0};
  std::thread trickler([&] {
    for (int line = 0; !done; ++line) {
      for (int sock : clients) {
        const std::string text = line == 0 ? "GET /health HTTP/1.1\r\n"
                                           : "X-Line-" + std::to_string(line) + ": 1\r\n";
        send(sock, text.data(), text.size(), MSG_NOSIGNAL);
      }
      ++rounds;
      std::this_thread::sleep_for(100ms);
    }
  });
  ASSERT_TRUE(eventually([&] { return rounds >= 2; }, 30s));
  ASSERT_TRUE(wait_for_open_connections(*server_, 100));

  for (int i = 0; i < 3; ++i) {
    httplib::Client client("127.0.0.1", port_);
    client.set_read_timeout(5, 0);
    auto health = client.Get("/health");
    ASSERT_TRUE(health) << httplib::to_string(health.error());
    EXPECT_EQ(health->status, 200);
  }
  EXPECT_GE(rounds, 2);
  done = true;
  trickler.join();
  for (int sock : clients) EXPECT_TRUE(open_and_silent(sock));
  for (int sock : clients) close(sock);
}

}  // namespace
}  // namespace gengyun::api::testing
