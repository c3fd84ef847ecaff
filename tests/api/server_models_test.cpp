// The registry behind the API: GET /v1/models (metadata, state, prices), GET /v1/models/{id},
// the admin model endpoints and their role check, keep_alive in requests, config defaults and
// the memory budget's 503.
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>

#include "../platform/store_reads.h"
#include "api/admin_models_handler.h"
#include "api/eventually.h"
#include "api/models_handler.h"
#include "api/openai_request.h"
#include "api/server_fixture.h"
#include "deploy/units.h"

namespace gengyun::api::testing {
namespace {

using nlohmann::json;

class ServerModelsTest : public ServerTest {
 protected:
  std::string admin_key() {
    platform::NewKey key{"admin"};
    key.role = platform::Role::Admin;
    auto secret = store_->create_key(key);
    EXPECT_TRUE(secret.ok());
    return secret.ok() ? secret.value() : "";
  }
};

TEST_F(ServerModelsTest, ModelsCarryMetadataStateAndPrices) {
  ASSERT_TRUE(store_->set_price("stories", {150000, 75000, 600000}).ok());
  auto r = get("/v1/models", key_);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const json stories = json::parse(r->body)["data"][2];
  const std::string path = gengyun::testing::testdata_path("models/stories260K-f32.gguf");
  EXPECT_EQ(stories["id"], "stories");
  EXPECT_EQ(stories["architecture"], "llama");
  EXPECT_EQ(stories["quantization"], "F32");
  EXPECT_EQ(stories["context_length"], 512);
  EXPECT_EQ(stories["size_bytes"], std::filesystem::file_size(path));
  EXPECT_EQ(stories["aliases"], json::array());
  EXPECT_EQ(stories["pricing"], json::parse(R"({"unit": "micro_usd_per_million_tokens",
      "input": 150000, "cached_input": 75000, "output": 600000})"));
  EXPECT_TRUE(stories["state"] == "available" || stories["state"] == "loaded") << stories;
  EXPECT_EQ(json::parse(r->body)["data"][0]["pricing"], nullptr);

  auto one = get("/v1/models/stories", key_);
  ASSERT_TRUE(one);
  ASSERT_EQ(one->status, 200) << one->body;
  EXPECT_EQ(json::parse(one->body)["pricing"], stories["pricing"]);
  expect_error(get("/v1/models/nope", key_), 404, "model_not_found");
  expect_error(get("/v1/models/stories", ""), 401, "invalid_api_key");
  EXPECT_TRUE(rows().empty());  // reads write no ledger row

  // The embedding model is listed as servable, not as an error.
  const json embed = json::parse(r->body)["data"][1];
  EXPECT_EQ(embed["id"], "qwen3-embed-tiny");
  EXPECT_FALSE(embed.contains("error")) << embed;
  EXPECT_TRUE(embed["state"] == "available" || embed["state"] == "loaded") << embed;
}

TEST_F(ServerModelsTest, AKeyWithAModelListSeesOnlyThoseModels) {
  auto secret = store_->create_key(platform::NewKey{"storyteller", "default",
                                                    platform::Role::Member, {}, {"stories"}});
  ASSERT_TRUE(secret.ok()) << secret.error().message;
  auto r = get("/v1/models", *secret);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const json body = json::parse(r->body);
  ASSERT_EQ(body["data"].size(), 1u);
  EXPECT_EQ(body["data"][0]["id"], "stories");
  EXPECT_EQ(body["data"][0]["architecture"], "llama");
  auto one = get("/v1/models/stories", *secret);
  ASSERT_TRUE(one);
  EXPECT_EQ(one->status, 200) << one->body;
  expect_error(get("/v1/models/qwen2-tiny", *secret), 404, "model_not_found");
  EXPECT_TRUE(rows().empty());
}

TEST_F(ServerModelsTest, AdminEndpointsNeedTheAdminRole) {
  const json member = expect_error(get("/admin/models", key_), 403, "permission_denied");
  EXPECT_EQ(member["message"],
            "This API key has the role member: it may call the models and read its own usage, "
            "not use the admin API (an admin key is needed).");
  // An owner manages its tenant, not the deployment's models (authorize_admin, Deployment).
  platform::NewKey owner{"owner"};
  owner.role = platform::Role::Owner;
  auto owner_key = store_->create_key(owner);
  ASSERT_TRUE(owner_key.ok()) << owner_key.error().message;
  expect_error(post("/admin/models/stories/pin", json::object(), *owner_key), 403,
               "permission_denied");
  expect_error(post("/admin/models/stories/load", json::object(), key_), 403, "permission_denied");
  expect_error(post("/admin/models/rescan", json::object(), ""), 401, "invalid_api_key");
  const std::string admin = admin_key();
  auto r = get("/admin/models", admin);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const json body = json::parse(r->body);
  EXPECT_EQ(body["max_memory_bytes"], 0);
  ASSERT_EQ(body["data"].size(), 3u);
  EXPECT_EQ(body["data"][1]["source"], "--model");
  EXPECT_EQ(body["data"][1]["keep_alive_s"], 300.0);
  auto rescan = post("/admin/models/rescan", json::object(), admin);
  ASSERT_TRUE(rescan);
  EXPECT_EQ(json::parse(rescan->body), json({{"added", 0}, {"removed", 0}}));
  EXPECT_TRUE(rows().empty());  // admin calls write no ledger rows
}

TEST(AdminModelSeconds, AreTheMicrosecondsDividedWithoutFloatNoise) {
  EXPECT_EQ(seconds_of(7000).dump(), "0.007");
  EXPECT_EQ(seconds_of(290040607).dump(), "290.040607");
  EXPECT_EQ(seconds_of(300000000).dump(), "300.0");
  EXPECT_EQ(seconds_of(deploy::kKeepForever).dump(), "-1");
}

// A request whose wait for memory a stopping server ended (Registry::end_waits) is told the
// server is shutting down, not that memory is short.
TEST(AcquireError, AWaitEndedByAStoppingServerIsServerShuttingDown) {
  const ApiError error = acquire_error(
      {std::nullopt, deploy::AcquireStatus::Stopping, "model 'b' was not loaded"}, "b");
  EXPECT_EQ(error.http_status, 503);
  EXPECT_EQ(error.code, "server_shutting_down");
  EXPECT_EQ(error.message,
            "The server is shutting down: this request was waiting for memory and did not start.");
}

// A model whose file changed during each try to load it: 503 model_unavailable with the
// registry's message, and Retry-After (the file may load once it stays in place).
TEST(AcquireError, AFileThatKeptChangingIsUnavailableForAWhile) {
  const std::string message = "model 'm' was not loaded: its file changed during each of 3 tries";
  const ApiError error =
      acquire_error({std::nullopt, deploy::AcquireStatus::FileChanging, message}, "m");
  EXPECT_EQ(error.http_status, 503);
  EXPECT_EQ(error.type, "server_error");
  EXPECT_EQ(error.code, "model_unavailable");
  EXPECT_EQ(error.message, message);
  EXPECT_EQ(error.retry_after_s, 1);
}

TEST_F(ServerModelsTest, AdminLoadPinUnpinUnload) {
  const std::string admin = admin_key();
  const auto call = [&](const std::string& action, const json& body = json::object()) {
    return post("/admin/models/stories/" + action, body, admin);
  };
  auto loaded = call("load", {{"keep_alive", "1h"}});
  ASSERT_TRUE(loaded);
  ASSERT_EQ(loaded->status, 200) << loaded->body;
  EXPECT_EQ(json::parse(loaded->body)["state"], "loaded");
  auto pinned = call("pin");
  ASSERT_TRUE(pinned);
  EXPECT_EQ(json::parse(pinned->body)["pinned"], true);
  EXPECT_EQ(json::parse(pinned->body)["unloads_in_s"], nullptr);
  const json refused = expect_error(call("unload"), 409, "model_busy");
  EXPECT_EQ(refused["message"], "model 'stories' is pinned; unpin it first");
  ASSERT_EQ(call("unpin")->status, 200);
  auto unloaded = call("unload");
  ASSERT_TRUE(unloaded);
  ASSERT_EQ(unloaded->status, 200) << unloaded->body;
  EXPECT_EQ(json::parse(unloaded->body)["state"], "available");
  EXPECT_GE(json::parse(unloaded->body)["cold_start_ms"], 0);
  EXPECT_EQ(json::parse(unloaded->body)["loading_bytes_read"], 0);  // only while loading
  expect_error(call("unload"), 409, "model_busy");
  expect_error(post("/admin/models/nope/load", json::object(), admin), 404, "model_not_found");
  // The id is percent-decoded as on /v1/models/{id}: %73 is 's'.
  auto encoded = post("/admin/models/%73tories/pin", json::object(), admin);
  ASSERT_TRUE(encoded);
  EXPECT_EQ(encoded->status, 200) << encoded->body;
  ASSERT_EQ(call("unpin")->status, 200);
  expect_error(post("/admin/models/%zz/load", json::object(), admin), 400, nullptr);
  const json bad = expect_error(call("pin", {{"force", true}}), 400, nullptr);
  EXPECT_EQ(bad["param"], "force");
  expect_error(call("load", {{"keep_alive", "soon"}}), 400, nullptr);
  expect_error(post("/admin/models/stories/explode", json::object(), admin), 404, "unknown_url");
  const auto wrong = get("/admin/models/stories/load", admin);
  expect_error(wrong, 405, "method_not_allowed");
  EXPECT_EQ(wrong->get_header_value("Allow"), "POST");
  const auto wrong_list = post("/admin/models", json::object(), admin);
  expect_error(wrong_list, 405, "method_not_allowed");
  EXPECT_EQ(wrong_list->get_header_value("Allow"), "GET, HEAD");
  const auto wrong_one = post("/v1/models/stories", json::object(), admin);
  expect_error(wrong_one, 405, "method_not_allowed");
  EXPECT_EQ(wrong_one->get_header_value("Allow"), "GET, HEAD");
}

TEST_F(ServerModelsTest, KeepAliveZeroUnloadsAfterTheRequestAndBadOnesAre400) {
  const json request = {
      {"model", "stories"}, {"prompt", "Once"}, {"max_tokens", 2}, {"keep_alive", 0}};
  auto r = post("/v1/completions", request, key_);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_TRUE(eventually(
      [&] { return registry_->find("stories")->state == deploy::ModelState::Available; }));
  for (const json& bad : {json("5 minutes"), json(true), json("10d")}) {
    json body = request;
    body["keep_alive"] = bad;
    const json error = expect_error(post("/v1/completions", body, key_), 400, nullptr);
    EXPECT_EQ(error["param"], "keep_alive") << error;
  }
  json forever = request;
  forever["keep_alive"] = "-1m";
  ASSERT_EQ(post("/v1/completions", forever, key_)->status, 200);
  EXPECT_EQ(registry_->find("stories")->running, 0);
  EXPECT_EQ(registry_->find("stories")->unloads_in_us, deploy::kKeepForever);
  ASSERT_TRUE(registry_->unload("stories").ok());
}

// A request lets go of its model before its answer's last bytes are sent, so a client that has
// read its answer finds the model idle (QA 2026-12-07: a client sending its next request at
// once, for another model under --max-memory, was refused as if the answered one still ran).
// Checked after each of many answers: the lease used to be let go just after the send.
TEST_F(ServerModelsTest, AnAnsweredRequestHasLetGoOfItsModel) {
  for (int i = 0; i < 20; ++i) {
    SCOPED_TRACE(i);
    const json request = {{"model", "stories"},
                          {"prompt", "Once"},
                          {"max_tokens", 2},
                          {"stream", i % 2 == 1},
                          {"temperature", 0}};
    auto r = post("/v1/completions", request, key_);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    EXPECT_EQ(registry_->find("stories")->running, 0);
    auto e = post("/v1/embeddings", {{"model", "qwen3-embed-tiny"}, {"input", "Once"}}, key_);
    ASSERT_TRUE(e);
    ASSERT_EQ(e->status, 200) << e->body;
    EXPECT_EQ(registry_->find("qwen3-embed-tiny")->running, 0);
  }
}

// A price set on an alias would never be used (requests by the alias are billed as its model):
// POST /admin/prices refuses it, naming the model, and writes nothing; the model's id and a name
// no served model has are priced as before.
TEST_F(ServerModelsTest, APriceOnAnAliasIsRefusedNamingItsModel) {
  OwnServer own;
  deploy::RegistryOptions options;
  options.specs = {{"stories", gengyun::testing::testdata_path("models/stories260K-f32.gguf")}};
  options.config.models["stories"].aliases = {"tiny"};
  start_own(own, std::move(options));
  const std::string admin = admin_key();
  const size_t audited = platform::testing::all_audit_entries(*store_)->size();
  httplib::Client client("127.0.0.1", own.port);
  const auto set_price = [&](const std::string& model) {
    return client.Post("/admin/prices", {{"Authorization", "Bearer " + admin}},
                       json({{"model", model}, {"input", "1"}, {"output", "2"}}).dump(),
                       "application/json");
  };
  auto refused = set_price("tiny");
  const json error = expect_error(refused, 400, nullptr);
  EXPECT_EQ(error["param"], "model");
  EXPECT_EQ(error["message"],
            "'tiny' is an alias of the model 'stories', which its requests are billed as: set "
            "the price of 'stories'");
  EXPECT_TRUE(platform::testing::all_prices(*store_)->empty());
  EXPECT_EQ(platform::testing::all_audit_entries(*store_)->size(), audited);
  for (const std::string model : {"stories", "not-served"}) {
    auto set = set_price(model);
    ASSERT_TRUE(set);
    EXPECT_EQ(set->status, 200) << model << ": " << set->body;
  }
  auto prices = platform::testing::all_prices(*store_);
  ASSERT_TRUE(prices.ok());
  ASSERT_EQ(prices->size(), 2u);
  EXPECT_EQ((*prices)[0].model, "not-served");
  EXPECT_EQ((*prices)[1].model, "stories");
  EXPECT_EQ((*prices)[1].price.output, 2'000'000);
}

TEST_F(ServerModelsTest, ConfigDefaultsFillFieldsTheRequestLacks) {
  OwnServer own;
  deploy::RegistryOptions options;
  options.specs = {{"stories", gengyun::testing::testdata_path("models/stories260K-f32.gguf")}};
  options.config.models["stories"].defaults = {{"max_tokens", 3}, {"temperature", 0}};
  options.config.models["stories"].aliases = {"tiny"};
  start_own(own, std::move(options));
  auto r = post_to(own.port, "/v1/completions", {{"model", "tiny"}, {"prompt", "Once upon"}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(json::parse(r->body)["usage"]["completion_tokens"], 3);
  auto longer = post_to(own.port, "/v1/completions",
                        {{"model", "tiny"},
                         {"prompt", "Once upon"},
                         {"max_tokens", 5},
                         {"temperature", 0}});
  ASSERT_TRUE(longer);
  ASSERT_EQ(longer->status, 200) << longer->body;
  EXPECT_EQ(json::parse(longer->body)["usage"]["completion_tokens"], 5);
}

// max_tokens and max_completion_tokens name one quantity: a request that gives either takes
// neither from the defaults, whichever of the two names the default uses (QA: a default
// max_tokens made a request with max_completion_tokens a 400 "disagree").
TEST_F(ServerModelsTest, ConfigDefaultMaxTokensYieldsToEitherRequestName) {
  for (const char* default_name : {"max_tokens", "max_completion_tokens"}) {
    SCOPED_TRACE(default_name);
    OwnServer own;
    deploy::RegistryOptions options;
    options.specs = {{"stories", gengyun::testing::testdata_path("models/stories260K-f32.gguf")}};
    options.config.models["stories"].defaults = {{default_name, 3}, {"temperature", 0}};
    start_own(own, std::move(options));
    const std::pair<const char*, int> cases[] = {
        {"max_tokens", 5}, {"max_completion_tokens", 6}, {"max_completion_tokens", 2}};
    for (const auto& [name, value] : cases) {
      auto r = post_to(own.port, "/v1/completions",
                       {{"model", "stories"}, {"prompt", "Once upon"}, {name, value}});
      ASSERT_TRUE(r);
      ASSERT_EQ(r->status, 200) << name << ": " << r->body;
      EXPECT_EQ(json::parse(r->body)["usage"]["completion_tokens"], value) << name;
    }
    auto fallback = post_to(own.port, "/v1/completions",
                            {{"model", "stories"},
                             {"prompt", "Once upon"},
                             {"max_tokens", nullptr},
                             {"max_completion_tokens", nullptr}});
    ASSERT_TRUE(fallback);
    ASSERT_EQ(fallback->status, 200) << fallback->body;
    EXPECT_EQ(json::parse(fallback->body)["usage"]["completion_tokens"], 3);
  }
}

// An alias is the model it names: billed at its prices and counted in its budgets (the
// ledger row and the answer name the model), and a key's model list allows a model by its id
// or any alias, as GET /v1/models shows it. A key that may not use a model learns nothing of
// its state: 403, never the 503 of a file that cannot be served.
TEST_F(ServerModelsTest, AnAliasIsBilledAndAllowedAsTheModelItNames) {
  OwnServer own;
  deploy::RegistryOptions options;
  options.specs = {{"stories", gengyun::testing::testdata_path("models/stories260K-f32.gguf")},
                   {"broken", (dir_ / "broken.gguf").string()}};
  std::ofstream(dir_ / "broken.gguf") << "not a GGUF file";
  options.config.models["stories"].aliases = {"tiny"};
  start_own(own, std::move(options));
  // $1 / $0 / $2 per million tokens: 1 micro-USD per prompt token, 2 per completion token.
  ASSERT_TRUE(store_->set_price("stories", {1'000'000, 0, 2'000'000}, {}).ok());
  const json request = {{"model", "tiny"}, {"prompt", "Once upon"}, {"max_tokens", 3},
                        {"temperature", 0}};
  auto r = post_to(own.port, "/v1/completions", request);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const json body = json::parse(r->body);
  EXPECT_EQ(body["model"], "stories");
  const std::vector<platform::UsageRecord> ledger = wait_for_rows(1);
  ASSERT_EQ(ledger.size(), 1u);
  EXPECT_EQ(ledger[0].model, "stories");
  const int64_t prompt = body["usage"]["prompt_tokens"];
  const int64_t completion = body["usage"]["completion_tokens"];
  EXPECT_EQ(ledger[0].cost_micro_usd, prompt + 2 * completion);
  EXPECT_EQ(ledger[0].price.output, 2'000'000);

  // A budget of 1 micro-USD cannot hold the request by either name.
  auto poor = store_->create_key({"poor", "default", platform::Role::Member, {1}});
  ASSERT_TRUE(poor.ok());
  for (const char* name : {"tiny", "stories"}) {
    json named = request;
    named["model"] = name;
    httplib::Client client("127.0.0.1", own.port);
    auto refused = client.Post("/v1/completions", {{"Authorization", "Bearer " + *poor}},
                               named.dump(), "application/json");
    ASSERT_TRUE(refused);
    EXPECT_EQ(refused->status, 429) << name << ": " << refused->body;
    EXPECT_EQ(json::parse(refused->body)["error"]["code"], "insufficient_quota") << refused->body;
  }

  // Allowed by alias or by id, either name works; a key for another model gets 403, also for
  // a model in state error.
  for (const char* listed : {"tiny", "stories"}) {
    platform::NewKey key{std::string("only-") + listed};
    key.models = {listed};
    auto secret = store_->create_key(key);
    ASSERT_TRUE(secret.ok());
    for (const char* name : {"tiny", "stories"}) {
      json named = request;
      named["model"] = name;
      httplib::Client client("127.0.0.1", own.port);
      client.set_read_timeout(60, 0);
      auto answer = client.Post("/v1/completions", {{"Authorization", "Bearer " + *secret}},
                                named.dump(), "application/json");
      ASSERT_TRUE(answer);
      EXPECT_EQ(answer->status, 200) << listed << " " << name << ": " << answer->body;
    }
    httplib::Client client("127.0.0.1", own.port);
    json broken = request;
    broken["model"] = "broken";
    const json error =
        expect_error(client.Post("/v1/completions", {{"Authorization", "Bearer " + *secret}},
                                 broken.dump(), "application/json"),
                     404, "model_not_found");
    EXPECT_EQ(error["message"],
              "The model 'broken' does not exist, is not served here, or is not one this API key "
              "may use.");
  }
}

// A model served from "Qwen Tiny+v2.gguf" or "\u6a21\u578b.gguf" (QA: such ids could not be
// priced, so they were free and no budget held them) is priced through POST /admin/prices by its
// id, billed at that price in the ledger, named in a key's models through POST /admin/keys, and
// a budget that cannot hold a request refuses it with 429.
TEST_F(ServerModelsTest, ModelsWhoseIdsHoldSpacesOrLettersOfAnyScriptArePricedAndBudgeted) {
  const std::filesystem::path models = dir_ / "models";
  std::filesystem::create_directory(models);
  const std::vector<std::string> ids = {"qwen tiny+v2", "\u6a21\u578b"};
  for (const char* file : {"Qwen Tiny+v2.gguf", "\u6a21\u578b.gguf"})
    std::filesystem::create_symlink(gengyun::testing::testdata_path("models/stories260K-f32.gguf"),
                                    models / file);
  OwnServer own;
  deploy::RegistryOptions options;
  options.models_dir = models.string();
  start_own(own, std::move(options));
  const std::string admin = admin_key();
  httplib::Client client("127.0.0.1", own.port);
  client.set_read_timeout(60, 0);
  const auto call = [&](const char* path, const json& body, const std::string& key) {
    return client.Post(path, {{"Authorization", "Bearer " + key}}, body.dump(), "application/json");
  };
  // $1 / $2 per million prompt / completion tokens: 1 and 2 micro-USD a token.
  for (const std::string& id : ids) {
    auto priced = call("/admin/prices", {{"model", id}, {"input", "1"}, {"output", "2"}}, admin);
    ASSERT_TRUE(priced);
    ASSERT_EQ(priced->status, 200) << id << ": " << priced->body;
  }
  const json request = {{"prompt", "Once upon"}, {"max_tokens", 3}, {"temperature", 0}};
  for (size_t i = 0; i < 2; ++i) {
    json named = request;
    named["model"] = ids[i];
    auto r = call("/v1/completions", named, key_);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << ids[i] << ": " << r->body;
    const json body = json::parse(r->body);
    const std::vector<platform::UsageRecord> ledger = wait_for_rows(i + 1);
    ASSERT_EQ(ledger.size(), i + 1);
    EXPECT_EQ(ledger[i].model, ids[i]);
    const int64_t prompt = body["usage"]["prompt_tokens"];
    const int64_t completion = body["usage"]["completion_tokens"];
    EXPECT_EQ(completion, 3);
    EXPECT_EQ(ledger[i].cost_micro_usd, prompt + 2 * completion) << ids[i];
    EXPECT_EQ(ledger[i].price.output, 2'000'000);
  }

  // A key for both models with a budget of 1 micro-USD cannot hold a request for either.
  auto created =
      call("/admin/keys", {{"name", "poor"}, {"budget_usd", "0.000001"}, {"models", ids}}, admin);
  ASSERT_TRUE(created);
  ASSERT_EQ(created->status, 201) << created->body;
  const json key = json::parse(created->body);
  EXPECT_EQ(key["models"], json(ids));
  for (const std::string& id : ids) {
    json named = request;
    named["model"] = id;
    auto refused = call("/v1/completions", named, key["key"].get<std::string>());
    ASSERT_TRUE(refused);
    EXPECT_EQ(refused->status, 429) << id << ": " << refused->body;
    EXPECT_EQ(json::parse(refused->body)["error"]["code"], "insufficient_quota") << refused->body;
  }
}

// A file the registry cannot serve (not a GGUF here) is the file's fault, not a server error:
// 503 model_unavailable with the reason, no Retry-After.
TEST_F(ServerModelsTest, AFileThatCannotBeServedIs503) {
  OwnServer own;
  deploy::RegistryOptions options;
  const std::string path = (dir_ / "broken.gguf").string();
  std::ofstream(path) << "not a GGUF file";
  options.specs = {{"broken", path}};
  start_own(own, std::move(options));
  auto r = post_to(own.port, "/v1/completions", {{"model", "broken"}, {"prompt", "Once"}});
  const json error = expect_error(r, 503, "model_unavailable");
  EXPECT_FALSE(r->has_header("Retry-After"));
  // The reason, without the server's path: the message, and the listing any key sees.
  const std::string reason = own.registry->find("broken")->public_error;
  EXPECT_TRUE(reason.starts_with("not a GGUF file")) << reason;
  EXPECT_EQ(error["message"], "model 'broken' cannot be served: " + reason);
  auto listed = get_from(own.port, "/v1/models/broken", key_);
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->status, 200) << listed->body;
  EXPECT_EQ(json::parse(listed->body)["state"], "error");
  EXPECT_EQ(json::parse(listed->body)["error"], reason);
  EXPECT_EQ(listed->body.find(dir_.string()), std::string::npos) << listed->body;
  // The admin listing keeps the path (to fix the file) and counts no memory for it.
  const std::string admin_secret = admin_key();
  auto admin = get_from(own.port, "/admin/models", admin_secret);
  ASSERT_TRUE(admin);
  ASSERT_EQ(admin->status, 200) << admin->body;
  const json broken = json::parse(admin->body)["data"][0];
  EXPECT_EQ(broken["path"], path);
  EXPECT_EQ(broken["error"], path + ": " + reason);
  EXPECT_EQ(broken["memory_bytes"], 0);
  // It cannot be pinned: 409 with the reason.
  httplib::Client client("127.0.0.1", own.port);
  auto pin = client.Post("/admin/models/broken/pin", {{"Authorization", "Bearer " + admin_secret}},
                         "{}", "application/json");
  const json refused = expect_error(pin, 409, "model_busy");
  EXPECT_EQ(refused["message"], "model 'broken' cannot be pinned: it cannot be served: " + reason);
  EXPECT_FALSE(own.registry->find("broken")->pinned);
}

// A LoRA derivative without prices of its own is billed, and listed, at its base's; with its
// own, at those.
TEST_F(ServerModelsTest, ALoraDerivativeIsBilledAtItsBasesPricesUnlessItHasItsOwn) {
  OwnServer own;
  deploy::RegistryOptions options;
  options.specs = {{"base", gengyun::testing::testdata_path("models/qwen2-tiny-f32.gguf")}};
  options.loras = {
      {"chat", "base", {gengyun::testing::testdata_path("lora/qwen2-tiny-lora-a.gguf"), 1.0f}}};
  start_own(own, std::move(options));
  // $1 / $0 / $2 per million tokens: 1 micro-USD per prompt token, 2 per completion token.
  ASSERT_TRUE(store_->set_price("base", {1'000'000, 0, 2'000'000}, {}).ok());
  auto listed = get_from(own.port, "/v1/models/chat", key_);
  ASSERT_TRUE(listed);
  EXPECT_EQ(json::parse(listed->body)["pricing"]["output"], 2'000'000) << listed->body;
  EXPECT_EQ(json::parse(listed->body)["parent"], "base") << listed->body;
  // The admin listing too (QA: "pricing": null there).
  auto admin = get_from(own.port, "/admin/models", admin_key());
  ASSERT_TRUE(admin);
  ASSERT_EQ(admin->status, 200) << admin->body;
  const json admin_models = json::parse(admin->body)["data"];
  ASSERT_EQ(admin_models.size(), 2u) << admin->body;
  for (const json& model : admin_models)
    EXPECT_EQ(model["pricing"]["output"], 2'000'000) << model["id"];
  // A key that may use the derivative alone is not told its base (QA: "parent": "base").
  platform::NewKey only_chat{"only-chat"};
  only_chat.models = {"chat"};
  const auto only_chat_secret = store_->create_key(only_chat);
  ASSERT_TRUE(only_chat_secret.ok());
  for (const std::string path : {"/v1/models/chat", "/v1/models"}) {
    auto seen = get_from(own.port, path, only_chat_secret.value());
    ASSERT_TRUE(seen);
    ASSERT_EQ(seen->status, 200) << seen->body;
    EXPECT_EQ(seen->body.find("base"), std::string::npos) << seen->body;
  }
  const json request = {{"model", "chat"}, {"prompt", "Once upon"}, {"max_tokens", 3},
                        {"temperature", 0}};
  for (const int64_t per_token : {1, 3}) {  // the base's prices, then the derivative's own
    if (per_token == 3) {
      ASSERT_TRUE(store_->set_price("chat", {3'000'000, 0, 6'000'000}, {}).ok());
    }
    auto r = post_to(own.port, "/v1/completions", request);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    const json usage = json::parse(r->body)["usage"];
    const std::vector<platform::UsageRecord> ledger = wait_for_rows(per_token == 1 ? 1 : 2);
    const platform::UsageRecord& row = ledger.back();
    EXPECT_EQ(row.model, "chat");
    const int64_t prompt = usage["prompt_tokens"];
    const int64_t completion = usage["completion_tokens"];
    EXPECT_EQ(row.cost_micro_usd, per_token * (prompt + 2 * completion));
  }
}

// A --lora derivative whose adapter does not fit its base (another architecture): 503 naming
// the mismatch, then listed in state "error" with the reason, its base not left loaded.
TEST_F(ServerModelsTest, AnAdapterThatDoesNotFitIsListedAsAnError) {
  OwnServer own;
  deploy::RegistryOptions options;
  options.specs = {{"stories", gengyun::testing::testdata_path("models/stories260K-f32.gguf")}};
  const std::string adapter = gengyun::testing::testdata_path("lora/qwen2-tiny-lora-a.gguf");
  options.loras = {{"chat", "stories", {adapter, 1.0f}}};
  start_own(own, std::move(options));
  auto listed = get_from(own.port, "/v1/models/chat", key_);
  ASSERT_TRUE(listed);
  EXPECT_EQ(json::parse(listed->body)["state"], "available");
  const std::string mismatch =
      "the adapter is for architecture 'qwen2' but the base model is 'llama'";
  auto r = post_to(own.port, "/v1/completions", {{"model", "chat"}, {"prompt", "Once"}});
  const json error = expect_error(r, 503, "model_unavailable");
  EXPECT_EQ(error["message"], "model 'chat' cannot be loaded: " + mismatch);
  listed = get_from(own.port, "/v1/models/chat", key_);
  ASSERT_TRUE(listed);
  const json chat = json::parse(listed->body);
  EXPECT_EQ(chat["state"], "error");
  EXPECT_EQ(chat["error"], mismatch);
  EXPECT_EQ(chat["parent"], "stories");
  EXPECT_EQ(own.registry->find("stories")->state, deploy::ModelState::Available);
  const json again =
      expect_error(post_to(own.port, "/v1/completions", {{"model", "chat"}, {"prompt", "Once"}}),
                   503, "model_unavailable");
  EXPECT_EQ(again["message"], "model 'chat' cannot be served: " + mismatch);
}

// keep_alive: one rule for numbers and strings (docs/deploy.md): any negative is "never", the
// string "-1" as the number -1, 100 years the most either form takes (400 naming keep_alive).
TEST_F(ServerModelsTest, KeepAliveNumbersAndStringsFollowOneRule) {
  const std::string admin = admin_key();
  for (const json& forever : {json(-1), json("-1"), json(-5), json("-5m"), json(-1e20)}) {
    SCOPED_TRACE(forever.dump());
    auto loaded = post("/admin/models/stories/load", {{"keep_alive", forever}}, admin);
    ASSERT_TRUE(loaded);
    ASSERT_EQ(loaded->status, 200) << loaded->body;
    EXPECT_EQ(json::parse(loaded->body)["unloads_in_s"], -1);
    ASSERT_TRUE(registry_->unload("stories").ok());
  }
  for (const json& zero : {json(0), json("0")}) {
    SCOPED_TRACE(zero.dump());
    EXPECT_EQ(read_keep_alive({{"keep_alive", zero}}).value(), 0);
  }
  EXPECT_EQ(read_keep_alive({{"keep_alive", 3153600000}}).value(), deploy::kMaxKeepAliveUs);
  EXPECT_EQ(read_keep_alive({{"keep_alive", "3153600000"}}).value(), deploy::kMaxKeepAliveUs);
  for (const json& over : {json(1e20), json("1e20"), json(3153600001), json("876001h")}) {
    SCOPED_TRACE(over.dump());
    const json error =
        expect_error(post("/v1/completions",
                          {{"model", "stories"}, {"prompt", "Once"}, {"keep_alive", over}}, key_),
                     400, nullptr);
    EXPECT_EQ(error["param"], "keep_alive");
    EXPECT_NE(error["message"].get<std::string>().find("longer than 100 years"), std::string::npos)
        << error;
  }
}

TEST_F(ServerModelsTest, AModelOverTheMemoryBudgetIs503) {
  OwnServer own;
  deploy::RegistryOptions options;
  options.specs = {{"stories", gengyun::testing::testdata_path("models/stories260K-f32.gguf")}};
  options.max_memory_bytes = 1000;
  start_own(own, std::move(options));
  auto r = post_to(own.port, "/v1/completions", {{"model", "stories"}, {"prompt", "Once"}});
  const json error = expect_error(r, 503, "insufficient_memory");
  EXPECT_NE(error["message"].get<std::string>().find("more than --max-memory 1000 B"),
            std::string::npos)
      << error;
  EXPECT_EQ(r->get_header_value("Retry-After"), "1");
}

// A request waiting for memory whose client leaves stops waiting (nobody would read its
// answer): no model loads for it, its row is "cancelled" with 499 and no tokens, and the
// model it drained takes requests again. Room for one of two copies of stories; the test's
// own lease on "a" is the running request "b" waits for.
TEST_F(ServerModelsTest, ARequestWaitingForMemoryEndsWhenItsClientLeaves) {
  const std::string stories = gengyun::testing::testdata_path("models/stories260K-f32.gguf");
  OwnServer own;
  deploy::RegistryOptions options;
  options.specs = {{"a", stories}, {"b", stories}};
  int64_t each = 0;
  {
    deploy::RegistryOptions probe = options;
    probe.max_memory_bytes = int64_t{1} << 40;  // a budget: the KV pool is one whole context
    auto registry = deploy::Registry::create(std::move(probe));
    ASSERT_TRUE(registry.ok()) << registry.error().message;
    each = registry.value()->find("a")->memory_bytes;
  }
  options.max_memory_bytes = each + each / 2;
  options.memory_wait_us = 600'000'000;
  std::atomic<int> b_waits{0};
  options.observer = [&](const deploy::RegistryEvent& e) {
    if (e.kind == deploy::RegistryEvent::Kind::WaitingForMemory && e.model == "b") ++b_waits;
  };
  start_own(own, std::move(options));
  ASSERT_TRUE(store_->set_price("b", {3'000'000, 0, 6'000'000}, {}).ok());
  std::optional<deploy::Acquired> a(own.registry->acquire("a"));
  ASSERT_TRUE((*a).lease) << (*a).message;

  const int client = connect_to(own.port);
  ASSERT_GE(client, 0);
  const std::string request = http_post(key_, {{"model", "b"}, {"prompt", "Once"}});
  ASSERT_EQ(send(client, request.data(), request.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(request.size()));
  ASSERT_TRUE(eventually([&] { return b_waits == 1; }));
  close(client);

  const std::vector<platform::UsageRecord> ledger = wait_for_rows(1);
  ASSERT_EQ(ledger.size(), 1u);
  EXPECT_EQ(ledger[0].model, "b");
  EXPECT_EQ(ledger[0].status, "cancelled");
  EXPECT_EQ(ledger[0].http_status, 499);
  EXPECT_EQ(ledger[0].error,
            "the request for model 'b' ended: its client left while it waited for memory");
  EXPECT_EQ(ledger[0].prompt_tokens, 0);
  EXPECT_EQ(ledger[0].completion_tokens, 0);
  EXPECT_EQ(ledger[0].cost_micro_usd, 0);
  EXPECT_EQ(own.registry->find("b")->state, deploy::ModelState::Available);
  EXPECT_EQ(own.registry->find("a")->state, deploy::ModelState::Loaded);
  // "a" drains no more: a request for it is answered while the test still holds its lease.
  auto r =
      post_to(own.port, "/v1/completions", {{"model", "a"}, {"prompt", "Once"}, {"max_tokens", 2}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  a.reset();
}

// A stream whose client leaves while its model loads never gets its head: its row says 499,
// as its access line does (QA: recorded 200, as if the stream had started). The load waits at
// its start until the server has seen the client go (its connection closed).
TEST_F(ServerModelsTest, AStreamWhoseClientLeavesDuringTheLoadIs499) {
  OwnServer own;
  deploy::RegistryOptions options;
  options.specs = {{"s", gengyun::testing::testdata_path("models/stories260K-f32.gguf")}};
  std::mutex mutex;
  std::condition_variable changed;
  bool load_started = false, released = false;
  options.observer = [&](const deploy::RegistryEvent& e) {
    if (e.kind != deploy::RegistryEvent::Kind::LoadStarted) return;
    std::unique_lock lock(mutex);
    load_started = true;
    changed.notify_all();
    changed.wait_for(lock, std::chrono::seconds(60), [&] { return released; });
  };
  start_own(own, std::move(options));
  const int client = connect_to(own.port);
  ASSERT_GE(client, 0);
  const std::string request =
      http_post(key_, {{"model", "s"}, {"prompt", "Once"}, {"max_tokens", 4}, {"stream", true}});
  ASSERT_EQ(send(client, request.data(), request.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(request.size()));
  {
    std::unique_lock lock(mutex);
    ASSERT_TRUE(changed.wait_for(lock, std::chrono::seconds(60), [&] { return load_started; }));
  }
  close(client);
  ASSERT_TRUE(eventually([&] { return own.server->open_connections() == 0; }));
  {
    std::lock_guard lock(mutex);
    released = true;
  }
  changed.notify_all();
  const std::vector<platform::UsageRecord> ledger = wait_for_rows(1);
  ASSERT_EQ(ledger.size(), 1u);
  EXPECT_EQ(ledger[0].status, "cancelled");
  EXPECT_EQ(ledger[0].http_status, 499);
  // Nothing was computed for it: no prompt, no token billed (QA: a chat stream was billed its
  // prompt and a token).
  EXPECT_EQ(ledger[0].error,
            "the client disconnected before its request started (0 generated tokens)");
  EXPECT_EQ(ledger[0].prompt_tokens, 0);
  EXPECT_EQ(ledger[0].completion_tokens, 0);
}

// A request to the wrong endpoint for a model's kind is refused from the file's header, before
// a load: under a budget no model fits, it is still the 400 naming the model, not a 503.
TEST_F(ServerModelsTest, TheWrongEndpointForAModelsKindIsRefusedBeforeItsLoad) {
  OwnServer own;
  deploy::RegistryOptions options;
  options.specs = {{"stories", gengyun::testing::testdata_path("models/stories260K-f32.gguf")},
                   {"embed", gengyun::testing::testdata_path("models/qwen3-embed-tiny-f32.gguf")}};
  options.max_memory_bytes = 1000;
  start_own(own, std::move(options));
  const json text = expect_error(
      post_to(own.port, "/v1/completions", {{"model", "embed"}, {"prompt", "Once"}}), 400, nullptr);
  EXPECT_EQ(text["param"], "model");
  EXPECT_EQ(text["message"],
            "the model 'embed' is an embedding model: it serves /v1/embeddings, not "
            "/v1/completions");
  const json embeddings = expect_error(
      post_to(own.port, "/v1/embeddings", {{"model", "stories"}, {"input", "Once"}}), 400, nullptr);
  EXPECT_EQ(embeddings["param"], "model");
  // The right endpoint still meets the budget.
  expect_error(post_to(own.port, "/v1/embeddings", {{"model", "embed"}, {"input", "Once"}}), 503,
               "insufficient_memory");
}

}  // namespace
}  // namespace gengyun::api::testing
