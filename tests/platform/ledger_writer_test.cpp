// The ledger writer (group commit) and its spool, against every store backend (backends.h):
// batches of concurrent writes land with exact counts, a refused write leaves the rest of its
// batch, a locked database sends finished rows to the spool until it is released, and a spool
// whose rows already landed is applied without counting anything twice.
#include "platform/ledger_writer.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "../api/eventually.h"
#include "../api/log_capture.h"
#include "backends.h"
#include "platform/ledger_spool.h"
#include "platform/postgres_store.h"
#include "platform/store.h"
#include "temp_dir.h"

namespace gengyun::platform {
namespace {

using testing::PostgresServer;
using testing::StoreBackendTest;

constexpr int64_t kNow = 1'709'214'315'000'000;

/// The writer's events as its observer reports them; waits on them (never on time).
class Events {
 public:
  std::function<void(const LedgerEvent&)> observer() {
    return [this](const LedgerEvent& event) {
      std::lock_guard lock(mutex_);
      events_.push_back(event);
      changed_.notify_all();
    };
  }
  /// Waits until `count` events of `kind` were seen; false if none comes within a minute (a
  /// deadline only a failure reaches).
  bool wait_for(LedgerEvent::Kind kind, size_t count = 1) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, std::chrono::minutes(1),
                             [&] { return count_locked(kind) >= count; });
  }
  /// How many events of `kind` were seen so far.
  size_t count(LedgerEvent::Kind kind) {
    std::lock_guard lock(mutex_);
    return count_locked(kind);
  }
  /// The writes of all events of `kind` so far.
  size_t writes(LedgerEvent::Kind kind) {
    std::lock_guard lock(mutex_);
    size_t n = 0;
    for (const LedgerEvent& e : events_)
      if (e.kind == kind) n += e.writes;
    return n;
  }

 private:
  size_t count_locked(LedgerEvent::Kind kind) const {
    size_t n = 0;
    for (const LedgerEvent& e : events_) n += e.kind == kind;
    return n;
  }
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<LedgerEvent> events_;
};

int64_t new_key(Store& store, const std::string& name) {
  auto secret = store.create_key(name);
  EXPECT_TRUE(secret.ok()) << secret.error().message;
  if (!secret.ok()) return 0;
  auto who = store.authenticate(*secret);
  EXPECT_TRUE(who.ok() && who->has_value());
  return who.ok() && who->has_value() ? (*who)->id : 0;
}

void admit(Store& store, const std::string& id, int64_t key_id) {
  auto admission = store.admit({id, key_id, "qwen", "/v1/completions", 10, 1000, kNow});
  ASSERT_TRUE(admission.ok()) << admission.error().message;
  ASSERT_EQ(admission->outcome, Admission::Outcome::Admitted);
}

LedgerWrite settle(const std::string& id, int64_t completion, const std::string& status = "ok") {
  LedgerWrite write{LedgerWrite::Kind::Settle};
  write.row.request_id = id;
  write.row.prompt_tokens = 10;
  write.row.completion_tokens = completion;
  write.row.http_status = 200;
  write.row.status = status;
  write.row.finished_at_us = kNow + 1000;
  return write;
}

LedgerWrite checkpoint(const std::string& id, int64_t completion) {
  LedgerWrite write{LedgerWrite::Kind::Checkpoint};
  write.row.request_id = id;
  write.row.prompt_tokens = 10;
  write.row.completion_tokens = completion;
  write.row.finished_at_us = kNow + 500;
  return write;
}

LedgerWrite record(const std::string& id, int64_t key_id, int64_t prompt) {
  LedgerWrite write{LedgerWrite::Kind::Record};
  UsageRecord& r = write.row;
  r.key_id = key_id;
  r.model = "qwen";
  r.prompt_tokens = prompt;
  r.completion_tokens = 0;
  r.started_at_us = kNow;
  r.finished_at_us = kNow;
  r.endpoint = "/v1/completions";
  r.http_status = 400;
  r.status = "error";
  r.error = "bad\trequest\nline two";
  r.request_id = id;
  return write;
}

/// Rows by request id.
std::map<std::string, UsageRecord> rows_by_id(Store& store) {
  std::map<std::string, UsageRecord> rows;
  auto all = store.usage_rows();
  EXPECT_TRUE(all.ok()) << all.error().message;
  if (all.ok())
    for (UsageRecord& r : *all) rows.emplace(r.request_id, std::move(r));
  return rows;
}

size_t lines_of(const std::string& path) {
  std::ifstream in(path);
  size_t n = 0;
  for (std::string line; std::getline(in, line);) ++n;
  return n;
}

TEST_P(StoreBackendTest, ConcurrentWritesLandWithExactCountsThroughTheBatchedWriter) {
  auto store = open();
  ASSERT_TRUE(store);
  const int64_t key = new_key(*store, "k");
  constexpr int kRequests = 64;
  constexpr int kRecords = 16;
  for (int i = 0; i < kRequests; ++i) admit(*store, "r" + std::to_string(i), key);
  Events events;
  auto writer = LedgerWriter::start(*store, {dir_.file("spool"), 1'000'000, events.observer()});
  ASSERT_TRUE(writer.ok()) << writer.error().message;

  std::vector<std::thread> threads;
  for (int i = 0; i < kRequests; ++i)
    threads.emplace_back([&, i] {
      const std::string id = "r" + std::to_string(i);
      for (int c = 1; c <= 3; ++c) (*writer)->post(checkpoint(id, c * i));
      auto written = (*writer)->write(settle(id, 7 * i + 1));
      EXPECT_TRUE(written.ok()) << written.error().message;
    });
  for (int i = 0; i < kRecords; ++i)
    threads.emplace_back([&, i] {
      auto written = (*writer)->write(record("", key, i));
      EXPECT_TRUE(written.ok()) << written.error().message;
    });
  for (std::thread& t : threads) t.join();

  // Every write was answered after its batch committed; a request's checkpoints were queued
  // before its settlement, so they are in that batch or an earlier one.
  EXPECT_EQ(events.writes(LedgerEvent::Kind::Committed), size_t{kRequests * 4 + kRecords});
  EXPECT_EQ(events.writes(LedgerEvent::Kind::Spooled), 0u);
  const auto rows = rows_by_id(*store);
  ASSERT_EQ(rows.size(), size_t{kRequests + kRecords});
  int64_t record_prompts = 0;
  for (const auto& [id, row] : rows) {
    if (id.starts_with("req-")) {
      EXPECT_EQ(row.status, "error");
      EXPECT_EQ(row.error, "bad\trequest\nline two");
      record_prompts += row.prompt_tokens;
      continue;
    }
    const int i = std::stoi(id.substr(1));
    EXPECT_EQ(row.status, "ok") << id;
    EXPECT_EQ(row.prompt_tokens, 10) << id;
    EXPECT_EQ(row.completion_tokens, 7 * i + 1) << id;
  }
  EXPECT_EQ(record_prompts, kRecords * (kRecords - 1) / 2);  // 0 + 1 + ... + 15, each once
  EXPECT_TRUE((*writer)->available().ok());
}

TEST_P(StoreBackendTest, ARefusedWriteLeavesTheRestOfItsBatchAndAppliedWritesApplyOnce) {
  auto store = open();
  ASSERT_TRUE(store);
  const int64_t key = new_key(*store, "k");
  admit(*store, "r1", key);
  LedgerWrite negative = checkpoint("r1", -1);
  const std::vector<LedgerWrite> writes = {
      settle("nope", 3), record("rec-1", key, 4), checkpoint("r1", 5),    negative,
      settle("r1", 6),   record("rec-1", key, 4), record("rec-2", 999, 1)};
  auto applied = store->apply_writes(writes, Durability::Synced);
  ASSERT_TRUE(applied.ok()) << applied.error().message;
  ASSERT_EQ(applied->size(), writes.size());
  EXPECT_EQ((*applied)[0].error().message,
            "cannot settle request 'nope': no open ledger row has that id");
  EXPECT_TRUE((*applied)[1].ok()) << (*applied)[1].error().message;
  EXPECT_TRUE((*applied)[2].ok());
  EXPECT_FALSE((*applied)[3].ok());
  EXPECT_NE((*applied)[3].error().message.find("cannot checkpoint request 'r1'"), std::string::npos)
      << (*applied)[3].error().message;
  EXPECT_TRUE((*applied)[4].ok()) << (*applied)[4].error().message;
  EXPECT_EQ((*applied)[5].error().message,
            "cannot record usage: request id 'rec-1' is already in the ledger");
  EXPECT_EQ((*applied)[6].error().message, "cannot record usage: no API key has id 999");

  const auto check = [&] {
    const auto rows = rows_by_id(*store);
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_EQ(rows.at("r1").status, "ok");
    EXPECT_EQ(rows.at("r1").completion_tokens, 6);
    EXPECT_EQ(rows.at("rec-1").prompt_tokens, 4);
  };
  check();
  // The same writes again (a spool replayed after its rows landed) change nothing.
  auto again = store->apply_writes(writes, Durability::Unsynced);
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_FALSE((*again)[4].ok());
  check();
}

// A batch is applied as its writes one after another would be (on PostgreSQL it is decided in
// C++ from one read and written with one statement per kind): per row, the last checkpoint
// before its settlement, one settlement, nothing after it; a cost that overflows refuses that
// settlement alone.
TEST_P(StoreBackendTest, ABatchAppliesEachRowsWritesInTheirOrder) {
  auto store = open();
  ASSERT_TRUE(store);
  const int64_t key = new_key(*store, "k");
  ASSERT_TRUE(store->set_price("qwen", Price{150'000, 75'000, 600'000}).ok());
  admit(*store, "r1", key);
  admit(*store, "r2", key);
  ASSERT_TRUE(store->set_price("qwen", Price{0, 0, 1'000'000'000'000}).ok());
  admit(*store, "r3", key);
  LedgerWrite overflow = settle("r3", 10'000'000'000'000);
  const std::vector<LedgerWrite> writes = {checkpoint("r1", 5),
                                           settle("r1", 100),
                                           checkpoint("r1", 9),
                                           settle("r1", 7),
                                           checkpoint("r2", 3),
                                           checkpoint("r2", 8),
                                           overflow,
                                           record("rec-1", key, 2),
                                           record("rec-1", key, 3)};
  auto applied = store->apply_writes(writes, Durability::Synced);
  ASSERT_TRUE(applied.ok()) << applied.error().message;
  std::vector<std::string> errors;
  for (const Result<void>& result : *applied)
    errors.push_back(result.ok() ? "" : result.error().message);
  EXPECT_EQ(errors,
            (std::vector<std::string>{
                "", "", "", "cannot settle request 'r1': no open ledger row has that id", "", "",
                "cannot settle request 'r3': the cost is over 9223372036854775807 micro-USD", "",
                "cannot record usage: request id 'rec-1' is already in the ledger"}));
  const auto rows = rows_by_id(*store);
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows.at("r1").status, "ok");
  EXPECT_EQ(rows.at("r1").completion_tokens, 100);
  // ceil((10 * 150000 + 100 * 600000) / 10^6) = ceil(61.5)
  EXPECT_EQ(rows.at("r1").cost_micro_usd, 62);
  EXPECT_EQ(rows.at("r1").finished_at_us, kNow + 1000);
  EXPECT_EQ(rows.at("r2").status, "open");
  EXPECT_EQ(rows.at("r2").completion_tokens, 8);
  EXPECT_EQ(rows.at("r3").status, "open");
  EXPECT_EQ(rows.at("r3").completion_tokens, 0);
  EXPECT_EQ(rows.at("rec-1").prompt_tokens, 2);
  EXPECT_EQ(rows.at("rec-1").tenant_id, 1);
  EXPECT_EQ(raw_query("SELECT checkpoint_at_us FROM usage_ledger WHERE request_id = 'r2'"),
            (std::vector<std::vector<std::string>>{{std::to_string(kNow + 500)}}));
}

// A spool replayed after a journal (ledger_writer.h) can apply a request's checkpoints out of
// order: an older checkpoint, alone, in a batch behind a newer one, or through checkpoint(),
// never lowers the counts a newer one wrote; an equal one is taken (its time is the later).
TEST_P(StoreBackendTest, AnOlderCheckpointAfterANewerOneChangesNothing) {
  auto store = open();
  ASSERT_TRUE(store);
  const int64_t key = new_key(*store, "k");
  admit(*store, "r1", key);
  admit(*store, "r2", key);
  LedgerWrite newer = checkpoint("r1", 64);
  newer.row.finished_at_us = kNow + 900;
  auto applied =
      store->apply_writes({newer, checkpoint("r1", 5), checkpoint("r2", 7)}, Durability::Unsynced);
  ASSERT_TRUE(applied.ok()) << applied.error().message;
  for (const Result<void>& result : *applied) EXPECT_TRUE(result.ok());
  applied = store->apply_writes({checkpoint("r1", 63), checkpoint("r2", 3)}, Durability::Unsynced);
  ASSERT_TRUE(applied.ok()) << applied.error().message;
  ASSERT_TRUE(store->checkpoint("r1", TokenCounts{10, 0, 1}, kNow + 950).ok());
  auto rows = rows_by_id(*store);
  EXPECT_EQ(rows.at("r1").completion_tokens, 64);
  EXPECT_EQ(rows.at("r2").completion_tokens, 7);
  EXPECT_EQ(raw_query("SELECT checkpoint_at_us FROM usage_ledger WHERE request_id = 'r1'"),
            (std::vector<std::vector<std::string>>{{std::to_string(kNow + 900)}}));
  // The same count again is a checkpoint like any other (a replay of the newest).
  applied = store->apply_writes({checkpoint("r1", 64), checkpoint("r2", 8)}, Durability::Unsynced);
  ASSERT_TRUE(applied.ok()) << applied.error().message;
  rows = rows_by_id(*store);
  EXPECT_EQ(rows.at("r1").completion_tokens, 64);
  EXPECT_EQ(rows.at("r2").completion_tokens, 8);
  EXPECT_EQ(raw_query("SELECT checkpoint_at_us FROM usage_ledger WHERE request_id = 'r1'"),
            (std::vector<std::vector<std::string>>{{std::to_string(kNow + 500)}}));
}

class LostAdmissionTest : public StoreBackendTest {
 protected:
  /// Deletes the row of `request_id` behind the store's back, as a crash of PostgreSQL before
  /// its admission was flushed would lose it (the ledger's triggers refuse any DELETE: set
  /// aside for this connection on PostgreSQL, dropped and made again on SQLite).
  void lose(const std::string& request_id) {
    const std::string del = "DELETE FROM usage_ledger WHERE request_id = '" + request_id + "'";
    if (GetParam() == "postgres") {
      ASSERT_EQ(raw_exec("SET session_replication_role = replica; " + del), "");
      return;
    }
    const auto trigger =
        raw_query("SELECT sql FROM sqlite_master WHERE name = 'usage_ledger_no_delete'");
    ASSERT_EQ(trigger.size(), 1u);
    ASSERT_EQ(raw_exec("DROP TRIGGER usage_ledger_no_delete; " + del + "; " + trigger[0][0]), "");
  }
};

// Admissions on PostgreSQL commit without waiting for the disk: a crash of the database can
// take an open row back while its server streams on. The request's checkpoints and settlement
// carry what its admission wrote, so the row comes back whole, counted once, at its admission's
// prices; a settlement of an id that was never admitted is still refused.
TEST_P(LostAdmissionTest, ACheckpointOrSettlementWritesTheRowItsAdmissionLost) {
  auto store = open();
  ASSERT_TRUE(store);
  auto server = store->start_server();
  ASSERT_TRUE(server.ok()) << server.error().message;
  const int64_t key = new_key(*store, "k");
  ASSERT_TRUE(store->set_price("qwen", Price{150'000, 75'000, 600'000}).ok());
  std::map<std::string, std::pair<AdmissionRequest, Admission>> admitted;
  for (const std::string id : {"r1", "r2"}) {
    const AdmissionRequest request{id, key, "qwen", "/v1/completions", 10, 1000, kNow};
    auto admission = store->admit(request);
    ASSERT_TRUE(admission.ok()) << admission.error().message;
    ASSERT_EQ(admission->outcome, Admission::Outcome::Admitted);
    // ceil((10 * 150000 + 1000 * 600000) / 10^6) = ceil(601.5)
    EXPECT_EQ(admission->reserved_micro_usd, 602);
    EXPECT_EQ(admission->tenant_id, 1);
    admitted.emplace(id, std::make_pair(request, *admission));
  }
  // A write as the API makes it: with the admission's columns.
  const auto carrying = [&](LedgerWrite write) {
    const auto& [request, admission] = admitted.at(write.row.request_id);
    write.row.key_id = request.key_id;
    write.row.tenant_id = admission.tenant_id;
    write.row.model = request.model;
    write.row.endpoint = request.endpoint;
    write.row.started_at_us = request.started_at_us;
    write.row.price = admission.price;
    write.carries_admission = true;
    write.reserved_micro_usd = admission.reserved_micro_usd;
    return write;
  };
  lose("r1");
  lose("r2");
  ASSERT_TRUE(rows_by_id(*store).empty());

  // r1: a checkpoint brings the row back open; r2: a checkpoint then its settlement in one batch.
  auto applied =
      store->apply_writes({carrying(checkpoint("r1", 40)), carrying(checkpoint("r2", 30)),
                           carrying(settle("r2", 50, "cancelled"))}, Durability::Synced);
  ASSERT_TRUE(applied.ok()) << applied.error().message;
  for (const Result<void>& result : *applied) EXPECT_TRUE(result.ok()) << result.error().message;
  const std::string columns =
      "SELECT request_id, status, prompt_tokens, completion_tokens, cost_micro_usd, "
      "reserved_micro_usd, reserved_tokens, checkpoint_at_us, server_id, tenant_id, model, "
      "endpoint, started_at_us, input_micro_usd, output_micro_usd FROM usage_ledger ";
  const std::string now = std::to_string(kNow);
  const std::string checkpointed = std::to_string(kNow + 500);
  EXPECT_EQ(raw_query(columns + "ORDER BY request_id"),
            (std::vector<std::vector<std::string>>{
                {"r1", "open", "10", "40", "0", "602", "0", checkpointed, *server, "1", "qwen",
                 "/v1/completions", now, "150000", "600000"},
                // ceil((10 * 150000 + 50 * 600000) / 10^6) = ceil(31.5)
                {"r2", "cancelled", "10", "50", "32", "602", "0", checkpointed, *server, "1",
                 "qwen", "/v1/completions", now, "150000", "600000"}}));
  // An open row that came back counts its reservation against the budgets, as admitted.
  EXPECT_EQ(raw_query("SELECT finished_at_us IS NULL FROM usage_ledger WHERE request_id = 'r1'")
                .at(0)
                .at(0),
            GetParam() == "postgres" ? "t" : "1");

  // r1 settles as any open row; a replay (the spool) counts nothing twice; a settlement of an
  // id never admitted, and one without the admission's columns for a missing row, are refused.
  LedgerWrite ghost = settle("ghost", 5);
  lose("r2");
  const std::vector<LedgerWrite> writes = {carrying(settle("r1", 100)), carrying(settle("r1", 100)),
                                           ghost, settle("r2", 50)};
  auto second = store->apply_writes(writes, Durability::Synced);
  ASSERT_TRUE(second.ok()) << second.error().message;
  std::vector<std::string> errors;
  for (const Result<void>& result : *second)
    errors.push_back(result.ok() ? "" : result.error().message);
  EXPECT_EQ(errors, (std::vector<std::string>{
                        "", "cannot settle request 'r1': no open ledger row has that id",
                        "cannot settle request 'ghost': no open ledger row has that id",
                        "cannot settle request 'r2': no open ledger row has that id"}));
  const auto rows = rows_by_id(*store);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows.at("r1").status, "ok");
  EXPECT_EQ(rows.at("r1").completion_tokens, 100);
  EXPECT_EQ(rows.at("r1").cost_micro_usd, 62);
  EXPECT_EQ(rows.at("r1").finished_at_us, kNow + 1000);
}

INSTANTIATE_TEST_SUITE_P(Backends, LostAdmissionTest, ::testing::Values("sqlite", "postgres"),
                         testing::backend_name);

/// Holds the database's write lock from another connection, as another process would.
class DatabaseLock {
 public:
  DatabaseLock(const std::string& location, bool sqlite) {
    if (sqlite) {
      raw_ = std::make_unique<testing::RawDb>(location);
      error_ = raw_->exec("BEGIN EXCLUSIVE");
      return;
    }
    auto conn = pg::Connection::connect(location);
    if (!conn.ok()) {
      error_ = conn.error().message;
      return;
    }
    pg_ = std::move(conn.value());
    // Another program's session: without the timeout gengyun's sessions end an idle
    // transaction with (pg_connection.cpp).
    auto locked = pg_->script(
        "SET idle_in_transaction_session_timeout = 0; BEGIN; LOCK TABLE usage_ledger IN ACCESS "
        "EXCLUSIVE MODE");
    if (!locked.ok()) error_ = locked.error().message;
  }
  const std::string& error() const { return error_; }
  void release() {
    if (raw_) {
      EXPECT_EQ(raw_->exec("ROLLBACK"), "");
    }
    if (pg_) {
      EXPECT_TRUE(pg_->script("ROLLBACK").ok());
    }
  }

 private:
  std::unique_ptr<testing::RawDb> raw_;
  std::unique_ptr<pg::Connection> pg_;
  std::string error_;
};

TEST_P(StoreBackendTest, ALockedDatabaseSpoolsFinishedRowsUntilItIsReleased) {
  auto store = open();
  ASSERT_TRUE(store);
  const int64_t key = new_key(*store, "k");
  admit(*store, "r1", key);
  Events events;
  const std::string spool = dir_.file("spool");
  auto writer = LedgerWriter::start(*store, {spool, 20'000, events.observer()});
  ASSERT_TRUE(writer.ok()) << writer.error().message;
  ASSERT_TRUE((*writer)->write(checkpoint("r1", 3)).ok());

  DatabaseLock lock(location_, GetParam() == "sqlite");
  ASSERT_EQ(lock.error(), "");
  // Past the busy timeout (lock timeout) the batch goes to the spool, and the write is durable.
  auto written = (*writer)->write(settle("r1", 42));
  ASSERT_TRUE(written.ok()) << written.error().message;
  ASSERT_TRUE(events.wait_for(LedgerEvent::Kind::Spooled));
  EXPECT_EQ(lines_of(spool), 1u);
  auto available = (*writer)->available();
  ASSERT_FALSE(available.ok());
  EXPECT_NE(available.error().message.find("1 write(s) wait in the spool '" + spool + "'"),
            std::string::npos)
      << available.error().message;
  // What follows goes to the spool behind it, in order, without waiting for the database.
  ASSERT_TRUE((*writer)->write(record("rec-1", key, 4)).ok());
  ASSERT_TRUE(events.wait_for(LedgerEvent::Kind::Spooled, 2));
  EXPECT_EQ(lines_of(spool), 2u);
  // Nothing is admitted meanwhile (fail closed), without asking the locked database.
  auto refused = (*writer)->admit({"r2", key, "qwen", "/v1/completions", 10, 1000, kNow});
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("2 write(s) wait in the spool '" + spool + "'"),
            std::string::npos)
      << refused.error().message;
  EXPECT_EQ(events.writes(LedgerEvent::Kind::Decided), 1u);

  lock.release();
  ASSERT_TRUE(events.wait_for(LedgerEvent::Kind::Drained));
  EXPECT_TRUE((*writer)->available().ok());
  EXPECT_EQ(lines_of(spool), 0u);
  const auto rows = rows_by_id(*store);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows.at("r1").status, "ok");
  EXPECT_EQ(rows.at("r1").completion_tokens, 42);
  EXPECT_EQ(rows.at("rec-1").prompt_tokens, 4);
  // The database takes admissions and writes directly again.
  auto admitted = (*writer)->admit({"r2", key, "qwen", "/v1/completions", 10, 1000, kNow});
  ASSERT_TRUE(admitted.ok()) << admitted.error().message;
  EXPECT_EQ(admitted->outcome, Admission::Outcome::Admitted);
  ASSERT_TRUE((*writer)->write(settle("r2", 7)).ok());
  EXPECT_EQ(rows_by_id(*store).at("r2").completion_tokens, 7);
}

/// A writer's options with a spool at `spool` that journals the writes of a round at once
/// (journal_after_us 0), tries the database again every 20 ms and reports to `events`.
LedgerWriterOptions journaling(const std::string& spool, Events& events) {
  LedgerWriterOptions options{spool, 20'000, events.observer()};
  options.journal_after_us = 0;
  return options;
}

// The spool is being applied (the database answers again, slowly) while requests go on: the
// writes that arrive meanwhile are journaled behind the spool's. The drain that lands the
// spool's writes ends the refusals; those journaled during it land with the next round, which
// empties the spool (QA 2026-12-03, fourth: a drain that saw writes journaled meanwhile kept
// refusing, and under steady traffic every drain did: 33 s of 503s after an 8 s lock).
TEST_P(StoreBackendTest, ADrainEndsTheRefusalsThoughWritesWereJournaledDuringIt) {
  auto store = open();
  ASSERT_TRUE(store);
  const int64_t key = new_key(*store, "k");
  admit(*store, "r1", key);
  admit(*store, "r2", key);
  Events events;
  const std::string spool = dir_.file("spool");
  auto writer = LedgerWriter::start(*store, journaling(spool, events));
  ASSERT_TRUE(writer.ok()) << writer.error().message;

  DatabaseLock lock(location_, GetParam() == "sqlite");
  ASSERT_EQ(lock.error(), "");
  // Journaled at once, then spooled once the round's lock timeout passes.
  ASSERT_TRUE((*writer)->write(settle("r1", 42)).ok());
  ASSERT_TRUE(events.wait_for(LedgerEvent::Kind::Spooled));
  ASSERT_FALSE((*writer)->available().ok());
  // The next drain waits on the lock too; a write posted now is journaled behind the spool's
  // (journal_after_us 0) while it waits.
  ASSERT_TRUE(events.wait_for(LedgerEvent::Kind::Draining));
  const size_t journaled = events.count(LedgerEvent::Kind::Journaled);
  (*writer)->post(checkpoint("r2", 64));
  ASSERT_TRUE(events.wait_for(LedgerEvent::Kind::Journaled, journaled + 1));
  EXPECT_EQ(lines_of(spool), 2u);
  lock.release();
  // That drain lands the spool's write and ends the refusals.
  ASSERT_TRUE(events.wait_for(LedgerEvent::Kind::Drained));
  EXPECT_EQ(events.writes(LedgerEvent::Kind::Drained), 1u);
  EXPECT_TRUE((*writer)->available().ok());
  // The journaled checkpoint lands with the next round, which empties the spool.
  ASSERT_TRUE(
      api::testing::eventually([&] { return lines_of(spool) == 0u; }, std::chrono::minutes(1)))
      << lines_of(spool);
  const auto rows = rows_by_id(*store);
  EXPECT_EQ(rows.at("r1").status, "ok");
  EXPECT_EQ(rows.at("r1").completion_tokens, 42);
  EXPECT_EQ(rows.at("r2").status, "open");
  EXPECT_EQ(rows.at("r2").completion_tokens, 64);
}

/// The writes a spool file holds, oldest first, read without taking it from its writer.
std::vector<LedgerWrite> spooled_writes(const std::string& path) {
  std::vector<LedgerWrite> writes;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    auto write = parse_spool_line(line);
    EXPECT_TRUE(write.ok()) << write.error().message;
    if (write.ok()) writes.push_back(std::move(*write));
  }
  return writes;
}

// The database stops taking writes (locked by another process) while streams checkpoint: the
// writer's round waits (up to the busy or lock timeout), and the writes it holds and those
// queued behind it are journaled to the spool as they come, so that a kill -9 of the server
// then loses none of them, and a settlement's caller is answered once it is; once the
// database takes them, they land and the spool is emptied.
TEST_P(StoreBackendTest, WritesWaitingForAStalledRoundAreJournaledUntilTheyLand) {
  auto store = open();
  ASSERT_TRUE(store);
  const int64_t key = new_key(*store, "k");
  admit(*store, "r1", key);
  admit(*store, "r2", key);
  Events events;
  const std::string spool = dir_.file("spool");
  auto writer = LedgerWriter::start(*store, journaling(spool, events));
  ASSERT_TRUE(writer.ok()) << writer.error().message;

  DatabaseLock lock(location_, GetParam() == "sqlite");
  ASSERT_EQ(lock.error(), "");
  (*writer)->post(checkpoint("r1", 64));
  ASSERT_TRUE(events.wait_for(LedgerEvent::Kind::Journaled));
  std::vector<LedgerWrite> journaled = spooled_writes(spool);
  ASSERT_EQ(journaled.size(), 1u);
  EXPECT_EQ(journaled[0].kind, LedgerWrite::Kind::Checkpoint);
  EXPECT_EQ(journaled[0].row.request_id, "r1");
  EXPECT_EQ(journaled[0].row.completion_tokens, 64);
  // Behind the stalled round (or, past its timeout, the spool itself), each write as it comes.
  (*writer)->post(checkpoint("r1", 128));
  (*writer)->post(checkpoint("r2", 64));
  ASSERT_TRUE(
      api::testing::eventually([&] { return lines_of(spool) == 3u; }, std::chrono::minutes(1)))
      << lines_of(spool);
  journaled = spooled_writes(spool);
  ASSERT_EQ(journaled.size(), 3u);
  EXPECT_EQ(journaled[1].row.request_id, "r1");
  EXPECT_EQ(journaled[1].row.completion_tokens, 128);
  EXPECT_EQ(journaled[2].row.request_id, "r2");
  EXPECT_EQ(journaled[2].row.completion_tokens, 64);
  // A completed response's settlement is answered once journaled (durable), not when the round
  // ends: no round has ended yet (the lock's 5 s timeout is far away), and nothing is refused.
  ASSERT_TRUE((*writer)->write(settle("r2", 70)).ok());
  EXPECT_EQ(events.writes(LedgerEvent::Kind::Committed) + events.writes(LedgerEvent::Kind::Spooled),
            0u);
  EXPECT_EQ(lines_of(spool), 4u);
  EXPECT_TRUE((*writer)->available().ok());

  lock.release();
  ASSERT_TRUE(
      api::testing::eventually([&] { return lines_of(spool) == 0u; }, std::chrono::minutes(1)))
      << lines_of(spool);
  EXPECT_TRUE((*writer)->available().ok());
  const auto rows = rows_by_id(*store);
  EXPECT_EQ(rows.at("r1").completion_tokens, 128);
  EXPECT_EQ(rows.at("r1").status, "open");
  EXPECT_EQ(rows.at("r2").completion_tokens, 70);
  EXPECT_EQ(rows.at("r2").status, "ok");
}

// Another process holds the database's lock: a group admission waits out the busy (lock)
// timeout and is refused as unavailable; the admission queued behind it meanwhile is refused
// at once after it, saying why, instead of waiting as long again (QA 2026-12-03: up to 10 s).
TEST_P(StoreBackendTest, AnAdmissionQueuedBehindOneThatFoundTheDatabaseLockedIsRefusedAtOnce) {
  auto store = open();
  ASSERT_TRUE(store);
  const int64_t key = new_key(*store, "k");
  Events events;
  auto writer = LedgerWriter::start(*store, {"", 1'000'000, events.observer()});
  ASSERT_TRUE(writer.ok()) << writer.error().message;

  DatabaseLock lock(location_, GetParam() == "sqlite");
  ASSERT_EQ(lock.error(), "");
  std::optional<Result<Admission>> first;
  std::thread waiting([&] {
    first = (*writer)->admit({"r1", key, "qwen", "/v1/completions", 10, 1000, kNow});
  });
  ASSERT_TRUE(events.wait_for(LedgerEvent::Kind::Deciding));
  auto second = (*writer)->admit({"r2", key, "qwen", "/v1/completions", 10, 1000, kNow});
  waiting.join();
  ASSERT_TRUE(first.has_value());
  ASSERT_FALSE(first->ok());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().message,
            first->error().message +
                " (so found by the admissions before these, queued while they waited)");
  // The database was asked once.
  EXPECT_EQ(events.writes(LedgerEvent::Kind::Deciding), 1u);
  // Once it is released, the next admission asks it, and is admitted.
  lock.release();
  auto third = (*writer)->admit({"r3", key, "qwen", "/v1/completions", 10, 1000, kNow});
  ASSERT_TRUE(third.ok()) << third.error().message;
  EXPECT_EQ(third->outcome, Admission::Outcome::Admitted);
}

// PostgreSQL stops answering (frozen) while a request is open: its settlement goes to the spool
// once the round trip's deadline passes, admissions are refused meanwhile, and the spool drains
// once the server answers again. SQLite's counterpart is the locked database above.
TEST_P(StoreBackendTest, AFrozenPostgreSQLSpoolsFinishedRowsUntilItAnswersAgain) {
  if (GetParam() == "sqlite")
    GTEST_SKIP() << "a database server that stops answering is PostgreSQL's case; SQLite's "
                    "counterpart is ALockedDatabaseSpoolsFinishedRowsUntilItIsReleased";
  auto opened = PostgresStore::open(location_, OpenMode::Create,
                                    {std::chrono::milliseconds(500), std::chrono::milliseconds(0)});
  ASSERT_TRUE(opened.ok()) << opened.error().message;
  Store& store = **opened;
  const int64_t key = new_key(store, "k");
  admit(store, "r1", key);
  Events events;
  const std::string spool = dir_.file("spool");
  auto writer = LedgerWriter::start(store, {spool, 20'000, events.observer()});
  ASSERT_TRUE(writer.ok()) << writer.error().message;

  PostgresServer* server = PostgresServer::get().value();
  ASSERT_TRUE(server->freeze().ok());
  struct Thaw {
    PostgresServer* server;
    ~Thaw() { (void)server->thaw(); }
  } thaw_at_exit{server};
  auto written = (*writer)->write(settle("r1", 42));
  ASSERT_TRUE(written.ok()) << written.error().message;
  ASSERT_TRUE(events.wait_for(LedgerEvent::Kind::Spooled));
  EXPECT_EQ(lines_of(spool), 1u);
  auto refused = (*writer)->admit({"r2", key, "qwen", "/v1/completions", 10, 1000, kNow});
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("1 write(s) wait in the spool '" + spool + "'"),
            std::string::npos)
      << refused.error().message;

  ASSERT_TRUE(server->thaw().ok());
  ASSERT_TRUE(events.wait_for(LedgerEvent::Kind::Drained));
  EXPECT_EQ(lines_of(spool), 0u);
  const auto rows = rows_by_id(store);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows.at("r1").status, "ok");
  EXPECT_EQ(rows.at("r1").completion_tokens, 42);
}

TEST_P(StoreBackendTest, UsageRowReadsOneRequestsRowOpenOrClosed) {
  auto store = open();
  ASSERT_TRUE(store);
  const int64_t key = new_key(*store, "k");
  auto none = store->usage_row("r1");
  ASSERT_TRUE(none.ok()) << none.error().message;
  EXPECT_FALSE(none->has_value());
  admit(*store, "r1", key);
  admit(*store, "r2", key);
  auto open_row = store->usage_row("r1");
  ASSERT_TRUE(open_row.ok() && open_row->has_value());
  EXPECT_EQ((*open_row)->status, "open");
  EXPECT_EQ((*open_row)->key_id, key);
  EXPECT_EQ((*open_row)->model, "qwen");
  EXPECT_EQ((*open_row)->started_at_us, kNow);
  EXPECT_EQ((*open_row)->finished_at_us, kNow);
  ASSERT_TRUE(store->apply_writes({settle("r1", 7, "cancelled")}, Durability::Synced).ok());
  auto closed = store->usage_row("r1");
  ASSERT_TRUE(closed.ok() && closed->has_value());
  EXPECT_EQ((*closed)->request_id, "r1");
  EXPECT_EQ((*closed)->status, "cancelled");
  EXPECT_EQ((*closed)->prompt_tokens, 10);
  EXPECT_EQ((*closed)->completion_tokens, 7);
  EXPECT_EQ((*closed)->http_status, 200);
  EXPECT_EQ((*closed)->finished_at_us, kNow + 1000);
  auto still_open = store->usage_row("r2");
  ASSERT_TRUE(still_open.ok() && still_open->has_value());
  EXPECT_EQ((*still_open)->status, "open");
}

TEST_P(StoreBackendTest, ASpoolIsReplayedAtStartAndRowsThatLandedAreNotCountedTwice) {
  auto store = open();
  ASSERT_TRUE(store);
  const int64_t key = new_key(*store, "k");
  admit(*store, "landed", key);
  admit(*store, "waiting", key);
  // A crash after the spool's transaction committed and before it was emptied: "landed" and
  // "rec-1" are in the database and still in the spool; "waiting" only in the spool.
  ASSERT_TRUE(
      store->apply_writes({settle("landed", 5), record("rec-1", key, 4)}, Durability::Synced).ok());
  const std::string path = dir_.file("spool");
  {
    auto spool = LedgerSpool::open(path);
    ASSERT_TRUE(spool.ok()) << spool.error().message;
    ASSERT_TRUE((*spool)
                    ->append({settle("landed", 5), record("rec-1", key, 4),
                              checkpoint("landed", 99), settle("waiting", 8, "cancelled"),
                              settle("landed", 6), record("rec-1", key, 3)})
                    .ok());
  }
  api::testing::LogCapture log;
  auto writer = LedgerWriter::start(*store, {path, 1'000'000, {}});
  ASSERT_TRUE(writer.ok()) << writer.error().message;
  // The two that had landed are counted as such, not warned of as refusals (they read like a
  // loss: QA 2026-12-06); the others taken.
  EXPECT_EQ((*writer)->replayed_at_start(), (std::vector<SpoolReplay>{{path, 2, 2}}));
  // Those that differ from the rows they found are still refusals, each said with its reason.
  const auto refused =
      log.lines_with("ledger spool '" + path + "': the database refused a spooled write: ");
  ASSERT_EQ(refused.size(), 2u);
  EXPECT_NE(refused[0].find("cannot settle request 'landed': no open ledger row"),
            std::string::npos)
      << refused[0];
  EXPECT_NE(refused[1].find("request id 'rec-1' is already in the ledger"), std::string::npos)
      << refused[1];
  EXPECT_EQ(lines_of(path), 0u);
  const auto rows = rows_by_id(*store);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows.at("landed").completion_tokens, 5);
  EXPECT_EQ(rows.at("landed").status, "ok");
  EXPECT_EQ(rows.at("rec-1").prompt_tokens, 4);
  EXPECT_EQ(rows.at("waiting").status, "cancelled");
  EXPECT_EQ(rows.at("waiting").completion_tokens, 8);
  auto usage = store->usage_summary();
  ASSERT_TRUE(usage.ok());
  ASSERT_EQ(usage->size(), 1u);
  EXPECT_EQ((*usage)[0].requests, 3);
  EXPECT_EQ((*usage)[0].completion_tokens, 13);
}

TEST_P(StoreBackendTest, NumberedSpoolsServeSeveralServersAndThoseOfGoneServersAreApplied) {
  auto store = open();
  ASSERT_TRUE(store);
  const int64_t key = new_key(*store, "k");
  admit(*store, "r1", key);
  admit(*store, "r2", key);
  const std::string base = dir_.file("spool");
  LedgerWriterOptions numbered{base, 1'000'000, {}, /*numbered=*/true};
  auto first = LedgerWriter::start(*store, numbered);
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_EQ((*first)->spool_path(), base);
  auto second = LedgerWriter::start(*store, numbered);
  ASSERT_TRUE(second.ok()) << second.error().message;
  EXPECT_EQ((*second)->spool_path(), base + "-2");
  // The second server dies with a settlement in its spool.
  second->reset();
  {
    auto spool = LedgerSpool::open(base + "-2");
    ASSERT_TRUE(spool.ok()) << spool.error().message;
    ASSERT_TRUE((*spool)->append({settle("r2", 8)}).ok());
  }
  // The first server lives on: its spool is skipped, the gone server's is applied.
  auto third = LedgerWriter::start(*store, numbered);
  ASSERT_TRUE(third.ok()) << third.error().message;
  EXPECT_EQ((*third)->spool_path(), base + "-2");
  EXPECT_EQ((*third)->replayed_at_start(), (std::vector<SpoolReplay>{{base + "-2", 1}}));
  EXPECT_EQ(rows_by_id(*store).at("r2").completion_tokens, 8);
  EXPECT_FALSE(std::filesystem::exists(base + "-3"));
  third->reset();
  first->reset();
  // Both are gone, one left a row: the next server takes the first spool and applies both.
  {
    auto spool = LedgerSpool::open(base + "-2");
    ASSERT_TRUE(spool.ok()) << spool.error().message;
    ASSERT_TRUE((*spool)->append({settle("r1", 3)}).ok());
  }
  auto fourth = LedgerWriter::start(*store, numbered);
  ASSERT_TRUE(fourth.ok()) << fourth.error().message;
  EXPECT_EQ((*fourth)->spool_path(), base);
  // The writes came from the spool it does not keep (QA 2026-12-03, third: the log named the
  // kept one).
  EXPECT_EQ((*fourth)->replayed_at_start(), (std::vector<SpoolReplay>{{base + "-2", 1}}));
  const auto rows = rows_by_id(*store);
  EXPECT_EQ(rows.at("r1").completion_tokens, 3);
  EXPECT_EQ(rows.at("r2").completion_tokens, 8);
  fourth->reset();
  // A gap (a person deleted -2, empty) hides no later spool: -3's writes are applied too, and
  // no spool is made in the gap (QA 2026-12-03, fourth).
  admit(*store, "r3", key);
  {
    auto spool = LedgerSpool::open(base + "-3");
    ASSERT_TRUE(spool.ok()) << spool.error().message;
    ASSERT_TRUE((*spool)->append({settle("r3", 5)}).ok());
  }
  ASSERT_TRUE(std::filesystem::remove(base + "-2"));
  auto fifth = LedgerWriter::start(*store, numbered);
  ASSERT_TRUE(fifth.ok()) << fifth.error().message;
  EXPECT_EQ((*fifth)->spool_path(), base);
  EXPECT_EQ((*fifth)->replayed_at_start(), (std::vector<SpoolReplay>{{base + "-3", 1}}));
  EXPECT_EQ(rows_by_id(*store).at("r3").completion_tokens, 5);
  EXPECT_FALSE(std::filesystem::exists(base + "-2"));
}

TEST(PostgresPool, ConnectionsServeConcurrentCallersSeparately) {
  testing::PostgresServer* server = testing::PostgresServer::get_or_skip();
  if (!server) return;
  auto database = server->new_database();
  ASSERT_TRUE(database.ok()) << database.error().message;
  const std::string url = database.value();
  ASSERT_TRUE(Store::open(url).ok());  // the schema
  auto first = pg::Connection::connect(url);
  ASSERT_TRUE(first.ok()) << first.error().message;
  pg::Pool pool(url, 2, std::move(first.value()));
  auto a = pool.acquire();
  auto b = pool.acquire();
  ASSERT_TRUE(a.ok() && b.ok());
  auto pid_a = (*a)->query("SELECT pg_backend_pid()");
  auto pid_b = (*b)->query("SELECT pg_backend_pid()");
  ASSERT_TRUE(pid_a.ok() && pid_b.ok());
  EXPECT_NE(pid_a->text(0, 0), pid_b->text(0, 0));
  // A transaction open on one connection does not hold up the other.
  ASSERT_TRUE((*a)->script("BEGIN; LOCK TABLE tenants IN ACCESS EXCLUSIVE MODE").ok());
  auto read = (*b)->query("SELECT count(*) FROM api_keys");
  ASSERT_TRUE(read.ok()) << read.error().message;
  EXPECT_EQ(read->text(0, 0), "0");
  ASSERT_TRUE((*a)->script("ROLLBACK").ok());
}

TEST(LedgerSpoolTest, LinesRoundTripEveryFieldAndEscapedText) {
  LedgerWrite write{LedgerWrite::Kind::Record};
  write.row = UsageRecord{
      7,  "org/m:1",         11, 12, 13, 14, "/v1/x", 499, "cancelled", "a\\b\tc\nd\re", "req-1", 3,
      15, Price{16, 17, 18}, 19};
  write.row.end_user = "user\t7";
  write.carries_admission = true;
  write.reserved_micro_usd = 20;
  const std::string line = spool_line(write);
  EXPECT_EQ(line,
            "w3\tr\treq-1\t7\torg/m:1\t/v1/x\t11\t3\t12\t13\t14\t499\tcancelled\t"
            "a\\\\b\\tc\\nd\\re\t15\t16\t17\t18\t19\t1\t20\tuser\\t7");
  auto back = parse_spool_line(line);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->kind, LedgerWrite::Kind::Record);
  EXPECT_EQ(spool_line(*back), line);
  EXPECT_EQ(back->row.error, "a\\b\tc\nd\re");
  EXPECT_EQ(back->row.http_status, 499);
  EXPECT_EQ(back->row.price.cached_input, 17);
  EXPECT_EQ(back->row.tenant_id, 19);
  EXPECT_TRUE(back->carries_admission);
  EXPECT_EQ(back->reserved_micro_usd, 20);
  EXPECT_EQ(back->row.end_user, "user\t7");
  // A line spooled by a server of before (w2: no end user) is read as one naming none.
  auto version2 = parse_spool_line(
      "w2\tr\treq-1\t7\torg/m:1\t/v1/x\t11\t3\t12\t13\t14\t499\tcancelled\t\t15\t16\t17\t18\t19"
      "\t1\t20");
  ASSERT_TRUE(version2.ok()) << version2.error().message;
  EXPECT_EQ(version2->row.end_user, "");
  EXPECT_TRUE(version2->carries_admission);
  EXPECT_EQ(version2->reserved_micro_usd, 20);
  // A line spooled by a server of before (w1: no admission fields) is read as one without.
  auto version1 = parse_spool_line(
      "w1\ts\treq-2\t7\tm\t/v1/x\t11\t3\t12\t13\t14\t200\tok\t\t15\t16\t17\t18\t19");
  ASSERT_TRUE(version1.ok()) << version1.error().message;
  EXPECT_EQ(version1->kind, LedgerWrite::Kind::Settle);
  EXPECT_EQ(version1->row.completion_tokens, 12);
  EXPECT_FALSE(version1->carries_admission);

  EXPECT_EQ(parse_spool_line("w3\tx").error().message,
            "not a spooled ledger write (2 fields, expected 22 starting with 'w3')");
  std::string bad_flag = line;
  bad_flag.replace(bad_flag.rfind("\t1\t"), 3, "\t2\t");
  EXPECT_EQ(parse_spool_line(bad_flag).error().message,
            "'2' is not 0 or 1 (whether the write carries its admission)");
  std::string other_version = line;
  other_version.replace(0, 2, "w9");
  EXPECT_EQ(parse_spool_line(other_version).error().message,
            "not a spooled ledger write (it starts with 'w9', expected 'w3', 'w2' or 'w1')");
  // A NUL byte (no database text holds one): damaged, for `spool repair` to set aside.
  std::string nul = line;
  nul.replace(nul.find("org/m:1"), 7, std::string("org\0m:1", 7));
  EXPECT_EQ(parse_spool_line(nul).error().message,
            "a NUL byte, which the database's text cannot hold");
  std::string bad_kind = line;
  bad_kind[3] = 'z';
  EXPECT_EQ(parse_spool_line(bad_kind).error().message, "unknown write kind 'z'");
  std::string bad_number = line;
  bad_number.replace(bad_number.find("\t7\t"), 3, "\t7x\t");
  EXPECT_EQ(parse_spool_line(bad_number).error().message, "'7x' is not an integer");
}

std::string file_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(LedgerSpoolTest, AnUnfinishedLastLineIsDroppedAndADamagedLineIsNamed) {
  testing::TempDir dir;
  const std::string path = dir.file("spool");
  const std::string line = spool_line(settle("r1", 4));
  {
    std::ofstream out(path, std::ios::binary);
    out << line << "\n" << line.substr(0, 20);  // a crash in the middle of an append
  }
  {
    api::testing::LogCapture log;
    auto spool = LedgerSpool::open(path);
    ASSERT_TRUE(spool.ok()) << spool.error().message;
    EXPECT_EQ(log.lines_with("ledger spool '" + path +
                             "': its last line was unfinished (20 bytes without their end")
                  .size(),
              1u);
    ASSERT_TRUE((*spool)->append({settle("r2", 5)}).ok());
    auto writes = (*spool)->read_all();
    ASSERT_TRUE(writes.ok()) << writes.error().message;
    ASSERT_EQ(writes->size(), 2u);
    EXPECT_EQ((*writes)[0].row.request_id, "r1");
    EXPECT_EQ((*writes)[1].row.request_id, "r2");
    EXPECT_EQ((*writes)[1].row.completion_tokens, 5);
    // Held by this server: another cannot take it.
    auto second = LedgerSpool::open(path);
    ASSERT_FALSE(second.ok());
    EXPECT_EQ(second.error().message,
              "ledger spool '" + path +
                  "' is held by another live server; give each server a spool of its own "
                  "(serve --ledger-spool PATH)");
  }
  // A damaged line refuses the spool at open, before its unfinished last line is cut: the file
  // is left whole for `spool repair`, which keeps that line in its copy.
  {
    std::ofstream out(path, std::ios::binary | std::ios::app);
    out << "garbage\n" << line.substr(0, 20);
  }
  const std::string damaged = file_text(path);
  auto spool = LedgerSpool::open(path);
  ASSERT_FALSE(spool.ok());
  EXPECT_EQ(spool.error().message,
            "ledger spool '" + path +
                "', line 3: not a spooled ledger write (1 fields, expected 22 starting with 'w3') "
                "(`gengyun spool repair " +
                path + "` sets damaged lines aside)");
  EXPECT_EQ(file_text(path), damaged);
  auto kept = LedgerSpool::open(path, nullptr, LedgerSpool::UnfinishedLine::Keep);
  ASSERT_TRUE(kept.ok()) << kept.error().message;
  auto writes = (*kept)->read_all();
  ASSERT_FALSE(writes.ok());
  EXPECT_EQ(writes.error().message, spool.error().message);
  auto missing = LedgerSpool::open(dir.file("no/such/dir/spool"));
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("does not exist"), std::string::npos)
      << missing.error().message;
}

// A spool a person edited with a text editor: CR-LF line ends and empty lines hold no damage
// (QA 2026-12-03: every CR-LF line was "damaged", and a repair set every bill aside).
TEST(LedgerSpoolTest, CrLfEndsAndEmptyLinesAreRead) {
  testing::TempDir dir;
  const std::string path = dir.file("spool");
  {
    std::ofstream out(path, std::ios::binary);
    out << spool_line(settle("r1", 1)) << "\r\n\r\n\n" << spool_line(settle("r2", 2)) << "\r\n";
  }
  auto spool = LedgerSpool::open(path);
  ASSERT_TRUE(spool.ok()) << spool.error().message;
  auto writes = (*spool)->read_all();
  ASSERT_TRUE(writes.ok()) << writes.error().message;
  ASSERT_EQ(writes->size(), 2u);
  EXPECT_EQ((*writes)[0].row.request_id, "r1");
  EXPECT_EQ((*writes)[1].row.completion_tokens, 2);
  auto repaired = (*spool)->set_aside_damaged(dir.file("aside"));
  ASSERT_TRUE(repaired.ok()) << repaired.error().message;
  EXPECT_EQ(repaired->kept, 2u);
  EXPECT_TRUE(repaired->damaged_lines.empty());
}

// Damaged lines (not spooled writes) are taken out and the others kept in order; the whole spool
// as it was is copied aside first; a spool without damaged lines is left alone.
TEST(LedgerSpoolTest, SetAsideDamagedKeepsTheGoodLinesInOrderAndACopyOfTheWhole) {
  testing::TempDir dir;
  const std::string path = dir.file("spool");
  std::string bad_number = spool_line(settle("r9", 9));
  bad_number.replace(bad_number.find("\tr9\t"), 4, "\tr9\t1x");
  const std::string original = spool_line(settle("r1", 1)) + "\ngarbage\n" +
                               spool_line(settle("r2", 2)) + "\n" + bad_number + "\n" +
                               spool_line(checkpoint("r3", 3)) + "\n";
  {
    std::ofstream out(path, std::ios::binary);
    out << original;
  }
  // Opened as `spool repair` opens it (a server's open refuses a damaged spool).
  auto spool = LedgerSpool::open(path, nullptr, LedgerSpool::UnfinishedLine::Keep);
  ASSERT_TRUE(spool.ok()) << spool.error().message;
  ASSERT_FALSE((*spool)->read_all().ok());
  // An aside path that exists is refused before anything changes.
  const std::string taken = dir.file("taken");
  { std::ofstream(taken) << "mine"; }
  auto refused = (*spool)->set_aside_damaged(taken);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().message, "cannot create '" + taken + "' (the copy of ledger spool '" +
                                         path + "'): File exists");
  EXPECT_EQ(file_text(taken), "mine");
  EXPECT_EQ(file_text(path), original);

  const std::string aside = dir.file("spool.damaged");
  auto repaired = (*spool)->set_aside_damaged(aside);
  ASSERT_TRUE(repaired.ok()) << repaired.error().message;
  EXPECT_EQ(repaired->kept, 3u);
  EXPECT_EQ(repaired->damaged_lines, (std::vector<size_t>{2, 4}));
  EXPECT_EQ(file_text(aside), original);
  EXPECT_EQ(std::filesystem::status(aside).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  EXPECT_EQ(file_text(path), spool_line(settle("r1", 1)) + "\n" + spool_line(settle("r2", 2)) +
                                 "\n" + spool_line(checkpoint("r3", 3)) + "\n");
  auto writes = (*spool)->read_all();
  ASSERT_TRUE(writes.ok()) << writes.error().message;
  ASSERT_EQ(writes->size(), 3u);
  EXPECT_EQ((*writes)[2].row.completion_tokens, 3);
  // Appends go after the kept lines.
  ASSERT_TRUE((*spool)->append({settle("r4", 4)}).ok());
  EXPECT_EQ((*spool)->read_all()->size(), 4u);

  const std::string second = dir.file("spool.damaged-2");
  auto clean = (*spool)->set_aside_damaged(second);
  ASSERT_TRUE(clean.ok()) << clean.error().message;
  EXPECT_EQ(clean->kept, 4u);
  EXPECT_TRUE(clean->damaged_lines.empty());
  EXPECT_FALSE(std::filesystem::exists(second));
}

// A repair opens the spool keeping its unfinished last line (UnfinishedLine::Keep) and sets it
// aside as damaged: the copy holds the spool whole, that line included (QA 2026-12-07: open()
// cut it before the copy was made, so a write lacking only its newline was in neither file).
TEST(LedgerSpoolTest, ARepairSetsAnUnfinishedLastLineAsideInTheCopy) {
  testing::TempDir dir;
  const std::string path = dir.file("spool");
  const std::string original =
      spool_line(settle("r1", 1)) + "\ngarbage\n" + spool_line(settle("r2", 2));
  { std::ofstream(path, std::ios::binary) << original; }
  auto spool = LedgerSpool::open(path, nullptr, LedgerSpool::UnfinishedLine::Keep);
  ASSERT_TRUE(spool.ok()) << spool.error().message;
  EXPECT_EQ(file_text(path), original);
  const std::string aside = dir.file("spool.damaged");
  auto repaired = (*spool)->set_aside_damaged(aside);
  ASSERT_TRUE(repaired.ok()) << repaired.error().message;
  EXPECT_EQ(repaired->kept, 1u);
  EXPECT_EQ(repaired->damaged_lines, (std::vector<size_t>{2, 3}));
  EXPECT_EQ(file_text(aside), original);
  EXPECT_EQ(file_text(path), spool_line(settle("r1", 1)) + "\n");
  // Only the unfinished line: set aside as well, not "nothing to repair".
  const std::string only = dir.file("only");
  { std::ofstream(only, std::ios::binary) << spool_line(settle("r3", 3)); }
  auto alone = LedgerSpool::open(only, nullptr, LedgerSpool::UnfinishedLine::Keep);
  ASSERT_TRUE(alone.ok()) << alone.error().message;
  auto set_aside = (*alone)->set_aside_damaged(dir.file("only.damaged"));
  ASSERT_TRUE(set_aside.ok()) << set_aside.error().message;
  EXPECT_EQ(set_aside->damaged_lines, (std::vector<size_t>{1}));
  EXPECT_EQ(file_text(dir.file("only.damaged")), spool_line(settle("r3", 3)));
  EXPECT_EQ(file_text(only), "");
}

// A file that is not a spool (the database, a model, notes) given as one is refused and left
// byte for byte as it was, by a server's open and a repair's alike (QA: `--ledger-spool a.db`
// cut the database's last "line", 139 bytes, leaving it malformed, then refused it).
TEST(LedgerSpoolTest, AFileThatIsNotASpoolIsRefusedAndLeftAsItWas) {
  testing::TempDir dir;
  const std::string sqlite = std::string("SQLite format 3\0\x10\0\x02\x02", 21) +
                             std::string(100, '\0') + "\nCREATE TABLE t(x)\n" +
                             std::string(139, '\x7f');
  const std::vector<std::tuple<std::string, std::string, std::string>> cases = {
      {"a.db", sqlite,
       "line 1 starts with 'SQLite format 3\\x00'..., not with a spool version such as 'w3' and "
       "a tab"},
      {"notes.txt", "first line\nlast line without its end",
       "line 1 starts with 'first line', not with a spool version such as 'w3' and a tab"},
      {"one-line", "hello",
       "line 1 starts with 'hello', not with a spool version such as 'w3' and a tab"},
      {"blank-first", "\n\r\n\tw3\n" + spool_line(settle("r1", 1)),
       "line 3 starts with '\\x09w3', not with a spool version such as 'w3' and a tab"},
      {"version-alone", "w3\n",
       "line 1 starts with 'w3', not with a spool version such as 'w3' and a tab"},
      {"big", std::string(5000, 'x') + "\n",
       "line 1 starts with 'xxxxxxxxxxxxxxxx'..., not with a spool version such as 'w3' and a "
       "tab"},
  };
  for (const auto& [name, text, reason] : cases) {
    const std::string path = dir.file(name);
    { std::ofstream(path, std::ios::binary) << text; }
    for (const auto unfinished :
         {LedgerSpool::UnfinishedLine::Cut, LedgerSpool::UnfinishedLine::Keep}) {
      auto spool = LedgerSpool::open(path, nullptr, unfinished);
      ASSERT_FALSE(spool.ok()) << name;
      EXPECT_EQ(spool.error().message,
                "'" + path + "' is not a ledger spool: " + reason + " (it was left as it was)");
      EXPECT_EQ(file_text(path), text) << name;
    }
  }
}

// What a spool is: empty, or a first line (after empty ones) that starts with a version and a
// tab, or, the only line, unfinished within its version (a crash in the first append): such a
// line is cut; a newer version's line is a spool's, refused by line as damaged.
TEST(LedgerSpoolTest, ASpoolIsRecognizedByItsFirstLinesVersion) {
  testing::TempDir dir;
  for (const std::string& start : {std::string("w"), std::string("w3"), std::string("w3\tr\tre")}) {
    const std::string path = dir.file("spool");
    { std::ofstream(path, std::ios::binary) << start; }
    auto spool = LedgerSpool::open(path);
    ASSERT_TRUE(spool.ok()) << start << ": " << spool.error().message;
    EXPECT_EQ(file_text(path), "") << start;
    std::filesystem::remove(path);
  }
  const std::string newer = dir.file("newer");
  { std::ofstream(newer, std::ios::binary) << "\r\n\nw12\tx\n"; }
  auto refused = LedgerSpool::open(newer);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().message,
            "ledger spool '" + newer +
                "', line 3: not a spooled ledger write (2 fields, expected 22 starting with 'w3') "
                "(`gengyun spool repair " +
                newer + "` sets damaged lines aside)");
}

// A FIFO or a device (/dev/null) is no spool: the rows spooled to it would be lost.
TEST(LedgerSpoolTest, AFileThatIsNotARegularFileIsRefused) {
  testing::TempDir dir;
  const std::string fifo = dir.file("fifo");
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  for (const std::string& path : {fifo, std::string("/dev/null")}) {
    auto spool = LedgerSpool::open(path);
    ASSERT_FALSE(spool.ok()) << path;
    EXPECT_EQ(spool.error().message, "ledger spool '" + path + "': it is not a regular file");
  }
}

// What serve looks at before it opens its database: the file's type and first line, read only.
TEST(LedgerSpoolTest, MismatchNamesWhatIsNotASpoolWithoutChangingIt) {
  testing::TempDir dir;
  EXPECT_EQ(ledger_spool_mismatch(dir.file("missing")), "");
  EXPECT_FALSE(std::filesystem::exists(dir.file("missing")));
  const std::string empty = dir.file("empty");
  { std::ofstream(empty) << ""; }
  EXPECT_EQ(ledger_spool_mismatch(empty), "");
  const std::string spool = dir.file("spool");
  { std::ofstream(spool, std::ios::binary) << spool_line(settle("r1", 1)) << "\ngarbage\n"; }
  EXPECT_EQ(ledger_spool_mismatch(spool), "");
  const std::string notes = dir.file("notes.txt");
  { std::ofstream(notes, std::ios::binary) << "first line\nlast"; }
  EXPECT_EQ(ledger_spool_mismatch(notes),
            "it is not a ledger spool: line 1 starts with 'first line', not with a spool version "
            "such as 'w3' and a tab");
  EXPECT_EQ(file_text(notes), "first line\nlast");
  const std::string fifo = dir.file("fifo");
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_EQ(ledger_spool_mismatch(fifo), "it is not a regular file");
  EXPECT_EQ(ledger_spool_mismatch(dir.path().string()), "it is not a regular file");
}

}  // namespace
}  // namespace gengyun::platform
