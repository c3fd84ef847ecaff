// CORS (ServerOptions::cors_origins: off by default, preflights, the header fields on every
// answer) and the access log line of each request (method, path, status, latency, key prefix;
// never the key).
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "api/observed_responder.h"
#include "eventually.h"
#include "log_capture.h"
#include "platform/key_secret.h"
#include "server_fixture.h"

namespace gengyun::api::testing {
namespace {

using nlohmann::json;

class CorsServerTest : public ServerTest {
 protected:
  void SetUp() override {
    options_.cors_origins = {"https://app.example"};
    ServerTest::SetUp();
  }
};

TEST_F(CorsServerTest, PreflightIsAnswered204WithTheAskedHeaders) {
  httplib::Client client("127.0.0.1", port_);
  const auto r =
      client.Options("/v1/chat/completions",
                     {{"Origin", "https://app.example"},
                      {"Access-Control-Request-Method", "POST"},
                      {"Access-Control-Request-Headers", "authorization, x-stainless-os"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 204);
  EXPECT_EQ(r->get_header_value("Access-Control-Allow-Origin"), "https://app.example");
  // (the methods of the path, as a 405's Allow would name them)
  EXPECT_EQ(r->get_header_value("Access-Control-Allow-Methods"), "POST, OPTIONS");
  EXPECT_EQ(r->get_header_value("Access-Control-Allow-Headers"), "authorization, x-stainless-os");
  EXPECT_TRUE(rows().empty());  // a preflight carries no key and is not metered
}

TEST_F(CorsServerTest, EveryAnswerCarriesTheOrigin) {
  const json request = {{"model", "stories"}, {"prompt", "Once"}, {"max_tokens", 2}};
  const auto whole = post("/v1/completions", request, key_);
  ASSERT_TRUE(whole);
  EXPECT_EQ(whole->status, 200);
  EXPECT_EQ(whole->get_header_value("Access-Control-Allow-Origin"), "https://app.example");
  EXPECT_NE(whole->get_header_value("Access-Control-Expose-Headers").find("x-request-id"),
            std::string::npos);
  json streamed_request = request;
  streamed_request["stream"] = true;
  const auto streamed = post("/v1/completions", streamed_request, key_);
  ASSERT_TRUE(streamed);
  EXPECT_EQ(streamed->get_header_value("Access-Control-Allow-Origin"), "https://app.example");
  const auto error = get("/v1/models", "");
  ASSERT_TRUE(error);
  EXPECT_EQ(error->status, 401);
  EXPECT_EQ(error->get_header_value("Access-Control-Allow-Origin"), "https://app.example");
}

// Of several origins, the request's own when listed, else the first (which the browser refuses);
// `*` among them allows any.
class SeveralCorsOriginsTest : public ServerTest {
 protected:
  void SetUp() override {
    options_.cors_origins = {"https://app.example", "http://localhost:3000"};
    ServerTest::SetUp();
  }

  std::string allowed_for(const std::string& origin) {
    httplib::Client client("127.0.0.1", port_);
    httplib::Headers headers = {{"Authorization", "Bearer " + key_}};
    if (!origin.empty()) headers.emplace("Origin", origin);
    const auto r = client.Get("/v1/models", headers);
    EXPECT_TRUE(r);
    if (!r) return "(no answer)";
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->get_header_value("Vary"), "Origin");
    return r->get_header_value("Access-Control-Allow-Origin");
  }
};

TEST_F(SeveralCorsOriginsTest, TheRequestsOriginWhenListedElseTheFirst) {
  EXPECT_EQ(allowed_for("http://localhost:3000"), "http://localhost:3000");
  EXPECT_EQ(allowed_for("https://app.example"), "https://app.example");
  EXPECT_EQ(allowed_for("https://evil.example"), "https://app.example");
  EXPECT_EQ(allowed_for("http://localhost:3000/"), "https://app.example");  // compared as sent
  EXPECT_EQ(allowed_for(""), "https://app.example");
  httplib::Client client("127.0.0.1", port_);
  const auto preflight = client.Options(
      "/v1/chat/completions",
      {{"Origin", "http://localhost:3000"}, {"Access-Control-Request-Method", "POST"}});
  ASSERT_TRUE(preflight);
  EXPECT_EQ(preflight->status, 204);
  EXPECT_EQ(preflight->get_header_value("Access-Control-Allow-Origin"), "http://localhost:3000");
}

class AnyCorsOriginTest : public SeveralCorsOriginsTest {
 protected:
  void SetUp() override {
    options_.cors_origins = {"https://app.example", "*"};
    ServerTest::SetUp();
  }
};

TEST_F(AnyCorsOriginTest, AStarAmongThemAllowsAny) {
  EXPECT_EQ(allowed_for("https://app.example"), "*");
  EXPECT_EQ(allowed_for("https://evil.example"), "*");
}

TEST_F(ServerTest, CorsIsOffByDefault) {
  httplib::Client client("127.0.0.1", port_);
  const auto preflight = client.Options("/v1/models", {{"Origin", "https://app.example"}});
  ASSERT_TRUE(preflight);
  EXPECT_EQ(preflight->status, 405);  // a method the path does not have
  EXPECT_EQ(preflight->get_header_value("Allow"), "GET, HEAD");
  EXPECT_FALSE(preflight->has_header("Access-Control-Allow-Origin"));
  const auto r = get("/v1/models", key_);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_FALSE(r->has_header("Access-Control-Allow-Origin"));
}

TEST(KeyPrefix, ShowsTheDisplayPrefixOnly) {
  EXPECT_EQ(key_prefix(std::string("Bearer gy-AbCdEfGhIjKlMnOpQrSt")), "gy-AbCdE");
  EXPECT_EQ(key_prefix(std::nullopt), "-");
  EXPECT_EQ(key_prefix(std::string("Basic dXNlcjpwYXNz")), "-");
  EXPECT_EQ(key_prefix(std::string("Bearer short-key")), "-");  // 8 of 9 would be most of it
  EXPECT_EQ(platform::kKeyPrefixChars, 8u);
}

TEST_F(ServerTest, EachRequestLogsOneAccessLineWithTheKeyPrefixNeverTheKey) {
  LogCapture log;
  ASSERT_EQ(get("/v1/models", key_)->status, 200);
  ASSERT_EQ(get("/v1/models", "gy-wrongwrongwrongwrongwrong")->status, 401);
  const json request = {
      {"model", "stories"}, {"prompt", "Once"}, {"max_tokens", 2}, {"stream", true}};
  ASSERT_EQ(post("/v1/completions", request, key_)->status, 200);
  ASSERT_TRUE(eventually([&] { return log.lines_with("access: ").size() == 3; }));
  const auto models = log.lines_with("access: GET /v1/models 200 ");
  ASSERT_EQ(models.size(), 1u);
  EXPECT_NE(models[0].find("ms key=" + key_.substr(0, 8)), std::string::npos) << models[0];
  EXPECT_EQ(log.lines_with("access: GET /v1/models 401 ").size(), 1u);
  EXPECT_EQ(log.lines_with("key=gy-wrong").size(), 1u);
  EXPECT_EQ(log.lines_with("access: POST /v1/completions 200 ").size(), 1u);
  EXPECT_TRUE(log.lines_with(key_.substr(8)).empty()) << "the key's secret part was logged";
}

}  // namespace
}  // namespace gengyun::api::testing
