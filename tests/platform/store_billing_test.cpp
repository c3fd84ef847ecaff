// Tenants, roles, prices, budgets, rate limits, reservations and settlement, run against every
// store backend (backends.h).
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <regex>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "backends.h"
#include "platform/postgres_store.h"
#include "platform/store.h"
#include "platform/store_rules.h"
#include "platform/store_schema.h"
#include "store_reads.h"
#include "temp_dir.h"

namespace gengyun::platform {
namespace {

using testing::all_audit_entries;
using testing::all_keys;
using testing::all_prices;
using testing::all_tenants;

using testing::StoreBackendTest;

// $0.15 / $0.075 / $0.60 per million input / cached input / output tokens.
const Price kPrice{150'000, 75'000, 600'000};
// 2024-02-29T13:45:15Z: 15 s into a minute.
constexpr int64_t kNow = 1'709'214'315'000'000;

AdmissionRequest request(const std::string& id, int64_t key_id, int64_t prompt,
                         int64_t max_completion, int64_t at_us = kNow) {
  return AdmissionRequest{id,     key_id,         "qwen", "/v1/chat/completions",
                          prompt, max_completion, at_us};
}

int64_t key_id(Store& store, const std::string& secret) {
  auto who = store.authenticate(secret);
  EXPECT_TRUE(who.ok() && who->has_value());
  return who.ok() && who->has_value() ? (*who)->id : 0;
}

int64_t new_key(Store& store, NewKey key) {
  auto secret = store.create_key(key);
  EXPECT_TRUE(secret.ok()) << secret.error().message;
  return secret.ok() ? key_id(store, *secret) : 0;
}

Admission::Outcome admit_outcome(Store& store, const AdmissionRequest& r) {
  auto admission = store.admit(r);
  EXPECT_TRUE(admission.ok()) << admission.error().message;
  return admission.ok() ? admission->outcome : Admission::Outcome::OverRate;
}

TEST_P(StoreBackendTest, TenantsAndKeysKeepTheirRolesLimitsModelsAndExpiry) {
  auto store = open();
  ASSERT_TRUE(store);
  auto tenant =
      store->create_tenant("acme", Limits{5'000'000, BudgetPeriod::Month, 60, 100'000}, Actor{});
  ASSERT_TRUE(tenant.ok()) << tenant.error().message;
  EXPECT_EQ(tenant->id, 2);  // 1 is "default"
  NewKey key{"acme-owner",        "acme",
             Role::Owner,         Limits{1'500'000, BudgetPeriod::Day, 10, 2000},
             {"qwen", "stories"}, 1'800'000'000'000'000};
  auto secret = store->create_key(key);
  ASSERT_TRUE(secret.ok()) << secret.error().message;

  auto who = store->authenticate(*secret);
  ASSERT_TRUE(who.ok() && who->has_value());
  const KeyInfo& info = **who;
  EXPECT_EQ(info.name, "acme-owner");
  EXPECT_EQ(info.tenant_id, 2);
  EXPECT_EQ(info.role, Role::Owner);
  EXPECT_EQ(info.models, (std::vector<std::string>{"qwen", "stories"}));
  EXPECT_EQ(info.expires_at_us, 1'800'000'000'000'000);
  EXPECT_EQ(info.limits.budget_micro_usd, 1'500'000);
  EXPECT_EQ(info.limits.budget_period, BudgetPeriod::Day);
  EXPECT_EQ(info.limits.rpm, 10);
  EXPECT_EQ(info.limits.tpm, 2000);

  // The short form keeps working: tenant "default", role member, no limits, every model.
  auto plain = store->create_key("plain");
  ASSERT_TRUE(plain.ok());
  auto plain_info = store->authenticate(*plain);
  ASSERT_TRUE(plain_info.ok() && plain_info->has_value());
  EXPECT_EQ((*plain_info)->tenant_id, 1);
  EXPECT_EQ((*plain_info)->role, Role::Member);
  EXPECT_TRUE((*plain_info)->models.empty());
  EXPECT_FALSE((*plain_info)->limits.budget_micro_usd || (*plain_info)->limits.rpm ||
               (*plain_info)->limits.tpm || (*plain_info)->expires_at_us);

  auto tenants = all_tenants(*store);
  ASSERT_TRUE(tenants.ok());
  ASSERT_EQ(tenants->size(), 2u);
  EXPECT_EQ((*tenants)[0].name, "default");
  EXPECT_EQ((*tenants)[1].name, "acme");
  EXPECT_EQ((*tenants)[1].limits.budget_micro_usd, 5'000'000);
  EXPECT_EQ((*tenants)[1].limits.budget_period, BudgetPeriod::Month);
  EXPECT_EQ((*tenants)[1].limits.rpm, 60);
  EXPECT_EQ((*tenants)[1].limits.tpm, 100'000);
}

TEST_P(StoreBackendTest, BadAdminInputIsRefusedWithTheReasonAndWritesNothing) {
  auto store = open();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->create_tenant("acme", {}, Actor{}).ok());
  const std::string sql = "x'); DROP TABLE tenants; --";
  struct Case {
    Result<void> result;
    const char* reason;
  };
  const auto status = [](const auto& r) -> Result<void> {
    if (r.ok()) return {};
    return r.error();
  };
  const Case cases[] = {
      {status(store->create_tenant("", {}, Actor{})), "name is empty"},
      {status(store->create_tenant(std::string(201, 't'), {}, Actor{})), "longer than 200"},
      {status(store->create_tenant("acme", {}, Actor{})), "already exists"},
      {status(store->create_tenant("neg", Limits{-1}, Actor{})), "budget must be >= 0"},
      {status(store->create_tenant("neg", Limits{{}, BudgetPeriod::Total, -5}, Actor{})),
       "rpm must be >= 0"},
      {status(store->create_key(NewKey{"k", sql})), "no tenant is named"},
      {status(store->create_key(NewKey{"k", "default", Role::Member, {}, {"a,b"}})),
       "holds a comma"},
      {status(store->create_key(NewKey{"k", "default", Role::Member, {}, {""}})), "is empty"},
      {status(store->create_key(NewKey{"k", "default", Role::Member, Limits{{}, {}, {}, -1}})),
       "tpm must be >= 0"},
      {store->set_price("qwen", Price{-1, 0, 0}, Actor{}), "prices must be >= 0"},
      {store->set_price("", Price{}, Actor{}), "model name is empty"},
  };
  for (const Case& c : cases) {
    ASSERT_FALSE(c.result.ok()) << "expected an error with: " << c.reason;
    EXPECT_NE(c.result.error().message.find(c.reason), std::string::npos)
        << c.result.error().message;
  }
  EXPECT_EQ(all_tenants(*store)->size(), 2u);
  EXPECT_TRUE(all_keys(*store)->empty());
  EXPECT_FALSE(store->price("qwen")->has_value());
  EXPECT_EQ(all_audit_entries(*store)->size(), 1u);
}

TEST_P(StoreBackendTest, NamesAreOfASafeCharsetSoNoneStartsAFormulaOrHoldsSql) {
  auto store = open();
  ASSERT_TRUE(store);
  for (const std::string& bad :
       {std::string("x'); DROP TABLE tenants; --"), std::string("=cmd|calc"), std::string("+1"),
        std::string("-x"), std::string("@sum"), std::string("a,b"), std::string("a\nb"),
        std::string("a b"), std::string("\"q\""), std::string(".hidden")}) {
    auto tenant = store->create_tenant(bad, {}, Actor{});
    ASSERT_FALSE(tenant.ok()) << bad;
    EXPECT_NE(tenant.error().message.find("may hold only ASCII letters"), std::string::npos)
        << tenant.error().message;
    auto key = store->create_key(NewKey{bad});
    ASSERT_FALSE(key.ok()) << bad;
    EXPECT_NE(key.error().message.find("may hold only ASCII letters"), std::string::npos)
        << key.error().message;
  }
  EXPECT_EQ(all_tenants(*store)->size(), 1u);
  EXPECT_TRUE(all_keys(*store)->empty());
  EXPECT_TRUE(all_audit_entries(*store)->empty());
  for (const char* good : {"acme", "Team_2.prod-eu", "_x", "9lives"}) {
    EXPECT_TRUE(store->create_tenant(good, {}, Actor{}).ok()) << good;
    EXPECT_TRUE(store->create_key(NewKey{good}).ok()) << good;
  }
}

// A model name is any name deploy may serve as a model id (QA: "qwen tiny+v2" and a name of
// CJK letters were served but could not be priced, so they were free): priced, listed in a key's
// models and read back as given; SQL in one is data. Refused, naming the flaw and writing
// nothing: what no model id may hold, an empty name and one over 200 bytes.
TEST_P(StoreBackendTest, ModelNamesAreThoseAModelIdMayBe) {
  auto store = open();
  ASSERT_TRUE(store);
  const std::vector<std::string> served = {"Qwen/Qwen2.5-0.5B:q8_0", "qwen tiny+v2", "\u6a21\u578b",
                                           "x'); DROP TABLE prices; --", "=cmd|calc"};
  for (const std::string& model : served) {
    ASSERT_TRUE(store->set_price(model, kPrice, Actor{}).ok()) << model;
    auto price = store->price(model);
    ASSERT_TRUE(price.ok() && price->has_value()) << model;
    EXPECT_EQ((*price)->output, kPrice.output) << model;
  }
  NewKey limited{"limited"};
  limited.models = served;
  ASSERT_TRUE(store->create_key(limited).ok());
  auto keys = all_keys(*store);
  ASSERT_TRUE(keys.ok());
  ASSERT_EQ(keys->size(), 1u);
  EXPECT_EQ(keys->front().models, served);

  const size_t audited = all_audit_entries(*store)->size();
  const std::pair<std::string, std::string> refused[] = {
      {"a,b",
       "the model name holds a comma, which a model id may not (a key's model list is stored "
       "comma-separated)"},
      {"a\nb",
       "the model name holds control, format, invisible, private-use or unassigned characters, "
       "or bytes that are not UTF-8, which a model id may not"},
      {"a\u00A0b",
       "the model name holds the space U+00A0, which shows as U+0020 does and which a model id "
       "may not"},
      {" qwen", "the model name begins or ends with a space, which a model id may not"},
      {"", "the model name is empty"},
      {std::string(201, 'm'), "the model name is longer than 200 bytes"},
  };
  for (const auto& [model, message] : refused) {
    auto set = store->set_price(model, kPrice, Actor{});
    ASSERT_FALSE(set.ok()) << model;
    EXPECT_EQ(set.error().message, "cannot set a price: " + message) << model;
  }
  EXPECT_EQ(all_prices(*store)->size(), served.size());
  EXPECT_EQ(all_audit_entries(*store)->size(), audited);
}

TEST_P(StoreBackendTest, AuditLogRecordsEveryAdminAction) {
  auto store = open();
  ASSERT_TRUE(store);
  const Actor admin{7, "key:admin"};
  ASSERT_TRUE(
      store->create_tenant("acme", Limits{2'500'000, BudgetPeriod::Day, 5, {}}, admin).ok());
  ASSERT_TRUE(store->create_key(NewKey{"bob", "acme", Role::Member, {}, {"qwen"}}, admin).ok());
  ASSERT_TRUE(store->set_price("qwen", kPrice, Actor{}).ok());
  ASSERT_TRUE(store->revoke_key("bob", admin).ok());
  auto log = all_audit_entries(*store);
  ASSERT_TRUE(log.ok()) << log.error().message;
  ASSERT_EQ(log->size(), 4u);
  const std::vector<
      std::tuple<std::optional<int64_t>, std::string, std::string, std::string, std::string>>
      want = {
          {7, "key:admin", "tenant.create", "acme", "budget_usd=2.5 budget_period=day rpm=5"},
          {7, "key:admin", "key.create", "bob", "tenant=acme role=member models=qwen"},
          {std::nullopt, "cli", "price.set", "qwen",
           "input=0.15 cached_input=0.075 output=0.6 (USD per 1M tokens)"},
          {7, "key:admin", "key.revoke", "bob", "id=1"},
      };
  for (size_t i = 0; i < want.size(); ++i) {
    const AuditEntry& e = (*log)[i];
    EXPECT_EQ(std::tie(e.actor_key_id, e.actor, e.action, e.target, e.detail), want[i]);
    EXPECT_GT(e.at_us, 0);
  }
}

TEST_P(StoreBackendTest, AdmissionReservesTheWorstCaseAndSettlementBillsTheActual) {
  auto store = open();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->set_price("qwen", kPrice, Actor{}).ok());
  const int64_t key = new_key(*store, NewKey{"a"});

  auto admission = store->admit(request("chatcmpl-1", key, 1000, 500));
  ASSERT_TRUE(admission.ok()) << admission.error().message;
  EXPECT_EQ(admission->outcome, Admission::Outcome::Admitted);
  // 1000 * 0.15 + 500 * 0.60 = 450 micro-USD.
  EXPECT_EQ(admission->reserved_micro_usd, 450);
  EXPECT_EQ(admission->price.output, 600'000);

  auto rows = store->usage_rows();
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].status, "open");
  EXPECT_EQ((*rows)[0].request_id, "chatcmpl-1");

  // A price change after admission does not change what the request is billed at.
  ASSERT_TRUE(store->set_price("qwen", Price{1'000'000, 1'000'000, 1'000'000}, Actor{}).ok());
  auto settled =
      store->settle("chatcmpl-1", Settlement{{1000, 400, 200}, 200, "ok", "", kNow + 2'000'000});
  ASSERT_TRUE(settled.ok()) << settled.error().message;
  // 600 * 0.15 + 400 * 0.075 + 200 * 0.60 = 90 + 30 + 120 = 240 micro-USD.
  EXPECT_EQ(settled->cost_micro_usd, 240);
  EXPECT_EQ(settled->price.input, 150'000);
  EXPECT_EQ(settled->price.cached_input, 75'000);
  EXPECT_EQ(settled->status, "ok");
  EXPECT_EQ(settled->prompt_tokens, 1000);
  EXPECT_EQ(settled->cached_prompt_tokens, 400);
  EXPECT_EQ(settled->completion_tokens, 200);
  EXPECT_EQ(settled->started_at_us, kNow);
  EXPECT_EQ(settled->finished_at_us, kNow + 2'000'000);
  EXPECT_EQ(settled->tenant_id, 1);

  // Settled once: a second settlement and a late checkpoint change nothing.
  EXPECT_FALSE(store->settle("chatcmpl-1", Settlement{{1, 0, 1}, 200, "ok", "", kNow}).ok());
  ASSERT_TRUE(store->checkpoint("chatcmpl-1", {5, 0, 5}, kNow).ok());
  EXPECT_EQ(store->usage_rows()->front().completion_tokens, 200);
  EXPECT_EQ(store->usage_summary()->front().cost_micro_usd, 240);

  // A duplicate request id is refused.
  EXPECT_FALSE(store->admit(request("chatcmpl-1", key, 1, 1)).ok());
  // Invalid settlements are refused and leave the row open.
  ASSERT_EQ(admit_outcome(*store, request("chatcmpl-2", key, 10, 10)),
            Admission::Outcome::Admitted);
  EXPECT_FALSE(store->settle("chatcmpl-2", Settlement{{10, 11, 0}, 200, "ok", "", kNow}).ok());
  EXPECT_FALSE(store->settle("chatcmpl-2", Settlement{{10, 0, 0}, 200, "open", "", kNow}).ok());
  EXPECT_FALSE(store->settle("chatcmpl-2", Settlement{{10, 0, 0}, 99, "ok", "", kNow}).ok());
  EXPECT_EQ(store->usage_rows()->back().status, "open");
}

TEST_P(StoreBackendTest, AModelWithoutPricesIsBilledAtItsFallbacksAndItsOwnWin) {
  auto store = open();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->set_price("qwen", kPrice, Actor{}).ok());
  const int64_t key = new_key(*store, NewKey{"a"});
  AdmissionRequest derivative = request("chatcmpl-1", key, 1000, 500);
  derivative.model = "qwen-lora";
  derivative.price_fallback = "qwen";
  auto admission = store->admit(derivative);
  ASSERT_TRUE(admission.ok()) << admission.error().message;
  EXPECT_EQ(admission->price.output, 600'000);  // the fallback's
  EXPECT_EQ(admission->reserved_micro_usd, 450);
  // Its own prices, once set, win over the fallback's.
  ASSERT_TRUE(store->set_price("qwen-lora", Price{1'000'000, 0, 2'000'000}, Actor{}).ok());
  derivative.request_id = "chatcmpl-2";
  admission = store->admit(derivative);
  ASSERT_TRUE(admission.ok()) << admission.error().message;
  EXPECT_EQ(admission->price.output, 2'000'000);
  // No fallback and no prices: free.
  derivative.request_id = "chatcmpl-3";
  derivative.model = "other";
  derivative.price_fallback.clear();
  admission = store->admit(derivative);
  ASSERT_TRUE(admission.ok()) << admission.error().message;
  EXPECT_EQ(admission->reserved_micro_usd, 0);
}

TEST_P(StoreBackendTest, BudgetsCountSettledCostsAndOpenReservations) {
  auto store = open();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->set_price("qwen", kPrice, Actor{}).ok());
  // 1000 micro-USD; each request below reserves 450.
  const int64_t key = new_key(*store, NewKey{"a", "default", Role::Member, Limits{1000}});
  EXPECT_EQ(admit_outcome(*store, request("r1", key, 1000, 500)), Admission::Outcome::Admitted);
  EXPECT_EQ(admit_outcome(*store, request("r2", key, 1000, 500)), Admission::Outcome::Admitted);
  auto third = store->admit(request("r3", key, 1000, 500));
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(third->outcome, Admission::Outcome::OverBudget);
  EXPECT_EQ(third->message,
            "You exceeded your current quota: key 'a' has used $0.0009 of its $0.001 total "
            "budget, and this request may cost up to $0.00045 (its prompt plus the tokens it may "
            "generate at the "
            "prices of model 'qwen').");
  // An embeddings request generates nothing: its worst case is its input (1000 * 0.15 = 150).
  auto inputs_only = store->admit(request("e1", key, 1000, 0));
  ASSERT_TRUE(inputs_only.ok());
  EXPECT_EQ(inputs_only->outcome, Admission::Outcome::OverBudget);
  EXPECT_EQ(inputs_only->message,
            "You exceeded your current quota: key 'a' has used $0.0009 of its $0.001 total "
            "budget, and this request may cost up to $0.00015 (its input tokens at the prices "
            "of model 'qwen').");
  // Settling r1 at 240 frees 210: 240 + 450 (r2 open) + 450 = 1140 > 1000, still refused.
  ASSERT_TRUE(store->settle("r1", Settlement{{1000, 400, 200}, 200, "ok", "", kNow}).ok());
  EXPECT_EQ(admit_outcome(*store, request("r3", key, 1000, 500)), Admission::Outcome::OverBudget);
  // Settling r2 at 240 too: 480 + 450 = 930 <= 1000.
  ASSERT_TRUE(store->settle("r2", Settlement{{1000, 400, 200}, 200, "ok", "", kNow}).ok());
  EXPECT_EQ(admit_outcome(*store, request("r3", key, 1000, 500)), Admission::Outcome::Admitted);
  // Refusals wrote nothing: three rows.
  EXPECT_EQ(store->usage_rows()->size(), 3u);
}

TEST_P(StoreBackendTest, DayBudgetsStartAgainAtUtcMidnightAndTenantBudgetsBindAllItsKeys) {
  auto store = open();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->set_price("qwen", kPrice, Actor{}).ok());
  ASSERT_TRUE(store->create_tenant("acme", Limits{900, BudgetPeriod::Day}, Actor{}).ok());
  const int64_t a = new_key(*store, NewKey{"a", "acme"});
  const int64_t b = new_key(*store, NewKey{"b", "acme"});
  const int64_t other = new_key(*store, NewKey{"other"});
  EXPECT_EQ(admit_outcome(*store, request("a1", a, 1000, 500)), Admission::Outcome::Admitted);
  EXPECT_EQ(admit_outcome(*store, request("b1", b, 1000, 500)), Admission::Outcome::Admitted);
  auto refused = store->admit(request("a2", a, 1000, 500));
  ASSERT_TRUE(refused.ok());
  EXPECT_EQ(refused->outcome, Admission::Outcome::OverBudget);
  EXPECT_NE(refused->message.find("tenant 'acme' has used $0.0009 of its $0.0009 day budget"),
            std::string::npos)
      << refused->message;
  // Another tenant's key is not affected.
  EXPECT_EQ(admit_outcome(*store, request("o1", other, 1000, 500)), Admission::Outcome::Admitted);
  // 2024-03-01T00:00:00Z: a new day.
  constexpr int64_t kNextDay = 1'709'251'200'000'000;
  EXPECT_EQ(admit_outcome(*store, request("a3", a, 1000, 500, kNextDay - 1)),
            Admission::Outcome::OverBudget);
  EXPECT_EQ(admit_outcome(*store, request("a4", a, 1000, 500, kNextDay)),
            Admission::Outcome::Admitted);
}

TEST_P(StoreBackendTest, RequestsPerMinuteRefuseWithRetryAfterAndCountRemaining) {
  auto store = open();
  ASSERT_TRUE(store);
  const int64_t key = new_key(*store, NewKey{"a", "default", Role::Member, Limits{{}, {}, 3}});
  for (int i = 0; i < 3; ++i) {
    auto admitted = store->admit(request("r" + std::to_string(i), key, 10, 10));
    ASSERT_TRUE(admitted.ok());
    EXPECT_EQ(admitted->outcome, Admission::Outcome::Admitted);
    EXPECT_EQ(admitted->rate.limit_requests, 3);
    EXPECT_EQ(admitted->rate.remaining_requests, 2 - i);
    EXPECT_FALSE(admitted->rate.limit_tokens);
  }
  auto refused = store->admit(request("r3", key, 10, 10, kNow + 500'000));
  ASSERT_TRUE(refused.ok());
  EXPECT_EQ(refused->outcome, Admission::Outcome::OverRate);
  EXPECT_EQ(refused->message, "Rate limit reached for key 'a': 3 requests per minute.");
  EXPECT_FALSE(refused->over_tokens);
  // The three leave the window 60 s after their second began: 59.5 s from now, rounded up.
  EXPECT_EQ(refused->retry_after_s, 60);
  EXPECT_EQ(refused->rate.remaining_requests, 0);
  EXPECT_EQ(admit_outcome(*store, request("r4", key, 10, 10, kNow + 59'999'999)),
            Admission::Outcome::OverRate);
  EXPECT_EQ(admit_outcome(*store, request("r4", key, 10, 10, kNow + 60'000'000)),
            Admission::Outcome::Admitted);
}

TEST_P(StoreBackendTest, TokensPerMinuteCountTheWorstCaseAndSettlementReturnsTheUnused) {
  auto store = open();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->create_tenant("acme", Limits{{}, {}, {}, 2000}, Actor{}).ok());
  const int64_t key = new_key(*store, NewKey{"a", "acme"});
  auto first = store->admit(request("r1", key, 100, 900));
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->rate.limit_tokens, 2000);
  EXPECT_EQ(first->rate.remaining_tokens, 1000);
  EXPECT_EQ(admit_outcome(*store, request("r2", key, 100, 900)), Admission::Outcome::Admitted);
  auto refused = store->admit(request("r3", key, 100, 900));
  ASSERT_TRUE(refused.ok());
  EXPECT_EQ(refused->outcome, Admission::Outcome::OverRate);
  EXPECT_TRUE(refused->over_tokens);  // the API answers type "tokens"
  // The refused request takes nothing: the headers show what the window has left without it.
  EXPECT_EQ(refused->rate.remaining_tokens, 0);
  EXPECT_EQ(refused->retry_after_s, 60);
  EXPECT_EQ(
      refused->message,
      "Rate limit reached for tenant 'acme': 2000 tokens per minute; 2000 used in the last "
      "minute, and this request needs up to 1000 (its prompt plus the tokens it may generate).");
  // r1 used 150 of its 1000: 850 come back; 150 + 1000 + 1000 > 2000, still refused.
  ASSERT_TRUE(store->settle("r1", Settlement{{100, 0, 50}, 200, "ok", "", kNow}).ok());
  EXPECT_EQ(admit_outcome(*store, request("r3", key, 100, 900)), Admission::Outcome::OverRate);
  ASSERT_TRUE(store->settle("r2", Settlement{{100, 0, 50}, 200, "ok", "", kNow}).ok());
  auto admitted = store->admit(request("r3", key, 100, 900));
  ASSERT_TRUE(admitted.ok());
  EXPECT_EQ(admitted->outcome, Admission::Outcome::Admitted);
  EXPECT_EQ(admitted->rate.remaining_tokens, 2000 - 300 - 1000);
}

TEST_P(StoreBackendTest, ARefusalCountsTheWindowWithoutTheRefusedRequest) {
  auto store = open();
  ASSERT_TRUE(store);
  const int64_t key =
      new_key(*store, NewKey{"a", "default", Role::Member, Limits{{}, {}, 10, 1000}});
  ASSERT_EQ(admit_outcome(*store, request("r1", key, 100, 100)), Admission::Outcome::Admitted);
  auto refused = store->admit(request("r2", key, 100, 800));
  ASSERT_TRUE(refused.ok());
  EXPECT_EQ(refused->outcome, Admission::Outcome::OverRate);
  EXPECT_EQ(refused->rate.remaining_tokens, 800);
  EXPECT_EQ(refused->rate.remaining_requests, 9);
  EXPECT_EQ(refused->retry_after_s, 60);
}

TEST_P(StoreBackendTest, ALimitNoWindowCanPassHasNoRetryAfter) {
  auto store = open();
  ASSERT_TRUE(store);
  const int64_t zero = new_key(*store, NewKey{"zero", "default", Role::Member, Limits{{}, {}, 0}});
  auto refused = store->admit(request("r1", zero, 1, 1));
  ASSERT_TRUE(refused.ok());
  EXPECT_EQ(refused->outcome, Admission::Outcome::OverRate);
  EXPECT_EQ(refused->retry_after_s, 0);
  EXPECT_EQ(refused->message,
            "Rate limit reached for key 'zero': 0 requests per minute. No request can pass it; ask "
            "for the limit to be raised.");
  const int64_t small =
      new_key(*store, NewKey{"small", "default", Role::Member, Limits{{}, {}, {}, 100}});
  auto too_big = store->admit(request("r2", small, 60, 41));
  ASSERT_TRUE(too_big.ok());
  EXPECT_EQ(too_big->outcome, Admission::Outcome::OverRate);
  EXPECT_EQ(too_big->retry_after_s, 0);
  EXPECT_EQ(too_big->rate.remaining_tokens, 100);
  EXPECT_NE(too_big->message.find("It can never pass"), std::string::npos) << too_big->message;
  EXPECT_EQ(admit_outcome(*store, request("r3", small, 60, 40)), Admission::Outcome::Admitted);
  // Over the key's rpm for now, and over its tenant's tpm for ever: the refusal says the latter.
  ASSERT_TRUE(store->create_tenant("tight", Limits{{}, {}, {}, 100}, Actor{}).ok());
  const int64_t busy = new_key(*store, NewKey{"busy", "tight", Role::Member, Limits{{}, {}, 1}});
  EXPECT_EQ(admit_outcome(*store, request("r4", busy, 1, 1)), Admission::Outcome::Admitted);
  auto never = store->admit(request("r5", busy, 60, 41));
  ASSERT_TRUE(never.ok());
  EXPECT_EQ(never->outcome, Admission::Outcome::OverRate);
  EXPECT_TRUE(never->over_tokens);
  EXPECT_EQ(never->retry_after_s, 0);
  EXPECT_EQ(never->message,
            "Rate limit reached for tenant 'tight': 100 tokens per minute; 2 used in the last "
            "minute, and this request needs up to 101 (its prompt plus the tokens it may "
            "generate). It can never "
            "pass: lower max_tokens or shorten the prompt.");
}

// The fixed windows of before let `rpm` requests through at 13:45:59 and `rpm` more at
// 13:46:00; the sliding window counts both seconds together.
TEST_P(StoreBackendTest, TheEdgeOfAMinuteNoLongerPassesTwiceTheLimit) {
  auto store = open();
  ASSERT_TRUE(store);
  const int64_t key = new_key(*store, NewKey{"a", "default", Role::Member, Limits{{}, {}, 3}});
  constexpr int64_t kLastSecond = kNow + 44'500'000;  // 13:45:59.5
  constexpr int64_t kNextMinute = kNow + 45'000'000;  // 13:46:00
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(admit_outcome(*store, request("a" + std::to_string(i), key, 10, 10, kLastSecond)),
              Admission::Outcome::Admitted);
  auto refused = store->admit(request("b0", key, 10, 10, kNextMinute));
  ASSERT_TRUE(refused.ok());
  EXPECT_EQ(refused->outcome, Admission::Outcome::OverRate);
  // The bucket of 13:45:59 leaves the window at 13:46:59.
  EXPECT_EQ(refused->retry_after_s, 59);
  auto last = store->admit(request("b1", key, 10, 10, kNextMinute + 58'999'999));
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(last->outcome, Admission::Outcome::OverRate);
  EXPECT_EQ(last->retry_after_s, 1);
  EXPECT_EQ(admit_outcome(*store, request("b2", key, 10, 10, kNextMinute + 59'000'000)),
            Admission::Outcome::Admitted);
}

// Requests in the buckets of 50, 30 and 10 s ago (300 tokens each); the key allows 3 requests
// per minute, its tenant 1000 tokens. Retry-After waits for the oldest buckets that must leave
// for the request to fit both scopes.
TEST_P(StoreBackendTest, RetryAfterWaitsUntilEnoughOfTheOldestBucketsLeave) {
  auto store = open();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->create_tenant("acme", Limits{{}, {}, {}, 1000}, Actor{}).ok());
  const int64_t key = new_key(*store, NewKey{"a", "acme", Role::Member, Limits{{}, {}, 3}});
  for (int ago : {50, 30, 10})
    ASSERT_EQ(admit_outcome(*store, request("r" + std::to_string(ago), key, 100, 200,
                                            kNow - ago * 1'000'000)),
              Admission::Outcome::Admitted);
  const auto retry_after = [&](int64_t tokens, int64_t at_us) {
    auto refused = store->admit(request("x", key, tokens / 2, tokens - tokens / 2, at_us));
    EXPECT_TRUE(refused.ok() && refused->outcome == Admission::Outcome::OverRate);
    return refused.ok() ? refused->retry_after_s : -1;
  };
  // 100 tokens fit the tenant; the key's fourth request waits for the bucket of 50 s ago,
  // which leaves 10 s after this second began.
  EXPECT_EQ(retry_after(100, kNow), 10);
  EXPECT_EQ(retry_after(100, kNow + 250'000), 10);
  EXPECT_EQ(retry_after(100, kNow + 9'999'999), 1);
  // 700 tokens fit the tenant once the buckets of 50 and 30 s ago are gone (300 + 700).
  EXPECT_EQ(retry_after(700, kNow), 30);
  EXPECT_EQ(retry_after(700, kNow + 250'000), 30);
  EXPECT_EQ(retry_after(700, kNow + 29'999'999), 1);
  // 701 tokens need the window empty: the bucket of 10 s ago leaves in 50 s.
  EXPECT_EQ(retry_after(701, kNow + 250'000), 50);
  EXPECT_EQ(admit_outcome(*store, request("y", key, 350, 350, kNow + 30'000'000)),
            Admission::Outcome::Admitted);
}

TEST_P(StoreBackendTest, BucketsThatLeftTheWindowAreDeletedAtTheScopesNextAdmission) {
  auto store = open();
  ASSERT_TRUE(store);
  const int64_t key = new_key(*store, NewKey{"a", "default", Role::Member, Limits{{}, {}, 100}});
  ASSERT_EQ(admit_outcome(*store, request("r1", key, 1, 1, kNow - 60'000'000)),
            Admission::Outcome::Admitted);
  ASSERT_EQ(admit_outcome(*store, request("r2", key, 1, 1, kNow - 59'000'000)),
            Admission::Outcome::Admitted);
  auto third = store->admit(request("r3", key, 1, 1, kNow));
  ASSERT_TRUE(third.ok());
  // The window at 13:45:15 holds the buckets of 13:44:16 .. 13:45:15: r2 and r3.
  EXPECT_EQ(third->rate.remaining_requests, 98);
  const std::string second = std::to_string(kNow / 1'000'000);
  const std::string oldest = std::to_string(kNow / 1'000'000 - 59);
  EXPECT_EQ(raw_query("SELECT scope, scope_id, second, requests, tokens FROM rate_buckets "
                      "ORDER BY scope, second"),
            (std::vector<std::vector<std::string>>{{"key", std::to_string(key), oldest, "1", "2"},
                                                   {"key", std::to_string(key), second, "1", "2"},
                                                   {"tenant", "1", oldest, "1", "2"},
                                                   {"tenant", "1", second, "1", "2"}}));
}

TEST_P(StoreBackendTest, SettlementGivesTokensBackToTheBucketOfTheAdmission) {
  auto store = open();
  ASSERT_TRUE(store);
  const int64_t key =
      new_key(*store, NewKey{"a", "default", Role::Member, Limits{{}, {}, {}, 2000}});
  ASSERT_EQ(admit_outcome(*store, request("r1", key, 100, 900, kNow - 50'000'000)),
            Admission::Outcome::Admitted);
  ASSERT_EQ(admit_outcome(*store, request("r2", key, 100, 900)), Admission::Outcome::Admitted);
  // r1 used 100 of its 1000: its bucket, 50 s old, keeps 100.
  ASSERT_TRUE(store->settle("r1", Settlement{{100, 0, 0}, 200, "ok", "", kNow}).ok());
  auto refused = store->admit(request("r3", key, 100, 900, kNow + 1'000'000));
  ASSERT_TRUE(refused.ok());
  EXPECT_EQ(refused->outcome, Admission::Outcome::OverRate);
  EXPECT_EQ(refused->rate.remaining_tokens, 900);
  EXPECT_EQ(
      refused->message,
      "Rate limit reached for key 'a': 2000 tokens per minute; 1100 used in the last "
      "minute, and this request needs up to 1000 (its prompt plus the tokens it may generate).");
  // 100 + 1000 + 1000 > 2000 until r1's bucket leaves, 9 s from now.
  EXPECT_EQ(refused->retry_after_s, 9);
  // r2 used 150: 100 + 150 + 1000 fit.
  ASSERT_TRUE(store->settle("r2", Settlement{{100, 0, 50}, 200, "ok", "", kNow}).ok());
  auto admitted = store->admit(request("r3", key, 100, 900, kNow + 1'000'000));
  ASSERT_TRUE(admitted.ok());
  EXPECT_EQ(admitted->outcome, Admission::Outcome::Admitted);
  EXPECT_EQ(admitted->rate.remaining_tokens, 2000 - 100 - 150 - 1000);
  // A minute later r3's bucket is deleted; its settlement gives back to nothing and
  // recreates no bucket.
  ASSERT_EQ(admit_outcome(*store, request("r4", key, 10, 10, kNow + 61'000'000)),
            Admission::Outcome::Admitted);
  ASSERT_TRUE(store->settle("r3", Settlement{{100, 0, 0}, 200, "ok", "", kNow}).ok());
  EXPECT_EQ(raw_query("SELECT scope, second, requests, tokens FROM rate_buckets ORDER BY scope"),
            (std::vector<std::vector<std::string>>{
                {"key", std::to_string(kNow / 1'000'000 + 61), "1", "20"},
                {"tenant", std::to_string(kNow / 1'000'000 + 61), "1", "20"}}));
}

TEST_P(StoreBackendTest, ABatchOfSettlementsGivesBackToEachBucketExactly) {
  auto store = open();
  ASSERT_TRUE(store);
  const int64_t key =
      new_key(*store, NewKey{"a", "default", Role::Member, Limits{{}, {}, {}, 5000}});
  ASSERT_EQ(admit_outcome(*store, request("r1", key, 100, 900, kNow - 50'000'000)),
            Admission::Outcome::Admitted);
  ASSERT_EQ(admit_outcome(*store, request("r2", key, 100, 900)), Admission::Outcome::Admitted);
  ASSERT_EQ(admit_outcome(*store, request("r3", key, 100, 400)), Admission::Outcome::Admitted);
  const auto settle = [](const std::string& id, int64_t prompt, int64_t completion) {
    LedgerWrite write{LedgerWrite::Kind::Settle};
    write.row.request_id = id;
    write.row.prompt_tokens = prompt;
    write.row.completion_tokens = completion;
    write.row.http_status = 200;
    write.row.status = "ok";
    write.row.finished_at_us = kNow;
    return write;
  };
  // Newest bucket first, a refused write between: r2 gives back 850, r1 900, r3 300.
  auto applied = store->apply_writes(
      {settle("r2", 100, 50), settle("none", 1, 1), settle("r1", 100, 0), settle("r3", 100, 100)},
      Durability::Synced);
  ASSERT_TRUE(applied.ok()) << applied.error().message;
  ASSERT_EQ(applied->size(), 4u);
  EXPECT_TRUE((*applied)[0].ok());
  EXPECT_FALSE((*applied)[1].ok());
  EXPECT_TRUE((*applied)[2].ok() && (*applied)[3].ok());
  const std::string second = std::to_string(kNow / 1'000'000);
  const std::string older = std::to_string(kNow / 1'000'000 - 50);
  EXPECT_EQ(raw_query("SELECT scope, second, requests, tokens FROM rate_buckets "
                      "ORDER BY scope, second"),
            (std::vector<std::vector<std::string>>{{"key", older, "1", "100"},
                                                   {"key", second, "2", "350"},
                                                   {"tenant", older, "1", "100"},
                                                   {"tenant", second, "2", "350"}}));
}

// A database of schema version 2 counted rates in rate_windows (one row per minute); opened by
// this build, a minute's counts move to its first second and hold until that minute ends.
TEST_P(StoreBackendTest, AVersion2DatabaseKeepsItsMinutesCounts) {
  int64_t key = 0;
  {
    auto store = open();
    ASSERT_TRUE(store);
    key = new_key(*store, NewKey{"a", "default", Role::Member, Limits{{}, {}, 2}});
  }
  const std::string minute = std::to_string(kNow / 60'000'000);
  ASSERT_EQ(raw_exec("DROP TABLE rate_buckets; "
                     "CREATE TABLE rate_windows (scope TEXT NOT NULL CHECK (scope IN ('key', "
                     "'tenant')), scope_id BIGINT NOT NULL, minute BIGINT NOT NULL, requests "
                     "BIGINT NOT NULL, tokens BIGINT NOT NULL, PRIMARY KEY (scope, scope_id, "
                     "minute)); "
                     "INSERT INTO rate_windows VALUES ('key', " +
                     std::to_string(key) + ", " + minute + ", 2, 40), ('tenant', 1, " + minute +
                     ", 2, 40); ALTER TABLE usage_ledger DROP COLUMN end_user; UPDATE "
                     "schema_version SET version = 2"),
            "");
  auto store = open();
  ASSERT_TRUE(store);
  EXPECT_EQ(raw_query("SELECT version FROM schema_version"),
            (std::vector<std::vector<std::string>>{{std::to_string(kStoreSchemaVersion)}}));
  auto refused = store->admit(request("r1", key, 10, 10));
  ASSERT_TRUE(refused.ok());
  EXPECT_EQ(refused->outcome, Admission::Outcome::OverRate);
  // 15 s into the minute: its counts leave at its end.
  EXPECT_EQ(refused->retry_after_s, 45);
  EXPECT_EQ(admit_outcome(*store, request("r2", key, 10, 10, kNow + 45'000'000)),
            Admission::Outcome::Admitted);
}

TEST_P(StoreBackendTest, ConcurrentAdmissionsNeverOverspendABudget) {
  auto store = open();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->set_price("qwen", kPrice, Actor{}).ok());
  const int64_t key = new_key(*store, NewKey{"a", "default", Role::Member, Limits{10'000}});
  std::atomic<int> admitted{0};
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        auto r = store->admit(
            request("t" + std::to_string(t) + "-" + std::to_string(i), key, 1000, 500));
        if (!r.ok())
          ++errors;
        else if (r->outcome == Admission::Outcome::Admitted)
          ++admitted;
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  // floor(10000 / 450) = 22 reservations fit.
  EXPECT_EQ(admitted.load(), 22);
  EXPECT_EQ(store->usage_rows()->size(), 22u);
}

// Two stores on one database are two servers: each has its own connection, and the budget and
// the rate limit hold for both together.
TEST_P(StoreBackendTest, TwoServersOnOneDatabaseShareItsBudgetsAndRates) {
  auto first = open();
  auto second = open();
  ASSERT_TRUE(first && second);
  ASSERT_TRUE(first->set_price("qwen", kPrice, Actor{}).ok());
  ASSERT_TRUE(first->create_tenant("acme", Limits{10'000, BudgetPeriod::Total, 30}, Actor{}).ok());
  const int64_t a = new_key(*first, NewKey{"a", "acme"});
  const int64_t b = new_key(*second, NewKey{"b", "acme"});
  std::atomic<int> admitted{0};
  std::atomic<int> over_budget{0};
  std::atomic<int> over_rate{0};
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      Store& store = t % 2 == 0 ? *first : *second;
      for (int i = 0; i < 10; ++i) {
        auto r = store.admit(
            request("s" + std::to_string(t) + "-" + std::to_string(i), t < 2 ? a : b, 1000, 500));
        if (!r.ok())
          ++errors;
        else if (r->outcome == Admission::Outcome::Admitted)
          ++admitted;
        else if (r->outcome == Admission::Outcome::OverBudget)
          ++over_budget;
        else
          ++over_rate;
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  // floor(10000 / 450) = 22 fit the tenant's budget (22 < 30 requests per minute).
  EXPECT_EQ(admitted.load(), 22);
  EXPECT_EQ(over_budget.load(), 18);
  EXPECT_EQ(over_rate.load(), 0);

  // The rate: 30 per minute for the tenant, counted across both; budgets freed by settling.
  for (auto* store : {first.get(), second.get()}) {
    auto rows = store->usage_rows();
    ASSERT_TRUE(rows.ok());
    for (const auto& row : rows.value()) {
      if (row.status != "open") continue;
      ASSERT_TRUE(store->settle(row.request_id, Settlement{{0, 0, 0}, 200, "ok", "", kNow}).ok());
    }
  }
  int rate_admitted = 0;
  for (int i = 0; i < 12; ++i) {
    Store& store = i % 2 == 0 ? *first : *second;
    if (admit_outcome(store, request("rate-" + std::to_string(i), i % 2 == 0 ? a : b, 1, 1)) ==
        Admission::Outcome::Admitted)
      ++rate_admitted;
  }
  // 22 requests were already counted in the window: 8 more fit.
  EXPECT_EQ(rate_admitted, 8);
}

TEST_P(StoreBackendTest, ARestartClosesOpenRowsFromTheirLastCheckpoint) {
  {
    auto store = open();
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->set_price("qwen", kPrice, Actor{}).ok());
    const int64_t key = new_key(*store, NewKey{"a"});
    ASSERT_EQ(admit_outcome(*store, request("long", key, 1000, 4000)),
              Admission::Outcome::Admitted);
    ASSERT_EQ(admit_outcome(*store, request("fresh", key, 20, 10)), Admission::Outcome::Admitted);
    ASSERT_TRUE(store->checkpoint("long", {1000, 0, 64}, kNow + 1'000'000).ok());
    ASSERT_TRUE(store->checkpoint("long", {1000, 0, 128}, kNow + 2'000'000).ok());
    // The store is dropped with both rows open: the server died.
  }
  auto store = open();
  ASSERT_TRUE(store);
  auto closed = store->close_interrupted();
  ASSERT_TRUE(closed.ok()) << closed.error().message;
  EXPECT_EQ(*closed, 2);
  auto rows = store->usage_rows();
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[0].status, "interrupted");
  EXPECT_EQ((*rows)[0].completion_tokens, 128);
  // 1000 * 0.15 + 128 * 0.6 = 150 + 76.8 -> 227.
  EXPECT_EQ((*rows)[0].cost_micro_usd, 227);
  EXPECT_EQ((*rows)[0].finished_at_us, kNow + 2'000'000);
  EXPECT_EQ((*rows)[1].status, "interrupted");
  EXPECT_EQ((*rows)[1].prompt_tokens, 0);  // never checkpointed
  EXPECT_EQ((*rows)[1].cost_micro_usd, 0);
  EXPECT_EQ((*rows)[1].finished_at_us, kNow);
  EXPECT_EQ(store->close_interrupted().value(), 0);
}

TEST_P(StoreBackendTest, UsageGroupsSumExactlyWithinTheRangeAndTheScope) {
  auto store = open();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->create_tenant("acme", {}, Actor{}).ok());
  const int64_t a = new_key(*store, NewKey{"a", "acme"});
  const int64_t b = new_key(*store, NewKey{"b", "acme"});
  const int64_t z = new_key(*store, NewKey{"z"});  // tenant "default"
  constexpr int64_t kDay = 86'400'000'000;
  constexpr int64_t kFeb29 = 1'709'164'800'000'000;  // 2024-02-29T00:00:00Z
  struct Row {
    int64_t key;
    const char* model;
    int64_t at_us, prompt, cached, completion, cost;
  };
  const Row rows[] = {
      {a, "qwen", kFeb29 + 5, 100, 40, 10, 7},      {a, "llama", kFeb29 + kDay, 50, 0, 5, 3},
      {b, "qwen", kFeb29 + kDay + 1, 20, 10, 2, 1}, {z, "qwen", kFeb29 + 2, 1000, 0, 100, 90},
      {a, "qwen", kFeb29 - 1, 9, 0, 9, 9},          {a, "qwen", kFeb29 + 2 * kDay, 9, 0, 9, 9},
      {z, "", kFeb29 + 3, 0, 0, 0, 0},  // refused before a model was read
  };
  for (const Row& r : rows) {
    UsageRecord record{r.key,   r.model,           r.prompt, r.completion, r.at_us,
                       r.at_us, "/v1/completions", 200,      "ok",         ""};
    record.cached_prompt_tokens = r.cached;
    record.cost_micro_usd = r.cost;
    ASSERT_TRUE(store->record_usage(record).ok());
  }
  const auto groups = [&](UsageGroupBy by, std::optional<int64_t> key,
                          std::optional<int64_t> tenant) {
    auto result = store->usage_groups({kFeb29, kFeb29 + 2 * kDay, by, key, tenant});
    EXPECT_TRUE(result.ok()) << result.error().message;
    std::vector<std::tuple<std::string, int64_t, int64_t, int64_t, int64_t, int64_t>> out;
    for (const UsageGroup& g : result.value())
      out.emplace_back(g.name, g.requests, g.prompt_tokens, g.cached_prompt_tokens,
                       g.completion_tokens, g.cost_micro_usd);
    return out;
  };
  using G = std::vector<std::tuple<std::string, int64_t, int64_t, int64_t, int64_t, int64_t>>;
  // The rows before Feb 29 and on Mar 2 are outside [start, end).
  EXPECT_EQ(groups(UsageGroupBy::Key, {}, {}),
            (G{{"a", 2, 150, 40, 15, 10}, {"b", 1, 20, 10, 2, 1}, {"z", 2, 1000, 0, 100, 90}}));
  EXPECT_EQ(groups(UsageGroupBy::Model, {}, {}),
            (G{{"llama", 1, 50, 0, 5, 3}, {"qwen", 3, 1120, 50, 112, 98}}));
  EXPECT_EQ(groups(UsageGroupBy::Day, {}, {}),
            (G{{"2024-02-29", 3, 1100, 40, 110, 97}, {"2024-03-01", 2, 70, 10, 7, 4}}));
  EXPECT_EQ(groups(UsageGroupBy::Tenant, {}, {}),
            (G{{"acme", 3, 170, 50, 17, 11}, {"default", 2, 1000, 0, 100, 90}}));
  // An owner of acme sees acme's keys; a member its own key.
  const int64_t acme = all_tenants(*store)->back().id;
  EXPECT_EQ(groups(UsageGroupBy::Key, {}, acme),
            (G{{"a", 2, 150, 40, 15, 10}, {"b", 1, 20, 10, 2, 1}}));
  EXPECT_EQ(groups(UsageGroupBy::Model, b, {}), (G{{"qwen", 1, 20, 10, 2, 1}}));
  EXPECT_EQ(groups(UsageGroupBy::Key, z, acme), G{});
}

// Each way a row is written keeps its request's end user (the OpenAI `user`, schema 10): a
// record alone and in a batch, an admission's open row and its settlement, a settlement that
// restores a row the database lost; the report groups them per tenant and end user, the
// requests that named none under "".
TEST_P(StoreBackendTest, EndUsersAreKeptOnEveryKindOfRowAndReportedPerTenant) {
  auto store = open();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->set_price("qwen", kPrice, Actor{}).ok());
  ASSERT_TRUE(store->create_tenant("acme", {}, Actor{}).ok());
  const int64_t acme = all_tenants(*store)->back().id;
  const int64_t a = new_key(*store, NewKey{"a", "acme"});
  const int64_t z = new_key(*store, NewKey{"z"});  // tenant "default"
  const auto record = [](int64_t key, const char* id, const char* user) {
    UsageRecord r{key, "qwen", 10, 0, kNow, kNow, "/v1/completions", 429, "error", "over", id};
    r.end_user = user;
    return r;
  };
  ASSERT_TRUE(store->record_usage(record(a, "r1", "u1")).ok());
  AdmissionRequest admitted = request("r2", a, 100, 10);
  admitted.end_user = "u2";
  ASSERT_EQ(admit_outcome(*store, admitted), Admission::Outcome::Admitted);
  ASSERT_TRUE(store->checkpoint("r2", {100, 0, 4}, kNow + 1).ok());
  ASSERT_TRUE(store->settle("r2", Settlement{{100, 0, 8}, 200, "ok", "", kNow + 2}).ok());
  LedgerWrite batched{LedgerWrite::Kind::Record};
  batched.row = record(z, "r3", "u2");
  LedgerWrite unnamed{LedgerWrite::Kind::Record};
  unnamed.row = record(z, "r4", "");
  LedgerWrite lost{LedgerWrite::Kind::Settle};
  lost.row =
      UsageRecord{a, "qwen", 500, 70, kNow, kNow + 5, "/v1/chat/completions", 200, "ok", "", "r5"};
  lost.row.tenant_id = acme;
  lost.row.price = kPrice;
  lost.row.end_user = "u1";
  lost.carries_admission = true;
  lost.reserved_micro_usd = 999;
  auto applied = store->apply_writes({batched, unnamed, lost}, Durability::Synced);
  ASSERT_TRUE(applied.ok()) << applied.error().message;
  for (const Result<void>& each : *applied) EXPECT_TRUE(each.ok()) << each.error().message;

  std::map<std::string, std::string> users;
  auto rows = store->usage_rows();
  ASSERT_TRUE(rows.ok()) << rows.error().message;
  for (const UsageRecord& row : rows.value()) users[row.request_id] = row.end_user;
  EXPECT_EQ(users, (std::map<std::string, std::string>{
                       {"r1", "u1"}, {"r2", "u2"}, {"r3", "u2"}, {"r4", ""}, {"r5", "u1"}}));
  auto groups = store->usage_groups({kNow - 1, kNow + 10, UsageGroupBy::User, {}, {}});
  ASSERT_TRUE(groups.ok()) << groups.error().message;
  std::vector<std::tuple<std::string, std::string, int64_t, int64_t, int64_t>> got;
  for (const UsageGroup& g : *groups)
    got.emplace_back(g.tenant_name, g.name, g.requests, g.prompt_tokens, g.completion_tokens);
  EXPECT_EQ(got, (decltype(got){{"acme", "u1", 2, 510, 70},
                                {"acme", "u2", 1, 100, 8},
                                {"default", "", 1, 10, 0},
                                {"default", "u2", 1, 10, 0}}));
  EXPECT_EQ((*groups)[0].tenant_id, acme);
  // An owner of acme sees acme's end users only.
  auto owner = store->usage_groups({kNow - 1, kNow + 10, UsageGroupBy::User, {}, acme});
  ASSERT_TRUE(owner.ok());
  EXPECT_EQ(owner->size(), 2u);
}

// The spend budgets read (schema 8: day sums kept by the ledger's triggers, and on PostgreSQL
// deltas folded into them) equals the ledger's own sum — open rows at their reservation, closed
// ones at their cost — per key and tenant and UTC day, after every way a row is written or
// closed; a fold changes no sum, and one that finds another server folding leaves the deltas.
TEST_P(StoreBackendTest, TheSpendBudgetsReadIsTheLedgersSumAfterEveryKindOfWrite) {
  auto store = open();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->set_price("qwen", kPrice, Actor{}).ok());
  ASSERT_TRUE(store->create_tenant("acme", {}, Actor{}).ok());
  const int64_t a = new_key(*store, NewKey{"a", "acme"});
  const int64_t b = new_key(*store, NewKey{"b", "acme"});
  const int64_t c = new_key(*store, NewKey{"c"});
  constexpr int64_t kDay = 86'400'000'000;
  using Sums = std::vector<std::vector<std::string>>;
  const auto expect_kept = [&](const char* after) {
    const Sums want = ledger_spend();
    EXPECT_FALSE(want.empty()) << after;
    EXPECT_EQ(kept_spend(), want) << after;
  };
  // Admitted (open at the reservation), one of them the day before.
  ASSERT_EQ(admit_outcome(*store, request("r1", a, 1000, 500)), Admission::Outcome::Admitted);
  ASSERT_EQ(admit_outcome(*store, request("r2", b, 2000, 100, kNow - kDay)),
            Admission::Outcome::Admitted);
  ASSERT_EQ(admit_outcome(*store, request("r3", c, 300, 300)), Admission::Outcome::Admitted);
  expect_kept("admissions");
  // No code moves a row to another day, key or tenant, but the sums would follow (an open row
  // may be changed).
  ASSERT_EQ(raw_exec("UPDATE usage_ledger SET started_at_us = started_at_us + 86400000000, key_id "
                     "= " + std::to_string(c) + ", tenant_id = 1 WHERE request_id = 'r2'"),
            "");
  expect_kept("a row moved");
  ASSERT_TRUE(store->checkpoint("r1", {1000, 0, 64}, kNow + 1).ok());
  expect_kept("a checkpoint");
  ASSERT_TRUE(store->settle("r1", Settlement{{1000, 400, 200}, 200, "ok", "", kNow + 2}).ok());
  expect_kept("a settlement");
  UsageRecord refused{c, "qwen", 40, 0, kNow, kNow, "/v1/completions", 400, "error", "bad"};
  refused.cost_micro_usd = 6;
  ASSERT_TRUE(store->record_usage(refused).ok());
  expect_kept("a record");
  // Through the ledger writer's batches: a settlement, a record, and the settlement of a row the
  // database lost, written whole from what it carries of its admission.
  LedgerWrite settle_r2{LedgerWrite::Kind::Settle};
  settle_r2.row = UsageRecord{b,  "qwen", 2000, 50, kNow - kDay, kNow, "/v1/chat/completions",
                              200, "ok",  "",   "r2"};
  LedgerWrite record{LedgerWrite::Kind::Record};
  record.row = UsageRecord{a, "qwen", 10, 0, kNow + kDay, kNow + kDay, "/v1/completions", 429,
                           "error", "over", "r4"};
  record.row.cost_micro_usd = 3;
  LedgerWrite lost{LedgerWrite::Kind::Settle};
  lost.row = UsageRecord{a, "qwen", 500, 70, kNow, kNow + 5, "/v1/chat/completions", 200,
                         "ok", "", "r5"};
  lost.row.tenant_id = all_tenants(*store)->back().id;
  lost.row.price = kPrice;
  lost.carries_admission = true;
  lost.reserved_micro_usd = 999;
  auto applied = store->apply_writes({settle_r2, record, lost}, Durability::Synced);
  ASSERT_TRUE(applied.ok()) << applied.error().message;
  for (const Result<void>& each : *applied) EXPECT_TRUE(each.ok()) << each.error().message;
  expect_kept("a batch of the ledger writer");
  // r3 was admitted by no server: closed from its (absent) checkpoint.
  ASSERT_EQ(store->close_interrupted().value(), 1);
  expect_kept("closing an interrupted row");
  if (GetParam() != "postgres") return;
  // Folding moves the deltas into the day sums; a server that finds another folding leaves
  // them for the next fold.
  const Sums deltas = raw_query("SELECT count(*) FROM spend_deltas");
  ASSERT_NE(deltas, (Sums{{"0"}}));
  auto other = pg::Connection::connect(location_);
  ASSERT_TRUE(other.ok()) << other.error().message;
  ASSERT_TRUE((*other)->query("SELECT pg_advisory_lock(hashtextextended('gengyun spend fold', "
                              "0))")
                  .ok());
  ASSERT_TRUE(store->fold_spend().ok());
  EXPECT_EQ(raw_query("SELECT count(*) FROM spend_deltas"), deltas);
  ASSERT_TRUE((*other)->query("SELECT pg_advisory_unlock(hashtextextended('gengyun spend fold', "
                              "0))")
                  .ok());
  auto folded = store->fold_spend();
  ASSERT_TRUE(folded.ok()) << folded.error().message;
  EXPECT_EQ(raw_query("SELECT count(*) FROM spend_deltas"), (Sums{{"0"}}));
  expect_kept("a fold");
  ASSERT_TRUE(store->fold_spend().ok());
  expect_kept("an empty fold");
}

// Key names are a tenant's own: a report by key and the summary name each key's tenant, so two
// keys "bot" of two tenants are told apart (and ordered by tenant name, then key name).
TEST_P(StoreBackendTest, UsageByKeyNamesEachKeysTenant) {
  auto store = open();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->create_tenant("zeta", {}, Actor{}).ok());
  ASSERT_TRUE(store->create_tenant("acme", {}, Actor{}).ok());
  const int64_t zeta_bot = new_key(*store, NewKey{"bot", "zeta"});
  const int64_t acme_bot = new_key(*store, NewKey{"bot", "acme"});
  const int64_t acme_ci = new_key(*store, NewKey{"ci", "acme"});
  const int64_t default_bot = new_key(*store, NewKey{"bot"});
  constexpr int64_t kFeb29 = 1'709'164'800'000'000;  // 2024-02-29T00:00:00Z
  const std::pair<int64_t, int64_t> rows[] = {
      {zeta_bot, 5}, {acme_bot, 7}, {acme_ci, 11}, {default_bot, 13}, {acme_bot, 17}};
  for (const auto& [key, prompt] : rows)
    ASSERT_TRUE(store
                    ->record_usage({key, "qwen", prompt, 1, kFeb29, kFeb29, "/v1/completions",
                                    200, "ok", ""})
                    .ok());
  const auto tenant_id = [&](const std::string& name) {
    auto tenant = store->find_tenant_named(name);
    EXPECT_TRUE(tenant.ok() && tenant->has_value()) << name;
    return tenant.ok() && tenant->has_value() ? (*tenant)->id : -1;
  };
  auto groups = store->usage_groups({kFeb29, kFeb29 + 1, UsageGroupBy::Key, {}, {}});
  ASSERT_TRUE(groups.ok()) << groups.error().message;
  using G = std::vector<std::tuple<int64_t, std::string, int64_t, std::string, int64_t, int64_t>>;
  G got;
  for (const UsageGroup& g : *groups)
    got.emplace_back(g.tenant_id, g.tenant_name, g.id, g.name, g.requests, g.prompt_tokens);
  EXPECT_EQ(got, (G{{tenant_id("acme"), "acme", acme_bot, "bot", 2, 24},
                    {tenant_id("acme"), "acme", acme_ci, "ci", 1, 11},
                    {tenant_id("default"), "default", default_bot, "bot", 1, 13},
                    {tenant_id("zeta"), "zeta", zeta_bot, "bot", 1, 5}}));
  // Grouped otherwise, no group names a tenant of a key.
  auto by_model = store->usage_groups({kFeb29, kFeb29 + 1, UsageGroupBy::Model, {}, {}});
  ASSERT_TRUE(by_model.ok()) << by_model.error().message;
  ASSERT_EQ(by_model->size(), 1u);
  EXPECT_EQ(by_model->front().tenant_id, 0);
  EXPECT_EQ(by_model->front().tenant_name, "");

  auto summary = store->usage_summary();
  ASSERT_TRUE(summary.ok()) << summary.error().message;
  std::vector<std::tuple<std::string, std::string, int64_t, int64_t>> lines;
  for (const UsageSummary& s : *summary)
    lines.emplace_back(s.tenant_name, s.key_name, s.key_id, s.prompt_tokens);
  EXPECT_EQ(lines, (std::vector<std::tuple<std::string, std::string, int64_t, int64_t>>{
                       {"acme", "bot", acme_bot, 24},
                       {"acme", "ci", acme_ci, 11},
                       {"default", "bot", default_bot, 13},
                       {"zeta", "bot", zeta_bot, 5}}));
}

// Each server closes only the open rows of servers that are gone, never those of a live one.
TEST_P(StoreBackendTest, OnlyTheRowsOfServersThatAreGoneAreClosed) {
  auto first = open();
  auto second = open();
  ASSERT_TRUE(first && second);
  auto first_id = first->start_server();
  ASSERT_TRUE(first_id.ok()) << first_id.error().message;
  EXPECT_TRUE(std::regex_match(*first_id, std::regex("srv-[0-9A-Za-z]{16}"))) << *first_id;
  EXPECT_FALSE(first->start_server().ok());
  const int64_t key = new_key(*first, NewKey{"a"});
  ASSERT_EQ(admit_outcome(*first, request("served", key, 10, 10)), Admission::Outcome::Admitted);
  ASSERT_TRUE(first->checkpoint("served", {10, 0, 4}, kNow + 1).ok());

  ASSERT_TRUE(second->start_server().ok());
  ASSERT_EQ(admit_outcome(*second, request("other", key, 10, 10)), Admission::Outcome::Admitted);
  // Both servers are live: nothing is closed, by either.
  EXPECT_EQ(second->close_interrupted().value(), 0);
  EXPECT_EQ(first->close_interrupted().value(), 0);
  // The first server goes away without settling its row.
  first.reset();
  EXPECT_EQ(second->close_interrupted().value(), 1);
  auto rows = second->usage_rows();
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[0].status, "interrupted");
  EXPECT_EQ((*rows)[0].completion_tokens, 4);
  EXPECT_EQ((*rows)[1].status, "open");
  EXPECT_TRUE(second->settle("other", Settlement{{10, 0, 2}, 200, "ok", "", kNow}).ok());
}

// A server dies with a finished request's settlement in its spool (the database was locked
// meanwhile); another server closes the row as interrupted from its last checkpoint; when the
// first starts again and applies its spool, the settlement replaces that closing: the bill is
// the settled one, counted once (QA 2026-12-03: the settlement was refused and the response
// billed at its checkpoint, $0). Nothing reopens an interrupted row.
TEST_P(StoreBackendTest, ASettlementReplacesTheInterruptedClosingOfItsRow) {
  auto first = open();
  auto second = open();
  ASSERT_TRUE(first && second);
  ASSERT_TRUE(first->set_price("qwen", kPrice, Actor{}).ok());
  ASSERT_TRUE(first->start_server().ok());
  const int64_t key = new_key(*first, NewKey{"a"});
  ASSERT_EQ(admit_outcome(*first, request("done", key, 1000, 500)), Admission::Outcome::Admitted);
  ASSERT_EQ(admit_outcome(*first, request("cut", key, 1000, 500)), Admission::Outcome::Admitted);
  ASSERT_TRUE(first->checkpoint("done", {1000, 0, 64}, kNow + 1).ok());
  first.reset();  // dies; its spool holds the settlement of "done"
  ASSERT_TRUE(second->start_server().ok());
  ASSERT_EQ(second->close_interrupted().value(), 2);
  auto rows = second->usage_rows();
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[0].status, "interrupted");
  // 1000 * 0.15 + 64 * 0.6 = 188.4, rounded up.
  EXPECT_EQ((*rows)[0].cost_micro_usd, 189);

  // The spool's writes, applied by the restarted server: a late checkpoint closes the row again
  // from its counts (next test), the settlement replaces the closing; a second settlement is
  // refused.
  LedgerWrite late{LedgerWrite::Kind::Checkpoint};
  late.row = UsageRecord{key, "qwen", 1000, 128, kNow, kNow + 2, "/v1/chat/completions", 200, "",
                         "", "done"};
  LedgerWrite settle{LedgerWrite::Kind::Settle};
  settle.row = UsageRecord{key, "qwen", 1000, 300, kNow, kNow + 3, "/v1/chat/completions", 200,
                           "ok", "", "done"};
  auto third = open();
  ASSERT_TRUE(third);
  auto applied = third->apply_writes({late, settle, settle}, Durability::Synced);
  ASSERT_TRUE(applied.ok()) << applied.error().message;
  ASSERT_EQ(applied->size(), 3u);
  EXPECT_TRUE((*applied)[0].ok());
  EXPECT_TRUE((*applied)[1].ok()) << (*applied)[1].error().message;
  EXPECT_FALSE((*applied)[2].ok());
  rows = third->usage_rows();
  ASSERT_TRUE(rows.ok());
  const UsageRecord& done = (*rows)[0];
  EXPECT_EQ(done.status, "ok");
  EXPECT_EQ(done.error, "");
  EXPECT_EQ(done.completion_tokens, 300);
  // 1000 * 0.15 + 300 * 0.6 = 330.
  EXPECT_EQ(done.cost_micro_usd, 330);
  EXPECT_EQ(done.finished_at_us, kNow + 3);
  EXPECT_EQ((*rows)[1].status, "interrupted");
  EXPECT_EQ(third->usage_summary()->front().cost_micro_usd, 330);
  EXPECT_EQ(kept_spend(), ledger_spend());
  // A closed row other than an interrupted one stays as it is, even behind the store's back.
  EXPECT_NE(raw_exec("UPDATE usage_ledger SET completion_tokens = 1 WHERE request_id = 'done'"),
            "");
}

// A server dies with checkpoints of a stream in its spool (the database was locked meanwhile);
// another server closes the row as interrupted from the last checkpoint the database had; when
// the spool is applied, its later checkpoints close the row again from their counts, and an
// older one changes nothing (QA 2026-12-03, fourth: 22 streams cut by a `kill -9` stayed
// closed at 0 tokens although the spool held 40-55 checkpoints each). The spend per day
// follows; the rate window is not charged again (the closing gave the reservation back).
TEST_P(StoreBackendTest, ALaterCheckpointClosesAnInterruptedRowAgainFromItsCounts) {
  auto first = open();
  auto second = open();
  ASSERT_TRUE(first && second);
  ASSERT_TRUE(first->set_price("qwen", kPrice, Actor{}).ok());
  ASSERT_TRUE(first->start_server().ok());
  const int64_t key = new_key(*first, NewKey{"a"});
  ASSERT_EQ(admit_outcome(*first, request("cut", key, 1000, 500)), Admission::Outcome::Admitted);
  ASSERT_EQ(admit_outcome(*first, request("silent", key, 1000, 500)),
            Admission::Outcome::Admitted);
  ASSERT_TRUE(first->checkpoint("cut", {1000, 0, 64}, kNow + 1).ok());
  first.reset();  // dies; its spool holds later checkpoints of "cut"
  ASSERT_TRUE(second->start_server().ok());
  ASSERT_EQ(second->close_interrupted().value(), 2);

  auto checkpoint = [&](int64_t completion, int64_t at) {
    LedgerWrite write{LedgerWrite::Kind::Checkpoint};
    write.row = UsageRecord{key, "qwen", 1000, completion, kNow, at, "/v1/chat/completions", 200,
                            "", "", "cut"};
    return write;
  };
  auto third = open();
  ASSERT_TRUE(third);
  auto applied = third->apply_writes({checkpoint(128, kNow + 3), checkpoint(100, kNow + 2)},
                                     Durability::Synced);
  ASSERT_TRUE(applied.ok()) << applied.error().message;
  ASSERT_EQ(applied->size(), 2u);
  EXPECT_TRUE((*applied)[0].ok()) << (*applied)[0].error().message;
  EXPECT_TRUE((*applied)[1].ok()) << (*applied)[1].error().message;
  auto rows = third->usage_rows();
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 2u);
  const UsageRecord& cut = (*rows)[0];
  EXPECT_EQ(cut.status, "interrupted");
  EXPECT_EQ(cut.error, std::string(kInterruptedError));
  EXPECT_EQ(cut.prompt_tokens, 1000);
  EXPECT_EQ(cut.completion_tokens, 128);
  // 1000 * 0.15 + 128 * 0.6 = 226.8, rounded up.
  EXPECT_EQ(cut.cost_micro_usd, 227);
  EXPECT_EQ(cut.finished_at_us, kNow + 3);
  // The direct call does the same; one below the row's counts changes nothing.
  ASSERT_TRUE(third->checkpoint("cut", {1000, 0, 200}, kNow + 4).ok());
  ASSERT_TRUE(third->checkpoint("cut", {1000, 0, 150}, kNow + 5).ok());
  rows = third->usage_rows();
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ((*rows)[0].completion_tokens, 200);
  EXPECT_EQ((*rows)[0].cost_micro_usd, 270);  // 150 + 120
  EXPECT_EQ((*rows)[0].finished_at_us, kNow + 4);
  // The other interrupted row (no checkpoint ever) keeps its closing: nothing counted.
  EXPECT_EQ((*rows)[1].status, "interrupted");
  EXPECT_EQ((*rows)[1].prompt_tokens, 0);
  EXPECT_EQ((*rows)[1].completion_tokens, 0);
  EXPECT_EQ((*rows)[1].cost_micro_usd, 0);
  ASSERT_TRUE(third->fold_spend().ok());
  EXPECT_EQ(kept_spend(), ledger_spend());
}

// A restart of PostgreSQL ends every session and so every server's advisory lock: servers that
// live through it take their locks again, nobody closes their rows meanwhile, and their pools
// drop the connections the restart ended instead of failing a request on each.
TEST_P(StoreBackendTest, ServersLiveThroughARestartOfPostgreSQL) {
  if (GetParam() == "sqlite") GTEST_SKIP() << "a restart of the database server: PostgreSQL's";
  auto first = open();
  auto second = open();
  ASSERT_TRUE(first && second);
  ASSERT_TRUE(first->start_server().ok());
  ASSERT_TRUE(second->start_server().ok());
  const int64_t key = new_key(*first, NewKey{"a"});
  ASSERT_EQ(admit_outcome(*first, request("served", key, 10, 10)), Admission::Outcome::Admitted);
  ASSERT_EQ(admit_outcome(*second, request("other", key, 10, 10)), Admission::Outcome::Admitted);
  auto server = testing::PostgresServer::get();
  ASSERT_TRUE(server.ok());
  auto restarted = server.value()->restart();
  ASSERT_TRUE(restarted.ok()) << restarted.error().message;
  EXPECT_EQ(raw_query("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"),
            (std::vector<std::vector<std::string>>{{"0"}}));
  // Within the grace after the restart a free lock is no dead server: the first judges none
  // (the second has not taken its lock again yet), and takes its own lock again.
  EXPECT_EQ(first->close_interrupted().value(), 0);
  EXPECT_EQ(second->close_interrupted().value(), 0);
  EXPECT_EQ(raw_query("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"),
            (std::vector<std::vector<std::string>>{{"2"}}));
  // A server started after the restart judges at once: both locks are held again.
  auto third = open();
  ASSERT_TRUE(third && third->start_server().ok());
  EXPECT_EQ(third->close_interrupted().value(), 0);
  auto settled = first->settle("served", Settlement{{10, 0, 4}, 200, "ok", "", kNow});
  ASSERT_TRUE(settled.ok()) << settled.error().message;
  EXPECT_EQ(settled->status, "ok");
  EXPECT_EQ(settled->completion_tokens, 4);
  // The second server goes away without settling: its row is closed as before.
  second.reset();
  EXPECT_EQ(third->close_interrupted().value(), 1);
}

// Ending only the session that holds a server's advisory lock (pg_terminate_backend, a network
// cut; no restart) frees the lock while the server lives: its heartbeat keeps its rows open
// until its next pass takes the lock again. A server whose lock is free and whose heartbeat is
// older than the bound is gone, and its rows are closed.
TEST_P(StoreBackendTest, AServerWhoseLockSessionAloneEndsIsNotJudgedGone) {
  if (GetParam() == "sqlite") GTEST_SKIP() << "an flock ends only with its process";
  auto first = open();
  auto second = open();
  ASSERT_TRUE(first && second);
  auto first_id = first->start_server();
  auto second_id = second->start_server();
  ASSERT_TRUE(first_id.ok() && second_id.ok());
  const int64_t key = new_key(*first, NewKey{"a"});
  ASSERT_EQ(admit_outcome(*first, request("served", key, 10, 10)), Admission::Outcome::Admitted);
  ASSERT_EQ(admit_outcome(*second, request("other", key, 10, 10)), Admission::Outcome::Admitted);
  using Rows = std::vector<std::vector<std::string>>;
  // Ends the session holding server `id`'s lock and waits until it is gone (10 s at most).
  const auto end_lock_session = [&](const std::string& id) {
    return raw_query(
        "SELECT pg_terminate_backend(pid, 10000) FROM pg_locks WHERE locktype = 'advisory' AND "
        "((classid::bigint << 32) | objid::bigint) = hashtextextended('" +
        id + "', 0)");
  };
  const std::string advisory_locks = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'";
  ASSERT_EQ(end_lock_session(*first_id), (Rows{{"t"}}));
  EXPECT_EQ(raw_query(advisory_locks), (Rows{{"1"}}));
  // The second server's reconciler runs before the first's next pass: the first lives.
  EXPECT_EQ(second->close_interrupted().value(), 0);
  EXPECT_EQ(raw_query("SELECT status FROM usage_ledger ORDER BY id"), (Rows{{"open"}, {"open"}}));
  // The first's next pass takes its lock again, and it settles its row.
  EXPECT_EQ(first->close_interrupted().value(), 0);
  EXPECT_EQ(raw_query(advisory_locks), (Rows{{"2"}}));
  auto settled = first->settle("served", Settlement{{10, 0, 4}, 200, "ok", "", kNow});
  ASSERT_TRUE(settled.ok()) << settled.error().message;
  EXPECT_EQ(settled->status, "ok");

  // The second server dies (its sessions end, its heartbeat stops): until its heartbeat is
  // older than the bound it counts as live, then its row is closed and its heartbeat deleted.
  ASSERT_EQ(end_lock_session(*second_id), (Rows{{"t"}}));
  const auto set_heartbeat_age = [&](int64_t age_us) {
    return raw_exec(
        "UPDATE servers SET seen_at_us = (extract(epoch FROM clock_timestamp()) * 1000000)::bigint"
        " - " +
        std::to_string(age_us) + " WHERE id = '" + *second_id + "'");
  };
  ASSERT_EQ(set_heartbeat_age(kServerHeartbeatBoundUs / 2), "");
  EXPECT_EQ(first->close_interrupted().value(), 0);
  ASSERT_EQ(set_heartbeat_age(kServerHeartbeatBoundUs + 1'000'000), "");
  EXPECT_EQ(first->close_interrupted().value(), 1);
  EXPECT_EQ(raw_query("SELECT request_id, status, completion_tokens FROM usage_ledger ORDER BY id"),
            (Rows{{"served", "ok", "4"}, {"other", "interrupted", "0"}}));
  EXPECT_EQ(raw_query("SELECT id FROM servers"), (Rows{{*first_id}}));
  // A server stopped cleanly deletes its heartbeat: it is judged at once.
  ASSERT_EQ(admit_outcome(*first, request("last", key, 10, 10)), Admission::Outcome::Admitted);
  first.reset();
  auto third = open();
  ASSERT_TRUE(third && third->start_server().ok());
  EXPECT_EQ(third->close_interrupted().value(), 1);
}

TEST_P(StoreBackendTest, OnlyOpenRowsMayChangeBehindTheStoresBack) {
  auto store = open();
  ASSERT_TRUE(store);
  const int64_t key = new_key(*store, NewKey{"a"});
  ASSERT_EQ(admit_outcome(*store, request("r1", key, 10, 10)), Admission::Outcome::Admitted);
  ASSERT_TRUE(store->settle("r1", Settlement{{10, 0, 3}, 200, "ok", "", kNow}).ok());
  EXPECT_NE(raw_exec("UPDATE usage_ledger SET cost_micro_usd = 0").find("append-only"),
            std::string::npos);
  EXPECT_NE(raw_exec("DELETE FROM usage_ledger").find("append-only"), std::string::npos);
  EXPECT_NE(raw_exec("DELETE FROM audit_log").find("append-only"), std::string::npos);
  // The open row may change (its checkpoints).
  ASSERT_EQ(admit_outcome(*store, request("r2", key, 10, 10)), Admission::Outcome::Admitted);
  EXPECT_EQ(raw_exec("UPDATE usage_ledger SET completion_tokens = 2 WHERE request_id = 'r2'"), "");
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreBackendTest, ::testing::Values("sqlite", "postgres"),
                         testing::backend_name);

// Both stores refuse a price validate_price() refuses, writing nothing (every way in checks it
// first; the store holds the rule as well).
TEST_P(StoreBackendTest, ACachedInputPriceAboveTheInputIsRefusedByTheStore) {
  auto store = open();
  ASSERT_TRUE(store);
  auto refused = store->set_price("qwen", Price{1, 2, 3});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().message,
            "cannot set the price of model 'qwen': the cached input price (0.000002) is above the "
            "input price (0.000001) (USD per 1M tokens); a cached prompt token costs at most an "
            "input token");
  EXPECT_FALSE(store->price("qwen")->has_value());
  EXPECT_TRUE(all_audit_entries(*store)->empty());
}

}  // namespace
}  // namespace gengyun::platform
