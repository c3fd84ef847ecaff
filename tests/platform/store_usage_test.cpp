#include <gtest/gtest.h>

#include <map>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "platform/store.h"
#include "temp_dir.h"

namespace gengyun::platform {
namespace {

using testing::RawDb;
using testing::TempDir;

auto fields(const UsageRecord& r) {
  return std::tie(r.key_id, r.model, r.prompt_tokens, r.completion_tokens, r.started_at_us,
                  r.finished_at_us, r.endpoint, r.http_status, r.status, r.error);
}

auto fields(const UsageSummary& s) {
  return std::tie(s.key_name, s.key_id, s.model, s.requests, s.prompt_tokens,
                  s.completion_tokens);
}

std::unique_ptr<Store> open_store(const std::string& path) {
  auto store = Store::open(path);
  EXPECT_TRUE(store.ok()) << store.error().message;
  return store.ok() ? std::move(store).value() : nullptr;
}

int64_t create_key_id(Store& store, const std::string& name) {
  auto secret = store.create_key(name);
  EXPECT_TRUE(secret.ok()) << secret.error().message;
  auto who = store.authenticate(*secret);
  EXPECT_TRUE(who.ok() && who->has_value());
  return (*who)->id;
}

UsageRecord ok_record(int64_t key_id, const std::string& model, int64_t prompt,
                      int64_t completion) {
  return UsageRecord{key_id, model, prompt, completion, 1'700'000'000'000'000,
                     1'700'000'000'250'000, "/v1/chat/completions", 200, "ok", ""};
}

TEST(StoreUsage, RowsPersistAcrossReopenWithExactValues) {
  TempDir dir;
  std::string path = dir.file("platform.db");
  std::vector<UsageRecord> written;
  {
    auto store = open_store(path);
    ASSERT_TRUE(store);
    int64_t a = create_key_id(*store, "team-a");
    int64_t b = create_key_id(*store, "team-b");
    written = {
        UsageRecord{a, "qwen2.5-0.5b-instruct", 17, 250, 1'732'000'000'123'456,
                    1'732'000'004'654'321, "/v1/chat/completions", 200, "ok", ""},
        UsageRecord{b, "llama-3.2-1b", 4096, 0, 1'732'000'010'000'000, 1'732'000'010'000'000,
                    "/v1/completions", 400, "error",
                    "context too long: 9000 tokens > 8192 (model 'llama-3.2-1b')"},
        UsageRecord{a, "qwen2.5-0.5b-instruct", 3'000'000'000'000, 7, 1, 2,
                    "/v1/chat/completions", 499, "cancelled",
                    std::string("client closed \"stream\" \xe8\x80\x95\xe4\xba\x91 'x'\0tail", 39)},
    };
    for (const UsageRecord& record : written) {
      auto recorded = store->record_usage(record);
      ASSERT_TRUE(recorded.ok()) << recorded.error().message;
    }
  }
  auto reopened = open_store(path);
  ASSERT_TRUE(reopened);
  auto rows = reopened->usage_rows();
  ASSERT_TRUE(rows.ok()) << rows.error().message;
  ASSERT_EQ(rows->size(), written.size());
  for (size_t i = 0; i < written.size(); ++i) EXPECT_EQ(fields((*rows)[i]), fields(written[i]));
}

TEST(StoreUsage, SummaryHasExactSumsPerKeyAndModel) {
  TempDir dir;
  auto store = open_store(dir.file("platform.db"));
  ASSERT_TRUE(store);
  // Created in reverse name order, so ordering by name differs from ordering by id.
  int64_t zeta = create_key_id(*store, "zeta");
  int64_t alpha = create_key_id(*store, "alpha");
  int64_t unused = create_key_id(*store, "unused");
  ASSERT_NE(unused, 0);

  std::map<std::tuple<std::string, std::string>, UsageSummary> expected;
  const std::string models[] = {"m-b", "m-a", "m-c"};
  for (int i = 0; i < 60; ++i) {
    bool is_alpha = i % 3 != 0;
    int64_t key = is_alpha ? alpha : zeta;
    const std::string& model = models[(i * 7) % 3];
    UsageRecord record = ok_record(key, model, 1000 + i * 13, i * i);
    ASSERT_TRUE(store->record_usage(record).ok());
    UsageSummary& s = expected[{is_alpha ? "alpha" : "zeta", model}];
    s = UsageSummary{is_alpha ? "alpha" : "zeta", key, model, s.requests + 1,
                     s.prompt_tokens + record.prompt_tokens,
                     s.completion_tokens + record.completion_tokens};
  }

  auto summary = store->usage_summary();
  ASSERT_TRUE(summary.ok()) << summary.error().message;
  ASSERT_EQ(summary->size(), expected.size());
  size_t i = 0;
  for (const auto& [name_model, want] : expected) EXPECT_EQ(fields((*summary)[i++]), fields(want));
}

TEST(StoreUsage, ConcurrentWritersLoseNothing) {
  TempDir dir;
  auto store = open_store(dir.file("platform.db"));
  ASSERT_TRUE(store);
  int64_t key = create_key_id(*store, "team-a");

  constexpr int kThreads = 8;
  constexpr int kRowsPerThread = 50;
  std::vector<std::thread> threads;
  std::vector<int> failures(kThreads, 0);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRowsPerThread; ++i)
        if (!store->record_usage(ok_record(key, "model-" + std::to_string(t), t, i)).ok())
          ++failures[t];
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(failures[t], 0) << "thread " << t;

  auto rows = store->usage_rows();
  ASSERT_TRUE(rows.ok()) << rows.error().message;
  ASSERT_EQ(rows->size(), size_t{kThreads * kRowsPerThread});
  // Each thread's rows appear exactly once and in the order that thread wrote them.
  std::vector<int64_t> next(kThreads, 0);
  for (const UsageRecord& row : *rows) {
    ASSERT_GE(row.prompt_tokens, 0);
    ASSERT_LT(row.prompt_tokens, kThreads);
    int t = static_cast<int>(row.prompt_tokens);
    EXPECT_EQ(row.model, "model-" + std::to_string(t));
    EXPECT_EQ(row.completion_tokens, next[t]++);
  }
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(next[t], kRowsPerThread);
}

TEST(StoreUsage, RevokedKeysCanStillBeBilled) {
  TempDir dir;
  auto store = open_store(dir.file("platform.db"));
  ASSERT_TRUE(store);
  int64_t key = create_key_id(*store, "team-a");
  ASSERT_TRUE(store->revoke_key("team-a").ok());
  auto recorded = store->record_usage(ok_record(key, "m", 5, 6));
  ASSERT_TRUE(recorded.ok()) << recorded.error().message;
  EXPECT_EQ(store->usage_rows()->size(), 1u);
}

TEST(StoreUsage, InvalidRecordsAreRejectedAndNotWritten) {
  TempDir dir;
  auto store = open_store(dir.file("platform.db"));
  ASSERT_TRUE(store);
  int64_t key = create_key_id(*store, "team-a");

  struct Case {
    UsageRecord record;
    std::string message;
  };
  std::vector<Case> cases;
  cases.push_back({ok_record(key + 1, "m", 1, 1), "no API key has id"});
  cases.push_back({ok_record(key, "m", -1, 1), "token counts must be >= 0"});
  cases.push_back({ok_record(key, "m", 1, -1), "token counts must be >= 0"});
  UsageRecord backwards = ok_record(key, "m", 1, 1);
  backwards.finished_at_us = backwards.started_at_us - 1;
  cases.push_back({backwards, "is before started_at_us"});
  UsageRecord bad_http = ok_record(key, "m", 1, 1);
  bad_http.http_status = 99;
  cases.push_back({bad_http, "not an HTTP status code"});
  bad_http.http_status = 600;
  cases.push_back({bad_http, "not an HTTP status code"});
  UsageRecord bad_status = ok_record(key, "m", 1, 1);
  bad_status.status = "done";
  cases.push_back({bad_status, "status 'done' is not one of"});

  for (const Case& c : cases) {
    auto recorded = store->record_usage(c.record);
    ASSERT_FALSE(recorded.ok()) << "accepted a record expected to fail with: " << c.message;
    EXPECT_NE(recorded.error().message.find(c.message), std::string::npos)
        << recorded.error().message;
  }
  EXPECT_TRUE(store->usage_rows()->empty());
}

TEST(StoreUsage, LedgerRefusesUpdateAndDeleteFromAnyConnection) {
  TempDir dir;
  std::string path = dir.file("platform.db");
  auto store = open_store(path);
  ASSERT_TRUE(store);
  int64_t key = create_key_id(*store, "team-a");
  ASSERT_TRUE(store->record_usage(ok_record(key, "m", 5, 6)).ok());

  RawDb raw(path);
  EXPECT_NE(raw.exec("UPDATE usage_ledger SET prompt_tokens = 0").find("append-only"),
            std::string::npos);
  EXPECT_NE(raw.exec("DELETE FROM usage_ledger").find("append-only"), std::string::npos);
  auto rows = store->usage_rows();
  ASSERT_TRUE(rows.ok()) << rows.error().message;
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ(fields((*rows)[0]), fields(ok_record(key, "m", 5, 6)));
}

}  // namespace
}  // namespace gengyun::platform
