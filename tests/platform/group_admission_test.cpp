// Group admission (Store::admit_batch, LedgerWriter::admit) against every store backend
// (backends.h): the requests of one batch are decided in order, each seeing the reservations
// and rate counts of those before it, so budgets, RPM and TPM hold exactly; a request refused
// in a batch (over a limit, a duplicate id, an unknown key) takes nothing from the others; and
// concurrent callers of the writer queued together are decided in one batch. Threads wait on
// the writer's events (Queued, Decided), never on time.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "backends.h"
#include "platform/ledger_writer.h"
#include "platform/store.h"

namespace gengyun::platform {
namespace {

using testing::StoreBackendTest;

// $0.15 / $0.075 / $0.60 per million input / cached input / output tokens.
const Price kPrice{150'000, 75'000, 600'000};
// 2024-02-29T13:45:15Z, a whole second.
constexpr int64_t kNow = 1'709'214'315'000'000;
// 1000 prompt + 500 max tokens at kPrice: 150 + 300 micro-USD.
constexpr int64_t kReservation = 450;

AdmissionRequest request(const std::string& id, int64_t key_id, int64_t prompt,
                         int64_t max_completion) {
  return AdmissionRequest{id, key_id, "qwen", "/v1/chat/completions", prompt, max_completion, kNow};
}

int64_t new_key(Store& store, NewKey key) {
  auto secret = store.create_key(key);
  EXPECT_TRUE(secret.ok()) << secret.error().message;
  if (!secret.ok()) return 0;
  auto who = store.authenticate(*secret);
  EXPECT_TRUE(who.ok() && who->has_value());
  return who.ok() && who->has_value() ? (*who)->id : 0;
}

/// The outcomes of a decided batch ('A' admitted, 'B' over budget, 'R' over a rate, 'E' an
/// error), in request order.
std::string outcomes(const std::vector<Result<Admission>>& results) {
  std::string out;
  for (const Result<Admission>& r : results)
    out += !r.ok()                                        ? 'E'
           : r->outcome == Admission::Outcome::Admitted   ? 'A'
           : r->outcome == Admission::Outcome::OverBudget ? 'B'
                                                          : 'R';
  return out;
}

TEST_P(StoreBackendTest, ABatchDecidesInOrderAndEachSeesTheReservationsBeforeIt) {
  auto store = open();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->set_price("qwen", kPrice, Actor{}).ok());
  // Room for four reservations of 450: 1800 <= 2000 < 2250.
  const int64_t key = new_key(*store, NewKey{"a", "default", Role::Member, Limits{2000}});
  std::vector<AdmissionRequest> batch;
  for (int i = 0; i < 6; ++i) batch.push_back(request("r" + std::to_string(i), key, 1000, 500));
  auto decided = store->admit_batch(batch);
  ASSERT_TRUE(decided.ok()) << decided.error().message;
  EXPECT_EQ(outcomes(*decided), "AAAABB");
  EXPECT_EQ((*decided)[0]->reserved_micro_usd, kReservation);
  EXPECT_EQ((*decided)[4]->message,
            "You exceeded your current quota: key 'a' has used $0.0018 of its $0.002 total "
            "budget, and this request may cost up to $0.00045 (its prompt plus the tokens it may "
            "generate at the "
            "prices of model 'qwen').");
  EXPECT_EQ(raw_query("SELECT count(*), sum(reserved_micro_usd) FROM usage_ledger"),
            (std::vector<std::vector<std::string>>{{"4", "1800"}}));
  // A later batch sees them too.
  auto next = store->admit_batch({request("r6", key, 100, 100)});
  ASSERT_TRUE(next.ok()) << next.error().message;
  EXPECT_EQ(outcomes(*next), "A");  // 1800 + 75 <= 2000
}

TEST_P(StoreBackendTest, ABatchAcrossTwoBudgetDaysCountsEachRequestInItsOwnDay) {
  auto store = open();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->set_price("qwen", kPrice, Actor{}).ok());
  // Key a: 1000 a day; tenant acme: 1850 in total.
  ASSERT_TRUE(store->create_tenant("acme", Limits{1850}, Actor{}).ok());
  const int64_t key =
      new_key(*store, NewKey{"a", "acme", Role::Member, Limits{1000, BudgetPeriod::Day}});
  // 2024-03-01T00:00:00Z, the first microsecond of the next day.
  constexpr int64_t kNextDay = kNow + 36'885'000'000;
  const auto at = [&](const std::string& id, int64_t started_at_us, int64_t prompt,
                      int64_t max_completion) {
    AdmissionRequest r = request(id, key, prompt, max_completion);
    r.started_at_us = started_at_us;
    return r;
  };
  ASSERT_EQ(outcomes(store->admit_batch({at("old", kNow, 1000, 500)}).value()), "A");
  auto decided = store->admit_batch({
      at("d1a", kNow, 1000, 500),          // day 1: 900 of 1000; tenant 900 of 1850
      at("d1b", kNow + 1, 1000, 500),      // day 1: 1350, over the key's day
      at("d2a", kNextDay, 1000, 500),      // day 2: 450; tenant 1350
      at("d2b", kNextDay + 1, 1000, 500),  // day 2: 900; tenant 1800
      at("d2c", kNextDay, 100, 100),       // day 2: 975, but tenant 1875: over its total
  });
  ASSERT_TRUE(decided.ok()) << decided.error().message;
  EXPECT_EQ(outcomes(*decided), "ABAAB");
  EXPECT_EQ((*decided)[1]->message,
            "You exceeded your current quota: key 'a' has used $0.0009 of its $0.001 day "
            "budget, and this request may cost up to $0.00045 (its prompt plus the tokens it may "
            "generate at the "
            "prices of model 'qwen').");
  EXPECT_EQ((*decided)[4]->message,
            "You exceeded your current quota: tenant 'acme' has used $0.0018 of its $0.00185 "
            "total budget, and this request may cost up to $0.000075 (its prompt plus the tokens "
            "it may generate "
            "at the prices of model 'qwen').");
  EXPECT_EQ(raw_query("SELECT request_id, reserved_micro_usd FROM usage_ledger ORDER BY id"),
            (std::vector<std::vector<std::string>>{
                {"old", "450"}, {"d1a", "450"}, {"d2a", "450"}, {"d2b", "450"}}));
}

TEST_P(StoreBackendTest, RequestIdsAndModelsAreStoredAsGivenWhateverTheirCharacters) {
  auto store = open();
  ASSERT_TRUE(store);
  const int64_t key = new_key(*store, NewKey{"a"});
  // What an array literal would otherwise take as syntax: quotes, backslashes, commas, braces,
  // spaces, NULL.
  const std::vector<std::string> ids = {"a\"b", "c\\d", "e,f}", "{g", " h ", "NULL", ""};
  std::vector<AdmissionRequest> batch;
  for (const std::string& id : ids) {
    batch.push_back(request(id, key, 1, 1));
    batch.back().model = "m \"" + id + "\\";
  }
  auto decided = store->admit_batch(batch);
  ASSERT_TRUE(decided.ok()) << decided.error().message;
  EXPECT_EQ(outcomes(*decided), "AAAAAAE");
  std::vector<std::vector<std::string>> expected;
  for (size_t i = 0; i + 1 < ids.size(); ++i)
    expected.push_back({ids[i], "m \"" + ids[i] + "\\"});
  EXPECT_EQ(raw_query("SELECT request_id, model FROM usage_ledger ORDER BY id"), expected);
  // Read back as recorded: each is refused as a duplicate.
  batch.pop_back();
  auto again = store->admit_batch(batch);
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(outcomes(*again), "EEEEEE");
}

TEST_P(StoreBackendTest, ABatchHoldsRequestsAndTokensPerMinuteExactly) {
  auto store = open();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->create_tenant("acme", Limits{{}, {}, {}, 250}, Actor{}).ok());
  const int64_t a = new_key(*store, NewKey{"a", "acme", Role::Member, Limits{{}, {}, 3}});
  const int64_t b = new_key(*store, NewKey{"b", "acme"});
  // Key a: 3 requests a minute; tenant acme: 250 tokens a minute, for a and b together.
  auto decided = store->admit_batch({request("a1", a, 10, 40), request("a2", a, 10, 40),
                                     request("a3", a, 10, 40), request("a4", a, 10, 40),
                                     request("b1", b, 50, 50), request("b2", b, 50, 50),
                                     request("b3", b, 20, 20)});
  ASSERT_TRUE(decided.ok()) << decided.error().message;
  // a1-a3: 150 tokens, a4 over key a's rpm; b1: 250 tokens, b2 over the tpm; b3 (40) too.
  EXPECT_EQ(outcomes(*decided), "AAARARR");
  const auto& r = *decided;
  EXPECT_EQ(r[0]->rate.remaining_tokens, 200);  // the tighter of the two: the tenant's tokens
  EXPECT_EQ(r[1]->rate.remaining_tokens, 150);
  EXPECT_EQ(r[2]->rate.remaining_requests, 0);
  EXPECT_EQ(r[2]->rate.remaining_tokens, 100);
  EXPECT_FALSE(r[3]->over_tokens);
  EXPECT_EQ(r[3]->message, "Rate limit reached for key 'a': 3 requests per minute.");
  EXPECT_EQ(r[3]->retry_after_s, 60);  // when the bucket of kNow leaves the window
  EXPECT_EQ(r[3]->rate.remaining_requests, 0);
  EXPECT_EQ(r[4]->rate.remaining_tokens, 0);
  EXPECT_TRUE(r[5]->over_tokens);
  EXPECT_EQ(
      r[5]->message,
      "Rate limit reached for tenant 'acme': 250 tokens per minute; 250 used in the last "
      "minute, and this request needs up to 100 (its prompt plus the tokens it may generate).");
  EXPECT_EQ(r[5]->retry_after_s, 60);
  EXPECT_TRUE(r[6]->over_tokens);
  const std::string second = std::to_string(kNow / 1'000'000);
  EXPECT_EQ(raw_query("SELECT scope, scope_id, second, requests, tokens FROM rate_buckets "
                      "ORDER BY scope, scope_id"),
            (std::vector<std::vector<std::string>>{{"key", std::to_string(a), second, "3", "150"},
                                                   {"key", std::to_string(b), second, "1", "100"},
                                                   {"tenant", "2", second, "4", "250"}}));
}

TEST_P(StoreBackendTest, ARequestRefusedInABatchTakesNothingFromTheOthers) {
  auto store = open();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->set_price("qwen", kPrice, Actor{}).ok());
  const int64_t key = new_key(*store, NewKey{"a", "default", Role::Member, Limits{1000, {}, 100}});
  ASSERT_EQ(outcomes(store->admit_batch({request("old", key, 1000, 500)}).value()), "A");
  auto decided = store->admit_batch({
      request("r1", key, 1000, 500),     // 900 of 1000
      request("big", key, 1000, 1000),   // 750 more: over the budget
      request("old", key, 1, 1),         // already in the ledger
      request("r1", key, 1, 1),          // admitted earlier in this batch
      request("nokey", key + 99, 1, 1),  // no such key
      request("neg", key, -1, 1),        // invalid
      request("r2", key, 100, 100),      // 75 more: 975 of 1000
  });
  ASSERT_TRUE(decided.ok()) << decided.error().message;
  const auto& r = *decided;
  EXPECT_EQ(outcomes(r), "ABEEEEA");
  EXPECT_EQ(r[2].error().message,
            "cannot admit request 'old': request id 'old' is already in the ledger");
  EXPECT_EQ(r[3].error().message,
            "cannot admit request 'r1': request id 'r1' is already in the ledger");
  EXPECT_EQ(r[4].error().message,
            "cannot admit request 'nokey': no API key has id " + std::to_string(key + 99));
  EXPECT_EQ(r[5].error().message, "cannot admit request 'neg': token counts must be >= 0");
  // old, r1 and r2 count; nothing refused does.
  EXPECT_EQ(r[6]->rate.remaining_requests, 97);
  EXPECT_EQ(raw_query("SELECT request_id, prompt_tokens, reserved_micro_usd FROM usage_ledger "
                      "ORDER BY id"),
            (std::vector<std::vector<std::string>>{
                {"old", "0", "450"}, {"r1", "0", "450"}, {"r2", "0", "75"}}));
  EXPECT_EQ(raw_query("SELECT requests, tokens FROM rate_buckets WHERE scope = 'key'"),
            (std::vector<std::vector<std::string>>{{"3", "3200"}}));
}

/// Holds the ledger writer inside its first group admission (from its Decided event) until the
/// test has queued `waiting` more admissions (their Queued events), so that those are decided
/// together in the next batch. Waits are bounded by a minute, which only a failure reaches.
class HeldWriter {
 public:
  std::function<void(const LedgerEvent&)> observer() {
    return [this](const LedgerEvent& event) {
      std::unique_lock lock(mutex_);
      if (event.kind == LedgerEvent::Kind::Queued) {
        if (held_) waiting_ = std::max(waiting_, event.writes);
      } else if (event.kind == LedgerEvent::Kind::Decided) {
        decided_.push_back(event.writes);
        if (decided_.size() == 1) {
          held_ = true;
          changed_.notify_all();
          changed_.wait_for(lock, std::chrono::minutes(1), [&] { return released_; });
          return;
        }
      }
      changed_.notify_all();
    };
  }
  /// Waits until the writer is held in its first batch.
  bool wait_held() {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, std::chrono::minutes(1), [&] { return held_; });
  }
  /// Waits until `count` admissions wait behind the held batch.
  bool wait_queued(size_t count) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, std::chrono::minutes(1), [&] { return waiting_ >= count; });
  }
  void release() {
    std::lock_guard lock(mutex_);
    released_ = true;
    changed_.notify_all();
  }
  /// The sizes of the batches decided so far.
  std::vector<size_t> decided() {
    std::lock_guard lock(mutex_);
    return decided_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  bool held_ = false;
  bool released_ = false;
  size_t waiting_ = 0;
  std::vector<size_t> decided_;
};

/// Admits "first" through `writer`, then `count` requests from threads of their own while the
/// writer is held in the first batch, so that they are decided in one batch; returns their
/// results in the order of their ids ("c0", "c1", ...).
std::vector<Result<Admission>> admit_together(LedgerWriter& writer, HeldWriter& held, int64_t key,
                                              int count, int64_t prompt, int64_t max_completion) {
  std::vector<Result<Admission>> results(count, make_error("not answered"));
  std::thread first([&] {
    auto admitted = writer.admit(request("first", key, prompt, max_completion));
    EXPECT_TRUE(admitted.ok() && admitted->outcome == Admission::Outcome::Admitted);
  });
  EXPECT_TRUE(held.wait_held());
  std::vector<std::thread> threads;
  for (int i = 0; i < count; ++i)
    threads.emplace_back([&, i] {
      results[i] = writer.admit(request("c" + std::to_string(i), key, prompt, max_completion));
    });
  EXPECT_TRUE(held.wait_queued(count));
  held.release();
  first.join();
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(held.decided(), (std::vector<size_t>{1, static_cast<size_t>(count)}));
  return results;
}

TEST_P(StoreBackendTest, ConcurrentAdmissionsInOneBatchNeverOverspendABudget) {
  auto store = open();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->set_price("qwen", kPrice, Actor{}).ok());
  // Room for six reservations: "first" and five of the sixteen.
  const int64_t key =
      new_key(*store, NewKey{"a", "default", Role::Member, Limits{6 * kReservation}});
  HeldWriter held;
  auto writer = LedgerWriter::start(*store, {"", 1'000'000, held.observer()});
  ASSERT_TRUE(writer.ok()) << writer.error().message;
  const auto results = admit_together(**writer, held, key, 16, 1000, 500);
  int admitted = 0;
  int over_budget = 0;
  for (const Result<Admission>& r : results) {
    ASSERT_TRUE(r.ok()) << r.error().message;
    admitted += r->outcome == Admission::Outcome::Admitted;
    over_budget += r->outcome == Admission::Outcome::OverBudget;
  }
  EXPECT_EQ(admitted, 5);
  EXPECT_EQ(over_budget, 11);
  EXPECT_EQ(raw_query("SELECT count(*), sum(reserved_micro_usd) FROM usage_ledger"),
            (std::vector<std::vector<std::string>>{{"6", std::to_string(6 * kReservation)}}));
}

TEST_P(StoreBackendTest, ConcurrentAdmissionsInOneBatchHoldTokensPerMinuteExactly) {
  auto store = open();
  ASSERT_TRUE(store);
  // 1000 tokens a minute for the tenant: "first" and nine of the sixteen, of 100 each.
  ASSERT_TRUE(store->create_tenant("acme", Limits{{}, {}, 1000, 1000}, Actor{}).ok());
  const int64_t key = new_key(*store, NewKey{"a", "acme"});
  HeldWriter held;
  auto writer = LedgerWriter::start(*store, {"", 1'000'000, held.observer()});
  ASSERT_TRUE(writer.ok()) << writer.error().message;
  const auto results = admit_together(**writer, held, key, 16, 60, 40);
  std::multiset<int64_t> remaining;  // of the admitted: each saw those decided before it
  int over_tokens = 0;
  for (const Result<Admission>& r : results) {
    ASSERT_TRUE(r.ok()) << r.error().message;
    if (r->outcome == Admission::Outcome::Admitted) {
      remaining.insert(*r->rate.remaining_tokens);
    } else {
      EXPECT_EQ(r->outcome, Admission::Outcome::OverRate);
      EXPECT_TRUE(r->over_tokens);
      EXPECT_EQ(r->retry_after_s, 60);
      EXPECT_EQ(r->rate.remaining_tokens, 0);
      ++over_tokens;
    }
  }
  EXPECT_EQ(remaining, (std::multiset<int64_t>{0, 100, 200, 300, 400, 500, 600, 700, 800}));
  EXPECT_EQ(over_tokens, 7);
  EXPECT_EQ(raw_query("SELECT requests, tokens FROM rate_buckets WHERE scope = 'tenant'"),
            (std::vector<std::vector<std::string>>{{"10", "1000"}}));
}

// Two stores on one database are two servers, each with its own writer deciding batches: the
// budget holds for both together (SQLite's write lock, PostgreSQL's tenant row lock).
TEST_P(StoreBackendTest, GroupAdmissionsOfTwoServersShareOneBudget) {
  auto first = open();
  auto second = open();
  ASSERT_TRUE(first && second);
  ASSERT_TRUE(first->set_price("qwen", kPrice, Actor{}).ok());
  ASSERT_TRUE(first->create_tenant("acme", Limits{10'000}, Actor{}).ok());
  const int64_t a = new_key(*first, NewKey{"a", "acme"});
  const int64_t b = new_key(*first, NewKey{"b", "acme"});
  auto writers = std::vector<Result<std::unique_ptr<LedgerWriter>>>();
  writers.push_back(LedgerWriter::start(*first, {}));
  writers.push_back(LedgerWriter::start(*second, {}));
  ASSERT_TRUE(writers[0].ok() && writers[1].ok());
  std::mutex mutex;
  int admitted = 0;
  int over_budget = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 4; ++i) {
        auto r = (*writers[t % 2])
                     ->admit(request("t" + std::to_string(t) + "-" + std::to_string(i),
                                     t < 8 ? a : b, 1000, 500));
        std::lock_guard lock(mutex);
        ASSERT_TRUE(r.ok()) << r.error().message;
        admitted += r->outcome == Admission::Outcome::Admitted;
        over_budget += r->outcome == Admission::Outcome::OverBudget;
      }
    });
  for (std::thread& t : threads) t.join();
  // floor(10000 / 450) = 22 reservations fit; the other 42 of 64 are refused.
  EXPECT_EQ(admitted, 22);
  EXPECT_EQ(over_budget, 42);
  EXPECT_EQ(raw_query("SELECT count(*), sum(reserved_micro_usd) FROM usage_ledger"),
            (std::vector<std::vector<std::string>>{{"22", "9900"}}));
}

}  // namespace
}  // namespace gengyun::platform
