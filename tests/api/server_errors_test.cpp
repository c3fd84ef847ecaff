// The server's error answers (401, 400, 404, 413), their ledger rows, and that it keeps
// serving after each; /health, /v1/models; 404 and 405; bind and stop.
#include <gtest/gtest.h>

#include <string>
#include <tuple>
#include <vector>

#include "api/errors.h"
#include "server_fixture.h"

namespace gengyun::api::testing {
namespace {

using nlohmann::json;

const json kChat = {{"model", "qwen2-tiny"},
                    {"messages", {{{"role", "user"}, {"content", "Hello"}}}},
                    {"max_tokens", 2},
                    {"temperature", 0}};

// A request ended after one token says "1 generated token" (QA: "1 generated tokens").
TEST(ApiErrors, MessagesCountOneGeneratedTokenInTheSingular) {
  EXPECT_EQ(server_shutting_down(1).message,
            "The server is shutting down and ended this request after 1 generated token.");
  EXPECT_EQ(server_shutting_down(2).message,
            "The server is shutting down and ended this request after 2 generated tokens.");
  EXPECT_EQ(key_withdrawn_mid_request(false, 1).message,
            "The API key was revoked while this request ran; it was ended after 1 generated "
            "token.");
  EXPECT_EQ(key_withdrawn_mid_request(true, 0).message,
            "The API key expired while this request ran; it was ended after 0 generated tokens.");
}

TEST_F(ServerTest, HealthNeedsNoKey) {
  auto r = get("/health", "");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(json::parse(r->body), json({{"status", "ok"}}));
  EXPECT_TRUE(rows().empty());
}

// Every answer that writes a ledger row names the row in x-request-id, refusals included (QA
// 2026-12-07: a 400 or 404 had a row under a req- id that no client saw), so support can find
// the row a user quotes.
TEST_F(ServerTest, AnErrorAnswerNamesItsLedgerRowInXRequestId) {
  json bad = kChat;
  bad["temperature"] = 9;
  json unknown = kChat;
  unknown["model"] = "nope";
  std::vector<std::string> ids;
  for (const auto& [path, body, status] :
       {std::tuple{"/v1/chat/completions", bad, 400},
        std::tuple{"/v1/chat/completions", unknown, 404},
        std::tuple{"/v1/embeddings", json{{"model", "nope"}, {"input", "x"}}, 404}}) {
    auto r = post(path, body, key_);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, status) << r->body;
    ids.push_back(r->get_header_value("x-request-id"));
    EXPECT_TRUE(ids.back().starts_with("req-")) << ids.back();
    EXPECT_EQ(ids.back().size(), 4u + 24u);
  }
  std::vector<std::string> rows_ids;
  for (const platform::UsageRecord& row : rows()) rows_ids.push_back(row.request_id);
  EXPECT_EQ(rows_ids, ids);
}

TEST_F(ServerTest, HeadOnAGetPathAnswersAsGetWithoutTheBody) {
  httplib::Client client("127.0.0.1", port_);
  const httplib::Headers auth = {{"Authorization", "Bearer " + key_}};
  for (const std::string path : {"/health", "/v1/models", "/v1/models/stories"}) {
    auto got = client.Get(path, auth);
    auto head = client.Head(path, auth);
    ASSERT_TRUE(got && head) << path;
    EXPECT_EQ(head->status, 200) << path;
    EXPECT_EQ(head->body, "") << path;
    EXPECT_EQ(head->get_header_value("Content-Length"), std::to_string(got->body.size())) << path;
    EXPECT_EQ(head->get_header_value("Content-Type"), "application/json") << path;
  }
  // As GET would: 401 without a key, 404 for an unknown model; 405 where GET is not allowed.
  auto no_key = client.Head("/v1/models");
  ASSERT_TRUE(no_key);
  EXPECT_EQ(no_key->status, 401);
  EXPECT_EQ(no_key->body, "");
  auto unknown = client.Head("/v1/models/none", auth);
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404);
  auto post_only = client.Head("/v1/chat/completions", auth);
  ASSERT_TRUE(post_only);
  EXPECT_EQ(post_only->status, 405);
  EXPECT_EQ(post_only->get_header_value("Allow"), "POST");
  EXPECT_TRUE(rows().empty());
}

TEST_F(ServerTest, ModelsListsServedModelsById) {
  auto r = get("/v1/models", key_);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const json body = json::parse(r->body);
  EXPECT_EQ(body["object"], "list");
  ASSERT_EQ(body["data"].size(), 3u);
  EXPECT_EQ(body["data"][0]["id"], "qwen2-tiny");
  EXPECT_EQ(body["data"][1]["id"], "qwen3-embed-tiny");
  EXPECT_EQ(body["data"][2]["id"], "stories");
  EXPECT_EQ(body["data"][0]["object"], "model");
  // A read, like /v1/usage: no ledger row (it would be a row without a model).
  EXPECT_TRUE(rows().empty());

  expect_error(get("/v1/models", ""), 401, "invalid_api_key");
  EXPECT_TRUE(rows().empty());
}

TEST_F(ServerTest, ModelsRetrieveAnswersTheModelOr404) {
  auto r = get("/v1/models/stories", key_);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const json body = json::parse(r->body);
  EXPECT_EQ(body["id"], "stories");
  EXPECT_EQ(body["object"], "model");
  EXPECT_EQ(body["owned_by"], "gengyun");
  EXPECT_EQ(body["created"], json::parse(get("/v1/models", key_)->body)["data"][1]["created"]);
  EXPECT_EQ(json::parse(get("/v1/models/qwen2%2Dtiny", key_)->body)["id"], "qwen2-tiny");

  expect_error(get("/v1/models/qwen2", key_), 404, "model_not_found");
  expect_error(get("/v1/models/qwen2%2", key_), 400, nullptr);
  expect_error(get("/v1/models/stories", ""), 401, "invalid_api_key");
  // A model the key may not use is not shown, as in the list.
  auto secret = store_->create_key(platform::NewKey{"storyteller", "default",
                                                    platform::Role::Member, {}, {"stories"}});
  ASSERT_TRUE(secret.ok()) << secret.error().message;
  EXPECT_EQ(get("/v1/models/stories", *secret)->status, 200);
  expect_error(get("/v1/models/qwen2-tiny", *secret), 404, "model_not_found");
  // A read, like the list: no ledger row.
  EXPECT_TRUE(rows().empty());
}

TEST_F(ServerTest, BadKeysAre401AndWriteNoRow) {
  auto second = store_->create_key("revoked");
  ASSERT_TRUE(second.ok());
  ASSERT_TRUE(store_->revoke_key("revoked").ok());

  httplib::Client client("127.0.0.1", port_);
  const std::string body = kChat.dump();
  const httplib::Headers bad_headers[] = {
      {},
      {{"Authorization", "Basic dXNlcjpwYXNz"}},
      {{"Authorization", "Bearer"}},
      {{"Authorization", key_}},
      {{"Authorization", "Bearer gy-unknownkeyunknownkeyunknownkeyunknownkey1"}},
      {{"Authorization", "Bearer " + second.value()}},
  };
  for (const auto& headers : bad_headers)
    for (const char* path : {"/v1/chat/completions", "/v1/completions"})
      expect_error(client.Post(path, headers, body, "application/json"), 401, "invalid_api_key");
  EXPECT_TRUE(rows().empty());

  auto ok = post("/v1/chat/completions", kChat, key_);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200) << ok->body;
  EXPECT_EQ(rows().size(), 1u);
}

TEST_F(ServerTest, InvalidBodiesAre400WithOneErrorRowEach) {
  struct Case {
    const char* path;
    std::string body;
    const char* param;  // nullptr: null
    const char* model;  // as the ledger records it
  };
  const Case cases[] = {
      {"/v1/chat/completions", "not json", nullptr, ""},
      {"/v1/chat/completions", "", nullptr, ""},
      {"/v1/chat/completions", "[1,2,3]", nullptr, ""},
      {"/v1/chat/completions", R"({"messages":[{"role":"user","content":"x"}]})", "model", ""},
      {"/v1/chat/completions", R"({"model":"qwen2-tiny"})", "messages", "qwen2-tiny"},
      {"/v1/chat/completions", R"({"model":"qwen2-tiny","messages":[]})", "messages", "qwen2-tiny"},
      {"/v1/chat/completions",
       R"({"model":"qwen2-tiny","messages":[{"role":"king","content":"x"}]})", "messages[0].role",
       "qwen2-tiny"},
      {"/v1/chat/completions",
       R"({"model":"qwen2-tiny","messages":[{"role":"user","content":"x"}],"temperature":5})",
       "temperature", "qwen2-tiny"},
      {"/v1/chat/completions",
       R"({"model":"qwen2-tiny","messages":[{"role":"user","content":"x"}],"top_p":0})", "top_p",
       "qwen2-tiny"},
      {"/v1/chat/completions",
       R"({"model":"qwen2-tiny","messages":[{"role":"user","content":"x"}],"max_tokens":0})",
       "max_tokens", "qwen2-tiny"},
      {"/v1/chat/completions",
       R"({"model":"qwen2-tiny","messages":[{"role":"user","content":"x"}],"max_tokens":2.5})",
       "max_tokens", "qwen2-tiny"},
      {"/v1/chat/completions",
       R"({"model":"qwen2-tiny","messages":[{"role":"user","content":"x"}],"stop":["a","b","c","d","e"]})",
       "stop", "qwen2-tiny"},
      {"/v1/chat/completions",
       R"({"model":"qwen2-tiny","messages":[{"role":"user","content":"x"}],"seed":"7"})", "seed",
       "qwen2-tiny"},
      {"/v1/chat/completions",
       R"({"model":"qwen2-tiny","messages":[{"role":"user","content":"x"}],"seed":18446744073709551616})",
       "seed", "qwen2-tiny"},
      {"/v1/chat/completions",
       R"({"model":"qwen2-tiny","messages":[{"role":"user","content":"x"}],"seed":18446744073709551615})",
       "seed", "qwen2-tiny"},
      {"/v1/chat/completions",
       R"({"model":"qwen2-tiny","messages":[{"role":"user","content":"x"}],"n":0})", "n",
       "qwen2-tiny"},
      {"/v1/chat/completions",
       R"({"model":"qwen2-tiny","messages":[{"role":"user","content":"x"}],"user":7})", "user",
       "qwen2-tiny"},
      {"/v1/chat/completions",
       R"({"model":"qwen2-tiny","messages":[{"role":"user","content":"x"}],"logit_bias":{"999999":1}})",
       "logit_bias", "qwen2-tiny"},
      {"/v1/completions", R"({"model":"stories"})", "prompt", "stories"},
      {"/v1/completions", R"({"model":"stories","prompt":42})", "prompt", "stories"},
      {"/v1/completions", R"({"model":"stories","prompt":["a",1]})", "prompt", "stories"},
      {"/v1/completions", R"({"model":"stories","prompt":[1,99999]})", "prompt", "stories"},
      {"/v1/completions", R"({"model":"stories","prompt":"x","best_of":3})", "best_of", "stories"},
      {"/v1/completions", R"({"model":7,"prompt":"x"})", "model", ""},
      // A field given twice, at the top or deeper, is refused, never taken as its last value.
      {"/v1/chat/completions",
       R"({"model":"qwen2-tiny","messages":[{"role":"user","content":"x"}],"model":"stories"})",
       "model", ""},
      {"/v1/chat/completions",
       R"({"model":"qwen2-tiny","messages":[{"role":"user","content":"x","content":"y"}]})",
       "messages[0].content", ""},
      {"/v1/completions", R"({"model":"stories","prompt":"x","max_tokens":1,"max_tokens":9})",
       "max_tokens", ""},
      // Deeply nested JSON is refused before it is parsed (or echoed in an error message).
      {"/v1/completions", std::string(1000000, '[') + std::string(1000000, ']'), nullptr, ""},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.body.substr(0, 100));
    const json error = expect_error(post_text(c.path, c.body, key_), 400, nullptr);
    if (c.param) {
      EXPECT_EQ(error["param"], c.param);
    } else {
      EXPECT_TRUE(error["param"].is_null());
    }
  }
  const auto ledger = rows();
  ASSERT_EQ(ledger.size(), std::size(cases));
  for (size_t i = 0; i < ledger.size(); ++i) {
    SCOPED_TRACE(cases[i].body.substr(0, 100));
    EXPECT_EQ(ledger[i].key_id, key_id_);
    EXPECT_EQ(ledger[i].endpoint, cases[i].path);
    EXPECT_EQ(ledger[i].model, cases[i].model);
    EXPECT_EQ(ledger[i].http_status, 400);
    EXPECT_EQ(ledger[i].status, "error");
    EXPECT_FALSE(ledger[i].error.empty());
    EXPECT_EQ(ledger[i].prompt_tokens, 0);
    EXPECT_EQ(ledger[i].completion_tokens, 0);
    EXPECT_LE(ledger[i].started_at_us, ledger[i].finished_at_us);
  }

  auto ok = post("/v1/chat/completions", kChat, key_);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200) << ok->body;
}

TEST_F(ServerTest, UnknownModelIs404) {
  json body = kChat;
  body["model"] = "gpt-4o";
  const json error = expect_error(post("/v1/chat/completions", body, key_), 404, "model_not_found");
  EXPECT_EQ(error["param"], "model");
  const auto ledger = rows();
  ASSERT_EQ(ledger.size(), 1u);
  EXPECT_EQ(ledger[0].model, "gpt-4o");
  EXPECT_EQ(ledger[0].http_status, 404);
  EXPECT_EQ(ledger[0].status, "error");
}

TEST_F(ServerTest, AHugeModelNameAndItsErrorAreCutInTheLedgerAtACharactersStart) {
  json body = kChat;
  // 255 bytes of 'm', then 2-byte characters: byte 256 is the second byte of one.
  std::string name(255, 'm');
  for (int i = 0; i < 50'000; ++i) name += "\xc3\xa9";
  body["model"] = name;
  const json error =
      expect_error(post("/v1/chat/completions", body, key_), 404, "model_not_found");
  const auto ledger = rows();
  ASSERT_EQ(ledger.size(), 1u);
  EXPECT_EQ(ledger[0].model, std::string(255, 'm'));
  // The error quotes the name: the row keeps its first 1024 bytes at most, whole characters
  // (QA of 2026-12-03, fifth: 4 MB a row, from any key).
  const std::string message = error["message"];
  const std::string& kept = ledger[0].error;
  EXPECT_LE(kept.size(), 1024u);
  EXPECT_GE(kept.size(), 1023u);
  EXPECT_TRUE(message.starts_with(kept)) << kept;
  EXPECT_NE(static_cast<unsigned char>(message[kept.size()]) & 0xC0, 0x80);
}

TEST_F(ServerTest, PromptOverTheContextIs400ContextLengthExceeded) {
  auto stories = model("stories");
  ASSERT_TRUE(stories);
  ASSERT_EQ(stories->n_ctx(), 512);
  // The largest prompt that fits leaves room for one generated token: n_ctx - 1 tokens.
  std::string fits = "Once";
  while (static_cast<int>(stories->tokenize(fits + " upon", true, false).size()) <= 511)
    fits += " upon";
  const std::string too_long = fits + " upon";
  ASSERT_EQ(stories->tokenize(fits, true, false).size(), 511u);
  ASSERT_EQ(stories->tokenize(too_long, true, false).size(), 512u);

  const json error =
      expect_error(post("/v1/completions",
                        {{"model", "stories"}, {"prompt", too_long}, {"max_tokens", 1}}, key_),
                   400, "context_length_exceeded");
  EXPECT_EQ(error["param"], "prompt");
  auto ok =
      post("/v1/completions",
           {{"model", "stories"}, {"prompt", fits}, {"max_tokens", 5}, {"temperature", 0}}, key_);
  ASSERT_TRUE(ok);
  ASSERT_EQ(ok->status, 200) << ok->body;
  const json body = json::parse(ok->body);
  EXPECT_EQ(body["usage"]["prompt_tokens"], 511);
  const int completion_tokens = body["usage"]["completion_tokens"];
  EXPECT_GE(completion_tokens, 1);
  EXPECT_LT(completion_tokens, 5);
  EXPECT_EQ(body["choices"][0]["finish_reason"], "length");

  const auto ledger = rows();
  ASSERT_EQ(ledger.size(), 2u);
  EXPECT_EQ(ledger[0].status, "error");
  EXPECT_EQ(ledger[0].http_status, 400);
  // Refused before generation: nothing was processed, nothing is charged.
  EXPECT_EQ(ledger[0].prompt_tokens, 0);
  EXPECT_EQ(ledger[0].completion_tokens, 0);
  EXPECT_EQ(ledger[1].status, "ok");
  EXPECT_EQ(ledger[1].prompt_tokens, 511);
  EXPECT_EQ(ledger[1].completion_tokens, completion_tokens);
}

TEST_F(ServerTest, EmptyPromptWithoutBosIs400) {
  // qwen2-tiny adds no BOS, so "" has no tokens at all.
  const json error = expect_error(
      post("/v1/completions", {{"model", "qwen2-tiny"}, {"prompt", ""}}, key_), 400, nullptr);
  EXPECT_EQ(error["param"], "prompt");
  ASSERT_EQ(rows().size(), 1u);
}

TEST_F(ServerTest, BodyOverTheLimitIs413) {
  const std::string huge =
      R"({"model":"stories","prompt":")" + std::string(kMaxRequestBodyBytes, 'a') + R"("})";
  expect_error(post_text("/v1/completions", huge, key_), 413, "payload_too_large");
  auto ok =
      post("/v1/completions", {{"model", "stories"}, {"prompt", "a"}, {"max_tokens", 1}}, key_);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200) << ok->body;
}

TEST_F(ServerTest, FormUrlEncodedJsonBodyOver8KiBIsServed) {
  // `curl -d` sends application/x-www-form-urlencoded; httplib's own body reading caps such
  // bodies at 8192 bytes.
  std::string body = json({{"model", "stories"}, {"prompt", "Once"}, {"max_tokens", 1}}).dump();
  body += std::string(8300 - body.size(), ' ');
  httplib::Client client("127.0.0.1", port_);
  auto r = client.Post("/v1/completions", {{"Authorization", "Bearer " + key_}}, body,
                       "application/x-www-form-urlencoded");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(json::parse(r->body)["usage"]["completion_tokens"], 1);
  ASSERT_EQ(rows().size(), 1u);
  EXPECT_EQ(rows()[0].status, "ok");
}

TEST_F(ServerTest, NegativeContentLengthIs400) {
  const std::string reply = raw_exchange(
      port_, "POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + key_ +
                 "\r\nContent-Type: application/json\r\nContent-Length: -5\r\nConnection: close\r\n\r\n");
  ASSERT_EQ(reply.rfind("HTTP/1.1 400", 0), 0u) << reply;
  const json error = json::parse(reply.substr(reply.find("\r\n\r\n") + 4))["error"];
  EXPECT_EQ(error["message"], "The Content-Length header '-5' is not a number of bytes.");
  EXPECT_EQ(error["type"], "invalid_request_error");
  EXPECT_TRUE(rows().empty());
  auto ok =
      post("/v1/completions", {{"model", "stories"}, {"prompt", "a"}, {"max_tokens", 1}}, key_);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200) << ok->body;
}

// Two Authorization fields (a valid key and another, in either order) are refused, not one of
// them taken (QA 2026-12-03: the first won silently); nothing is written to the ledger.
TEST_F(ServerTest, TwoAuthorizationHeadersAre400) {
  for (const auto& [first, second] : {std::pair<std::string, std::string>{key_, "gy-other"},
                                      {"gy-other", key_}, {key_, key_}}) {
    const std::string reply = raw_exchange(
        port_, "GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + first +
                   "\r\nauthorization: Bearer " + second + "\r\nConnection: close\r\n\r\n");
    ASSERT_EQ(reply.rfind("HTTP/1.1 400", 0), 0u) << reply;
    const json error = json::parse(reply.substr(reply.find("\r\n\r\n") + 4))["error"];
    EXPECT_EQ(error["message"], "the Authorization header is given more than once");
    EXPECT_EQ(error["type"], "invalid_request_error");
  }
  EXPECT_TRUE(rows().empty());
  EXPECT_EQ(get("/v1/models", key_)->status, 200);
}

TEST_F(ServerTest, UnknownPathIs404Json) {
  expect_error(get("/v1/nothing", key_), 404, "unknown_url");
  expect_error(get("/admin/nothing", key_), 404, "unknown_url");
  expect_error(get("/admin/keys/x1", key_), 404, "unknown_url");
  EXPECT_TRUE(rows().empty());
}

TEST_F(ServerTest, WrongMethodOnAKnownPathIs405WithAllow) {
  const std::pair<httplib::Result, std::string> cases[] = {
      {get("/v1/chat/completions", key_), "POST"},
      {post_text("/health", "{}", key_), "GET, HEAD"},
      {post_text("/v1/models", "{}", key_), "GET, HEAD"},
      {post_text("/v1/models/stories", "{}", key_), "GET, HEAD"},
      {post_text("/admin/audit", "{}", key_), "GET, HEAD"},
      {post_text("/admin/keys/1", "{}", key_), "GET, HEAD, PATCH, DELETE"}};
  for (const auto& [r, allow] : cases) {
    expect_error(r, 405, "method_not_allowed");
    EXPECT_EQ(r->get_header_value("Allow"), allow);
  }
  EXPECT_TRUE(rows().empty());
}

TEST_F(ServerTest, SecondServerOnTheSamePortFailsToBind) {
  Server other(*registry_, *store_);
  auto bound = other.bind("127.0.0.1", port_);
  ASSERT_FALSE(bound.ok());
  EXPECT_EQ(bound.error().message,
            "127.0.0.1:" + std::to_string(port_) + ": cannot listen: Address already in use");
  auto again = server_->bind("127.0.0.1", 0);
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.error().message.find("already bound"), std::string::npos);
  EXPECT_FALSE(other.bind("127.0.0.1", 70000).ok());
  EXPECT_FALSE(other.bind("no-such-host.invalid", 0).ok());
}

TEST_F(ServerTest, StopBeforeRunMakesRunReturn) {
  Server other(*registry_, *store_);
  ASSERT_TRUE(other.bind("127.0.0.1", 0).ok());
  other.stop();
  other.run();  // returns at once
  Server unbound(*registry_, *store_);
  unbound.run();
}

}  // namespace
}  // namespace gengyun::api::testing
