// GET /v1/usage: every role sees exactly its scope (a member its key, an owner its tenant, an
// admin everything), grouped as asked, as JSON or CSV; bad parameters are 400.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "api/usage_handler.h"
#include "server_fixture.h"

namespace gengyun::api::testing {
namespace {

using nlohmann::json;
using platform::Role;

constexpr int64_t kFeb29 = 1'709'164'800'000'000;  // 2024-02-29T00:00:00Z
const std::string kRange = "start=2024-02-29&end=2024-03-02";

class UsageTest : public ServerTest {
 protected:
  void SetUp() override {
    ServerTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    ASSERT_TRUE(store_->create_tenant("acme", {}, {}).ok());
    ASSERT_TRUE(store_->create_tenant("rival", {}, {}).ok());
    admin_ = key({"root", "default", Role::Admin});
    owner_ = key({"acme-owner", "acme", Role::Owner});
    member_ = key({"acme-bot", "acme", Role::Member});
    rival_ = key({"rival-bot", "rival", Role::Member});
    // One row per key (and one more for the member), with distinct counts.
    bill("acme-owner", "qwen", kFeb29 + 1, 10, 1);
    bill("acme-bot", "qwen", kFeb29 + 2, 20, 2);
    bill("acme-bot", "stories", kFeb29 + 86'400'000'000, 40, 4);
    bill("rival-bot", "qwen", kFeb29 + 3, 300, 30);
    bill("root", "qwen", kFeb29 + 4, 5000, 500);
  }

  std::string key(const platform::NewKey& key) {
    auto secret = store_->create_key(key);
    EXPECT_TRUE(secret.ok()) << secret.error().message;
    auto who = store_->authenticate(*secret);
    ids_[key.name] = (*who)->id;
    return *secret;
  }

  void bill(const std::string& key, const std::string& model, int64_t at, int64_t prompt,
            int64_t cost) {
    platform::UsageRecord r{ids_[key], model, prompt, 1, at, at, "/v1/completions", 200, "ok", ""};
    r.cost_micro_usd = cost;
    ASSERT_TRUE(store_->record_usage(r).ok());
  }

  /// The (name, requests, prompt_tokens, cost) of each group the caller sees.
  std::vector<std::tuple<std::string, int, int, int>> seen(const std::string& key,
                                                           const std::string& query) {
    auto r = get("/v1/usage?" + query, key);
    EXPECT_TRUE(r);
    if (!r) return {};
    EXPECT_EQ(r->status, 200) << r->body;
    const json body = json::parse(r->body);
    EXPECT_EQ(body["object"], "list");
    std::vector<std::tuple<std::string, int, int, int>> out;
    for (const json& g : body["data"]) {
      const std::string name = g.contains("key_name")      ? g["key_name"]
                               : g.contains("tenant_name") ? g["tenant_name"]
                               : g.contains("model")       ? g["model"]
                                                           : g["day"];
      out.emplace_back(name, g["requests"], g["prompt_tokens"], g["cost_micro_usd"]);
    }
    return out;
  }

  std::map<std::string, int64_t> ids_;
  std::string admin_, owner_, member_, rival_;
};

using Seen = std::vector<std::tuple<std::string, int, int, int>>;

TEST_F(UsageTest, EachRoleSeesExactlyItsScope) {
  // Admin: everything, the fixture's own "test" key included (it has no rows).
  EXPECT_EQ(seen(admin_, kRange + "&group_by=tenant"),
            (Seen{{"acme", 3, 70, 7}, {"default", 1, 5000, 500}, {"rival", 1, 300, 30}}));
  // Owner of acme: acme's keys, never rival's.
  EXPECT_EQ(seen(owner_, kRange), (Seen{{"acme-bot", 2, 60, 6}, {"acme-owner", 1, 10, 1}}));
  EXPECT_EQ(seen(owner_, kRange + "&group_by=tenant"), (Seen{{"acme", 3, 70, 7}}));
  // Member: its own key only, whatever it groups by.
  EXPECT_EQ(seen(member_, kRange), (Seen{{"acme-bot", 2, 60, 6}}));
  EXPECT_EQ(seen(member_, kRange + "&group_by=day"),
            (Seen{{"2024-02-29", 1, 20, 2}, {"2024-03-01", 1, 40, 4}}));
  EXPECT_EQ(seen(member_, kRange + "&group_by=model"),
            (Seen{{"qwen", 1, 20, 2}, {"stories", 1, 40, 4}}));
  EXPECT_EQ(seen(rival_, kRange + "&group_by=tenant"), (Seen{{"rival", 1, 300, 30}}));
  // The default range (the last 30 days) holds none of these 2024 rows.
  EXPECT_EQ(seen(admin_, ""), Seen{});
}

TEST_F(UsageTest, CsvHasAHeaderAndOneLinePerGroup) {
  const std::string acme = std::to_string(store_->find_tenant_named("acme").value()->id);
  auto r = get("/v1/usage?" + kRange + "&group_by=key&format=csv", owner_);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/csv");
  EXPECT_EQ(r->body,
            "key_id,key_name,tenant_id,tenant_name,requests,prompt_tokens,cached_prompt_tokens,"
            "completion_tokens,cost_micro_usd\n" +
                std::to_string(ids_["acme-bot"]) + ",acme-bot," + acme + ",acme,2,60,0,2,6\n" +
                std::to_string(ids_["acme-owner"]) + ",acme-owner," + acme +
                ",acme,1,10,0,1,1\n");
}

// OpenAI's `user` is recorded on the request's ledger row (also a refused request's) and the
// report groups by it per tenant; a formula-like user id is made inert in CSV.
TEST_F(UsageTest, RequestsAreReportedPerEndUser) {
  const auto ask = [&](const char* path, json body, const char* user, int status) {
    body["user"] = user;
    const auto r = post(path, body, member_);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, status) << r->body;
  };
  const json completion = {{"model", "qwen2-tiny"}, {"prompt", "Once"}, {"max_tokens", 2}};
  const json chat = {{"model", "qwen2-tiny"},
                     {"messages", {{{"role", "user"}, {"content", "Hi"}}}},
                     {"max_tokens", 2}};
  ask("/v1/completions", completion, "alice", 200);
  ask("/v1/chat/completions", chat, "alice", 200);
  ask("/v1/completions", completion, "=HYPERLINK(1)", 200);
  ask("/v1/completions", completion, "\x1b]0;t\x07", 200);
  json bad = completion;
  bad["temperature"] = 9;
  ask("/v1/completions", bad, "alice", 400);
  std::map<std::string, int> rows_of;
  for (const platform::UsageRecord& row : rows())
    if (row.started_at_us > kFeb29 + 86'400'000'000 * 2) ++rows_of[row.end_user];
  EXPECT_EQ(rows_of,
            (std::map<std::string, int>{{"alice", 3}, {"=HYPERLINK(1)", 1}, {"\x1b]0;t\x07", 1}}));

  auto r = get("/v1/usage?group_by=user", owner_);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const json body = json::parse(r->body);
  EXPECT_EQ(body["group_by"], "user");
  ASSERT_EQ(body["data"].size(), 3u) << body;
  EXPECT_EQ(body["data"][1]["user"], "=HYPERLINK(1)");
  EXPECT_EQ(body["data"][2]["user"], "alice");
  EXPECT_EQ(body["data"][2]["requests"], 3);
  EXPECT_EQ(body["data"][2]["tenant_name"], "acme");
  auto csv = get("/v1/usage?group_by=user&format=csv", owner_);
  ASSERT_TRUE(csv);
  EXPECT_EQ(csv->body.substr(0, csv->body.find('\n')),
            "user,tenant_id,tenant_name,requests,prompt_tokens,cached_prompt_tokens,"
            "completion_tokens,cost_micro_usd");
  EXPECT_NE(csv->body.find("\n'=HYPERLINK(1),"), std::string::npos) << csv->body;
  // A control character cannot reach the terminal of whoever reads the file.
  EXPECT_NE(csv->body.find("\n\\x1b]0;t\\x07,"), std::string::npos) << csv->body;
  EXPECT_EQ(csv->body.find('\x1b'), std::string::npos);
  // Another tenant's member sees none of acme's end users.
  auto rival = get("/v1/usage?group_by=user", rival_);
  ASSERT_TRUE(rival);
  EXPECT_EQ(json::parse(rival->body)["data"], json::array());
}

TEST_F(UsageTest, BadParametersAre400WithTheReason) {
  const std::pair<std::string, std::string> cases[] = {
      {"start=2024-02-30", "start '2024-02-30' is not a date YYYY-MM-DD (UTC) or Unix seconds"},
      {"start=yesterday", "start 'yesterday' is not a date"},
      {"start=2024-03-02&end=2024-03-01", "end must be after start"},
      {"start=2020-01-01&end=2024-01-01", "longer than 366 days"},
      {"group_by=week", "group_by 'week' is not one of key, model, day, tenant, user"},
      {"group_by=key%27%3B%20DROP%20TABLE%20usage_ledger%3B--",
       "group_by 'key'; DROP TABLE usage_ledger;--' is not one of"},
      {"format=xml", "format 'xml' is not one of json, csv"},
      {"limit=5", "unknown parameter 'limit'"},
      {"start=2024-02-29&start=2024-03-01", "the parameter 'start' is given twice"},
      {"start=%zz", "malformed %-escape"},
  };
  for (const auto& [query, reason] : cases) {
    const json error = expect_error(get("/v1/usage?" + query, admin_), 400, nullptr);
    EXPECT_NE(error["message"].get<std::string>().find(reason), std::string::npos)
        << query << ": " << error;
  }
  expect_error(get("/v1/usage", ""), 401, "invalid_api_key");
  // Reading usage writes no ledger row: still the 5 billed above.
  EXPECT_EQ(rows().size(), 5u);
}

TEST(UsageParams, DatesAndSecondsAreExactAndDefaultsAreTheLast30Days) {
  auto p = parse_usage_params("/v1/usage?start=2024-02-29&end=1709251200", kFeb29 + 123);
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_EQ(p->start_us, kFeb29);
  EXPECT_EQ(p->end_us, 1'709'251'200'000'000);
  auto defaults = parse_usage_params("/v1/usage", kFeb29);
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->end_us, kFeb29);
  EXPECT_EQ(defaults->start_us, kFeb29 - 30 * 86'400'000'000);
  EXPECT_EQ(defaults->group_by, platform::UsageGroupBy::Key);
  EXPECT_FALSE(defaults->csv);
}

}  // namespace
}  // namespace gengyun::api::testing
