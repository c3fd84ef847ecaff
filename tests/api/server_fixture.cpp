#include "server_fixture.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>

#include "eventually.h"

namespace gengyun::api::testing {

using nlohmann::json;

deploy::Registry* ServerTest::registry_ = nullptr;

SseBody parse_sse(const std::string& body) {
  SseBody out;
  size_t pos = 0;
  while (pos < body.size()) {
    const size_t end = body.find("\n\n", pos);
    EXPECT_NE(end, std::string::npos) << "unterminated event at byte " << pos;
    if (end == std::string::npos) break;
    const std::string event = body.substr(pos, end - pos);
    pos = end + 2;
    EXPECT_EQ(event.rfind("data: ", 0), 0u) << event;
    EXPECT_FALSE(out.done) << "event after [DONE]: " << event;
    const std::string data = event.substr(6);
    if (data == "[DONE]") {
      out.done = true;
      continue;
    }
    out.events.push_back(json::parse(data));
  }
  return out;
}

std::string streamed_text(const SseBody& sse) {
  std::string text;
  for (const auto& e : sse.events) {
    if (e["choices"].empty()) continue;
    const json& choice = e["choices"][0];
    if (choice.contains("delta")) {
      if (choice["delta"].contains("content"))
        text += choice["delta"]["content"].get<std::string>();
    } else {
      text += choice["text"].get<std::string>();
    }
  }
  return text;
}

int connect_to(int port) {
  const int sock = socket(AF_INET, SOCK_STREAM, 0);
  EXPECT_GE(sock, 0);
  if (sock < 0) return -1;
  timeval timeout{30, 0};
  setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(sock, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ADD_FAILURE() << "cannot connect to port " << port;
    close(sock);
    return -1;
  }
  return sock;
}

bool have_descriptors(size_t needed) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return false;
  if (limit.rlim_cur < needed && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &limit) != 0) return false;
  }
  return limit.rlim_cur == RLIM_INFINITY || limit.rlim_cur >= needed;
}

bool open_and_silent(int sock) {
  char byte;
  return recv(sock, &byte, 1, MSG_DONTWAIT | MSG_PEEK) < 0 &&
         (errno == EAGAIN || errno == EWOULDBLOCK);
}

std::string raw_exchange(int port, const std::string& request) {
  const int sock = connect_to(port);
  if (sock < 0) return "";
  EXPECT_EQ(send(sock, request.data(), request.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(request.size()));
  std::string received;
  char buffer[4096];
  for (ssize_t n; (n = recv(sock, buffer, sizeof buffer, 0)) > 0;)
    received.append(buffer, static_cast<size_t>(n));
  close(sock);
  return received;
}

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

void read_events(int sock, std::string& received, size_t events) {
  char buffer[4096];
  while (count_of(received, "data: ") < events) {
    const ssize_t n = recv(sock, buffer, sizeof buffer, 0);
    ASSERT_GT(n, 0) << "the stream ended early: " << received;
    received.append(buffer, static_cast<size_t>(n));
  }
}

void ServerTest::SetUpTestSuite() {
  if (!gengyun::testing::testdata_present()) return;
  registry_ = make_registry(
      {{"qwen2-tiny", gengyun::testing::testdata_path("models/qwen2-tiny-q8_0.gguf")},
       {"stories", gengyun::testing::testdata_path("models/stories260K-f32.gguf")},
       {"qwen3-embed-tiny",
        gengyun::testing::testdata_path("models/qwen3-embed-tiny-f32.gguf")}},
      {.n_threads = 1, .n_ctx = 0});
}

deploy::Registry* ServerTest::make_registry(std::vector<deploy::ModelSpec> specs,
                                            ModelOptions options) {
  deploy::RegistryOptions registry_options;
  registry_options.specs = std::move(specs);
  registry_options.model = options;
  auto registry = deploy::Registry::create(std::move(registry_options));
  EXPECT_TRUE(registry.ok()) << registry.error().message;
  return registry.ok() ? registry.value().release() : nullptr;
}

void ServerTest::TearDownTestSuite() {
  delete registry_;
  registry_ = nullptr;
}

void ServerTest::SetUp() {
  REQUIRE_TESTDATA();
  std::string pattern = (std::filesystem::temp_directory_path() / "gengyun-api-XXXXXX").string();
  ASSERT_NE(mkdtemp(pattern.data()), nullptr);
  dir_ = pattern;
  auto store = platform::Store::open((dir_ / "gengyun.db").string());
  ASSERT_TRUE(store.ok()) << store.error().message;
  store_ = std::move(store.value());
  auto key = store_->create_key("test");
  ASSERT_TRUE(key.ok()) << key.error().message;
  key_ = key.value();
  auto info = store_->authenticate(key_);
  ASSERT_TRUE(info.ok() && info.value());
  key_id_ = info.value()->id;
  start_server();
}

void ServerTest::start_server() {
  server_ = std::make_unique<Server>(*registry_, *store_, options_);
  auto port = server_->bind("127.0.0.1", 0);
  ASSERT_TRUE(port.ok()) << port.error().message;
  port_ = port.value();
  thread_ = std::thread([this] { server_->run(); });
}

void ServerTest::stop_server() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
  server_.reset();
}

void ServerTest::TearDown() {
  stop_server();
  store_.reset();
  if (!dir_.empty()) std::filesystem::remove_all(dir_);
}

nlohmann::json ServerTest::long_completion(bool stream) {
  return {{"model", "qwen2-tiny"}, {"prompt", "The quick brown fox"},
          {"max_tokens", 4000},    {"temperature", 0},
          {"logprobs", 0},         {"stream", stream}};
}

std::string ServerTest::stream_acting_on_first_event(const nlohmann::json& request,
                                                     const std::function<void()>& act) {
  httplib::Request post;
  post.method = "POST";
  post.path = "/v1/completions";
  post.headers = {{"Authorization", "Bearer " + key_}, {"Content-Type", "application/json"}};
  post.body = request.dump();
  std::string body;
  bool acted = false;
  post.content_receiver = [&](const char* data, size_t size, uint64_t, uint64_t) {
    body.append(data, size);
    if (!acted && body.find("\n\n") != std::string::npos) {
      acted = true;
      act();
    }
    return true;
  };
  httplib::Client client("127.0.0.1", port_);
  client.set_read_timeout(60, 0);
  const httplib::Result r = client.send(post);
  EXPECT_TRUE(r) << httplib::to_string(r.error());
  if (r) {
    EXPECT_EQ(r->status, 200);
  }
  EXPECT_TRUE(acted) << body;
  return body;
}

void ServerTest::OwnServer::stop() {
  if (server) server->stop();
  if (thread.joinable()) thread.join();
}

void ServerTest::start_own(OwnServer& own, deploy::RegistryOptions options) {
  options.model.n_threads = 1;
  auto registry = deploy::Registry::create(std::move(options));
  ASSERT_TRUE(registry.ok()) << registry.error().message;
  own.registry = std::move(registry.value());
  own.server = std::make_unique<Server>(*own.registry, *store_, options_);
  auto port = own.server->bind("127.0.0.1", 0);
  ASSERT_TRUE(port.ok()) << port.error().message;
  own.port = port.value();
  own.thread = std::thread([s = own.server.get()] { s->run(); });
}

void ServerTest::start_own(OwnServer& own, std::vector<deploy::ModelSpec> specs,
                           ModelOptions model) {
  deploy::RegistryOptions options;
  options.specs = std::move(specs);
  options.model = model;
  start_own(own, std::move(options));
}

httplib::Result ServerTest::post_to(int port, const std::string& path, const json& body) {
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(60, 0);
  return client.Post(path.c_str(), {{"Authorization", "Bearer " + key_}}, body.dump(),
                     "application/json");
}

httplib::Result ServerTest::get_from(int port, const std::string& path, const std::string& key) {
  httplib::Client client("127.0.0.1", port);
  return client.Get(path.c_str(), {{"Authorization", "Bearer " + key}});
}

httplib::Result ServerTest::post(const std::string& path, const json& body,
                                 const std::string& key) {
  return post_text(path, body.dump(), key);
}

httplib::Result ServerTest::post_text(const std::string& path, const std::string& body,
                                      const std::string& key) {
  httplib::Client client("127.0.0.1", port_);
  client.set_read_timeout(60, 0);
  httplib::Headers headers;
  if (!key.empty()) headers.emplace("Authorization", "Bearer " + key);
  return client.Post(path.c_str(), headers, body, "application/json");
}

httplib::Result ServerTest::get(const std::string& path, const std::string& key) {
  httplib::Client client("127.0.0.1", port_);
  httplib::Headers headers;
  if (!key.empty()) headers.emplace("Authorization", "Bearer " + key);
  return client.Get(path.c_str(), headers);
}

httplib::Result ServerTest::call(const std::string& method, const std::string& path,
                                 const std::string& body, const std::string& key) {
  httplib::Client client("127.0.0.1", port_);
  httplib::Headers headers;
  if (!key.empty()) headers.emplace("Authorization", "Bearer " + key);
  if (method == "GET") return client.Get(path.c_str(), headers);
  if (method == "POST") return client.Post(path.c_str(), headers, body, "application/json");
  if (method == "PATCH") return client.Patch(path.c_str(), headers, body, "application/json");
  if (method == "DELETE") return client.Delete(path.c_str(), headers, body, "application/json");
  ADD_FAILURE() << "no such method in the test client: " << method;
  return httplib::Result(nullptr, httplib::Error::Unknown);
}

json ServerTest::expect_error(const httplib::Result& r, int status, const char* code) {
  EXPECT_TRUE(r) << "no response: " << httplib::to_string(r.error());
  if (!r) return json();
  EXPECT_EQ(r->status, status) << r->body;
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
  const json body = json::parse(r->body, nullptr, false);
  EXPECT_TRUE(body.is_object() && body.contains("error")) << r->body;
  if (!body.is_object() || !body.contains("error")) return json();
  const json& error = body["error"];
  EXPECT_TRUE(error["message"].is_string() && !error["message"].get<std::string>().empty());
  EXPECT_EQ(error["type"], status >= 500 ? "server_error" : "invalid_request_error");
  EXPECT_TRUE(error.contains("param"));
  if (code) {
    EXPECT_EQ(error["code"], code) << r->body;
  } else {
    EXPECT_TRUE(error["code"].is_null()) << r->body;
  }
  return error;
}

std::vector<platform::UsageRecord> ServerTest::rows() {
  auto rows = store_->usage_rows();
  EXPECT_TRUE(rows.ok()) << rows.error().message;
  return rows.ok() ? rows.value() : std::vector<platform::UsageRecord>{};
}

std::vector<platform::UsageRecord> ServerTest::wait_for_rows(size_t count) {
  std::vector<platform::UsageRecord> out;
  eventually([&] {
    out = rows();
    return out.size() >= count && std::none_of(out.begin(), out.end(), [](const auto& row) {
             return row.status == platform::kOpenStatus;
           });
  });
  return out;
}

deploy::ModelLease ServerTest::model(const std::string& name) {
  deploy::Acquired acquired = registry_->acquire(name);
  EXPECT_TRUE(acquired.lease) << acquired.message;
  return acquired.lease ? std::move(*acquired.lease) : deploy::ModelLease();
}

}  // namespace gengyun::api::testing
