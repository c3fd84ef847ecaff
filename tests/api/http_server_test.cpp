// The asynchronous HTTP layer on its own (no models): deadlines and limits with small values,
// TCP_NODELAY, keep-alive, the connection cap, and the streaming Responder fed from other
// threads, including clients that leave or stop reading. Every wait is on something the server
// or the client observes (a callback, a counter, bytes, EOF), never on a pause.
#include "api/http_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "api/handler_pool.h"
#include "eventually.h"
#include "log_capture.h"
#include "server_fixture.h"

namespace gengyun::api::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

void send_text(int sock, const std::string& text) {
  ASSERT_EQ(send(sock, text.data(), text.size(), MSG_NOSIGNAL), static_cast<ssize_t>(text.size()));
}

/// Everything received on `sock` until the server closes it (or the 30 s receive timeout).
std::string read_until_closed(int sock) {
  std::string received;
  char buffer[4096];
  for (ssize_t n; (n = recv(sock, buffer, sizeof buffer, 0)) > 0;)
    received.append(buffer, static_cast<size_t>(n));
  return received;
}

/// Reads from `sock` until `received` contains `what`; false when the connection ends first.
bool read_until(int sock, std::string& received, const std::string& what) {
  char buffer[4096];
  while (received.find(what) == std::string::npos) {
    const ssize_t n = recv(sock, buffer, sizeof buffer, 0);
    if (n <= 0) return false;
    received.append(buffer, static_cast<size_t>(n));
  }
  return true;
}

/// The OpenAI error object of a raw HTTP answer, after checking its status line.
json error_of(const std::string& reply, int status) {
  EXPECT_EQ(reply.rfind("HTTP/1.1 " + std::to_string(status) + " ", 0), 0u) << reply;
  const size_t body = reply.find("\r\n\r\n");
  if (body == std::string::npos) return json();
  const json parsed = json::parse(reply.substr(body + 4), nullptr, false);
  EXPECT_TRUE(parsed.contains("error")) << reply;
  return parsed.contains("error") ? parsed["error"] : json();
}

/// Whether a TCP connection to 127.0.0.1:port is accepted.
bool can_connect(int port) {
  const int sock = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool connected = connect(sock, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(sock);
  return connected;
}

/// An HttpServer on 127.0.0.1 whose handler each test sets (by default: 200 "ok", the request
/// body echoed after "ok:"); options_ may be changed before start().
class HttpServerTest : public ::testing::Test {
 protected:
  void start() {
    server_ = std::make_unique<HttpServer>(options_, [this](HttpRequest request,
                                                            std::shared_ptr<Responder> out) {
      ++handled_;
      if (handler_) return handler_(std::move(request), std::move(out));
      out->respond({200, "text/plain", "ok:" + request.body, {}});
    });
    auto port = server_->bind("127.0.0.1", 0);
    ASSERT_TRUE(port.ok()) << port.error().message;
    port_ = port.value();
    thread_ = std::thread([this] { server_->run(); });
  }

  void TearDown() override {
    if (server_) server_->stop();
    if (thread_.joinable()) thread_.join();
  }

  /// A handler that hands each request's Responder to the test (next_responder()).
  void capture_responders() {
    handler_ = [this](HttpRequest, std::shared_ptr<Responder> out) {
      std::lock_guard lock(mutex_);
      captured_.push_back(std::move(out));
    };
  }
  std::shared_ptr<Responder> next_responder() {
    std::shared_ptr<Responder> out;
    eventually([&] {
      std::lock_guard lock(mutex_);
      if (captured_.empty()) return false;
      out = captured_.front();
      captured_.erase(captured_.begin());
      return true;
    });
    EXPECT_TRUE(out) << "no request reached the handler";
    return out;
  }

  HttpOptions options_;
  std::function<void(HttpRequest, std::shared_ptr<Responder>)> handler_;
  std::atomic<int> handled_{0};
  std::mutex mutex_;
  std::vector<std::shared_ptr<Responder>> captured_;
  std::unique_ptr<HttpServer> server_;
  std::thread thread_;
  int port_ = 0;
};

TEST_F(HttpServerTest, AcceptedSocketsHaveTcpNoDelay) {
  std::promise<int> nodelay;
  options_.on_accept = [&](int fd) {
    int value = 0;
    socklen_t size = sizeof value;
    getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &value, &size);
    nodelay.set_value(value);
  };
  start();
  const int sock = connect_to(port_);
  ASSERT_GE(sock, 0);
  auto result = nodelay.get_future();
  ASSERT_EQ(result.wait_for(10s), std::future_status::ready);
  EXPECT_NE(result.get(), 0);
  close(sock);
}

// A Listener is bound before any server exists (serve binds --listen before it opens the
// database): its port is busy for others at once, a client that connects meanwhile waits in the
// backlog and is answered once a server runs on it, and a Listener dropped unused frees its port.
TEST_F(HttpServerTest, AListenerBoundBeforeTheServerIsServedOn) {
  auto unused = Listener::listen("127.0.0.1", 0);
  auto other = Listener::listen("127.0.0.1", 0);
  ASSERT_TRUE(unused.ok() && other.ok());
  const int unused_port = unused->port();
  EXPECT_TRUE(can_connect(unused_port));
  unused.value() = std::move(other.value());  // the first socket is closed
  EXPECT_FALSE(can_connect(unused_port));

  auto listener = Listener::listen("127.0.0.1", 0);
  ASSERT_TRUE(listener.ok()) << listener.error().message;
  const int port = listener->port();
  ASSERT_GT(port, 0);
  auto busy = Listener::listen("127.0.0.1", port);
  ASSERT_FALSE(busy.ok());
  EXPECT_EQ(busy.error().message,
            "127.0.0.1:" + std::to_string(port) + ": cannot listen: Address already in use");
  EXPECT_EQ(Listener::listen("127.0.0.1", 70000).error().message,
            "127.0.0.1:70000: port must be in 0..65535");
  const int early = connect_to(port);
  ASSERT_GE(early, 0);
  send_text(early, "GET /a HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");

  server_ = std::make_unique<HttpServer>(options_, [](HttpRequest, std::shared_ptr<Responder> out) {
    out->respond({200, "text/plain", "served", {}});
  });
  auto bound = server_->bind(std::move(listener.value()));
  ASSERT_TRUE(bound.ok()) << bound.error().message;
  EXPECT_EQ(bound.value(), port);
  auto again = server_->bind(std::move(unused.value()));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().message, "this server is already bound");
  thread_ = std::thread([this] { server_->run(); });
  const std::string reply = read_until_closed(early);
  close(early);
  EXPECT_EQ(reply.rfind("HTTP/1.1 200 ", 0), 0u) << reply;
  EXPECT_TRUE(reply.ends_with("\r\n\r\nserved")) << reply;
}

TEST_F(HttpServerTest, TricklingHeaderIsAnswered408AtItsDeadline) {
  options_.header_timeout = 300ms;
  options_.linger_timeout = 200ms;
  start();
  const int sock = connect_to(port_);
  ASSERT_GE(sock, 0);
  const auto started = Clock::now();
  send_text(sock, "GET /slow HTTP/1.1\r\nHost: 127.0.0.1\r\n");
  // One header line every 50 ms: a timeout that restarted with every byte would never fire.
  std::string reply;
  for (int line = 0; line < 400; ++line) {
    pollfd readable{sock, POLLIN, 0};
    if (poll(&readable, 1, 50) > 0) {
      reply = read_until_closed(sock);
      break;
    }
    const std::string more = "X-Slow-" + std::to_string(line) + ": 1\r\n";
    send(sock, more.data(), more.size(), MSG_NOSIGNAL);
  }
  const auto elapsed = Clock::now() - started;
  close(sock);
  const json error = error_of(reply, 408);
  EXPECT_EQ(error["code"], "request_timeout");
  EXPECT_EQ(error["message"], "The request header was not received within 300 ms.");
  EXPECT_GE(elapsed, 300ms);
  EXPECT_EQ(handled_, 0);
}

TEST_F(HttpServerTest, TricklingBodyIsAnswered408AtItsDeadline) {
  options_.body_timeout = 300ms;
  options_.linger_timeout = 200ms;
  start();
  const int sock = connect_to(port_);
  ASSERT_GE(sock, 0);
  const auto started = Clock::now();
  send_text(sock, "POST /slow HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\n");
  std::string reply;
  for (int byte = 0; byte < 400; ++byte) {
    pollfd readable{sock, POLLIN, 0};
    if (poll(&readable, 1, 50) > 0) {
      reply = read_until_closed(sock);
      break;
    }
    send(sock, "x", 1, MSG_NOSIGNAL);
  }
  const auto elapsed = Clock::now() - started;
  close(sock);
  EXPECT_EQ(error_of(reply, 408)["message"], "The request body was not received within 300 ms.");
  EXPECT_GE(elapsed, 300ms);
  EXPECT_EQ(handled_, 0);
}

TEST_F(HttpServerTest, HeadGetsTheAnswersHeadWithoutItsBody) {
  // The handler answers whole for /whole and streams for /stream, whatever the method.
  handler_ = [](HttpRequest request, std::shared_ptr<Responder> out) {
    if (request.path == "/whole") {
      out->respond({200, "text/plain", request.method + " body", {{"X-Seen", request.method}}});
      return;
    }
    out->start_stream(200, "text/event-stream", {});
    out->write("data: 1\n\n");
    out->finish();
  };
  start();
  // Each HEAD is followed on the same connection by a GET: had the HEAD answer carried a body,
  // the GET's answer would not start right after its head.
  EXPECT_EQ(raw_exchange(port_,
                         "HEAD /whole HTTP/1.1\r\nHost: a\r\n\r\n"
                         "GET /whole HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n"
            "X-Seen: HEAD\r\n\r\n"
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 8\r\n"
            "Connection: close\r\nX-Seen: GET\r\n\r\nGET body");
  EXPECT_EQ(raw_exchange(port_,
                         "HEAD /stream HTTP/1.1\r\nHost: a\r\n\r\n"
                         "GET /stream HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"),
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            "Transfer-Encoding: chunked\r\n\r\n"
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            "9\r\ndata: 1\n\n\r\n0\r\n\r\n");
  EXPECT_EQ(handled_, 4);
}

TEST_F(HttpServerTest, AnAbsoluteFormTargetIsServedAsItsPathAndQuery) {
  // RFC 9112, 3.2.2: a server must accept the absolute form that clients send to proxies.
  handler_ = [](HttpRequest request, std::shared_ptr<Responder> out) {
    out->respond({200, "text/plain", request.target + " " + request.path, {}});
  };
  start();
  const std::pair<std::string, std::string> cases[] = {
      {"http://a:8080/v1/models?limit=2", "/v1/models?limit=2 /v1/models"},
      {"HTTPS://a/health", "/health /health"},
      {"http://a", "/ /"},
      {"http://a?x=1", "/?x=1 /"},
      {"/plain?y", "/plain?y /plain"}};
  for (const auto& [target, seen] : cases) {
    const std::string reply =
        raw_exchange(port_, "GET " + target + " HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(reply.substr(reply.find("\r\n\r\n") + 4), seen) << target;
  }
}

TEST_F(HttpServerTest, RequestsRefusedBeforeTheHandlerLogAnAccessLine) {
  options_.max_header_bytes = 1024;
  options_.max_body_bytes = 100;
  start();
  LogCapture log;
  error_of(raw_exchange(
               port_, "GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + std::string(2000, 'a') + "\r\n\r\n"),
           431);
  error_of(raw_exchange(port_,
                        "POST http://a/v1/embeddings?x HTTP/1.1\r\nHost: a\r\nAuthorization: "
                        "Bearer gy-AbCdEfGhIjKlMnOpQrStUv\r\nContent-Length: 200\r\n\r\n" +
                            std::string(200, 'x')),
           413);
  error_of(raw_exchange(port_, "GARBAGE\r\n\r\n"), 400);
  error_of(raw_exchange(port_,
                        "POST /v1/x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                        "Content-Length: 6\r\n\r\nhello!"),
           400);
  error_of(raw_exchange(port_, "POST /v1/y HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n"),
           400);
  error_of(raw_exchange(port_,
                        "POST /v1/z HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                        "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
           400);
  // The method and path as far as the parser read them (the request line before the field over
  // the limit; the whole head of the body over it, with the key's prefix), "-" for a request
  // line it could not read.
  EXPECT_EQ(log.lines_with("access: GET / 431 ").size(), 1u);
  EXPECT_EQ(log.lines_with("access: POST /v1/embeddings 413 ").size(), 1u);
  EXPECT_EQ(log.lines_with("ms key=gy-AbCdE").size(), 1u);
  EXPECT_EQ(log.lines_with("access: - - 400 ").size(), 1u);
  // Content-Length refusals (two that differ, a negative one, one beside chunked) name theirs.
  for (const char* line :
       {"access: POST /v1/x 400 ", "access: POST /v1/y 400 ", "access: POST /v1/z 400 "})
    EXPECT_EQ(log.lines_with(line).size(), 1u) << line;
  EXPECT_EQ(log.lines_with("access: ").size(), 6u);
  EXPECT_EQ(handled_, 0);
}

TEST_F(HttpServerTest, HeaderOverTheLimitIs431) {
  options_.max_header_bytes = 1024;
  start();
  const std::string reply = raw_exchange(
      port_, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + std::string(2000, 'a') + "\r\n\r\n");
  const json error = error_of(reply, 431);
  EXPECT_EQ(error["code"], "header_too_large");
  EXPECT_EQ(error["type"], "invalid_request_error");
  EXPECT_NE(error["message"].get<std::string>().find("1024 bytes"), std::string::npos);
  EXPECT_EQ(handled_, 0);
}

TEST_F(HttpServerTest, BodyOverTheLimitIs413BeforeItIsRead) {
  options_.max_body_bytes = 100;
  start();
  // The declared length is refused at once; the 200 bytes sent are read and dropped.
  const std::string reply = raw_exchange(
      port_, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 200\r\n\r\n" + std::string(200, 'x'));
  EXPECT_EQ(error_of(reply, 413)["code"], "payload_too_large");
  // A chunked body is counted as it arrives.
  const std::string chunked = raw_exchange(
      port_, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n64\r\n" +
                 std::string(100, 'x') + "\r\n1\r\nx\r\n0\r\n\r\n");
  EXPECT_EQ(error_of(chunked, 413)["code"], "payload_too_large");
  EXPECT_EQ(handled_, 0);
}

TEST_F(HttpServerTest, MalformedRequestsAre400) {
  start();
  const std::string cases[] = {
      "garbage\r\n\r\n",
      "GET / HTTP/9.9\r\n\r\n",
      "\x16\x03\x01\x02\x01\x01\xfc\x03\x03\r\n\r\n",  // the start of a TLS hello
      "POST / HTTP/1.1\r\nContent-Length: 12abc\r\n\r\n",
      "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
      "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
      "POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
  };
  for (const auto& request : cases) {
    SCOPED_TRACE(request);
    const json error = error_of(raw_exchange(port_, request), 400);
    EXPECT_EQ(error["type"], "invalid_request_error");
  }
  EXPECT_EQ(error_of(raw_exchange(port_, cases[3]), 400)["message"],
            "The Content-Length header '12abc' is not a number of bytes.");
  EXPECT_EQ(error_of(raw_exchange(port_, cases[6]), 400)["message"],
            "The Content-Length header '99999999999999999999' is beyond the range of a 64-bit "
            "number of bytes.");
  EXPECT_EQ(handled_, 0);
}

// Heads whose body cannot be framed are refused and the connection closed, so that no byte of
// the body is read as another request (QA 2026-12-07 smuggled a GET after "chunked, identity"):
// RFC 9112 6.3 (chunked must be the last coding; other codings are not implemented) and 3.2
// (exactly one Host in HTTP/1.1).
TEST_F(HttpServerTest, HeadsThatCannotBeFramedAreRefusedAndNothingBehindThemIsServed) {
  start();
  const std::string smuggled = "GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n";
  const std::pair<std::string, int> cases[] = {
      {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501},
      {"GET / HTTP/1.1\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
  };
  for (const auto& [head, status] : cases) {
    SCOPED_TRACE(head);
    const std::string reply = raw_exchange(port_, head + smuggled);
    error_of(reply, status);
    EXPECT_EQ(reply.find("Content-Length", reply.find("Content-Length") + 1), std::string::npos)
        << "a second answer: " << reply;
  }
  EXPECT_EQ(error_of(raw_exchange(port_, cases[0].first), 400)["message"],
            "The request's Transfer-Encoding does not end with chunked, so its body's length "
            "cannot be told (RFC 9112, 6.3).");
  EXPECT_EQ(error_of(raw_exchange(port_, cases[4].first), 501)["message"],
            "The request's Transfer-Encoding lists 'gzip': only chunked is supported.");
  EXPECT_EQ(error_of(raw_exchange(port_, cases[5].first), 400)["message"],
            "An HTTP/1.1 request must have exactly one Host header field (it has 0).");
  EXPECT_EQ(handled_, 0);
  // HTTP/1.0 needs no Host; "Chunked" is chunked.
  EXPECT_EQ(raw_exchange(port_, "GET / HTTP/1.0\r\n\r\n").rfind("HTTP/1.1 200", 0), 0u);
  const std::string chunked =
      raw_exchange(port_,
                   "POST / HTTP/1.1\r\nHost: a\r\nConnection: close\r\nTransfer-Encoding: Chunked"
                   "\r\n\r\n2\r\nhi\r\n0\r\n\r\n");
  EXPECT_NE(chunked.find("ok:hi"), std::string::npos) << chunked;
}

// A chunk's size line (with extensions) and the trailer section are bounded like a head (QA
// 2026-12-07: a 64 KiB trailer field ended the process, a 600 MB extension was held in memory);
// trailer fields are discarded, so that a trailer Authorization never reaches the handler.
TEST_F(HttpServerTest, ChunkLinesAndTrailersAreBoundedAndTrailerFieldsDiscarded) {
  std::vector<std::pair<std::string, std::string>> seen;
  handler_ = [&](HttpRequest request, std::shared_ptr<Responder> out) {
    seen = request.headers;
    out->respond({200, "text/plain", "ok:" + request.body, {}});
  };
  start();
  const std::string head = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (const std::string& body :
       {"2\r\nhi\r\n0\r\nX: " + std::string(70'000, 'a') + "\r\n\r\n",
        "2;x=" + std::string(100'000, 'a'), "0\r\nX: " + std::string(65'536, 'a') + "\r\n\r\n"}) {
    const json error = error_of(raw_exchange(port_, head + body), 400);
    EXPECT_EQ(error["message"],
              "A chunk size line (with its extensions) or the trailer fields of the request are "
              "larger than 61440 bytes.");
  }
  EXPECT_EQ(handled_, 0);
  const std::string reply = raw_exchange(
      port_,
      "POST / HTTP/1.1\r\nHost: a\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n"
      "\r\n2\r\nhi\r\n0\r\nAuthorization: Bearer trailer\r\n\r\n");
  EXPECT_NE(reply.find("ok:hi"), std::string::npos) << reply;
  for (const auto& [name, value] : seen) EXPECT_NE(name, "Authorization") << value;
  EXPECT_EQ(seen.size(), 3u);
}

TEST_F(HttpServerTest, IdleConnectionsAreClosedAfterTheIdleTimeout) {
  options_.idle_timeout = 200ms;
  start();
  // A new connection that sends nothing, and a kept-alive one after its answer.
  const int fresh = connect_to(port_);
  const int used = connect_to(port_);
  ASSERT_GE(fresh, 0);
  ASSERT_GE(used, 0);
  const auto started = Clock::now();
  send_text(used, "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  std::string answer;
  ASSERT_TRUE(read_until(used, answer, "ok:"));
  EXPECT_EQ(read_until_closed(fresh), "");
  EXPECT_EQ(read_until_closed(used), "");
  EXPECT_GE(Clock::now() - started, 200ms);
  close(fresh);
  close(used);
}

TEST_F(HttpServerTest, KeepAliveEndsAfterMaxRequestsPerConnection) {
  options_.max_requests_per_connection = 3;
  start();
  const int sock = connect_to(port_);
  ASSERT_GE(sock, 0);
  std::string received;
  for (int i = 0; i < 3; ++i) {
    const std::string body = "n" + std::to_string(i);
    send_text(sock, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n" + body);
    ASSERT_TRUE(read_until(sock, received, "ok:" + body)) << received;
  }
  received += read_until_closed(sock);
  close(sock);
  EXPECT_EQ(received.find("Connection: close"), received.rfind("Connection: close"));
  EXPECT_GT(received.find("Connection: close"), received.find("ok:n1")) << received;
  EXPECT_EQ(handled_, 3);
}

TEST_F(HttpServerTest, PipelinedRequestsAreAnsweredInOrder) {
  start();
  const std::string reply = raw_exchange(
      port_,
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nA"
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nB"
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nConnection: close\r\n\r\nC");
  const size_t a = reply.find("ok:A"), b = reply.find("ok:B"), c = reply.find("ok:C");
  ASSERT_NE(c, std::string::npos) << reply;
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
}

TEST_F(HttpServerTest, ConnectionsBeyondTheCapAre503) {
  options_.max_connections = 4;
  options_.idle_timeout = 60s;
  start();
  std::vector<int> held;
  for (int i = 0; i < 4; ++i) held.push_back(connect_to(port_));
  ASSERT_TRUE(eventually([&] { return server_->open_connections() == 4; }));
  const int extra = connect_to(port_);
  ASSERT_GE(extra, 0);
  const json error = error_of(read_until_closed(extra), 503);
  EXPECT_EQ(error["code"], "server_busy");
  EXPECT_EQ(error["type"], "server_error");
  close(extra);
  for (int sock : held) EXPECT_TRUE(open_and_silent(sock));

  close(held.back());
  held.pop_back();
  ASSERT_TRUE(eventually([&] { return server_->open_connections() == 3; }));
  httplib::Client client("127.0.0.1", port_);
  auto r = client.Post("/", "x", "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "ok:x");
  for (int sock : held) close(sock);
}

TEST_F(HttpServerTest, ExpectContinueIsAnsweredBeforeTheBodyIsSent) {
  start();
  const int sock = connect_to(port_);
  ASSERT_GE(sock, 0);
  send_text(sock,
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n"
            "Connection: close\r\n\r\n");
  std::string received;
  ASSERT_TRUE(read_until(sock, received, "\r\n\r\n"));
  EXPECT_EQ(received, "HTTP/1.1 100 Continue\r\n\r\n");
  send_text(sock, "hello");
  received += read_until_closed(sock);
  close(sock);
  EXPECT_NE(received.find("HTTP/1.1 200 OK"), std::string::npos) << received;
  EXPECT_NE(received.find("ok:hello"), std::string::npos) << received;
}

TEST_F(HttpServerTest, AResponderReleasedUnansweredClosesTheConnection) {
  handler_ = [](HttpRequest, std::shared_ptr<Responder>) {};
  start();
  EXPECT_EQ(raw_exchange(port_, "GET / HTTP/1.1\r\nHost: a\r\n\r\n"), "");
}

TEST_F(HttpServerTest, ChunksWrittenFromOtherThreadsArriveInOrder) {
  capture_responders();
  start();
  std::string body;
  std::thread client([&] {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(30, 0);
    auto r = c.Get("/stream");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->get_header_value("Content-Type"), "text/event-stream");
    EXPECT_EQ(r->get_header_value("X-Test"), "1");
    body = r->body;
  });
  auto out = next_responder();
  ASSERT_TRUE(out);
  ASSERT_TRUE(out->start_stream(200, "text/event-stream", {{"X-Test", "1"}}));
  EXPECT_FALSE(out->respond({200, "text/plain", "too late", {}}));
  // Four producers in turn, each on a thread of its own, 250 chunks each.
  std::string expected;
  for (int producer = 0; producer < 4; ++producer) {
    std::thread([&, producer] {
      for (int i = 0; i < 250; ++i) {
        const std::string chunk = std::to_string(producer) + ":" + std::to_string(i) + "\n";
        EXPECT_TRUE(out->write(chunk));
        expected += chunk;
      }
    }).join();
  }
  EXPECT_TRUE(out->finish());
  EXPECT_FALSE(out->write("after the end"));
  client.join();
  EXPECT_EQ(body, expected);
  EXPECT_FALSE(out->client_gone());
}

TEST_F(HttpServerTest, AClientThatLeavesMidStreamIsNoticed) {
  capture_responders();
  start();
  const int sock = connect_to(port_);
  ASSERT_GE(sock, 0);
  send_text(sock, "GET /stream HTTP/1.1\r\nHost: a\r\n\r\n");
  auto out = next_responder();
  ASSERT_TRUE(out);
  std::promise<void> gone;
  out->on_client_gone([&] { gone.set_value(); });
  ASSERT_TRUE(out->start_stream(200, "text/event-stream"));
  ASSERT_TRUE(out->write("data: first\n\n"));
  std::string received;
  ASSERT_TRUE(read_until(sock, received, "data: first"));
  EXPECT_NE(received.find("Transfer-Encoding: chunked"), std::string::npos);
  close(sock);

  ASSERT_EQ(gone.get_future().wait_for(10s), std::future_status::ready);
  EXPECT_TRUE(out->client_gone());
  EXPECT_FALSE(out->write("data: second\n\n"));
  EXPECT_FALSE(out->finish());
  EXPECT_EQ(out->queued_bytes(), 0u);
  bool called_at_once = false;
  out->on_client_gone([&] { called_at_once = true; });
  EXPECT_TRUE(called_at_once);
}

TEST_F(HttpServerTest, AClientThatStopsReadingIsCutOffAtMaxQueuedBytes) {
  options_.max_queued_bytes = 256 * 1024;
  options_.write_timeout = 600s;  // the queue limit, not the write deadline, must act
  capture_responders();
  start();
  const int sock = connect_to(port_);
  ASSERT_GE(sock, 0);
  send_text(sock, "GET /stream HTTP/1.1\r\nHost: a\r\n\r\n");  // and never reads
  auto out = next_responder();
  ASSERT_TRUE(out);
  std::promise<void> gone;
  out->on_client_gone([&] { gone.set_value(); });
  ASSERT_TRUE(out->start_stream(200, "application/octet-stream"));
  const std::string chunk(16 * 1024, 'x');
  size_t most_queued = 0;
  int writes = 0;
  // The socket buffers on both ends fill first (a few MiB), then the queue grows to its limit.
  for (; writes < 100000 && out->write(chunk); ++writes)
    most_queued = std::max(most_queued, out->queued_bytes());
  EXPECT_LT(writes, 100000) << "write() never refused";
  EXPECT_GT(most_queued, options_.max_queued_bytes - chunk.size() - 64);
  EXPECT_LE(most_queued, options_.max_queued_bytes);
  ASSERT_EQ(gone.get_future().wait_for(10s), std::future_status::ready);
  EXPECT_TRUE(out->client_gone());
  EXPECT_EQ(out->queued_bytes(), 0u);
  close(sock);
}

TEST_F(HttpServerTest, AThousandStreamsFedFromOneThreadLeaveHealthServed) {
  constexpr size_t kStreams = 1000;
  if (!have_descriptors(2 * kStreams + 200))
    GTEST_SKIP() << "needs " << 2 * kStreams + 200
                 << " file descriptors (RLIMIT_NOFILE), which this process cannot have";
  std::mutex streams_mutex;
  std::vector<std::shared_ptr<Responder>> streams;
  handler_ = [&](HttpRequest request, std::shared_ptr<Responder> out) {
    if (request.path == "/health") {
      out->respond({200, "application/json", R"({"status":"ok"})", {}});
      return;
    }
    out->start_stream(200, "text/event-stream");
    std::lock_guard lock(streams_mutex);
    streams.push_back(std::move(out));
  };
  start();
  std::vector<int> clients;
  for (size_t i = 0; i < kStreams; ++i) {
    const int sock = connect_to(port_);
    ASSERT_GE(sock, 0);
    clients.push_back(sock);
    send_text(sock, "GET /stream/" + std::to_string(i) + " HTTP/1.1\r\nHost: a\r\n\r\n");
  }
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(streams_mutex);
    return streams.size() == kStreams;
  }));

  // One producer thread feeds every stream while /health is asked for.
  std::thread producer([&] {
    for (int event = 0; event < 10; ++event)
      for (const auto& out : streams)
        EXPECT_TRUE(out->write("data: " + std::to_string(event) + "\n\n"));
  });
  httplib::Client client("127.0.0.1", port_);
  client.set_read_timeout(5, 0);
  auto health = client.Get("/health");
  ASSERT_TRUE(health) << httplib::to_string(health.error());
  EXPECT_EQ(health->status, 200);
  producer.join();
  for (const auto& out : streams) EXPECT_TRUE(out->finish());

  size_t complete = 0;  // streams that ended with the last event and the last chunk
  for (int sock : clients) {
    std::string received;
    if (read_until(sock, received, "data: 9\n\n\r\n0\r\n\r\n")) ++complete;
    close(sock);
  }
  EXPECT_EQ(complete, kStreams);
}

TEST_F(HttpServerTest, StreamToAnHttp10ClientEndsByClosing) {
  capture_responders();
  start();
  const int sock = connect_to(port_);
  ASSERT_GE(sock, 0);
  send_text(sock, "GET /stream HTTP/1.0\r\n\r\n");
  auto out = next_responder();
  ASSERT_TRUE(out);
  ASSERT_TRUE(out->start_stream(200, "text/plain"));
  ASSERT_TRUE(out->write("ab"));
  ASSERT_TRUE(out->write("cd"));
  ASSERT_TRUE(out->finish());
  const std::string reply = read_until_closed(sock);
  close(sock);
  EXPECT_EQ(reply.find("Transfer-Encoding"), std::string::npos) << reply;
  EXPECT_NE(reply.find("Connection: close"), std::string::npos) << reply;
  EXPECT_EQ(reply.substr(reply.find("\r\n\r\n") + 4), "abcd");
}

TEST_F(HttpServerTest, StopClosesIdleConnectionsAndFinishesStreams) {
  options_.idle_timeout = 60s;
  capture_responders();
  start();
  const int idle = connect_to(port_);
  const int streaming = connect_to(port_);
  ASSERT_GE(idle, 0);
  ASSERT_GE(streaming, 0);
  send_text(streaming, "GET /stream HTTP/1.1\r\nHost: a\r\n\r\n");
  auto out = next_responder();
  ASSERT_TRUE(out);
  ASSERT_TRUE(out->start_stream(200, "text/plain"));
  ASSERT_TRUE(out->write("before stop;"));
  std::string received;
  ASSERT_TRUE(read_until(streaming, received, "before stop;"));
  ASSERT_TRUE(eventually([&] { return server_->open_connections() == 2; }));

  server_->stop();
  EXPECT_EQ(read_until_closed(idle), "");
  EXPECT_TRUE(out->write("after stop"));
  EXPECT_TRUE(out->finish());
  out.reset();
  received += read_until_closed(streaming);
  close(streaming);
  close(idle);
  thread_.join();  // run() returns once the stream is complete
  EXPECT_NE(received.find("after stop"), std::string::npos) << received;
  EXPECT_NE(received.find("0\r\n\r\n"), std::string::npos) << received;
  EXPECT_FALSE(can_connect(port_)) << "still accepting after stop";
}

TEST(HandlerPoolTest, RefusesTasksBeyondItsQueueAndDrains) {
  HandlerPool pool(1, 2);
  std::promise<void> started, release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<int> ran{0};
  ASSERT_TRUE(pool.try_post([&] {
    started.set_value();
    released.wait();
    ++ran;
  }));
  started.get_future().wait();  // the only thread is busy; the queue holds two
  EXPECT_TRUE(pool.try_post([&] { ++ran; }));
  EXPECT_TRUE(pool.try_post([&] { ++ran; }));
  EXPECT_FALSE(pool.try_post([&] { ++ran; }));
  release.set_value();
  pool.wait_idle();
  EXPECT_EQ(ran, 3);
  EXPECT_TRUE(pool.try_post([&] { ++ran; }));
  pool.wait_idle();
  EXPECT_EQ(ran, 4);
}

// An IPv6 host is written in brackets in the errors and the log (QA: "::1:18201: cannot listen"
// read as host ::1:18201 without a port).
TEST(HostAndPort, BracketsAnIPv6Address) {
  EXPECT_EQ(host_and_port("127.0.0.1", 8080), "127.0.0.1:8080");
  EXPECT_EQ(host_and_port("localhost", 0), "localhost:0");
  EXPECT_EQ(host_and_port("::1", 8080), "[::1]:8080");
  EXPECT_EQ(host_and_port("::", 80), "[::]:80");
  EXPECT_EQ(Listener::listen("::1", 70000).error().message,
            "[::1]:70000: port must be in 0..65535");
}

}  // namespace
}  // namespace gengyun::api::testing
