// The admin commands of the real binary: `tenants create`, `keys create` with its flags,
// `prices set`, `tenants update` and `keys update` (PATCH's checks); bad input exits 1 with the
// reason and writes nothing; commands that read a ledger refuse a database that does not exist;
// `usage` with the report's parameters; the list commands print every row across pages.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "../platform/postgres_server.h"
#include "../platform/store_reads.h"
#include "platform/ledger_spool.h"
#include "platform/store.h"
#include "platform/store_schema.h"
#include "process.h"
#include "util/clock.h"

namespace gengyun::e2e {
namespace {

using platform::testing::all_keys;
using platform::testing::all_tenants;

const std::string kBinary = GENGYUN_BINARY;

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

class AdminTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "gengyun-admin-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    db_ = (dir_ / "gengyun.db").string();
  }
  void TearDown() override {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  /// Records one request of key 1 for each of `models` (a 404, 1 token each way) at `at_us`.
  void record_requests_for(const std::vector<std::string>& models, int64_t at_us = 1) {
    auto s = platform::Store::open(db_);
    ASSERT_TRUE(s.ok()) << s.error().message;
    for (const std::string& model : models) {
      platform::UsageRecord r{1, model, 1, 1, at_us, at_us, "/v1/completions", 404, "error", ""};
      ASSERT_TRUE((*s)->record_usage(r).ok());
    }
  }

  ProcessOutput gengyun(std::vector<std::string> args) {
    args.insert(args.begin(), kBinary);
    return run_process(args);
  }

  std::unique_ptr<platform::Store> store() {
    auto opened = platform::Store::open(db_, platform::OpenMode::Read);
    EXPECT_TRUE(opened.ok()) << opened.error().message;
    return opened.ok() ? std::move(opened).value() : nullptr;
  }

  std::filesystem::path dir_;
  std::string db_;
};

TEST_F(AdminTest, TenantsKeysAndPricesAreCreatedAsTheFlagsSay) {
  auto tenant = gengyun({"tenants", "create", "acme", "--db", db_, "--budget-usd", "5",
                         "--budget-period", "month", "--rpm", "60", "--tpm", "100000"});
  ASSERT_EQ(tenant.exit_code, 0) << tenant.err;
  EXPECT_EQ(tenant.out, "");
  const int64_t before_us = unix_time_us();
  auto key = gengyun({"keys",
                      "create",
                      "--db",
                      db_,
                      "--name",
                      "bob",
                      "--tenant",
                      "acme",
                      "--role",
                      "owner",
                      "--budget-usd",
                      "1.5",
                      "--budget-period",
                      "day",
                      "--rpm",
                      "10",
                      "--tpm",
                      "2000",
                      "--models",
                      "qwen,stories",
                      "--expires-in",
                      "30"});
  ASSERT_EQ(key.exit_code, 0) << key.err;
  ASSERT_TRUE(std::regex_match(key.out, std::regex("gy-[0-9A-Za-z]{43}\n"))) << key.out;
  const int64_t after_us = unix_time_us();
  auto price = gengyun({"prices", "set", "qwen", "--db", db_, "--input", "0.15", "--output", "0.6",
                        "--cached-input", "0.075"});
  ASSERT_EQ(price.exit_code, 0) << price.err;
  auto default_cached =
      gengyun({"prices", "set", "stories", "--db", db_, "--input", "2", "--output", "8"});
  ASSERT_EQ(default_cached.exit_code, 0) << default_cached.err;

  auto s = store();
  ASSERT_TRUE(s);
  auto tenants = all_tenants(*s);
  ASSERT_TRUE(tenants.ok());
  ASSERT_EQ(tenants->size(), 2u);
  const platform::Limits& t = (*tenants)[1].limits;
  EXPECT_EQ((*tenants)[1].name, "acme");
  EXPECT_EQ(t.budget_micro_usd, 5'000'000);
  EXPECT_EQ(t.budget_period, platform::BudgetPeriod::Month);
  EXPECT_EQ(t.rpm, 60);
  EXPECT_EQ(t.tpm, 100'000);

  auto who = s->authenticate(key.out.substr(0, key.out.size() - 1));
  ASSERT_TRUE(who.ok() && who->has_value());
  const platform::KeyInfo& k = **who;
  EXPECT_EQ(k.tenant_id, (*tenants)[1].id);
  EXPECT_EQ(k.role, platform::Role::Owner);
  EXPECT_EQ(k.models, (std::vector<std::string>{"qwen", "stories"}));
  EXPECT_EQ(k.limits.budget_micro_usd, 1'500'000);
  EXPECT_EQ(k.limits.budget_period, platform::BudgetPeriod::Day);
  EXPECT_EQ(k.limits.rpm, 10);
  EXPECT_EQ(k.limits.tpm, 2000);
  ASSERT_TRUE(k.expires_at_us);
  constexpr int64_t kThirtyDaysUs = 30 * 86'400'000'000;
  EXPECT_GE(*k.expires_at_us, before_us + kThirtyDaysUs);
  EXPECT_LE(*k.expires_at_us, after_us + kThirtyDaysUs);

  auto qwen = s->price("qwen");
  ASSERT_TRUE(qwen.ok() && qwen->has_value());
  EXPECT_EQ((*qwen)->input, 150'000);
  EXPECT_EQ((*qwen)->cached_input, 75'000);
  EXPECT_EQ((*qwen)->output, 600'000);
  auto stories = s->price("stories");
  ASSERT_TRUE(stories.ok() && stories->has_value());
  EXPECT_EQ((*stories)->cached_input, 2'000'000);  // defaults to --input

  auto audit = platform::testing::all_audit_entries(*s);
  ASSERT_TRUE(audit.ok());
  ASSERT_EQ(audit->size(), 4u);
  EXPECT_EQ((*audit)[0].action, "tenant.create");
  EXPECT_EQ((*audit)[1].action, "key.create");
  EXPECT_EQ((*audit)[2].action, "price.set");
  EXPECT_EQ((*audit)[0].actor.rfind("cli:", 0), 0u) << (*audit)[0].actor;
}

// A model served from "Qwen Tiny+v2.gguf" or "\u6a21\u578b.gguf" is priced and named in a key's
// models by its id (QA: `prices set "qwen tiny+v2"` was refused, so the model was served free).
TEST_F(AdminTest, ModelsWhoseIdsHoldSpacesOrLettersOfAnyScriptArePricedAndListed) {
  for (const std::string model : {"qwen tiny+v2", "\u6a21\u578b"}) {
    const auto price =
        gengyun({"prices", "set", model, "--db", db_, "--input", "1", "--output", "2"});
    ASSERT_EQ(price.exit_code, 0) << price.err;
  }
  const auto key = gengyun(
      {"keys", "create", "--db", db_, "--name", "k", "--models", "qwen tiny+v2,\u6a21\u578b"});
  ASSERT_EQ(key.exit_code, 0) << key.err;
  auto s = store();
  ASSERT_TRUE(s);
  auto who = s->authenticate(key.out.substr(0, key.out.size() - 1));
  ASSERT_TRUE(who.ok() && who->has_value());
  EXPECT_EQ((**who).models, (std::vector<std::string>{"qwen tiny+v2", "\u6a21\u578b"}));
  for (const std::string model : {"qwen tiny+v2", "\u6a21\u578b"}) {
    auto price = s->price(model);
    ASSERT_TRUE(price.ok() && price->has_value()) << model;
    EXPECT_EQ((*price)->input, 1'000'000) << model;
    EXPECT_EQ((*price)->output, 2'000'000) << model;
  }
}

// --budget-usd alone is a budget over the whole life (`total`), of a tenant and of a key.
TEST_F(AdminTest, ABudgetWithoutItsPeriodIsATotalBudget) {
  ASSERT_EQ(gengyun({"tenants", "create", "acme", "--db", db_, "--budget-usd", "2"}).exit_code, 0);
  auto key = gengyun({"keys", "create", "--db", db_, "--name", "k", "--budget-usd", "0.5"});
  ASSERT_EQ(key.exit_code, 0) << key.err;
  auto s = store();
  ASSERT_TRUE(s);
  const platform::Limits t = all_tenants(*s)->at(1).limits;
  EXPECT_EQ(t.budget_micro_usd, 2'000'000);
  EXPECT_EQ(t.budget_period, platform::BudgetPeriod::Total);
  const platform::Limits k = all_keys(*s)->at(0).limits;
  EXPECT_EQ(k.budget_micro_usd, 500'000);
  EXPECT_EQ(k.budget_period, platform::BudgetPeriod::Total);
}

TEST_F(AdminTest, BadInputExitsOneWithTheReasonAndWritesNothing) {
  ASSERT_EQ(gengyun({"tenants", "create", "acme", "--db", db_}).exit_code, 0);
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"prices", "set", "qwen", "--db", db_, "--input", "-0.15", "--output", "1"},
       "--input '-0.15' is negative"},
      {{"prices", "set", "qwen", "--db", db_, "--input", "0.15", "--output", "1e3"},
       "--output '1e3' is not an amount in USD"},
      {{"prices", "set", "qwen", "--db", db_, "--input", "0.15", "--output", "1", "--cached-input",
        "0.0000001"},
       "more than 6 decimals"},
      {{"keys", "create", "--db", db_, "--name", "k", "--tenant", "nobody"},
       "no tenant is named 'nobody'"},
      {{"keys", "create", "--db", db_, "--name", "k", "--role", "root"},
       "--role 'root' is not one of admin, owner, member"},
      {{"keys", "create", "--db", db_, "--name", "k", "--rpm", "ten"},
       "--rpm 'ten' is not a whole number"},
      {{"keys", "create", "--db", db_, "--name", "k", "--models", "a,,b"},
       "--models 'a,,b' has an empty name"},
      {{"keys", "create", "--db", db_, "--name", "k", "--expires-in", "0"},
       "--expires-in must be a whole number of days from 1 to 36500"},
      {{"keys", "create", "--db", db_, "--name", "k", "--budget-period", "week", "--budget-usd",
        "1"},
       "--budget-period 'week' is not one of day, month, total"},
      {{"tenants", "create", "acme", "--db", db_}, "a tenant named 'acme' already exists"},
      {{"tenants", "create", "x", "--db", db_, "--tpm", "-1"}, "--tpm '-1' is not a whole number"},
      {{"tenants", "create", "x", "--db", db_, "--budget-period", "day"},
       "--budget-period needs --budget-usd"},
      // `total`, the period a budget has by default, alone too (POST /admin/tenants and
      // /admin/keys refuse it: QA saw the CLI take it).
      {{"tenants", "create", "x", "--db", db_, "--budget-period", "total"},
       "error: --budget-period needs --budget-usd (it is the budget's period)\n"},
      {{"keys", "create", "--db", db_, "--name", "k", "--budget-period", "total"},
       "error: --budget-period needs --budget-usd (it is the budget's period)\n"},
      {{"keys", "create", "--db", db_, "--name", "k", "--budget-period", "month", "--rpm", "5"},
       "error: --budget-period needs --budget-usd (it is the budget's period)\n"},
      // An empty value (an unset shell variable) is refused, never taken for "no limit".
      {{"keys", "create", "--db", db_, "--name", "k", "--expires-in", ""},
       "--expires-in must be a whole number of days from 1 to 36500"},
      {{"keys", "create", "--db", db_, "--name", "k", "--budget-usd", ""},
       "--budget-usd is empty; give an amount in USD"},
      {{"keys", "create", "--db", db_, "--name", "k", "--rpm", ""},
       "--rpm '' is not a whole number"},
      {{"keys", "create", "--db", db_, "--name", "k", "--models", ""},
       "--models '' has an empty name"},
      {{"tenants", "create", "x", "--db", db_, "--tpm", ""}, "--tpm '' is not a whole number"},
  };
  for (const auto& [args, reason] : cases) {
    const auto out = gengyun(args);
    EXPECT_EQ(out.exit_code, 1) << args[0] << " " << args[1] << ": " << out.err;
    EXPECT_NE(out.err.find(reason), std::string::npos) << out.err;
    EXPECT_EQ(out.out, "");
  }
  auto s = store();
  ASSERT_TRUE(s);
  EXPECT_TRUE(all_keys(*s)->empty());
  EXPECT_EQ(all_tenants(*s)->size(), 2u);
  EXPECT_FALSE(s->price("qwen")->has_value());
  EXPECT_EQ(platform::testing::all_audit_entries(*s)->size(), 1u);
  // Names that look like SQL or a spreadsheet formula are refused, nothing written.
  for (const std::string name : {"t'); DROP TABLE tenants; --", "=cmd|calc"}) {
    const auto out = gengyun({"tenants", "create", name, "--db", db_});
    EXPECT_EQ(out.exit_code, 1);
    EXPECT_NE(out.err.find("may hold only ASCII letters"), std::string::npos) << out.err;
  }
  EXPECT_EQ(all_tenants(*s)->size(), 2u);
}

TEST_F(AdminTest, UpdateChangesTheLimitsGivenAndKeepsTheRest) {
  ASSERT_EQ(gengyun({"tenants", "create", "acme", "--db", db_, "--budget-usd", "5",
                     "--budget-period", "month", "--rpm", "60"})
                .exit_code,
            0);
  auto tenant = gengyun({"tenants", "update", "acme", "--db", db_, "--budget-usd", "2.5",
                         "--budget-period", "day", "--tpm", "1000"});
  ASSERT_EQ(tenant.exit_code, 0) << tenant.err;
  EXPECT_EQ(tenant.out, "");
  EXPECT_EQ(tenant.err, "updated tenant 'acme' (id 2): budget 2.5/day, rpm 60, tpm 1000\n");
  auto cleared = gengyun({"tenants", "update", "acme", "--db", db_, "--rpm", "none"});
  ASSERT_EQ(cleared.exit_code, 0) << cleared.err;
  EXPECT_EQ(cleared.err, "updated tenant 'acme' (id 2): budget 2.5/day, rpm -, tpm 1000\n");

  ASSERT_EQ(gengyun({"keys", "create", "--db", db_, "--name", "k", "--tenant", "acme", "--rpm",
                     "10", "--budget-usd", "3"})
                .exit_code,
            0);
  auto key =
      gengyun({"keys", "update", "--db", db_, "--name", "k", "--budget-usd", "none", "--tpm", "0"});
  ASSERT_EQ(key.exit_code, 0) << key.err;
  EXPECT_EQ(key.out, "");
  EXPECT_EQ(key.err, "updated key 'k' (id 1): budget -, rpm 10, tpm 0\n");

  auto s = store();
  ASSERT_TRUE(s);
  const platform::Limits t = all_tenants(*s)->at(1).limits;
  EXPECT_EQ(t.budget_micro_usd, 2'500'000);
  EXPECT_EQ(t.budget_period, platform::BudgetPeriod::Day);
  EXPECT_EQ(t.rpm, std::nullopt);
  EXPECT_EQ(t.tpm, 1000);
  const platform::Limits k = all_keys(*s)->at(0).limits;
  EXPECT_EQ(k.budget_micro_usd, std::nullopt);
  EXPECT_EQ(k.rpm, 10);
  EXPECT_EQ(k.tpm, 0);
  auto audit = platform::testing::all_audit_entries(*s);
  ASSERT_TRUE(audit.ok());
  ASSERT_EQ(audit->size(), 5u);
  EXPECT_EQ((*audit)[1].action, "tenant.limits");
  EXPECT_EQ((*audit)[1].target, "acme");
  EXPECT_EQ((*audit)[2].action, "tenant.limits");
  EXPECT_EQ((*audit)[4].action, "key.limits");
  EXPECT_EQ((*audit)[4].target, "k");
  EXPECT_EQ((*audit)[4].actor.rfind("cli:", 0), 0u) << (*audit)[4].actor;
}

// `keys update` takes the key's --name or its --id (keys list shows both), as `keys revoke`.
TEST_F(AdminTest, KeysUpdateTakesANameOrAnId) {
  ASSERT_EQ(gengyun({"keys", "create", "--db", db_, "--name", "k", "--rpm", "10"}).exit_code, 0);
  ASSERT_EQ(gengyun({"keys", "create", "--db", db_, "--name", "gone"}).exit_code, 0);
  ASSERT_EQ(gengyun({"keys", "revoke", "--db", db_, "--id", "2"}).exit_code, 0);
  const auto by_id = gengyun({"keys", "update", "--db", db_, "--id", "1", "--tpm", "5"});
  EXPECT_EQ(by_id.exit_code, 0) << by_id.err;
  EXPECT_EQ(by_id.err, "updated key 'k' (id 1): budget -, rpm 10, tpm 5\n");
  const std::vector<std::pair<std::vector<std::string>, std::string>> refused = {
      {{"--id", "2"}, "error: the API key 2 is revoked\n"},
      {{"--id", "3"}, "error: no API key has the id 3\n"},
      // Ids up to 2^63-1, as the admin API's `after` (QA 2026-12-03: 10^12 at most).
      {{"--id", "9223372036854775807"}, "error: no API key has the id 9223372036854775807\n"},
      {{"--id", "9223372036854775808"},
       "error: --id '9223372036854775808' is not a whole number from 0 to 9223372036854775807\n"},
      {{"--id", "k"}, "error: --id 'k' is not a whole number from 0 to 9223372036854775807\n"},
      {{"--name", "k", "--id", "1"}, "error: give the key's --name or its --id (one of them)\n"},
      {{}, "error: give the key's --name or its --id (one of them)\n"},
  };
  for (const auto& [flags, message] : refused) {
    std::vector<std::string> args = {"keys", "update", "--db", db_, "--rpm", "1"};
    args.insert(args.end(), flags.begin(), flags.end());
    const auto out = gengyun(args);
    EXPECT_EQ(out.exit_code, 1) << message;
    EXPECT_EQ(out.err, message);
    EXPECT_EQ(out.out, "");
  }
  auto s = store();
  ASSERT_TRUE(s);
  EXPECT_EQ(all_keys(*s)->front().limits.rpm, 10);
  EXPECT_EQ(all_keys(*s)->front().limits.tpm, 5);
  EXPECT_EQ(platform::testing::all_audit_entries(*s)->size(), 4u);  // two creations, the revocation, one update
  const auto help = gengyun({"keys", "update", "--help"});
  EXPECT_NE(help.out.find("--id"), std::string::npos) << help.out;
}

// The reasons are the admin API's, with its fields named by the flags that give them (QA:
// "rpm must be ...", "give budget_usd too" named no flag of the command).
TEST_F(AdminTest, UpdateRefusesBadInputWithTheAdminApisReasonsAndWritesNothing) {
  ASSERT_EQ(gengyun({"tenants", "create", "acme", "--db", db_, "--rpm", "60"}).exit_code, 0);
  ASSERT_EQ(gengyun({"keys", "create", "--db", db_, "--name", "k", "--rpm", "10"}).exit_code, 0);
  ASSERT_EQ(gengyun({"keys", "create", "--db", db_, "--name", "gone"}).exit_code, 0);
  ASSERT_EQ(gengyun({"keys", "revoke", "--db", db_, "--name", "gone"}).exit_code, 0);
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"tenants", "update", "nobody", "--db", db_, "--rpm", "1"}, "no tenant is named 'nobody'"},
      {{"tenants", "update", "acme", "--db", db_},
       "nothing to change: give --budget-usd, --budget-period, --rpm or --tpm"},
      {{"tenants", "update", "acme", "--db", db_, "--budget-usd", "-1"},
       "error: --budget-usd '-1' is negative; "},
      {{"tenants", "update", "acme", "--db", db_, "--budget-usd", "1e3"},
       "error: --budget-usd '1e3' is not an amount in USD"},
      {{"tenants", "update", "acme", "--db", db_, "--rpm", "-5"},
       "error: --rpm must be a whole number from 0 to 1000000000000\n"},
      {{"tenants", "update", "acme", "--db", db_, "--tpm", "ten"},
       "error: --tpm must be a whole number from 0 to 1000000000000\n"},
      {{"tenants", "update", "acme", "--db", db_, "--rpm", "1.5"},
       "error: --rpm must be a whole number from 0 to 1000000000000\n"},
      {{"tenants", "update", "acme", "--db", db_, "--rpm", "1000000000001"},
       "error: --rpm must be a whole number from 0 to 1000000000000\n"},
      {{"tenants", "update", "acme", "--db", db_, "--budget-period", "week"},
       "error: --budget-period must be day, month or total\n"},
      {{"keys", "update", "--db", db_, "--name", "nobody", "--rpm", "1"},
       "no active API key is named 'nobody'"},
      {{"keys", "update", "--db", db_, "--name", "gone", "--rpm", "1"},
       "no active API key is named 'gone'"},
      {{"keys", "update", "--db", db_, "--name", "k", "--budget-usd", "0.0000001"},
       "more than 6 decimals"},
      {{"keys", "update", "--db", db_, "--name", "k", "--rpm", "none", "--tpm", "-1"},
       "error: --tpm must be a whole number from 0 to 1000000000000\n"},
      {{"keys", "update", "--db", db_, "--name", "k"}, "nothing to change"},
      // Only the message of a limit field names flags: a key named like a field keeps its name.
      {{"keys", "update", "--db", db_, "--name", "rpm", "--rpm", "1"},
       "error: no active API key is named 'rpm'\n"},
      {{"keys", "update", "--db", db_, "--name", "k", "--budget-period", "day"},
       "error: --budget-period is the period of a budget, and the key would have none: give "
       "--budget-usd too\n"},
      {{"tenants", "update", "acme", "--db", db_, "--budget-period", "month"},
       "error: --budget-period is the period of a budget, and the tenant would have none: give "
       "--budget-usd too\n"},
  };
  for (const auto& [args, reason] : cases) {
    const auto out = gengyun(args);
    EXPECT_EQ(out.exit_code, 1) << args[0] << " " << args[1] << ": " << out.err;
    EXPECT_NE(out.err.find(reason), std::string::npos) << out.err;
    EXPECT_EQ(out.out, "");
  }
  auto s = store();
  ASSERT_TRUE(s);
  EXPECT_EQ(all_tenants(*s)->at(1).limits.rpm, 60);
  EXPECT_EQ(all_keys(*s)->at(0).limits.rpm, 10);
  EXPECT_EQ(platform::testing::all_audit_entries(*s)->size(), 4u);  // tenant, two keys, the revocation
  const std::string missing = (dir_ / "missing.db").string();
  for (const auto& command : std::vector<std::vector<std::string>>{
           {"tenants", "update", "acme", "--db", missing, "--rpm", "1"},
           {"keys", "update", "--db", missing, "--name", "k", "--rpm", "1"}}) {
    const auto out = gengyun(command);
    EXPECT_EQ(out.exit_code, 1) << command[0];
    EXPECT_NE(out.err.find("cannot open database '" + missing + "': no such file"),
              std::string::npos)
        << out.err;
  }
  EXPECT_FALSE(std::filesystem::exists(missing));
}

TEST_F(AdminTest, UsageReportsWithTheParametersOfTheHttpApi) {
  {
    auto s = platform::Store::open(db_);
    ASSERT_TRUE(s.ok()) << s.error().message;
    ASSERT_TRUE((*s)->create_key("bot").ok());
    const int64_t at = 1'709'164'800'000'000;  // 2024-02-29T00:00:00Z
    platform::UsageRecord r{1, "qwen", 10, 2, at, at, "/v1/completions", 200, "ok", ""};
    r.cost_micro_usd = 7;
    ASSERT_TRUE((*s)->record_usage(r).ok());
  }
  auto csv = gengyun({"usage", "--db", db_, "--start", "2024-02-29", "--end", "2024-03-01",
                      "--group-by", "model", "--format", "csv"});
  ASSERT_EQ(csv.exit_code, 0) << csv.err;
  EXPECT_EQ(csv.out,
            "model,requests,prompt_tokens,cached_prompt_tokens,completion_tokens,cost_micro_usd\n"
            "qwen,1,10,0,2,7\n");
  // A report is a table unless --format asks for JSON or CSV (QA: it was JSON without --json,
  // while the summary is a table): the group's columns (by key the default), then the sums.
  auto table = gengyun({"usage", "--db", db_, "--start", "2024-02-29", "--end", "2024-03-01",
                        "--group-by", "model"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_EQ(table.out,
            "MODEL REQUESTS PROMPT_TOKENS CACHED_PROMPT_TOKENS COMPLETION_TOKENS COST_USD\n"
            "qwen         1            10                    0                 2 0.000007\n");
  auto by_key = gengyun({"usage", "--db", db_, "--start", "2024-02-29", "--end", "2024-03-01"});
  ASSERT_EQ(by_key.exit_code, 0) << by_key.err;
  EXPECT_EQ(by_key.out,
            "TENANT  KEY KEY_ID REQUESTS PROMPT_TOKENS CACHED_PROMPT_TOKENS COMPLETION_TOKENS "
            "COST_USD\n"
            "default bot      1        1            10                    0                 2 "
            "0.000007\n");
  EXPECT_EQ(gengyun({"usage", "--db", db_, "--start", "2024-02-29", "--json"}).exit_code, 1);
  auto json = gengyun(
      {"usage", "--db", db_, "--start", "2024-02-29", "--end", "2024-03-01", "--format", "json"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  EXPECT_NE(json.out.find(R"("group_by":"key")"), std::string::npos) << json.out;
  EXPECT_NE(json.out.find(R"("key_name":"bot")"), std::string::npos) << json.out;
  auto bad = gengyun({"usage", "--db", db_, "--start", "2024-02-30"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("start '2024-02-30' is not a date"), std::string::npos) << bad.err;
  auto huge = gengyun({"usage", "--db", db_, "--start", "2020-01-01", "--end", "2024-01-01"});
  EXPECT_EQ(huge.exit_code, 1);
  EXPECT_NE(huge.err.find("longer than 366 days"), std::string::npos) << huge.err;
  // A group or format outside the flag's list is a command line that cannot be parsed (QA).
  auto group = gengyun({"usage", "--db", db_, "--group-by", "week"});
  EXPECT_EQ(group.exit_code, 2);
  EXPECT_NE(group.err.find("--group-by: week not in {key,model,day,tenant,user}"),
            std::string::npos)
      << group.err;
  EXPECT_EQ(gengyun({"usage", "--db", db_, "--format", "xml"}).exit_code, 2);
}

// `keys list` and `tenants list` print every row, read in pages of 100: tenants fill exactly
// one page (the default and 99), keys two pages and one row more.
TEST_F(AdminTest, ListCommandsPrintEveryRowAcrossPages) {
  {
    auto opened = platform::Store::open(db_);
    ASSERT_TRUE(opened.ok()) << opened.error().message;
    platform::Store& s = **opened;
    for (int i = 1; i < 100; ++i) ASSERT_TRUE(s.create_tenant("t" + std::to_string(i), {}).ok());
    for (int i = 1; i <= 201; ++i)
      ASSERT_TRUE(s.create_key({"k" + std::to_string(i), "t" + std::to_string(i % 99 + 1)}).ok());
  }
  // The first word of each line after the header, and the second (the name).
  const auto rows = [](const std::string& out) {
    std::vector<std::pair<std::string, std::string>> rows;
    std::istringstream lines(out);
    std::string line;
    std::getline(lines, line);  // the header
    while (std::getline(lines, line)) {
      std::istringstream words(line);
      std::string id, name;
      words >> id >> name;
      rows.emplace_back(id, name);
    }
    return rows;
  };
  auto tenants = gengyun({"tenants", "list", "--db", db_});
  ASSERT_EQ(tenants.exit_code, 0) << tenants.err;
  EXPECT_EQ(tenants.out.rfind("ID ", 0), 0u) << tenants.out;
  const auto tenant_rows = rows(tenants.out);
  ASSERT_EQ(tenant_rows.size(), 100u);
  EXPECT_EQ(tenant_rows[0], (std::pair<std::string, std::string>{"1", "default"}));
  for (size_t i = 1; i < tenant_rows.size(); ++i)
    EXPECT_EQ(tenant_rows[i], (std::pair<std::string, std::string>{std::to_string(i + 1),
                                                                   "t" + std::to_string(i)}));
  auto keys = gengyun({"keys", "list", "--db", db_});
  ASSERT_EQ(keys.exit_code, 0) << keys.err;
  const auto key_rows = rows(keys.out);
  ASSERT_EQ(key_rows.size(), 201u);
  for (size_t i = 0; i < key_rows.size(); ++i)
    EXPECT_EQ(key_rows[i], (std::pair<std::string, std::string>{std::to_string(i + 1),
                                                                "k" + std::to_string(i + 1)}));
}

// `keys list` says of a key past its expiry that it has expired (QA 2026-12-07: "expires" and a
// time in the past, while the server refused the key as expired).
TEST_F(AdminTest, KeysListSaysWhichKeysHaveExpired) {
  {
    auto s = platform::Store::open(db_);
    ASSERT_TRUE(s.ok()) << s.error().message;
    platform::NewKey past{"past"};
    past.expires_at_us = 1'709'164'800'000'000;  // 2024-02-29T00:00:00Z
    ASSERT_TRUE((*s)->create_key(past).ok());
    platform::NewKey future{"future"};
    future.expires_at_us = 4'102'444'800'000'000;  // 2100-01-01T00:00:00Z
    ASSERT_TRUE((*s)->create_key(future).ok());
  }
  auto keys = gengyun({"keys", "list", "--db", db_});
  ASSERT_EQ(keys.exit_code, 0) << keys.err;
  EXPECT_NE(keys.out.find(" expired 2024-02-29T00:00:00Z\n"), std::string::npos) << keys.out;
  EXPECT_NE(keys.out.find(" expires 2100-01-01T00:00:00Z\n"), std::string::npos) << keys.out;
}

// Key names are a tenant's own: the summary table and the report by key name each key's tenant.
TEST_F(AdminTest, UsageNamesTheTenantOfEachKey) {
  ASSERT_EQ(gengyun({"tenants", "create", "acme", "--db", db_}).exit_code, 0);
  ASSERT_EQ(gengyun({"keys", "create", "--db", db_, "--name", "bot"}).exit_code, 0);
  ASSERT_EQ(gengyun({"keys", "create", "--db", db_, "--name", "bot", "--tenant", "acme"}).exit_code,
            0);
  {
    auto s = platform::Store::open(db_);
    ASSERT_TRUE(s.ok()) << s.error().message;
    const int64_t at = 1'709'164'800'000'000;  // 2024-02-29T00:00:00Z
    for (const auto& [key_id, prompt] : {std::pair{1, 10}, std::pair{2, 20}}) {
      platform::UsageRecord r{key_id, "qwen", prompt, 2, at, at, "/v1/completions", 200, "ok", ""};
      r.cached_prompt_tokens = prompt / 2;
      r.cost_micro_usd = prompt;
      ASSERT_TRUE((*s)->record_usage(r).ok());
    }
  }
  auto table = gengyun({"usage", "--db", db_});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  char expected[512];
  std::snprintf(expected, sizeof expected,
                "%-16s %-24s %8s %-28s %10s %14s %21s %18s %14s\n"
                "%-16s %-24s %8d %-28s %10d %14d %21d %18d %14s\n"
                "%-16s %-24s %8d %-28s %10d %14d %21d %18d %14s\n",
                "TENANT", "KEY", "KEY_ID", "MODEL", "REQUESTS", "PROMPT_TOKENS",
                "CACHED_PROMPT_TOKENS", "COMPLETION_TOKENS", "COST_USD", "acme", "bot", 2, "qwen",
                1, 20, 10, 2, "0.00002", "default", "bot", 1, "qwen", 1, 10, 5, 2, "0.00001");
  EXPECT_EQ(table.out, expected);
  auto csv = gengyun({"usage", "--db", db_, "--start", "2024-02-29", "--end", "2024-03-01",
                      "--format", "csv"});
  ASSERT_EQ(csv.exit_code, 0) << csv.err;
  EXPECT_EQ(csv.out,
            "key_id,key_name,tenant_id,tenant_name,requests,prompt_tokens,cached_prompt_tokens,"
            "completion_tokens,cost_micro_usd\n"
            "2,bot,2,acme,1,20,10,2,20\n"
            "1,bot,1,default,1,10,5,2,10\n");
  // A name longer than its column widens the column for every line.
  const std::string long_name(40, 'k');
  ASSERT_EQ(gengyun({"keys", "create", "--db", db_, "--name", long_name}).exit_code, 0);
  {
    auto s = platform::Store::open(db_);
    ASSERT_TRUE(s.ok()) << s.error().message;
    const int64_t at = 1'709'164'800'000'000;
    platform::UsageRecord r{3, "qwen", 5, 1, at, at, "/v1/completions", 200, "ok", ""};
    ASSERT_TRUE((*s)->record_usage(r).ok());
  }
  auto wide = gengyun({"usage", "--db", db_});
  ASSERT_EQ(wide.exit_code, 0) << wide.err;
  std::vector<size_t> model_at;
  std::istringstream lines(wide.out);
  for (std::string line; std::getline(lines, line);)
    model_at.push_back(line.find(line.find("MODEL") != std::string::npos ? "MODEL" : "qwen"));
  EXPECT_EQ(model_at, std::vector<size_t>(4, 16 + 1 + 40 + 1 + 8 + 1)) << wide.out;
}

// A model name is the client's (an unknown model is recorded as requested): the table shows its
// control bytes escaped, so that it cannot drive the terminal (QA 2026-12-07: ESC[2J cleared it).
TEST_F(AdminTest, UsageTableEscapesControlBytesOfModelNames) {
  ASSERT_EQ(gengyun({"keys", "create", "--db", db_, "--name", "bot"}).exit_code, 0);
  record_requests_for({"m\x1b[2J\a\tx", "caf\xc3\xa9\xc2\x9b"});
  auto table = gengyun({"usage", "--db", db_});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find(" m\\x1b[2J\\x07\\x09x "), std::string::npos) << table.out;
  EXPECT_EQ(table.out.find('\x1b'), std::string::npos);
  // Printable UTF-8 is shown as it is; a C1 control (U+009B, a CSI) is escaped.
  EXPECT_NE(table.out.find(" caf\xc3\xa9\\xc2\\x9b "), std::string::npos) << table.out;
}

// Bidirectional formatting characters in a model name are shown escaped too: U+202E
// RIGHT-TO-LEFT OVERRIDE would show the rest of the line right to left, U+2066..U+2069 and
// U+200E/F reorder it as well (QA: a name could spoof the table); the columns after the name
// stay where the header has them (the escape's width).
TEST_F(AdminTest, UsageTableEscapesBidiFormattingCharactersOfModelNames) {
  ASSERT_EQ(gengyun({"keys", "create", "--db", db_, "--name", "bot"}).exit_code, 0);
  record_requests_for(
      {"gpt\xe2\x80\xae"
       "4o",
       "\xe2\x81\xa6m\xe2\x81\xa9\xe2\x80\x8e"});
  auto table = gengyun({"usage", "--db", db_});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  // (the MODEL column widens to the longest escaped name: 37 columns)
  EXPECT_EQ(table.out,
            "TENANT           KEY                        KEY_ID MODEL                              "
            "     REQUESTS  PROMPT_TOKENS  CACHED_PROMPT_TOKENS  COMPLETION_TOKENS       COST_USD\n"
            "default          bot                             1 gpt\\xe2\\x80\\xae4o          "
            "                    1              1                     0                  1         "
            "     0\n"
            "default          bot                             1 "
            "\\xe2\\x81\\xa6m\\xe2\\x81\\xa9\\xe2\\x80\\x8e          1              1       "
            "              0                  1              0\n");
}

// The JSON summary and report write the invisible and reordering characters of client-sent
// model names as JSON escapes: the same value, but a terminal shows it in order (QA: `usage
// --json` wrote U+202E and U+2028 raw, while the table and CSV escaped them).
TEST_F(AdminTest, UsageJsonEscapesInvisibleCharactersOfModelNames) {
  ASSERT_EQ(gengyun({"keys", "create", "--db", db_, "--name", "bot"}).exit_code, 0);
  const std::string model =
      "gpt\xe2\x80\xae"
      "4o\xe2\x80\xa8";
  record_requests_for({model}, 1'709'164'800'000'000);  // 2024-02-29T00:00:00Z
  auto summary = gengyun({"usage", "--db", db_, "--json"});
  ASSERT_EQ(summary.exit_code, 0) << summary.err;
  EXPECT_NE(summary.out.find("\"model\": \"gpt\\u202e4o\\u2028\""), std::string::npos)
      << summary.out;
  EXPECT_EQ(nlohmann::json::parse(summary.out)[0]["model"], model);
  auto report = gengyun({"usage", "--db", db_, "--start", "2024-02-29", "--end", "2024-03-01",
                         "--group-by", "model", "--format", "json"});
  ASSERT_EQ(report.exit_code, 0) << report.err;
  EXPECT_NE(report.out.find("gpt\\u202e4o\\u2028"), std::string::npos) << report.out;
  EXPECT_EQ(report.out.find("\xe2\x80\xae"), std::string::npos) << report.out;
}

// Columns are padded to terminal columns, not bytes: "café" (5 bytes) takes 4 columns, "模型"
// (6 bytes) 4, so every line keeps its columns where the header has them (QA: padded by bytes,
// the columns after such a name came too early).
TEST_F(AdminTest, UsageTablePadsNamesByTheirWidthOnScreen) {
  ASSERT_EQ(gengyun({"keys", "create", "--db", db_, "--name", "bot"}).exit_code, 0);
  record_requests_for({"caf\xc3\xa9", "\xe6\xa8\xa1\xe5\x9e\x8b", "qwen"});
  auto table = gengyun({"usage", "--db", db_});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_EQ(table.out,
            "TENANT           KEY                        KEY_ID MODEL                          "
            "REQUESTS  PROMPT_TOKENS  CACHED_PROMPT_TOKENS  COMPLETION_TOKENS       COST_USD\n"
            "default          bot                             1 "
            "caf\xc3\xa9"
            "                        "
            "          1              1                     0                  1              0\n"
            "default          bot                             1 "
            "qwen"
            "                        "
            "          1              1                     0                  1              0\n"
            "default          bot                             1 "
            "\xe6\xa8\xa1\xe5\x9e\x8b"
            "                        "
            "          1              1                     0                  1              0\n");
}

// `spool repair` creates no spool where there is none, and leaves one a live server holds alone.
TEST_F(AdminTest, SpoolRepairRefusesAMissingSpoolAndOneAServerHolds) {
  const std::string spool = db_ + "-ledger-spool";
  const auto missing = gengyun({"spool", "repair", spool});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_EQ(missing.err, "error: ledger spool '" + spool + "': no such file\n");
  EXPECT_FALSE(std::filesystem::exists(spool));
  { std::ofstream(spool) << "w3\tgarbage\n"; }
  // As a live server holds it (Keep: a server refuses a damaged spool, a repair opens it).
  auto held =
      platform::LedgerSpool::open(spool, nullptr, platform::LedgerSpool::UnfinishedLine::Keep);
  ASSERT_TRUE(held.ok()) << held.error().message;
  const auto refused = gengyun({"spool", "repair", spool});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_EQ(refused.err, "error: ledger spool '" + spool +
                             "' is held by a running server; stop it before repairing its "
                             "spool\n");
  const auto directory = gengyun({"spool", "repair", dir_.string()});
  EXPECT_EQ(directory.exit_code, 1);
  EXPECT_EQ(directory.err, "error: ledger spool '" + dir_.string() + "': not a regular file\n");
  const auto no_path = gengyun({"spool", "repair"});
  EXPECT_NE(no_path.exit_code, 0);
  EXPECT_NE(no_path.err.find("PATH is required"), std::string::npos) << no_path.err;
  std::ifstream in(spool);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), "w3\tgarbage\n");
}

// `spool repair` of a file that is not a spool (the database, notes) refuses it and leaves it as
// it was: it would have copied it aside and emptied it (QA: `--ledger-spool a.db` named the
// repair).
TEST_F(AdminTest, SpoolRepairRefusesAFileThatIsNotASpool) {
  const std::string notes = (dir_ / "notes.txt").string();
  const std::string text = "first line\nlast line without its end";
  { std::ofstream(notes, std::ios::binary) << text; }
  const auto refused = gengyun({"spool", "repair", notes});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_EQ(refused.err, "error: '" + notes +
                             "' is not a ledger spool: line 1 starts with 'first line', not with a "
                             "spool version such as 'w3' and a tab (it was left as it was)\n");
  EXPECT_EQ(refused.out, "");
  std::ifstream in(notes, std::ios::binary);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), text);
  size_t files = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(dir_)) ++files;
  EXPECT_EQ(files, 1u);  // no copy beside it
}

TEST_F(AdminTest, CommandsThatReadALedgerRefuseAMissingDatabase) {
  for (const auto& command :
       std::vector<std::vector<std::string>>{{"usage", "--db", db_},
                                             {"keys", "list", "--db", db_},
                                             {"keys", "revoke", "--db", db_, "--name", "k"},
                                             {"keys", "revoke", "--db", db_, "--id", "1"},
                                             {"tenants", "list", "--db", db_},
                                             {"migrate", "--db", db_}}) {
    const auto out = gengyun(command);
    EXPECT_EQ(out.exit_code, 1) << command[0];
    EXPECT_NE(out.err.find("cannot open database '" + db_ + "': no such file"), std::string::npos)
        << out.err;
  }
  EXPECT_FALSE(std::filesystem::exists(db_));
}

// A reader that may read the database but not write in its folder cannot open it (SQLite's WAL
// index goes beside the file even for reads): the error says so. Needs root to run the reader
// as another user (runuser -u nobody); skipped, saying why, elsewhere.
TEST_F(AdminTest, AReaderThatCannotWriteTheFolderIsToldWhy) {
  if (::geteuid() != 0) GTEST_SKIP() << "runs the reader as user nobody: needs root";
  std::string runuser;
  for (const char* path : {"/usr/sbin/runuser", "/sbin/runuser"})
    if (std::filesystem::exists(path)) runuser = path;
  if (runuser.empty()) GTEST_SKIP() << "no runuser (util-linux) to run the reader as nobody";
  if (run_process({runuser, "-u", "nobody", "--", "/usr/bin/test", "-x", kBinary}).exit_code != 0)
    GTEST_SKIP() << "user nobody cannot run " << kBinary;
  ASSERT_EQ(gengyun({"keys", "create", "--db", db_, "--name", "k"}).exit_code, 0);
  namespace fs = std::filesystem;
  fs::permissions(dir_, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                            fs::perms::others_read | fs::perms::others_exec);
  for (const std::string suffix : {"-wal", "-shm"}) ASSERT_FALSE(fs::exists(db_ + suffix));
  const auto out =
      run_process({runuser, "-u", "nobody", "--", kBinary, "keys", "list", "--db", db_});
  EXPECT_EQ(out.exit_code, 1);
  EXPECT_NE(out.err.find("(SQLite creates its WAL index '" + db_ +
                         "-shm' beside the database even to read it, and this user may not "
                         "write in '" +
                         dir_.string() +
                         "': run as the user that owns the database, or let this user write in "
                         "its folder)\n"),
            std::string::npos)
      << out.err;
}

// Input refused by `keys create`, `tenants create` or `prices set` is refused before the
// database is opened: a missing one is not created (nor its -wal or -shm).
TEST_F(AdminTest, RefusedInputCreatesNoDatabase) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"keys", "create", "--db", db_, "--name", "a b"},
       "error: cannot create API key: the key name may hold only ASCII letters, digits, '.', '_', "
       "'-' and must start with a letter, digit or '_'\n"},
      {{"keys", "create", "--db", db_, "--name", "k", "--tenant", "acme"},
       "error: cannot create API key 'k': no tenant is named 'acme' (there is no database '" + db_ +
           "' yet; create the tenant with `gengyun tenants create`)\n"},
      {{"keys", "create", "--db", db_, "--name", "k", "--rpm", "ten"},
       "error: --rpm 'ten' is not a whole number from 0 to 1000000000000\n"},
      {{"tenants", "create", "=cmd", "--db", db_},
       "error: cannot create tenant: the tenant name may hold only ASCII letters, digits, '.', "
       "'_', '-' and must start with a letter, digit or '_'\n"},
      {{"keys", "create", "--db", db_, "--name", "k", "--models", "qwen, a"},
       "error: --models 'qwen, a': the model name begins or ends with a space, which a model id "
       "may not\n"},
      {{"tenants", "create", "default", "--db", db_},
       "error: cannot create tenant: a tenant named 'default' already exists\n"},
      {{"tenants", "create", "", "--db", db_},
       "error: cannot create tenant: the tenant name is empty\n"},
      {{"tenants", "create", std::string(201, 't'), "--db", db_},
       "error: cannot create tenant: the tenant name is longer than 200 bytes\n"},
      {{"prices", "set", "a\u00A0b", "--db", db_, "--input", "1", "--output", "1"},
       "error: cannot set a price: the model name holds the space U+00A0, which shows as U+0020 "
       "does and which a model id may not\n"},
      {{"prices", "set", "cafe\u0301", "--db", db_, "--input", "1", "--output", "1"},
       "error: cannot set a price: the model name is not in Unicode NFC form, which a model id "
       "may not; write it composed, e.g. the 'é' of 'café' as U+00E9, not 'e' and U+0301\n"},
      {{"keys", "create", "--db", db_, "--name", "k", "--models", "qwen,cafe\u0301"},
       "error: --models 'qwen,cafe\u0301': the model name is not in Unicode NFC form, which a "
       "model id may not; write it composed, e.g. the 'é' of 'café' as U+00E9, not 'e' and "
       "U+0301\n"},
      {{"prices", "set", "qwen", "--db", db_, "--input", "0.15", "--cached-input", "0.3",
        "--output", "0.6"},
       "error: cannot set the price of model 'qwen': the cached input price (0.3) is above the "
       "input price (0.15) (USD per 1M tokens); a cached prompt token costs at most an input "
       "token\n"},
  };
  for (const auto& [args, message] : cases) {
    const auto out = gengyun(args);
    EXPECT_EQ(out.exit_code, 1) << message;
    EXPECT_EQ(out.err, message);
    EXPECT_EQ(out.out, "");
    EXPECT_TRUE(std::filesystem::is_empty(dir_)) << message;
  }
  // The default tenant needs no database to exist; a cached price equal to the input is taken.
  const auto key = gengyun({"keys", "create", "--db", db_, "--name", "k", "--tenant", "default"});
  EXPECT_EQ(key.exit_code, 0) << key.err;
  const auto price = gengyun({"prices", "set", "qwen", "--db", db_, "--input", "0.15",
                              "--cached-input", "0.15", "--output", "0.6"});
  EXPECT_EQ(price.exit_code, 0) << price.err;
  const auto above = gengyun({"prices", "set", "qwen", "--db", db_, "--input", "0.15",
                              "--cached-input", "0.150001", "--output", "0.6"});
  EXPECT_EQ(above.exit_code, 1);
  auto s = store();
  ASSERT_TRUE(s);
  EXPECT_EQ(s->price("qwen")->value().cached_input, 150'000);
}

// The commands that read refuse a file without gengyun's schema (an empty file, another
// program's database) and leave it as it was: they never write the schema into it.
TEST_F(AdminTest, CommandsThatReadRefuseAFileWithoutTheSchemaAndLeaveIt) {
  const std::string empty = (dir_ / "empty.db").string();
  { std::ofstream(empty, std::ios::binary); }
  const std::string foreign = (dir_ / "foreign.db").string();
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(foreign.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "CREATE TABLE notes(text TEXT); INSERT INTO notes VALUES ('x')",
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
  }
  for (const std::string& path : {empty, foreign}) {
    const std::string before = file_bytes(path);
    for (const auto& command : std::vector<std::vector<std::string>>{
             {"usage", "--db", path},
             {"usage", "--db", path, "--group-by", "model"},
             {"keys", "list", "--db", path},
             {"keys", "revoke", "--db", path, "--name", "k"},
             {"keys", "update", "--db", path, "--id", "1", "--rpm", "1"},
             {"tenants", "list", "--db", path},
             {"tenants", "update", "default", "--db", path, "--rpm", "1"},
             {"migrate", "--db", path}}) {
      const auto out = gengyun(command);
      EXPECT_EQ(out.exit_code, 1) << command[0] << " " << command[1];
      EXPECT_EQ(out.err, "error: cannot open database '" + path +
                             "': the database has no gengyun schema (create it with `gengyun "
                             "keys create` or `gengyun serve`)\n")
          << command[0] << " " << command[1];
      EXPECT_EQ(out.out, "");
      EXPECT_EQ(file_bytes(path), before) << path;
    }
  }
}

// The commands that only read refuse a database of an older schema and leave it as it was (QA
// of 2026-12-03, third: `gengyun usage` migrated it, after which an older gengyun sharing it
// refused it); `gengyun migrate` migrates it, and says so.
TEST_F(AdminTest, ReadersRefuseAnOlderSchemaThatMigrateMigrates) {
  ASSERT_EQ(gengyun({"keys", "create", "--db", db_, "--name", "bot"}).exit_code, 0);
  // The database as schema version 8 left it (no end_user column).
  const auto make_version_8 = [&] {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(db_.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(
        sqlite3_exec(
            db,
            "ALTER TABLE usage_ledger DROP COLUMN end_user; UPDATE schema_version SET version = 8",
            nullptr, nullptr, nullptr),
        SQLITE_OK);
    sqlite3_close(db);
  };
  make_version_8();
  const std::string before = file_bytes(db_);
  const std::string current = std::to_string(platform::kStoreSchemaVersion);
  for (const auto& command : std::vector<std::vector<std::string>>{
           {"usage", "--db", db_},
           {"usage", "--db", db_, "--group-by", "model"},
           {"keys", "list", "--db", db_},
           {"tenants", "list", "--db", db_}}) {
    const auto out = gengyun(command);
    EXPECT_EQ(out.exit_code, 1) << command[0] << " " << command[1];
    EXPECT_EQ(out.err, "error: cannot open database '" + db_ +
                           "': the database has schema version 8, older than this gengyun's (" +
                           current +
                           "), and a command that reads does not migrate it; migrate it with "
                           "`gengyun migrate --db` (gengyun releases before this one then refuse "
                           "it)\n")
        << command[0] << " " << command[1];
    EXPECT_EQ(out.out, "");
    EXPECT_EQ(file_bytes(db_), before);
  }
  const auto migrated = gengyun({"migrate", "--db", db_});
  EXPECT_EQ(migrated.exit_code, 0) << migrated.err;
  EXPECT_EQ(migrated.out, "migrated the database from schema version 8 to " + current + "\n");
  const auto again = gengyun({"migrate", "--db", db_});
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(again.out,
            "the database is at schema version " + current + " already; nothing to migrate\n");
  const auto listed = gengyun({"keys", "list", "--db", db_});
  EXPECT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_NE(listed.out.find("bot"), std::string::npos) << listed.out;
  // A command that writes migrates, and says so on stderr (the key alone on stdout).
  make_version_8();
  const auto created = gengyun({"keys", "create", "--db", db_, "--name", "bot2"});
  EXPECT_EQ(created.exit_code, 0) << created.err;
  EXPECT_EQ(created.err, "migrated the database from schema version 8 to " + current + "\n");
  EXPECT_TRUE(created.out.starts_with("gy-")) << created.out;
}

// --expires-in is POST /admin/keys's expires_in_days: one rule (whole days, 1 to 36500) and one
// message for every bad value (api::key_expiry).
TEST_F(AdminTest, ExpiryHasTheAdminApisRuleAndMessage) {
  for (const std::string days : {"-1", "0", "36501", "1.5", "ten", "99999999999999999999"}) {
    const auto out = gengyun({"keys", "create", "--db", db_, "--name", "k", "--expires-in", days});
    EXPECT_EQ(out.exit_code, 1) << days;
    EXPECT_EQ(out.err, "error: --expires-in must be a whole number of days from 1 to 36500\n")
        << days;
    EXPECT_EQ(out.out, "");
  }
  EXPECT_FALSE(std::filesystem::exists(db_));  // refused before the database is opened
  const int64_t before_us = unix_time_us();
  const auto longest =
      gengyun({"keys", "create", "--db", db_, "--name", "k", "--expires-in", "36500"});
  ASSERT_EQ(longest.exit_code, 0) << longest.err;
  const int64_t after_us = unix_time_us();
  auto s = store();
  ASSERT_TRUE(s);
  const auto keys = all_keys(*s);
  ASSERT_TRUE(keys.ok());
  ASSERT_EQ(keys->size(), 1u);
  ASSERT_TRUE(keys->front().expires_at_us);
  constexpr int64_t kLongestUs = 36'500 * 86'400'000'000;
  EXPECT_GE(*keys->front().expires_at_us, before_us + kLongestUs);
  EXPECT_LE(*keys->front().expires_at_us, after_us + kLongestUs);
}

// `keys revoke --name` matches a key's name only (never its id or display prefix, as before);
// `--id` takes the id that `keys list` shows.
TEST_F(AdminTest, RevokeTakesANameOrAnId) {
  ASSERT_EQ(gengyun({"keys", "create", "--db", db_, "--name", "team-a"}).exit_code, 0);
  std::string prefix;
  {
    auto s = store();
    ASSERT_TRUE(s);
    ASSERT_EQ(all_keys(*s)->size(), 1u);
    ASSERT_EQ(all_keys(*s)->front().id, 1);
    prefix = all_keys(*s)->front().prefix;
  }
  const std::vector<std::pair<std::vector<std::string>, std::string>> refused = {
      {{"--name", "1"}, "error: cannot revoke API key: no key is named '1'\n"},
      {{"--name", prefix}, "error: cannot revoke API key: no key is named '" + prefix + "'\n"},
      {{"--id", "2"}, "error: cannot revoke API key 2: no such key\n"},
      {{"--id", "team-a"}, "error: --id 'team-a' is not a whole number from 0 to 9223372036854775807\n"},
      {{}, "error: give the key's --name or its --id (one of them)\n"},
      {{"--name", "team-a", "--id", "1"},
       "error: give the key's --name or its --id (one of them)\n"},
  };
  for (const auto& [flags, message] : refused) {
    std::vector<std::string> args = {"keys", "revoke", "--db", db_};
    args.insert(args.end(), flags.begin(), flags.end());
    const auto out = gengyun(args);
    EXPECT_EQ(out.exit_code, 1) << message;
    EXPECT_EQ(out.err, message);
  }
  {
    auto s = store();
    ASSERT_TRUE(s);
    EXPECT_FALSE(all_keys(*s)->front().revoked_at_us);
  }
  const auto by_id = gengyun({"keys", "revoke", "--db", db_, "--id", "1"});
  EXPECT_EQ(by_id.exit_code, 0) << by_id.err;
  EXPECT_EQ(by_id.err, "revoked key 'team-a' (id 1)\n");
  const auto again = gengyun({"keys", "revoke", "--db", db_, "--id", "1"});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_EQ(again.err, "error: cannot revoke API key 1: it is already revoked\n");
  const auto by_name = gengyun({"keys", "revoke", "--db", db_, "--name", "team-a"});
  EXPECT_EQ(by_name.exit_code, 1);
  EXPECT_EQ(by_name.err, "error: cannot revoke API key 'team-a': it is already revoked (id 1)\n");
  // By name, the message names the key and its id as by id.
  ASSERT_EQ(gengyun({"keys", "create", "--db", db_, "--name", "team-b"}).exit_code, 0);
  const auto named = gengyun({"keys", "revoke", "--db", db_, "--name", "team-b"});
  EXPECT_EQ(named.exit_code, 0) << named.err;
  EXPECT_EQ(named.err, "revoked key 'team-b' (id 2)\n");
  auto s = store();
  ASSERT_TRUE(s);
  EXPECT_TRUE(all_keys(*s)->front().revoked_at_us);
  EXPECT_TRUE(all_keys(*s)->back().revoked_at_us);
  auto audit = platform::testing::all_audit_entries(*s);
  ASSERT_TRUE(audit.ok());
  ASSERT_EQ(audit->size(), 4u);  // two creations, two revocations
  EXPECT_EQ((*audit)[3].action, "key.revoke");
  EXPECT_EQ((*audit)[3].target, "team-b");
  const auto help = gengyun({"keys", "revoke", "--help"});
  EXPECT_NE(help.out.find("--id"), std::string::npos) << help.out;
  EXPECT_NE(help.out.find("(the name only)"), std::string::npos) << help.out;
}

// `keys revoke` refuses the last active, unexpired admin key, by id and by name (issue 8).
TEST_F(AdminTest, RevokeRefusesTheLastAdminKey) {
  ASSERT_EQ(gengyun({"keys", "create", "--db", db_, "--name", "root", "--role", "admin"}).exit_code,
            0);
  const std::string refusal =
      "error: cannot revoke API key 'root' (id 1): it is the last active admin key; create "
      "another admin key first\n";
  for (const std::vector<std::string>& flags :
       {std::vector<std::string>{"--id", "1"}, std::vector<std::string>{"--name", "root"}}) {
    std::vector<std::string> args = {"keys", "revoke", "--db", db_};
    args.insert(args.end(), flags.begin(), flags.end());
    const auto out = gengyun(args);
    EXPECT_EQ(out.exit_code, 1) << flags[0];
    EXPECT_EQ(out.err, refusal) << flags[0];
  }
  ASSERT_EQ(gengyun({"keys", "create", "--db", db_, "--name", "ops", "--role", "admin"}).exit_code,
            0);
  const auto revoked = gengyun({"keys", "revoke", "--db", db_, "--name", "root"});
  EXPECT_EQ(revoked.exit_code, 0) << revoked.err;
  EXPECT_EQ(revoked.err, "revoked key 'root' (id 1)\n");
  auto s = store();
  ASSERT_TRUE(s);
  EXPECT_TRUE(all_keys(*s)->front().revoked_at_us);
  EXPECT_FALSE(all_keys(*s)->back().revoked_at_us);
}

/// AdminTest on the backend of the parameter: "sqlite" (its file), "postgres" (a new database on
/// the tests' PostgreSQL server, postgres_server.h).
class AdminBackendTest : public AdminTest, public ::testing::WithParamInterface<std::string> {
 protected:
  void SetUp() override {
    AdminTest::SetUp();
    if (GetParam() == "sqlite") return;
    platform::testing::PostgresServer* server = platform::testing::PostgresServer::get_or_skip();
    if (!server) return;
    auto database = server->new_database();
    ASSERT_TRUE(database.ok()) << database.error().message;
    db_ = *database;
  }
};

// Key names are a tenant's own (docs/platform.md): `keys create` takes a name that another
// tenant's key has; `keys revoke --name` and `keys update --name` act on the one active key of
// that name, and when several tenants have one, refuse with their count until --tenant (or
// --id) says which.
TEST_P(AdminBackendTest, KeyNamesAreATenantsOwnAndANameOfSeveralTenantsNeedsItsTenant) {
  for (const char* tenant : {"acme", "beta"}) {
    ASSERT_EQ(gengyun({"tenants", "create", tenant, "--db", db_}).exit_code, 0);
    const auto created =
        gengyun({"keys", "create", "--db", db_, "--name", "bot", "--tenant", tenant});
    ASSERT_EQ(created.exit_code, 0) << created.err;
  }
  const auto twice = gengyun({"keys", "create", "--db", db_, "--name", "bot", "--tenant", "acme"});
  EXPECT_EQ(twice.exit_code, 1);
  EXPECT_EQ(twice.err,
            "error: cannot create API key: an active key named 'bot' already exists in tenant "
            "'acme' (id 1); revoke it first or choose another name\n");
  const auto in_default = gengyun({"keys", "create", "--db", db_, "--name", "bot"});
  ASSERT_EQ(in_default.exit_code, 0) << in_default.err;
  EXPECT_EQ(in_default.out.substr(0, 3), "gy-");
  // `keys list` names each key's tenant (id, name, prefix, tenant, ...).
  const auto listed = gengyun({"keys", "list", "--db", db_});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  std::vector<std::string> tenants_of_bot;
  std::istringstream lines(listed.out);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream fields(line);
    std::string id, name, prefix, tenant;
    fields >> id >> name >> prefix >> tenant;
    if (name == "bot") tenants_of_bot.push_back(tenant);
  }
  EXPECT_EQ(tenants_of_bot, (std::vector<std::string>{"acme", "beta", "default"})) << listed.out;

  const std::vector<std::pair<std::vector<std::string>, std::string>> refused = {
      {{"revoke", "--name", "bot"},
       "error: cannot revoke API key 'bot': 3 tenants have an active key of that name; give its "
       "--tenant or its --id\n"},
      {{"update", "--name", "bot", "--rpm", "5"},
       "error: cannot update API key 'bot': 3 tenants have an active key of that name; give its "
       "--tenant or its --id\n"},
      {{"revoke", "--name", "bot", "--tenant", "nobody"},
       "error: cannot revoke API key: no tenant is named 'nobody'\n"},
      {{"revoke", "--name", "bot", "--tenant", ""},
       "error: --tenant is empty: give a tenant's name\n"},
      {{"update", "--name", "bot", "--tenant", "", "--rpm", "5"},
       "error: --tenant is empty: give a tenant's name\n"},
      {{"update", "--name", "bot", "--tenant", "nobody", "--rpm", "5"},
       "error: no tenant is named 'nobody'\n"},
      {{"revoke", "--name", "robot", "--tenant", "beta"},
       "error: cannot revoke API key: no key is named 'robot' in tenant 'beta'\n"},
      {{"update", "--name", "robot", "--tenant", "beta", "--rpm", "5"},
       "error: no active API key is named 'robot' in tenant 'beta'\n"},
      {{"revoke", "--id", "2", "--tenant", "beta"},
       "error: --tenant goes with --name (an --id names one key of one tenant)\n"},
      {{"update", "--id", "2", "--tenant", "beta", "--rpm", "5"},
       "error: --tenant goes with --name (an --id names one key of one tenant)\n"},
  };
  for (const auto& [flags, message] : refused) {
    std::vector<std::string> args = {"keys", flags[0], "--db", db_};
    args.insert(args.end(), flags.begin() + 1, flags.end());
    const auto out = gengyun(args);
    EXPECT_EQ(out.exit_code, 1) << message;
    EXPECT_EQ(out.err, message);
  }

  const auto updated =
      gengyun({"keys", "update", "--db", db_, "--name", "bot", "--tenant", "beta", "--rpm", "5"});
  EXPECT_EQ(updated.exit_code, 0) << updated.err;
  EXPECT_EQ(updated.err, "updated key 'bot' (id 2): budget -, rpm 5, tpm -\n");
  const auto revoked =
      gengyun({"keys", "revoke", "--db", db_, "--name", "bot", "--tenant", "acme"});
  EXPECT_EQ(revoked.exit_code, 0) << revoked.err;
  EXPECT_EQ(revoked.err, "revoked key 'bot' (id 1)\n");
  const auto again = gengyun({"keys", "revoke", "--db", db_, "--name", "bot", "--tenant", "acme"});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_EQ(again.err,
            "error: cannot revoke API key 'bot' in tenant 'acme': it is already revoked (id 1)\n");
  const auto gone =
      gengyun({"keys", "update", "--db", db_, "--name", "bot", "--tenant", "acme", "--rpm", "1"});
  EXPECT_EQ(gone.exit_code, 1);
  EXPECT_EQ(gone.err, "error: no active API key is named 'bot' in tenant 'acme'\n");
  // Two tenants left with an active "bot": still ambiguous, and the count says so.
  const auto two = gengyun({"keys", "revoke", "--db", db_, "--name", "bot"});
  EXPECT_EQ(two.exit_code, 1);
  EXPECT_EQ(two.err,
            "error: cannot revoke API key 'bot': 2 tenants have an active key of that name; give "
            "its --tenant or its --id\n");
  const auto in_default_revoked =
      gengyun({"keys", "revoke", "--db", db_, "--name", "bot", "--tenant", "default"});
  EXPECT_EQ(in_default_revoked.err, "revoked key 'bot' (id 3)\n");
  // One left: the name alone names it.
  const auto last = gengyun({"keys", "revoke", "--db", db_, "--name", "bot"});
  EXPECT_EQ(last.exit_code, 0) << last.err;
  EXPECT_EQ(last.err, "revoked key 'bot' (id 2)\n");

  auto s = store();
  ASSERT_TRUE(s);
  auto keys = s->keys_page({{0, 10}, std::nullopt, true});
  ASSERT_TRUE(keys.ok()) << keys.error().message;
  ASSERT_EQ(keys->size(), 3u);
  for (const platform::KeyInfo& key : *keys) EXPECT_TRUE(key.revoked_at_us) << key.id;
  EXPECT_EQ((*keys)[1].limits.rpm, 5);
  EXPECT_EQ((*keys)[0].limits.rpm, std::nullopt);
  auto audit = platform::testing::all_audit_entries(*s);
  ASSERT_TRUE(audit.ok()) << audit.error().message;
  EXPECT_EQ(audit->size(), 9u);  // two tenants, three keys, one update, three revocations
  const auto help = gengyun({"keys", "revoke", "--help"});
  EXPECT_NE(help.out.find("--tenant"), std::string::npos) << help.out;
}

INSTANTIATE_TEST_SUITE_P(Backends, AdminBackendTest, ::testing::Values("sqlite", "postgres"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

// The rule for a --db that does not exist: commands that add something (tenants create, keys
// create, prices set) create it and say so; the others refuse it (above). --help says which.
TEST_F(AdminTest, CommandsThatAddSomethingCreateAMissingDatabaseAndSaySo) {
  const auto price =
      gengyun({"prices", "set", "qwen", "--db", db_, "--input", "0.15", "--output", "0.6"});
  ASSERT_EQ(price.exit_code, 0) << price.err;
  EXPECT_EQ(price.err, "created the database '" + db_ +
                           "' (there was none)\n"
                           "model 'qwen': USD 0.15 input, 0.15 cached input, 0.6 output per 1M "
                           "tokens\n");
  const auto again =
      gengyun({"prices", "set", "qwen", "--db", db_, "--input", "0.2", "--output", "0.6"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(again.err, "model 'qwen': USD 0.2 input, 0.2 cached input, 0.6 output per 1M tokens\n");
  {
    auto s = store();
    ASSERT_TRUE(s);
    EXPECT_EQ(s->price("qwen")->value().input, 200'000);
  }

  const std::string tenants_db = (dir_ / "tenants.db").string();
  const auto tenant = gengyun({"tenants", "create", "acme", "--db", tenants_db});
  ASSERT_EQ(tenant.exit_code, 0) << tenant.err;
  EXPECT_EQ(tenant.err, "created the database '" + tenants_db +
                            "' (there was none)\ncreated tenant 'acme' (id 2)\n");
  const std::string keys_db = (dir_ / "keys.db").string();
  const auto key = gengyun({"keys", "create", "--db", keys_db, "--name", "k"});
  ASSERT_EQ(key.exit_code, 0) << key.err;
  EXPECT_EQ(key.err, "created the database '" + keys_db + "' (there was none)\n");
  EXPECT_TRUE(std::regex_match(key.out, std::regex("gy-[0-9A-Za-z]{43}\n"))) << key.out;

  for (const std::vector<std::string>& creating :
       {std::vector<std::string>{"prices", "set"}, {"tenants", "create"}, {"keys", "create"}}) {
    const auto help = gengyun({creating[0], creating[1], "--help"});
    EXPECT_NE(help.out.find("SQLite file (created when missing) or postgres:// URL"),
              std::string::npos)
        << help.out;
  }
  for (const std::vector<std::string>& reading : {std::vector<std::string>{"keys", "list"},
                                                 {"keys", "revoke"},
                                                 {"keys", "update"},
                                                 {"tenants", "list"},
                                                 {"tenants", "update"},
                                                 {"usage"}}) {
    std::vector<std::string> args = reading;
    args.push_back("--help");
    const auto help = gengyun(args);
    EXPECT_NE(help.out.find("SQLite file or postgres:// URL (must exist)"), std::string::npos)
        << help.out;
  }
}

}  // namespace
}  // namespace gengyun::e2e
