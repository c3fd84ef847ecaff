// The real binary end to end: `keys create`, `serve`, HTTP requests, `run` for the reference
// answer, `usage --json` for the ledger, `keys revoke`, SIGTERM, kill -9 and the restart.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <thread>

#include "../platform/store_reads.h"
#include "api/eventually.h"
#include "deploy/units.h"
#include "gguf/gguf.h"
#include "gguf/gguf_writer.h"
#include "kernels/simd_level.h"
#include "platform/ledger_spool.h"
#include "platform/store.h"
#include "process.h"
#include "testdata.h"

namespace gengyun::e2e {
namespace {

using nlohmann::json;

const std::string kBinary = GENGYUN_BINARY;

class ServeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_TESTDATA();
    std::string pattern = (std::filesystem::temp_directory_path() / "gengyun-e2e-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    db_ = (dir_ / "gengyun.db").string();
    model_path_ = gengyun::testing::testdata_path("models/qwen2-tiny-q8_0.gguf");
  }
  void TearDown() override {
    server_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  std::string create_key(const std::string& name) {
    const auto out = run_process({kBinary, "keys", "create", "--db", db_, "--name", name});
    EXPECT_EQ(out.exit_code, 0) << out.err;
    EXPECT_TRUE(std::regex_match(out.out, std::regex("gy-[0-9A-Za-z]{43}\n"))) << out.out;
    return out.out.empty() ? "" : out.out.substr(0, out.out.size() - 1);
  }

  /// Starts `gengyun serve` (with `extra` flags) on a free port and waits until /health answers.
  void start_server(int threads = 1, const std::vector<std::string>& extra = {}) {
    port_ = free_port();
    ASSERT_GT(port_, 0);
    std::vector<std::string> argv{kBinary,     "serve",
                                  "--model",   "qwen2-tiny=" + model_path_,
                                  "--listen",  "127.0.0.1:" + std::to_string(port_),
                                  "--db",      db_,
                                  "--threads", std::to_string(threads)};
    argv.insert(argv.end(), extra.begin(), extra.end());
    server_ = std::make_unique<BackgroundProcess>(argv);
    const std::optional<std::string> health = wait_for_health(*server_, port_);
    ASSERT_TRUE(server_->running()) << "gengyun serve exited: " << server_->err();
    ASSERT_TRUE(health) << "gengyun serve did not answer /health within 30 s: " << server_->err();
    EXPECT_EQ(json::parse(*health), json({{"status", "ok"}}));
    // The kernels' level is this process's: the same CPU and environment.
    EXPECT_NE(server_->err().find("on http://127.0.0.1:" + std::to_string(port_) +
                                  "; kernels: " + kernels::simd_level_description() + "\n"),
              std::string::npos)
        << server_->err();
  }

  httplib::Result post(const std::string& path, const std::string& body, const std::string& key) {
    httplib::Client client("127.0.0.1", port_);
    client.set_read_timeout(60, 0);
    httplib::Headers headers;
    if (!key.empty()) headers.emplace("Authorization", "Bearer " + key);
    return client.Post(path.c_str(), headers, body, "application/json");
  }

  json usage() {
    const auto out = run_process({kBinary, "usage", "--db", db_, "--json"});
    EXPECT_EQ(out.exit_code, 0) << out.err;
    return json::parse(out.out, nullptr, false);
  }

  /// Every row of the ledger (the server stopped or not), in insertion order; fails the test
  /// and returns none when the database cannot be read.
  std::vector<platform::UsageRecord> ledger_rows() {
    auto store = platform::Store::open(db_, platform::OpenMode::Read);
    EXPECT_TRUE(store.ok()) << store.error().message;
    if (!store.ok()) return {};
    auto rows = store.value()->usage_rows();
    EXPECT_TRUE(rows.ok()) << rows.error().message;
    return rows.ok() ? std::move(rows).value() : std::vector<platform::UsageRecord>{};
  }

  std::filesystem::path dir_;
  std::string db_;
  std::string model_path_;
  std::unique_ptr<BackgroundProcess> server_;
  int port_ = 0;
};

/// The text of an SSE completions stream and the usage of its finishing chunk; fails unless it
/// ends with [DONE].
std::string streamed_text(const std::string& body, json& usage) {
  std::string text;
  size_t pos = 0;
  bool done = false;
  while (pos < body.size()) {
    const size_t end = body.find("\n\n", pos);
    if (end == std::string::npos) break;
    const std::string event = body.substr(pos, end - pos);
    pos = end + 2;
    EXPECT_EQ(event.rfind("data: ", 0), 0u) << event;
    if (event == "data: [DONE]") {
      done = true;
      continue;
    }
    const json chunk = json::parse(event.substr(6));
    if (chunk.contains("usage")) usage = chunk["usage"];
    text += chunk["choices"][0]["text"].get<std::string>();
  }
  EXPECT_EQ(pos, body.size());
  EXPECT_TRUE(done);
  return text;
}

TEST_F(ServeTest, GreedyAnswersMatchGengyunRunAndAreMetered) {
  const std::string key = create_key("e2e");
  start_server();

  const std::string prompt = "The quick brown fox";
  const auto run = run_process(
      {kBinary, "run", model_path_, "-p", prompt, "-n", "16", "--temp", "0", "--threads", "1"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  // stdout is a pipe here: `gengyun run` writes the generated text and nothing else.
  const std::string expected = run.out;
  ASSERT_FALSE(expected.empty());

  const json request = {
      {"model", "qwen2-tiny"}, {"prompt", prompt}, {"max_tokens", 16}, {"temperature", 0}};
  auto whole = post("/v1/completions", request.dump(), key);
  ASSERT_TRUE(whole);
  ASSERT_EQ(whole->status, 200) << whole->body;
  const json body = json::parse(whole->body);
  EXPECT_EQ(body["choices"][0]["text"], expected);

  json stream_request = request;
  stream_request["stream"] = true;
  auto streamed = post("/v1/completions", stream_request.dump(), key);
  ASSERT_TRUE(streamed);
  ASSERT_EQ(streamed->status, 200);
  json stream_usage;
  EXPECT_EQ(streamed_text(streamed->body, stream_usage), expected);
  EXPECT_EQ(stream_usage, body["usage"]);

  const json chat = {{"model", "qwen2-tiny"},
                     {"messages", {{{"role", "user"}, {"content", "Hi"}}}},
                     {"max_tokens", 8},
                     {"temperature", 0}};
  auto chat_answer = post("/v1/chat/completions", chat.dump(), key);
  ASSERT_TRUE(chat_answer);
  ASSERT_EQ(chat_answer->status, 200) << chat_answer->body;
  const json chat_body = json::parse(chat_answer->body);

  const int64_t prompt_tokens = body["usage"]["prompt_tokens"];
  const int64_t completion_tokens = body["usage"]["completion_tokens"];
  const int64_t chat_prompt = chat_body["usage"]["prompt_tokens"];
  const int64_t chat_completion = chat_body["usage"]["completion_tokens"];
  const int64_t cached = body["usage"]["prompt_tokens_details"]["cached_tokens"];
  const int64_t chat_cached = chat_body["usage"]["prompt_tokens_details"]["cached_tokens"];
  json rows = usage();
  ASSERT_EQ(rows.size(), 1u) << rows;
  rows[0].erase("key_id");
  EXPECT_EQ(rows, json::array({{{"tenant_id", 1},
                                {"tenant_name", "default"},
                                {"key_name", "e2e"},
                                {"model", "qwen2-tiny"},
                                {"requests", 3},
                                {"prompt_tokens", 2 * prompt_tokens + chat_prompt},
                                {"cached_prompt_tokens", 2 * cached + chat_cached},
                                {"completion_tokens", 2 * completion_tokens + chat_completion},
                                {"cost_micro_usd", 0}}}));
  EXPECT_EQ(server_->stop(), 0) << server_->err();
}

// `serve --lora NAME=BASE:ADAPTER`: the derivative answers as `gengyun run --lora` does, the
// base as `gengyun run` does, both from one server; a bad --lora is an error at start.
TEST_F(ServeTest, LoraDerivativeAnswersAsRunWithTheAdapter) {
  const std::string key = create_key("e2e");
  const std::string adapter = gengyun::testing::testdata_path("lora/qwen2-tiny-lora-b.gguf");
  start_server(1, {"--lora", "qwen2-tiny-b=qwen2-tiny:" + adapter + "@0.5"});
  for (const bool with_lora : {true, false}) {
    std::vector<std::string> argv = {kBinary, "run", model_path_, "-p", "Hi", "-n", "12",
                                     "--temp", "0", "--threads", "1"};
    if (with_lora) argv.insert(argv.end(), {"--lora", adapter + "@0.5"});
    const auto run = run_process(argv);
    ASSERT_EQ(run.exit_code, 0) << run.err;
    const json request = {{"model", with_lora ? "qwen2-tiny-b" : "qwen2-tiny"},
                          {"prompt", "Hi"},
                          {"max_tokens", 12},
                          {"temperature", 0}};
    auto answer = post("/v1/completions", request.dump(), key);
    ASSERT_TRUE(answer);
    ASSERT_EQ(answer->status, 200) << answer->body;
    EXPECT_EQ(json::parse(answer->body)["choices"][0]["text"], run.out) << with_lora;
  }
  // Listed as a model of its own, with its base; loaded on demand, it holds its base.
  httplib::Client client("127.0.0.1", port_);
  auto derivative = client.Get("/v1/models/qwen2-tiny-b", {{"Authorization", "Bearer " + key}});
  ASSERT_TRUE(derivative);
  ASSERT_EQ(derivative->status, 200) << derivative->body;
  const json listed = json::parse(derivative->body);
  EXPECT_EQ(listed["parent"], "qwen2-tiny");
  EXPECT_EQ(listed["state"], "loaded");
  EXPECT_EQ(listed["architecture"], "qwen2");
  EXPECT_EQ(listed["size_bytes"], std::filesystem::file_size(adapter));
  // Its log lines give the adapter's size and the base whose KV cache it uses (they said "with
  // its KV cache", as of a model of its own).
  const std::string size =
      deploy::format_bytes(static_cast<int64_t>(std::filesystem::file_size(adapter)));
  EXPECT_NE(server_->err().find("gengyun: model 'qwen2-tiny-b': loading " + adapter + " (" + size +
                                " of adapter; it runs in the KV cache of 'qwen2-tiny')\n"),
            std::string::npos)
      << server_->err();
  EXPECT_NE(server_->err().find("(adapter in anonymous memory), " + size +
                                " of adapter, in the KV cache of 'qwen2-tiny'\n"),
            std::string::npos)
      << server_->err();
  EXPECT_EQ(server_->stop(), 0) << server_->err();

  const auto bad = run_process({kBinary, "serve", "--model", "qwen2-tiny=" + model_path_,
                                "--lora", "b=other:" + adapter, "--db", db_});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("error: --lora b: there is no model 'other'"), std::string::npos)
      << bad.err;
}

// The weights in anonymous memory (rearranged for decode) by default, in the file mapping with
// --mmap: the start line says which, and both answer with `gengyun run`'s greedy text.
TEST_F(ServeTest, MmapAndDefaultWeightsAnswerAlikeAndSaySo) {
  const std::string key = create_key("e2e");
  const std::string prompt = "The quick brown fox";
  const auto run = run_process(
      {kBinary, "run", model_path_, "-p", prompt, "-n", "16", "--temp", "0", "--threads", "1"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const json request = {
      {"model", "qwen2-tiny"}, {"prompt", prompt}, {"max_tokens", 16}, {"temperature", 0}};
  for (const bool mmap : {false, true}) {
    SCOPED_TRACE(mmap ? "--mmap" : "default");
    start_server(1, mmap ? std::vector<std::string>{"--mmap"} : std::vector<std::string>{});
    const std::string memory =
        mmap ? "(weights mapped from the file)" : "(weights in anonymous memory)";
    // Loaded on demand: by the first request, before it is answered.
    EXPECT_EQ(server_->err().find("gengyun: model 'qwen2-tiny': loaded in "), std::string::npos)
        << server_->err();
    auto answer = post("/v1/completions", request.dump(), key);
    ASSERT_TRUE(answer);
    ASSERT_EQ(answer->status, 200) << answer->body;
    EXPECT_EQ(json::parse(answer->body)["choices"][0]["text"], run.out);
    EXPECT_NE(server_->err().find("gengyun: model 'qwen2-tiny': loaded in "), std::string::npos)
        << server_->err();
    EXPECT_NE(server_->err().find(memory), std::string::npos) << server_->err();
    // Without --max-memory or --kv-cache-mb the KV pool is sized at load: the loading line
    // gives the weights alone (the file's size), the loaded line both.
    EXPECT_NE(server_->err().find("gengyun: model 'qwen2-tiny': loading " + model_path_ + " (" +
                                  deploy::format_bytes(static_cast<int64_t>(
                                      std::filesystem::file_size(model_path_))) +
                                  " of weights; its KV cache is sized at load)\n"),
              std::string::npos)
        << server_->err();
    EXPECT_EQ(server_->stop(), 0) << server_->err();
  }
  // With --kv-cache-mb the loading line's estimate holds the pool.
  start_server(1, {"--kv-cache-mb", "8"});
  ASSERT_EQ(post("/v1/completions", request.dump(), key)->status, 200);
  const std::string both = deploy::format_bytes(
      static_cast<int64_t>(std::filesystem::file_size(model_path_)) + (int64_t{8} << 20));
  EXPECT_NE(server_->err().find("gengyun: model 'qwen2-tiny': loading " + model_path_ + " (" +
                                both + " with its KV cache)\n"),
            std::string::npos)
      << server_->err();
  EXPECT_EQ(server_->stop(), 0) << server_->err();
}

TEST_F(ServeTest, ErrorsDoNotStopTheServerAndRevokedKeysAre401) {
  const std::string key = create_key("ops");
  start_server();

  const std::string good = R"({"model":"qwen2-tiny","prompt":"Hi","max_tokens":2,"temperature":0})";
  const struct {
    std::string body;
    std::string key;
    int status;
  } cases[] = {
      {"{not json", key, 400},
      {R"({"model":"qwen2-tiny","prompt":"Hi","temperature":9})", key, 400},
      {R"({"model":"nope","prompt":"Hi"})", key, 404},
      {good, "", 401},
      {good, "gy-000000000000000000000000000000000000000000x", 401},
      {std::string(5 * 1024 * 1024, ' '), key, 413},
      {good, key, 200},
  };
  for (const auto& c : cases) {
    auto r = post("/v1/completions", c.body, c.key);
    ASSERT_TRUE(r) << "no answer for " << c.body.substr(0, 60);
    EXPECT_EQ(r->status, c.status) << r->body;
    if (c.status != 200) {
      EXPECT_TRUE(json::parse(r->body).contains("error")) << r->body;
    }
    ASSERT_TRUE(server_->running()) << server_->err();
  }
  // Ledger: rows only for authenticated requests (413 is refused before authentication).
  const json rows = usage();
  ASSERT_TRUE(rows.is_array()) << rows;
  json requests_by_model = json::object();
  for (const auto& row : rows) {
    EXPECT_EQ(row["key_name"], "ops");
    requests_by_model[row["model"].get<std::string>()] = row["requests"];
  }
  EXPECT_EQ(requests_by_model, json({{"", 1}, {"qwen2-tiny", 2}, {"nope", 1}}));

  const auto revoke = run_process({kBinary, "keys", "revoke", "--db", db_, "--name", "ops"});
  ASSERT_EQ(revoke.exit_code, 0) << revoke.err;
  auto r = post("/v1/completions", good, key);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401) << r->body;
  EXPECT_EQ(json::parse(r->body)["error"]["code"], "invalid_api_key");
  EXPECT_EQ(server_->stop(), 0) << server_->err();
}

// With several threads per model, SIGTERM must reach the server's signal thread, not kill the
// process from a thread-pool worker: the in-flight request finishes and is billed.
TEST_F(ServeTest, SigtermWithWorkInFlightStopsCleanlyAndBillsIt) {
  const std::string key = create_key("busy");
  start_server(/*threads=*/2);
  const json request = {{"model", "qwen2-tiny"}, {"prompt", "hi"}, {"max_tokens", 3000}};
  std::thread client([&] { post("/v1/completions", request.dump(), key); });
  std::this_thread::sleep_for(std::chrono::seconds(1));
  EXPECT_EQ(server_->stop(/*timeout_s=*/120), 0) << server_->err();
  client.join();
  const json rows = usage();
  ASSERT_EQ(rows.size(), 1u) << rows.dump();
  EXPECT_EQ(rows[0]["requests"], 1);
  EXPECT_GT(rows[0]["completion_tokens"].get<int>(), 0);
}

// The served model's own chat template renders the prompt: qwen2-tiny rewritten with Gemma 2's
// template, which writes BOS itself and refuses system messages. The prompt's token count is
// that of render-chat's output, and the template's refusal is a 400 naming it.
TEST_F(ServeTest, ChatsRenderWithTheModelsOwnTemplate) {
  auto source = gguf::File::open(model_path_);
  ASSERT_TRUE(source.ok());
  gguf::Writer writer;
  for (const auto& [k, v] : source->metadata()) writer.set(k, v);
  std::ifstream gemma(gengyun::testing::testdata_path("chat/templates/google-gemma-2-2b-it.jinja"));
  writer.set_string("tokenizer.chat_template", std::string(std::istreambuf_iterator<char>(gemma), {}));
  for (const auto& t : source->tensors())
    ASSERT_TRUE(writer.add_tensor(t.name, t.type, t.ne, {t.data, t.n_bytes}).ok());
  model_path_ = (dir_ / "gemma-template.gguf").string();
  ASSERT_TRUE(writer.write(model_path_).ok());
  const std::string key = create_key("chat");
  start_server();

  const json user = {{"role", "user"}, {"content", "Why is the sky blue?"}};
  const auto r = post("/v1/chat/completions",
                      json({{"model", "qwen2-tiny"},
                            {"messages", {user}},
                            {"max_tokens", 2},
                            {"temperature", 0}})
                          .dump(),
                      key);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const std::string conversation = (dir_ / "conversation.json").string();
  std::ofstream(conversation) << json({{"messages", {user}}}).dump();
  const auto rendered =
      run_process({kBinary, "render-chat", model_path_, "--conversation", conversation});
  ASSERT_EQ(rendered.exit_code, 0) << rendered.err;
  EXPECT_EQ(rendered.out,
            "<|endoftext|><start_of_turn>user\nWhy is the sky blue?<end_of_turn>\n"
            "<start_of_turn>model\n");
  const std::string prompt_file = (dir_ / "prompt.txt").string();
  std::ofstream(prompt_file, std::ios::binary) << rendered.out;
  const auto ids =
      run_process({kBinary, "tokenize", model_path_, "--special", "--file", prompt_file});
  ASSERT_EQ(ids.exit_code, 0) << ids.err;
  std::istringstream words(ids.out);
  const size_t n_tokens = std::distance(std::istream_iterator<std::string>(words), {});
  EXPECT_EQ(json::parse(r->body)["usage"]["prompt_tokens"], n_tokens);

  const auto refused = post("/v1/chat/completions",
                            json({{"model", "qwen2-tiny"},
                                  {"messages", {{{"role", "system"}, {"content", "Be brief."}}, user}}})
                                .dump(),
                            key);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 400);
  const json error = json::parse(refused->body)["error"];
  EXPECT_EQ(error["message"],
            "the model's chat template refused the messages: TemplateError: System role not "
            "supported");
  EXPECT_EQ(error["param"], "messages");
}

/// A raw HTTP request with `key` for a completion of up to 4000 tokens at temperature 0,
/// streamed: long enough to be in flight while a test acts on the server.
std::string long_stream_request(const std::string& key) {
  const std::string body = json({{"model", "qwen2-tiny"},
                                 {"prompt", "The quick brown fox"},
                                 {"max_tokens", 4000},
                                 {"temperature", 0},
                                 {"stream", true}})
                               .dump();
  return "POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + key +
         "\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

/// A connection to the SQLite file `db` holding its write lock (BEGIN EXCLUSIVE), as another
/// process would; null (with a test failure) when it cannot be taken. ROLLBACK and close it.
/// A loopback port a socket of this process listens on, for the --listen of a serve that must
/// be refused before it binds: a serve that got past the refusal under test (a regression) then
/// fails on the port instead of serving, and the test fails rather than waiting on it.
struct BusyPort {
  BusyPort() {
    fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (fd >= 0 && bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
        listen(fd, 1) == 0 && getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0)
      listen_address = "127.0.0.1:" + std::to_string(ntohs(address.sin_port));
  }
  ~BusyPort() {
    if (fd >= 0) close(fd);
  }
  BusyPort(const BusyPort&) = delete;
  BusyPort& operator=(const BusyPort&) = delete;
  int fd = -1;
  std::string listen_address;  ///< "" when no port could be taken
};

sqlite3* lock_database(const std::string& db) {
  sqlite3* other = nullptr;
  EXPECT_EQ(sqlite3_open(db.c_str(), &other), SQLITE_OK);
  sqlite3_busy_timeout(other, 60'000);
  if (sqlite3_exec(other, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr) == SQLITE_OK) return other;
  ADD_FAILURE() << "cannot lock " << db << ": " << sqlite3_errmsg(other);
  sqlite3_close(other);
  return nullptr;
}

/// Whether a server's log `err` says it applied the writes of the ledger spool `spool` at start.
bool applied_spool(const std::string& err, const std::string& spool) {
  return std::regex_search(
      err, std::regex("gengyun: applied [0-9]+ spooled ledger write\\(s\\) \\(spool '" + spool +
                      "'\\)"));
}

/// Sends `request` to 127.0.0.1:port and reads until `events` SSE events have arrived; returns
/// the open socket (the stream goes on) or -1.
int stream_events(int port, const std::string& request, size_t events) {
  const int sock = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (connect(sock, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      send(sock, request.data(), request.size(), MSG_NOSIGNAL) !=
          static_cast<ssize_t>(request.size())) {
    close(sock);
    return -1;
  }
  std::string received;
  size_t seen = 0;
  char buffer[4096];
  while (seen < events) {
    const ssize_t n = recv(sock, buffer, sizeof buffer, 0);
    if (n <= 0) {
      close(sock);
      return -1;
    }
    received.append(buffer, static_cast<size_t>(n));
    seen = 0;
    for (size_t pos = received.find("data: "); pos != std::string::npos;
         pos = received.find("data: ", pos + 1))
      ++seen;
  }
  return sock;
}

// kill -9 in the middle of a stream: the row was open with its checkpoints; the next start
// closes it as "interrupted", billed at its admission prices up to its last checkpoint.
TEST_F(ServeTest, KillNineMidStreamLeavesARowClosedAtRestartFromItsCheckpoint) {
  const std::string key = create_key("crash");
  ASSERT_EQ(run_process({kBinary, "prices", "set", "qwen2-tiny", "--db", db_, "--input", "2",
                         "--output", "5"})
                .exit_code,
            0);
  start_server();
  const int sock = stream_events(port_, long_stream_request(key), 80);
  ASSERT_GE(sock, 0) << server_->err();
  // Wait for the server's checkpoint to be durable (the ledger is the event it exposes).
  int64_t checkpointed = 0;
  {
    auto store = platform::Store::open(db_, platform::OpenMode::Read);
    ASSERT_TRUE(store.ok()) << store.error().message;
    // Every look must find the one row, still open.
    std::string wrong;
    api::testing::eventually(
        [&] {
          auto rows = store.value()->usage_rows();
          if (!rows.ok() || rows->size() != 1u || rows->front().status != "open") {
            wrong = rows.ok() ? std::to_string(rows->size()) + " rows, the first " +
                                    (rows->empty() ? "absent" : rows->front().status)
                              : rows.error().message;
            return true;
          }
          checkpointed = rows->front().completion_tokens;
          return checkpointed >= 64;
        },
        std::chrono::seconds(30));
    ASSERT_EQ(wrong, "") << "the streaming request's ledger row";
  }
  ASSERT_GE(checkpointed, 64);
  server_->kill_now();
  close(sock);

  start_server();
  EXPECT_NE(server_->err().find("closed 1 interrupted request(s) in the ledger"),
            std::string::npos)
      << server_->err();
  EXPECT_EQ(server_->stop(), 0) << server_->err();
  const std::vector<platform::UsageRecord> rows = ledger_rows();
  ASSERT_EQ(rows.size(), 1u);
  const platform::UsageRecord& row = rows.front();
  EXPECT_EQ(row.status, "interrupted");
  EXPECT_GE(row.completion_tokens, checkpointed);
  EXPECT_GT(row.prompt_tokens, 0);
  // $2 / $5 per million: 2 and 5 micro-USD per token, nothing cached in a fresh server.
  EXPECT_EQ(row.cost_micro_usd,
            2 * (row.prompt_tokens - row.cached_prompt_tokens) + 2 * row.cached_prompt_tokens +
                5 * row.completion_tokens);
}

// The database is locked by another process while a stream runs: the client gets its whole
// answer (its row waits, fsynced, in the spool beside the database), then the server is killed
// with the row still spooled. The next start applies the spool before serving: the row lands
// with the counts the client was told, closed as "ok", not as "interrupted"; a second server
// cannot be given the same spool.
TEST_F(ServeTest, KillNineWithARowInTheSpoolLandsItAtRestart) {
  const std::string key = create_key("spooled");
  start_server();
  const int sock = stream_events(port_, long_stream_request(key), 10);
  ASSERT_GE(sock, 0) << server_->err();
  sqlite3* other = lock_database(db_);
  ASSERT_NE(other, nullptr);
  std::string received;
  char buffer[4096];
  while (received.find("data: [DONE]") == std::string::npos) {
    const ssize_t n = recv(sock, buffer, sizeof buffer, 0);
    ASSERT_GT(n, 0) << "the stream ended before [DONE]: " << received;
    received.append(buffer, static_cast<size_t>(n));
  }
  close(sock);
  const size_t usage_at = received.rfind("\"completion_tokens\":");
  ASSERT_NE(usage_at, std::string::npos) << received;
  const int64_t completion = std::stoll(received.substr(usage_at + 20));
  const std::string spool = db_ + "-ledger-spool";
  EXPECT_GT(std::filesystem::file_size(spool), 0u);
  server_->kill_now();
  ASSERT_EQ(sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(other);

  start_server();
  // The stream's checkpoints and its settlement, in order.
  EXPECT_TRUE(applied_spool(server_->err(), spool)) << server_->err();
  EXPECT_EQ(std::filesystem::file_size(spool), 0u);
  const auto second = run_process({kBinary, "serve", "--model", "qwen2-tiny=" + model_path_,
                                   "--listen", "127.0.0.1:" + std::to_string(free_port()),
                                   "--db", db_, "--ledger-spool", spool});
  EXPECT_EQ(second.exit_code, 1);
  EXPECT_NE(second.err.find("error: ledger spool '" + spool +
                            "' is held by another live server; give each server a spool of its "
                            "own (serve --ledger-spool PATH)"),
            std::string::npos)
      << second.err;
  EXPECT_EQ(server_->stop(), 0) << server_->err();
  const std::vector<platform::UsageRecord> rows = ledger_rows();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows.front().status, "ok");
  EXPECT_EQ(rows.front().completion_tokens, completion);
}

// A damaged line in the middle of a spool stops `serve` (nothing is served that could not be
// billed) and names the repair; `gengyun spool repair` sets the line aside, keeping a copy of the
// whole spool, and the next start lands the intact writes.
TEST_F(ServeTest, ADamagedSpoolLineStopsServeUntilSpoolRepairSetsItAside) {
  create_key("spooled");
  const std::string spool = db_ + "-ledger-spool";
  const auto record = [](const std::string& id, int64_t prompt) {
    platform::LedgerWrite write{platform::LedgerWrite::Kind::Record};
    write.row = platform::UsageRecord{1,   "qwen2-tiny", prompt, 0,     1'700'000'000'000'000,
                                      1'700'000'000'000'000, "/v1/completions", 401, "error",
                                      "", id};
    return platform::spool_line(write) + "\n";
  };
  const std::string original = record("r1", 11) + "w2\tdamaged\n" + record("r2", 22);
  { std::ofstream(spool, std::ios::binary) << original; }
  const std::vector<std::string> serve{kBinary,  "serve", "--model", "qwen2-tiny=" + model_path_,
                                       "--listen", "127.0.0.1:" + std::to_string(free_port()),
                                       "--db",     db_};
  const auto refused = run_process(serve);
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("error: ledger spool '" + spool +
                             "', line 2: not a spooled ledger write (2 fields, expected 22 "
                             "starting with 'w3') (`gengyun spool repair " +
                             spool + "` sets damaged lines aside)"),
            std::string::npos)
      << refused.err;

  const auto repaired = run_process({kBinary, "spool", "repair", spool});
  ASSERT_EQ(repaired.exit_code, 0) << repaired.err;
  const std::regex said("ledger spool '" + spool +
                        "': set aside 1 damaged line\\(s\\) \\(line 2\\) and kept 2 write\\(s\\); "
                        "the spool as it was is in '(" +
                        spool + "\\.damaged-[0-9]{8}T[0-9]{6}Z)'\n");
  std::smatch aside;
  ASSERT_TRUE(std::regex_match(repaired.out, aside, said)) << repaired.out;
  std::ifstream copy(aside[1].str(), std::ios::binary);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(copy), {}), original);
  // Damaged again and repaired at once (within the same second, as like as not): the copy
  // takes a name of its own. The damage is a last line without its newline: set aside too, and
  // in the copy (a server cuts such a line off, a repair keeps it).
  { std::ofstream(spool, std::ios::binary | std::ios::app) << "garbage"; }
  const auto second_repair = run_process({kBinary, "spool", "repair", spool});
  ASSERT_EQ(second_repair.exit_code, 0) << second_repair.err;
  std::smatch second_aside;
  ASSERT_TRUE(std::regex_search(second_repair.out, second_aside,
                                std::regex("the spool as it was is in '([^']+)'")))
      << second_repair.out;
  EXPECT_NE(second_aside[1].str(), aside[1].str());
  std::ifstream second_copy(second_aside[1].str(), std::ios::binary);
  const std::string second_text(std::istreambuf_iterator<char>(second_copy), {});
  EXPECT_EQ(second_text.substr(second_text.size() - 8), "\ngarbage");
  EXPECT_TRUE(std::filesystem::exists(aside[1].str()));
  const auto again = run_process({kBinary, "spool", "repair", spool});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(again.out, "ledger spool '" + spool +
                           "': all 2 line(s) are spooled writes; nothing to repair\n");

  start_server();
  EXPECT_NE(server_->err().find("gengyun: applied 2 spooled ledger write(s) (spool '" + spool +
                                "')"),
            std::string::npos)
      << server_->err();
  EXPECT_EQ(server_->stop(), 0) << server_->err();
  const std::vector<platform::UsageRecord> rows = ledger_rows();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows.at(0).request_id, "r1");
  EXPECT_EQ(rows.at(0).prompt_tokens, 11);
  EXPECT_EQ(rows.at(1).request_id, "r2");
  EXPECT_EQ(rows.at(1).prompt_tokens, 22);
}

// A signal during start-up (here the database's opening, held by another process's lock for
// SQLite's 5 s busy timeout; as well a pinned model's load) ends serve at once with 128 + its
// number, nothing being served yet (QA: SIGINT waited until start-up was over, then the server
// served and stopped, or here failed on the lock 5 s later).
TEST_F(ServeTest, ASignalDuringStartUpExitsAtOnce) {
  create_key("bot");
  sqlite3* other = lock_database(db_);
  ASSERT_NE(other, nullptr);
  for (const int signal : {SIGINT, SIGTERM}) {
    SCOPED_TRACE(signal);
    BackgroundProcess server({kBinary, "serve", "--model", "qwen2-tiny=" + model_path_, "--listen",
                              "127.0.0.1:0", "--db", db_, "--threads", "1"});
    ASSERT_TRUE(api::testing::eventually([&] {
      return server.err().find("gengyun: model 'qwen2-tiny': available\n") != std::string::npos;
    })) << server.err();
    EXPECT_EQ(server.stop(10, signal), 128 + signal) << server.err();
    EXPECT_NE(
        server.err().find(std::string("gengyun: ") + (signal == SIGINT ? "SIGINT" : "SIGTERM") +
                          " during start-up: exiting (nothing is served yet)\n"),
        std::string::npos)
        << server.err();
  }
  ASSERT_EQ(sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(other);
}

// The database is locked by another process while a stream runs, and the server is killed
// (kill -9) during the stall, before its writer gives the round up (SQLite's 5 s busy timeout):
// the stream's checkpoints made meanwhile were journaled to the spool as they came instead of
// waiting in memory, so the next start applies them and closes the row from the last of them.
TEST_F(ServeTest, KillNineDuringADatabaseStallKeepsTheCheckpointsMadeMeanwhile) {
  const std::string key = create_key("stalled");
  start_server();
  const int sock = stream_events(port_, long_stream_request(key), 10);
  ASSERT_GE(sock, 0) << server_->err();
  sqlite3* other = lock_database(db_);
  ASSERT_NE(other, nullptr);
  // Read on (the stream goes on while the client takes it) until the server says it journals
  // and the spool holds a count of the stream.
  const std::string spool = db_ + "-ledger-spool";
  const auto journaled_count = [&] {
    int64_t count = 0;
    std::ifstream in(spool);
    for (std::string line; std::getline(in, line);) {
      auto write = platform::parse_spool_line(line);
      EXPECT_TRUE(write.ok()) << line;
      if (write.ok() && write->kind != platform::LedgerWrite::Kind::Record)
        count = std::max(count, write->row.completion_tokens);
    }
    return count;
  };
  const std::string journaling = "the writes waiting for it are journaled to the spool '" + spool;
  int64_t journaled = 0;
  char buffer[4096];
  const bool seen = api::testing::eventually(
      [&] {
        (void)recv(sock, buffer, sizeof buffer, MSG_DONTWAIT);
        if (server_->err().find(journaling) == std::string::npos) return false;
        journaled = journaled_count();
        return journaled > 0;
      },
      std::chrono::minutes(1));
  ASSERT_TRUE(seen) << server_->err();
  server_->kill_now();
  close(sock);
  ASSERT_EQ(sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(other);

  start_server();
  EXPECT_TRUE(applied_spool(server_->err(), spool)) << server_->err();
  EXPECT_EQ(server_->stop(), 0) << server_->err();
  const std::vector<platform::UsageRecord> rows = ledger_rows();
  ASSERT_EQ(rows.size(), 1u);
  // Closed at restart from its last journaled checkpoint, or by its settlement if the stream
  // ended (and was journaled) before the kill.
  EXPECT_TRUE(rows.front().status == "interrupted" || rows.front().status == "ok")
      << rows.front().status;
  EXPECT_GE(rows.front().completion_tokens, journaled);
}

// SIGTERM with --shutdown-grace 0: the stream in flight is ended at once, billed for what it
// generated as "shutdown", told so (the 503 server_shutting_down error after its usage chunk,
// then [DONE]: its client never sees a stream end without a finish_reason or an error), and the
// server exits cleanly.
TEST_F(ServeTest, SigtermPastTheGracePeriodEndsStreamsAndBillsThemAsShutdown) {
  const std::string key = create_key("graceless");
  start_server(1, {"--shutdown-grace", "0"});
  const int sock = stream_events(port_, long_stream_request(key), 10);
  ASSERT_GE(sock, 0) << server_->err();
  EXPECT_EQ(server_->stop(), 0) << server_->err();
  std::string tail;
  char buffer[4096];
  for (ssize_t n; (n = recv(sock, buffer, sizeof buffer, 0)) > 0;)
    tail.append(buffer, static_cast<size_t>(n));
  close(sock);
  const size_t error = tail.rfind("data: {\"error\":");
  ASSERT_NE(error, std::string::npos) << tail.substr(tail.size() > 600 ? tail.size() - 600 : 0);
  EXPECT_NE(tail.find("\"code\":\"server_shutting_down\"", error), std::string::npos);
  EXPECT_LT(tail.rfind("\"completion_tokens\":"), error);
  EXPECT_EQ(tail.find("\"finish_reason\":\"", 0), std::string::npos);
  EXPECT_NE(tail.find("data: [DONE]\n\n", error), std::string::npos);
  EXPECT_NE(server_->err().find("the grace period is over"), std::string::npos) << server_->err();
  const std::vector<platform::UsageRecord> rows = ledger_rows();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows.front().status, "shutdown");
  EXPECT_GE(rows.front().completion_tokens, 9);
  EXPECT_LT(rows.front().completion_tokens, 4000);
}

// --prices seeds the prices at start (a second start with the same file writes nothing); a bad
// file stops the server before it serves.
TEST_F(ServeTest, PricesFileIsSeededAtStart) {
  const std::string prices = (dir_ / "prices.json").string();
  std::ofstream(prices) << R"({"qwen2-tiny": {"input": "0.15", "output": 0.6}})";
  create_key("k");
  for (int start = 0; start < 2; ++start) {
    start_server(1, {"--prices", prices});
    EXPECT_EQ(server_->stop(), 0) << server_->err();
  }
  auto store = platform::Store::open(db_, platform::OpenMode::Read);
  ASSERT_TRUE(store.ok()) << store.error().message;
  auto price = store.value()->price("qwen2-tiny");
  ASSERT_TRUE(price.ok() && price->has_value());
  EXPECT_EQ((*price)->input, 150'000);
  EXPECT_EQ((*price)->cached_input, 150'000);
  EXPECT_EQ((*price)->output, 600'000);
  auto audit = platform::testing::all_audit_entries(*store.value());
  ASSERT_TRUE(audit.ok());
  EXPECT_EQ(audit->size(), 2u);  // key.create and one price.set

  std::ofstream(prices) << R"({"qwen2-tiny": {"input": "-1", "output": 1}})";
  const auto bad = run_process({kBinary, "serve", "--model", "qwen2-tiny=" + model_path_, "--db",
                                db_, "--prices", prices});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("qwen2-tiny.input '-1' is negative"), std::string::npos) << bad.err;
}

// A price whose model is no served id is warned of at start, one line each (it would bill no
// request); the prices of a folder's "Modèle É.gguf" and NFD "café" file, written composed and
// lower-cased, match their ids (QA: they were served free under "modèle É" and NFD "café").
TEST_F(ServeTest, PricesThatMatchNoServedIdAreWarnedOf) {
  const std::filesystem::path models = dir_ / "models";
  std::filesystem::create_directory(models);
  std::filesystem::create_symlink(gengyun::testing::testdata_path("models/stories260K-f32.gguf"),
                                  models / "Mod\u00e8le \u00c9.gguf");
  std::filesystem::create_symlink(gengyun::testing::testdata_path("models/stories260K-f32.gguf"),
                                  models / "cafe\u0301.gguf");
  const std::string prices = (dir_ / "prices.json").string();
  std::ofstream(prices) << R"({"mod\u00e8le \u00e9": {"input": 1, "output": 1},
                              "caf\u00e9": {"input": 1, "output": 1},
                              "qwen2-tiny": {"input": 1, "output": 1},
                              "Qwen2-Tiny": {"input": 1, "output": 1},
                              "tiny": {"input": 1, "output": 1}})";
  start_server(1, {"--models", models.string(), "--prices", prices});
  const std::string err = server_->err();
  std::vector<std::string> warned;
  for (size_t at = err.find("gengyun: warning: the price of "); at != std::string::npos;
       at = err.find("gengyun: warning: the price of ", at + 1))
    warned.push_back(err.substr(at, err.find('\n', at) + 1 - at));
  const auto warning = [](const std::string& model) {
    return "gengyun: warning: the price of '" + model +
           "' matches no model served: prices apply to model ids exactly (not to aliases), so it "
           "bills no request\n";
  };
  EXPECT_EQ(warned, (std::vector<std::string>{warning("Qwen2-Tiny"), warning("tiny")})) << err;
}

// A folder of models beside a --model flag, with a config: the listing, an alias, the log, a
// file that appears while serving, and keep_alive 0.
TEST_F(ServeTest, ServesAFolderOnDemandWithAConfig) {
  const std::string key = create_key("k");
  const std::filesystem::path models = dir_ / "models";
  std::filesystem::create_directory(models);
  std::filesystem::create_symlink(gengyun::testing::testdata_path("models/stories260K-f32.gguf"),
                                  models / "Stories.gguf");
  std::ofstream(models / "notes.gguf") << "not a model";
  const std::string config = (dir_ / "gengyun.yaml").string();
  std::ofstream(config) << "rescan_interval: 100ms\nmodels:\n  stories:\n    aliases: [tiny]\n";
  start_server(1, {"--models", models.string(), "--config", config, "--max-memory", "1GiB"});
  httplib::Client client("127.0.0.1", port_);
  const httplib::Headers auth = {{"Authorization", "Bearer " + key}};
  const auto list = [&] {
    auto r = client.Get("/v1/models", auth);
    EXPECT_TRUE(r && r->status == 200) << (r ? r->body : httplib::to_string(r.error()));
    std::map<std::string, json> by_id;
    const json body = r && r->status == 200 ? json::parse(r->body) : json::object();
    for (const json& m : body.value("data", json::array())) by_id[m["id"]] = m;
    return by_id;
  };
  auto models_now = list();
  ASSERT_EQ(models_now.size(), 3u);
  EXPECT_EQ(models_now["stories"]["state"], "available");
  EXPECT_EQ(models_now["stories"]["aliases"], json({"tiny"}));
  EXPECT_EQ(models_now["qwen2-tiny"]["quantization"], "Q8_0");
  EXPECT_EQ(models_now["notes"]["state"], "error");
  EXPECT_NE(server_->err().find("gengyun: model 'notes': cannot be served: "), std::string::npos)
      << server_->err();

  const json request = {{"model", "tiny"}, {"prompt", "Once"}, {"max_tokens", 2},
                        {"keep_alive", 0}};
  auto answer = post("/v1/completions", request.dump(), key);
  ASSERT_TRUE(answer);
  ASSERT_EQ(answer->status, 200) << answer->body;
  EXPECT_NE(server_->err().find("gengyun: model 'stories': loading "), std::string::npos);
  EXPECT_TRUE(api::testing::eventually([&] {
    return server_->err().find("gengyun: model 'stories': unloaded (idle)") != std::string::npos;
  })) << server_->err();

  std::filesystem::create_symlink(gengyun::testing::testdata_path("models/llama-tiny-q8_0.gguf"),
                                  models / "llama.gguf");
  EXPECT_TRUE(api::testing::eventually([&] { return list().contains("llama"); }));
  std::filesystem::remove(models / "notes.gguf");
  EXPECT_TRUE(api::testing::eventually([&] { return !list().contains("notes"); }));
}

// A file name holding newlines cannot forge log lines: the warning that leaves it out shows its
// control characters as \xNN (QA: "a\ngengyun: model 'evil': available\nb.gguf").
TEST_F(ServeTest, AFileNameWithControlCharactersIsLeftOutAndLoggedEscaped) {
  create_key("k");
  const std::filesystem::path models = dir_ / "models";
  std::filesystem::create_directory(models);
  std::filesystem::create_symlink(gengyun::testing::testdata_path("models/stories260K-f32.gguf"),
                                  models / "a\ngengyun: model 'evil': available\nb.gguf");
  std::filesystem::create_symlink(gengyun::testing::testdata_path("models/stories260K-f32.gguf"),
                                  models / ".gguf");
  start_server(1, {"--models", models.string()});
  const std::string err = server_->err();
  EXPECT_NE(
      err.find(
          "gengyun: warning: --models: " + (models / "a").string() +
          "\\x0agengyun: model 'evil': available\\x0ab.gguf is not served: its name "
          "holds control, format, invisible, private-use or unassigned characters, or bytes that "
          "are not UTF-8, which an id may not; rename the file\n"),
      std::string::npos)
      << err;
  EXPECT_NE(err.find("gengyun: warning: --models: " + (models / ".gguf").string() +
                     " is not served: its model id (the name before .gguf) would be empty\n"),
            std::string::npos)
      << err;
  EXPECT_EQ(err.find("\ngengyun: model 'evil'"), std::string::npos) << err;
}

TEST_F(ServeTest, BadRegistryFlagsAreRefusedAtStart) {
  const std::string config = (dir_ / "bad.yaml").string();
  std::ofstream(config) << "keepalive: 5m\n";
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--model", "q=" + model_path_, "--max-memory", "8XB"},
       "error: --max-memory: invalid byte size '8XB': unknown unit 'XB'"},
      {{"--model", "q=" + model_path_, "--config", config},
       "error: --config " + config + ": keepalive: unknown key"},
      {{"--models", (dir_ / "none").string()}, "is not a folder"},
      {{}, "error: give the models to serve: --models DIR, --model NAME=PATH or --config FILE"},
      // A negative wait, with or without a unit, is refused as negative (QA: "-1" was asked
      // for a unit).
      {{"--model", "q=" + model_path_, "--memory-wait", "-1"},
       "error: --memory-wait: must not be negative (0: refuse at once)\n"},
      {{"--model", "q=" + model_path_, "--memory-wait", "-2m"},
       "error: --memory-wait: must not be negative (0: refuse at once)\n"},
      {{"--model", "q=" + model_path_, "--memory-wait", "300"},
       "error: --memory-wait: invalid duration '300': a number needs a unit (ns, us, ms, s, m, "
       "h), e.g. \"5m\"\n"},
      // QA: an exponent was "unknown unit 'e'".
      {{"--model", "q=" + model_path_, "--memory-wait", "1e3s"},
       "error: --memory-wait: invalid duration '1e3s': the number '1e3' has an exponent; a "
       "duration's numbers are plain decimals (digits and an optional '.'), e.g. \"1000s\" or "
       "\"1.5h\"\n"},
      {{"--model", "q=" + model_path_, "--max-batch-tokens", "2"},
       "error: --max-batch-tokens (2) must be at least --max-seqs (64): each engine step decodes "
       "one token of every running sequence"},
      // Refused names are shown escaped: they cannot drive the terminal.
      {{"--model", "x\x1b[2Jy=" + model_path_},
       "error: --model: the name 'x\\x1b[2Jy' holds control, format, invisible, private-use or "
       "unassigned "
       "characters, or bytes that are not UTF-8, which a model id may not\n"},
      {{"--model", "x\u202Ey=" + model_path_},
       "error: --model: the name 'x\\xe2\\x80\\xaey' holds control, format, invisible, private-use "
       "or "
       "unassigned characters, or bytes that are not UTF-8, which a model id may not\n"},
      {{"--model", "q=" + model_path_, "--lora", "l\xff=q:a.gguf"},
       "error: --lora: the name 'l\\xff' holds control, format, invisible, private-use or "
       "unassigned "
       "characters, or bytes that are not UTF-8, which a model id may not\n"},
  };
  for (const auto& [flags, message] : cases) {
    std::vector<std::string> argv = {kBinary, "serve", "--db", db_};
    argv.insert(argv.end(), flags.begin(), flags.end());
    const auto out = run_process(argv);
    EXPECT_EQ(out.exit_code, 1) << message;
    EXPECT_NE(out.err.find(message), std::string::npos) << out.err;
  }
}

// A flag's value, a prices file or a model that serve refuses is refused before the database is
// opened: a new --db and its ledger spool are not created (QA: `--memory-wait x` and `--models`
// of no folder left both behind), and an empty --max-memory is refused (QA: it was taken as no
// limit).
TEST_F(ServeTest, RefusedFlagValuesLeaveNoNewDatabase) {
  const std::string prices = (dir_ / "prices.yaml").string();
  std::ofstream(prices) << "q: {input: -1}\n";
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--max-memory", ""},
       "error: --max-memory: invalid byte size '': expected a number with an optional unit, e.g. "
       "8GiB or 512MB\n"},
      {{"--max-memory", "8XB"}, "error: --max-memory: invalid byte size '8XB': unknown unit 'XB'"},
      {{"--memory-wait", "x"}, "error: --memory-wait: invalid duration 'x': "},
      {{"--prices", (dir_ / "none.yaml").string()},
       "error: --prices: cannot read " + (dir_ / "none.yaml").string()},
      {{"--prices", prices}, "error: " + prices + ": "},
      // The registry's own refusals too (QA: they left a new database).
      {{}, "error: --models: '" + (dir_ / "none").string() + "' is not a folder\n"},
  };
  for (const auto& [flags, message] : cases) {
    // (--models of no folder ends a serve that would take the flags.)
    std::vector<std::string> argv = {kBinary,    "serve",
                                     "--db",     db_,
                                     "--model",  "q=" + model_path_,
                                     "--models", (dir_ / "none").string()};
    argv.insert(argv.end(), flags.begin(), flags.end());
    const auto out = run_process(argv);
    EXPECT_EQ(out.exit_code, 1) << message;
    EXPECT_TRUE(out.err.starts_with(message)) << out.err;
    EXPECT_FALSE(std::filesystem::exists(db_)) << message;
    EXPECT_FALSE(std::filesystem::exists(db_ + "-ledger-spool")) << message;
  }
}

// The refusals that came after the database was opened come before it now: a port in use (a
// socket of this test listens on it), a --ledger-spool in a folder that does not exist or that
// is a folder, and a pinned model that cannot load leave no new --db and no spool behind (each
// left a new database).
TEST_F(ServeTest, LateRefusalsLeaveNoNewDatabase) {
  const BusyPort busy;
  ASSERT_FALSE(busy.listen_address.empty());
  const std::string& busy_address = busy.listen_address;
  const std::string spool = (dir_ / "none" / "spool").string();
  const std::string bad = (dir_ / "bad.gguf").string();
  std::ofstream(bad) << "not gguf";
  const std::string config = (dir_ / "pin.yaml").string();
  std::ofstream(config) << "models:\n  bad:\n    pin: true\n";
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--listen", busy_address},
       "error: " + busy_address + ": cannot listen: Address already in use\n"},
      {{"--listen", busy_address, "--ledger-spool", spool},
       "error: --ledger-spool " + spool + ": there is no folder '" + (dir_ / "none").string() +
           "'\n"},
      {{"--listen", busy_address, "--ledger-spool", dir_.string()},
       "error: --ledger-spool " + dir_.string() + ": it is a folder, not a file\n"},
      {{"--listen", busy_address, "--model", "bad=" + bad, "--config", config},
       "error: --config " + config +
           ": models.bad.pin: a pinned model loads at start, and model 'bad' cannot be served: "
           "not a GGUF file: starts with bytes 6e 6f 74 20, expected 'GGUF' (47 47 55 46)\n"},
  };
  for (const auto& [flags, message] : cases) {
    std::vector<std::string> argv = {kBinary, "serve", "--db", db_, "--model", "q=" + model_path_};
    argv.insert(argv.end(), flags.begin(), flags.end());
    const auto out = run_process(argv);
    EXPECT_EQ(out.exit_code, 1) << message;
    EXPECT_TRUE(out.err.ends_with(message)) << out.err;
    EXPECT_FALSE(std::filesystem::exists(db_)) << message;
    EXPECT_FALSE(std::filesystem::exists(db_ + "-ledger-spool")) << message;
    EXPECT_FALSE(std::filesystem::exists(spool)) << message;
    // (So that each case is judged on its own.)
    std::filesystem::remove(db_);
    std::filesystem::remove(db_ + "-ledger-spool");
  }
}

/// Runs `serve` with `--ledger-spool spool` and expects it refused with `message` (the reason,
/// after "error: --ledger-spool SPOOL: ") and no database nor default spool left behind.
void expect_spool_refused(const std::filesystem::path& dir, const std::string& db,
                          const std::string& model, const std::string& spool,
                          const std::string& reason) {
  const BusyPort busy;
  ASSERT_FALSE(busy.listen_address.empty());
  const auto out = run_process({kBinary, "serve", "--db", db, "--model", "q=" + model, "--listen",
                                busy.listen_address, "--ledger-spool", spool});
  EXPECT_EQ(out.exit_code, 1) << spool;
  EXPECT_EQ(out.err, "error: --ledger-spool " + spool + ": " + reason + "\n") << spool;
  EXPECT_FALSE(std::filesystem::exists(db)) << spool;
  EXPECT_FALSE(std::filesystem::exists(db + "-ledger-spool")) << spool;
  EXPECT_FALSE(std::filesystem::exists(dir / "nowhere")) << spool;
}

// A spool that could not be opened, or would lose its rows, is refused before the database is
// opened (QA: each left a new database behind; /dev/null was taken, and its rows lost).
TEST_F(ServeTest, SpoolsThatCannotServeAreRefusedBeforeTheDatabase) {
  const std::string fifo = (dir_ / "fifo").string();
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  const std::string dangling = (dir_ / "dangling").string();
  std::filesystem::create_symlink(dir_ / "nowhere", dangling);
  const std::string notes = (dir_ / "notes.txt").string();
  const std::string text = "first line\nlast line without its end";
  { std::ofstream(notes, std::ios::binary) << text; }
  expect_spool_refused(dir_, db_, model_path_, fifo, "it is a FIFO, not a regular file");
  expect_spool_refused(dir_, db_, model_path_, "/dev/null", "it is a device, not a regular file");
  expect_spool_refused(
      dir_, db_, model_path_, dangling,
      "it is a symbolic link to '" + (dir_ / "nowhere").string() + "', which does not exist");
  expect_spool_refused(dir_, db_, model_path_, notes,
                       "it is not a ledger spool: line 1 starts with 'first line', not with a "
                       "spool version such as 'w3' and a tab");
  std::ifstream in(notes, std::ios::binary);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), text);
}

// A spool that cannot be written, or a folder in which it cannot be made, is refused before the
// database is opened. Made so with `chattr +i` (EPERM, root's too: root ignores mode bits, so
// a folder without write permission cannot be tested here); skipped where chattr cannot.
TEST_F(ServeTest, AnImmutableSpoolOrFolderIsRefusedBeforeTheDatabase) {
  const std::filesystem::path locked = dir_ / "locked";
  std::filesystem::create_directory(locked);
  const std::string spool = (dir_ / "spool").string();
  { std::ofstream(spool) << ""; }
  const auto chattr = [](const std::string& flag, const std::string& path) {
    return std::system(("chattr " + flag + " '" + path + "' 2>/dev/null").c_str()) == 0;
  };
  if (!chattr("+i", locked.string()) || !chattr("+i", spool)) {
    chattr("-i", locked.string());
    GTEST_SKIP() << "chattr +i is not available here";
  }
  // Undone whatever the test does, so that the folder can be removed.
  const std::shared_ptr<void> undo(nullptr, [&](void*) {
    chattr("-i", locked.string());
    chattr("-i", spool);
  });
  expect_spool_refused(
      dir_, db_, model_path_, (locked / "spool").string(),
      "cannot create it in folder '" + locked.string() + "': Operation not permitted");
  EXPECT_FALSE(std::filesystem::exists(locked / "spool"));
  expect_spool_refused(dir_, db_, model_path_, spool, "cannot write it: Operation not permitted");
}

// The database given as the spool, by its name, another name, a link, or one of SQLite's files
// beside it, is refused before anything is opened, and left as it was (QA: `--db a.db
// --ledger-spool a.db` cut the database's last 139 bytes, leaving it malformed).
TEST_F(ServeTest, TheDatabaseAsTheSpoolIsRefusedBeforeAnythingIsOpened) {
  const auto refused = [&](const std::string& spool, const std::string& what) {
    const BusyPort busy;
    ASSERT_FALSE(busy.listen_address.empty());
    const auto out = run_process({kBinary, "serve", "--db", db_, "--model", "q=" + model_path_,
                                  "--listen", busy.listen_address, "--ledger-spool", spool});
    EXPECT_EQ(out.exit_code, 1) << spool;
    EXPECT_EQ(out.err, "error: --ledger-spool " + spool + ": it is " + what + " (--db " + db_ +
                           "), not a spool\n")
        << spool;
    EXPECT_FALSE(std::filesystem::exists(db_ + "-ledger-spool")) << spool;
  };
  // None yet: neither is created.
  refused(db_, "the database");
  EXPECT_FALSE(std::filesystem::exists(db_));
  refused((dir_ / "." / "gengyun.db").string(), "the database");
  EXPECT_FALSE(std::filesystem::exists(db_));
  const std::string text = std::string("SQLite format 3\0", 16) + "tail without its end";
  { std::ofstream(db_, std::ios::binary) << text; }
  const std::string link = (dir_ / "link").string();
  std::filesystem::create_symlink(db_, link);
  const std::string hard = (dir_ / "hard").string();
  std::filesystem::create_hard_link(db_, hard);
  refused(db_, "the database");
  refused(link, "the database");
  refused(hard, "the database");
  refused(db_ + "-wal", "the database's write-ahead log");
  refused(db_ + "-shm", "the database's shared memory");
  refused(db_ + "-journal", "the database's journal");
  std::ifstream in(db_, std::ios::binary);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), text);
  EXPECT_FALSE(std::filesystem::exists(db_ + "-wal"));
  EXPECT_FALSE(std::filesystem::exists(db_ + "-journal"));
}

// The registry's errors about a config entry name the config file, as the config's own do (QA:
// "error: models.a.aliases: ..." alone).
TEST_F(ServeTest, RegistryErrorsOfAConfigEntryNameTheFile) {
  const std::string config = (dir_ / "pin.yaml").string();
  const std::string bad = (dir_ / "bad.gguf").string();
  std::ofstream(bad) << "not gguf";
  std::ofstream(config) << "models:\n  bad:\n    pin: true\n    aliases: [q]\n";
  const auto clash = run_process({kBinary, "serve", "--db", db_, "--model", "q=" + model_path_,
                                  "--model", "bad=" + bad, "--config", config});
  EXPECT_EQ(clash.exit_code, 1);
  EXPECT_TRUE(clash.err.ends_with("error: --config " + config +
                                  ": models.bad.aliases: 'q' is also the id of the model given by "
                                  "--model q=" +
                                  model_path_ + "\n"))
      << clash.err;
  std::ofstream(config) << "models:\n  bad:\n    pin: true\n";
  const BusyPort busy;
  ASSERT_FALSE(busy.listen_address.empty());
  const auto pin =
      run_process({kBinary, "serve", "--db", db_, "--model", "q=" + model_path_, "--model",
                   "bad=" + bad, "--config", config, "--listen", busy.listen_address});
  EXPECT_EQ(pin.exit_code, 1);
  EXPECT_TRUE(pin.err.ends_with("error: --config " + config +
                                ": models.bad.pin: a pinned model loads at start, and model 'bad' "
                                "cannot be served: not a GGUF file: starts with bytes 6e 6f 74 "
                                "20, expected 'GGUF' (47 47 55 46)\n"))
      << pin.err;
}

// A --config that is a folder is refused as a file that cannot be read (QA: it was taken for an
// empty config), before the database is opened: a new --db is not created. (The bad
// --max-memory, checked after the config, ends a serve that would take the folder.)
TEST_F(ServeTest, AConfigThatIsAFolderIsRefused) {
  const auto out = run_process({kBinary, "serve", "--db", db_, "--model", "q=" + model_path_,
                                "--config", dir_.string(), "--max-memory", "8XB"});
  EXPECT_EQ(out.exit_code, 1);
  EXPECT_EQ(out.err,
            "error: --config " + dir_.string() + ": cannot read the config file: it is a folder\n");
  EXPECT_FALSE(std::filesystem::exists(db_));
}

// serve creates a --db that is not there, and says so as the admin commands do, so that a
// mistyped path does not go unnoticed (QA); an existing one is not said.
TEST_F(ServeTest, ANewDatabaseIsSaid) {
  const std::string created = "created the database '" + db_ + "' (there was none)\n";
  start_server();
  // (After the models' lines: the registry is made before the database is opened.)
  EXPECT_NE(server_->err().find("available\n" + created), std::string::npos) << server_->err();
  EXPECT_EQ(server_->stop(), 0);
  start_server();
  EXPECT_EQ(server_->err().find("created the database"), std::string::npos) << server_->err();
}

// A --max-memory below what the smallest model takes is served (a model may shrink: the
// KV cache), with a warning naming both figures: every request would get 503 (QA: 8 bytes
// started without a word).
TEST_F(ServeTest, AMaxMemoryThatNoModelFitsIsWarnedOf) {
  start_server(1, {"--max-memory", "8"});
  EXPECT_TRUE(std::regex_search(
      server_->err(),
      std::regex("\ngengyun: warning: --max-memory 8 B is less than the smallest model takes: "
                 "'qwen2-tiny', [0-9]+\\.[0-9] (KiB|MiB) \\(weights and KV cache, estimated\\); a "
                 "request for a model that does not fit gets 503\n")))
      << server_->err();
  EXPECT_EQ(server_->stop(), 0);
  start_server(1, {"--max-memory", "1GiB"});
  EXPECT_EQ(server_->err().find("warning: --max-memory"), std::string::npos) << server_->err();
}

// --cors-origin takes * or an origin, scheme://host[:port]; anything else is a value outside
// the flag's range (exit 2; QA: "" and "not an origin" were taken and sent to browsers).
TEST_F(ServeTest, ACorsOriginThatIsNoOriginIsRefused) {
  for (const std::string origin :
       {"", "not an origin", "app.example", "https://", "http://a:99999", "*/", "https:// "}) {
    const auto out = run_process({kBinary, "serve", "--db", db_, "--cors-origin", origin});
    EXPECT_EQ(out.exit_code, 2) << origin;
    EXPECT_NE(out.err.find("--cors-origin: '" + origin +
                           "' is neither * nor an origin scheme://host[:port] (e.g. "
                           "https://app.example)"),
              std::string::npos)
        << out.err;
  }
  // An origin in a form no browser sends it in (upper case, a default port, a leading zero) is
  // refused naming the form that matches (QA: HTTPS://A.B was taken and matched no request).
  for (const auto& [origin, serialized] : std::vector<std::pair<std::string, std::string>>{
           {"HTTPS://A.B", "https://a.b"},
           {"https://a.b:443", "https://a.b"},
           {"http://a.b:80", "http://a.b"},
           {"https://a.b:080", "https://a.b:80"},
           {"http://[::1]:0443", "http://[::1]:443"}}) {
    const auto out = run_process({kBinary, "serve", "--db", db_, "--cors-origin", origin});
    EXPECT_EQ(out.exit_code, 2) << origin;
    EXPECT_NE(out.err.find("--cors-origin: '" + origin +
                           "' is not the origin as browsers send it: write " + serialized),
              std::string::npos)
        << out.err;
  }
  // A page's address pasted (a trailing slash, a path, user information, a ':' without a port,
  // spaces around) is named with the origin in it (QA: the generic message).
  for (const auto& [address, origin] : std::vector<std::pair<std::string, std::string>>{
           {"https://app.example/", "https://app.example"},
           {"http://[::1]:8080/", "http://[::1]:8080"},
           {"https://app.example//", "https://app.example"},
           {"https://app.example/x?y#z", "https://app.example"},
           {"https://app.example?y", "https://app.example"},
           {"https://user:pw@app.example:8443/", "https://app.example:8443"},
           {"https://app.example:", "https://app.example"},
           {" https://app.example  ", "https://app.example"}}) {
    const auto out = run_process({kBinary, "serve", "--db", db_, "--cors-origin", address});
    EXPECT_EQ(out.exit_code, 2) << address;
    EXPECT_EQ(out.err, "error: serve: --cors-origin: '" + address +
                           "' is more than an origin (scheme://host[:port] alone: no spaces, "
                           "user, path, query or fragment): write " +
                           origin + "; gengyun serve --help lists its options\n")
        << address;
  }
  // Accepted: the command goes on to its next check.
  // (IP hosts and names as the next test's expected forms.)
  for (const std::string origin :
       {"*", "https://app.example", "http://127.0.0.1:3000", "http://[::1]:8080", "https://a.b:80",
        "http://a.b:443", "https://127.0.0.1", "https://8.0.0.1:8443", "https://[1:0:0:2::3]",
        "https://[::ffff:7f00:1]", "https://123.example", "https://xn--bcher-kva.example"}) {
    const auto out = run_process({kBinary, "serve", "--db", db_, "--cors-origin", origin});
    EXPECT_EQ(out.exit_code, 1) << origin;
    EXPECT_EQ(out.err,
              "error: give the models to serve: --models DIR, --model NAME=PATH or --config "
              "FILE\n")
        << origin;
  }
  // Repeatable, each origin checked (the second one here is refused by name).
  const auto two = run_process({kBinary, "serve", "--db", db_, "--cors-origin", "https://a.example",
                                "--cors-origin", "https://b.example"});
  EXPECT_EQ(two.exit_code, 1) << two.err;
  const auto second_refused = run_process({kBinary, "serve", "--db", db_, "--cors-origin",
                                           "https://a.example", "--cors-origin", "b.example"});
  EXPECT_EQ(second_refused.exit_code, 2);
  EXPECT_NE(second_refused.err.find("--cors-origin: 'b.example' is neither"), std::string::npos)
      << second_refused.err;
  EXPECT_FALSE(std::filesystem::exists(db_));
}

// With several --cors-origin, an answer names the request's origin when it is one of them (QA:
// a second --cors-origin was refused with CLI11's "At Most 1 required but received 2").
TEST_F(ServeTest, SeveralCorsOriginsEachGetTheirOwnOriginBack) {
  start_server(1, {"--cors-origin", "https://a.example", "--cors-origin", "http://b.example:3000"});
  httplib::Client client("127.0.0.1", port_);
  for (const auto& [origin, allowed] : std::vector<std::pair<std::string, std::string>>{
           {"https://a.example", "https://a.example"},
           {"http://b.example:3000", "http://b.example:3000"},
           {"https://c.example", "https://a.example"}}) {
    const auto r = client.Get("/health", {{"Origin", origin}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->get_header_value("Access-Control-Allow-Origin"), allowed) << origin;
    EXPECT_EQ(r->get_header_value("Vary"), "Origin");
  }
}

// An IP address is taken only in the form browsers serialize it (WHATWG URL Standard; the
// expected forms are Node's `new URL(text).origin`): IPv4 as four decimal numbers, IPv6 in RFC
// 5952's compressed lower-case form (QA: https://127.1 and https://[0::1] were taken, and no
// browser request ever matched them). A trailing dot and a host not in ASCII are named.
TEST_F(ServeTest, ACorsOriginIsTakenOnlyInTheFormBrowsersSendIt) {
  const auto refused = [&](const std::string& origin, const std::string& message) {
    const auto out = run_process({kBinary, "serve", "--db", db_, "--cors-origin", origin});
    EXPECT_EQ(out.exit_code, 2) << origin;
    EXPECT_EQ(out.err, "error: serve: --cors-origin: " + message +
                           "; gengyun serve --help lists its options\n")
        << origin;
  };
  for (const auto& [origin, serialized] : std::vector<std::pair<std::string, std::string>>{
           {"https://[0::1]", "https://[::1]"},
           {"https://[::FFFF:127.0.0.1]", "https://[::ffff:7f00:1]"},
           {"https://[2001:DB8:0:0:1::1]", "https://[2001:db8::1:0:0:1]"},
           {"https://127.1", "https://127.0.0.1"},
           {"https://010.0.0.1", "https://8.0.0.1"},
           {"https://0x7f.0.0.1", "https://127.0.0.1"},
           {"https://0X7F.0.0.1:443", "https://127.0.0.1"},
           {"https://4294967295", "https://255.255.255.255"}})
    refused(origin, "'" + origin + "' is not the origin as browsers send it: write " + serialized);
  refused("https://app.example.",
          "'https://app.example.' has a host that ends in a dot (the origin only of pages whose "
          "address has that dot): write https://app.example");
  refused("https://127.1.:8080",
          "'https://127.1.:8080' has a host that ends in a dot (the origin only of pages whose "
          "address has that dot): write https://127.0.0.1:8080");
  refused("https://b\u00fccher.example",
          "'https://b\u00fccher.example' has a host that is not ASCII: write the host in its xn-- "
          "(punycode) form, as browsers send it (e.g. https://xn--bcher-kva.example for "
          "https://b\u00fccher.example)");
  // No address at all: no browser takes such a URL.
  for (const std::string origin :
       {"https://1.2.3.256", "https://1.2.3.4.5", "https://a.09", "https://[1:2]", "https://a b"})
    refused(origin, "'" + origin +
                        "' is neither * nor an origin scheme://host[:port] (e.g. "
                        "https://app.example)");
}

TEST_F(ServeTest, PortInUseIsAClearError) {
  create_key("k");
  start_server();
  const auto second = run_process({kBinary, "serve", "--model", "qwen2-tiny=" + model_path_,
                                   "--listen", "127.0.0.1:" + std::to_string(port_), "--db", db_});
  EXPECT_EQ(second.exit_code, 1);
  EXPECT_NE(second.err.find("127.0.0.1:" + std::to_string(port_) +
                            ": cannot listen: Address already in use"),
            std::string::npos)
      << second.err;
  EXPECT_TRUE(server_->running());
}

TEST_F(ServeTest, OutOfRangeEngineFlagsAreRefusedAtStart) {
  const std::string model = "qwen2-tiny=" + model_path_;
  const std::vector<std::vector<std::string>> bad = {
      {"--threads", "5000"}, {"--max-seqs", "0"}, {"--max-batch-tokens", "0"},
      {"--max-waiting", "-1"}, {"--kv-cache-mb", "-5"}};
  for (const auto& flags : bad) {
    std::vector<std::string> argv = {kBinary, "serve", "--model", model, "--db", db_};
    argv.insert(argv.end(), flags.begin(), flags.end());
    const auto out = run_process(argv);
    EXPECT_NE(out.exit_code, 0) << flags[0] << " " << flags[1];
    EXPECT_NE(out.err.find(flags[0]), std::string::npos) << out.err;
  }
}

}  // namespace
}  // namespace gengyun::e2e
