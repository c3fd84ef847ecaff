// An in-process api::Server on 127.0.0.1 (any free port) serving the real tiny models
// "qwen2-tiny" (qwen2-tiny-q8_0.gguf), "stories" (stories260K-f32.gguf) and the embedding model
// "qwen3-embed-tiny" (qwen3-embed-tiny-f32.gguf), metering into a fresh Store per test, plus a
// client for it.
#pragma once

#include <gtest/gtest.h>
#include <httplib.h>
#include <stdlib.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "api/server.h"
#include "deploy/registry.h"
#include "platform/store.h"
#include "testdata.h"

namespace gengyun::api::testing {

/// The events of an SSE body: each `data:` payload parsed as JSON, and whether the body ended
/// with `data: [DONE]`. Fails the test on anything else.
struct SseBody {
  std::vector<nlohmann::json> events;
  bool done = false;
};
SseBody parse_sse(const std::string& body);

/// The concatenated text of streamed chunks (delta.content for chat, text for completions).
std::string streamed_text(const SseBody& sse);

/// A TCP connection to 127.0.0.1:port with a 30 s receive timeout; fails the test when it
/// cannot connect (returns -1).
int connect_to(int port);

/// Raises the open-file limit (RLIMIT_NOFILE) up to its hard limit when below `needed`; false
/// when `needed` descriptors cannot be had.
bool have_descriptors(size_t needed);

/// True while the peer has neither closed `sock` nor sent anything on it (does not block).
bool open_and_silent(int sock);

/// The bytes of a POST /v1/completions request with `body` and "Authorization: Bearer <key>".
std::string http_post(const std::string& key, const nlohmann::json& body);

/// How many times `what` occurs in `text`.
size_t count_of(const std::string& text, const std::string& what);

/// Reads from `sock` until `received` holds at least `events` SSE events (fails the test when
/// the stream ends first).
void read_events(int sock, std::string& received, size_t events);

/// Sends `request` bytes on a fresh connection and returns everything received until the server
/// closes it (or 30 s pass).
std::string raw_exchange(int port, const std::string& request);

class ServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite();
  /// A registry of `specs` loaded with `options` (the caller owns it; nullptr on failure).
  static deploy::Registry* make_registry(std::vector<deploy::ModelSpec> specs,
                                         ModelOptions options);
  static void TearDownTestSuite();
  void SetUp() override;
  void TearDown() override;
  /// Starts server_ with options_ on a free port (SetUp() does), after stop_server() (to start
  /// it with other options).
  void start_server();
  /// Stops server_ once the requests in flight are answered, and destroys it.
  void stop_server();

  /// POST `body` (dumped) with "Authorization: Bearer <key>" (no header when key is empty).
  httplib::Result post(const std::string& path, const nlohmann::json& body, const std::string& key);
  httplib::Result post_text(const std::string& path, const std::string& body,
                            const std::string& key);
  httplib::Result get(const std::string& path, const std::string& key);
  /// `method` ("GET", "POST", "PATCH", "DELETE") with `body` (JSON when not empty).
  httplib::Result call(const std::string& method, const std::string& path, const std::string& body,
                       const std::string& key);

  /// A completion on qwen2-tiny of 4000 greedy tokens with the log-probability of each, so that
  /// an answer names every token it carries; streamed, more than the connection's buffers hold,
  /// so it cannot end while its client reads nothing.
  static nlohmann::json long_completion(bool stream);
  /// Streams `request` (POST /v1/completions) on key_ and calls `act` once, as soon as the first
  /// event has arrived (reading nothing meanwhile); returns the SSE body. Expects 200 and that
  /// `act` ran.
  std::string stream_acting_on_first_event(const nlohmann::json& request,
                                           const std::function<void()>& act);

  /// A second server on its own registry, sharing this test's store and options_ (start_own()).
  struct OwnServer {
    std::unique_ptr<deploy::Registry> registry;
    std::unique_ptr<Server> server;
    std::thread thread;
    int port = 0;
    /// Stops the server once its requests are answered and joins its thread (the destructor
    /// does, before the registry goes).
    void stop();
    ~OwnServer() { stop(); }
  };
  /// Starts `own` on a free port with a registry made from `options` (its models on one
  /// thread each).
  void start_own(OwnServer& own, deploy::RegistryOptions options);
  /// Starts `own` with a registry of `specs` loaded with `model`.
  void start_own(OwnServer& own, std::vector<deploy::ModelSpec> specs, ModelOptions model);
  /// POST `body` to the server on `port` with key_ (60 s read timeout); GET `path` with `key`.
  httplib::Result post_to(int port, const std::string& path, const nlohmann::json& body);
  httplib::Result get_from(int port, const std::string& path, const std::string& key);

  /// Asserts status, an OpenAI error object, its type/code; returns it.
  static nlohmann::json expect_error(const httplib::Result& r, int status, const char* code);

  std::vector<platform::UsageRecord> rows();
  /// Polls the ledger until it has `count` rows, none of them open (an admitted request's row
  /// is open until it is settled, a cancelled stream's after the client has gone), or 10 s
  /// pass.
  std::vector<platform::UsageRecord> wait_for_rows(size_t count);

  /// The model `name`, held (not unloaded) while the lease lives.
  deploy::ModelLease model(const std::string& name);

  static deploy::Registry* registry_;
  ServerOptions options_;  ///< what SetUp() starts the server with
  std::filesystem::path dir_;
  std::unique_ptr<platform::Store> store_;
  std::string key_;  ///< an active key named "test"
  int64_t key_id_ = 0;
  std::unique_ptr<Server> server_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace gengyun::api::testing
