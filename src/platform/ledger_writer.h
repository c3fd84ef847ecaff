// The ledger's writer: admissions, checkpoints, settlements and closed rows of a server go
// through two threads per store, one that decides the queued admissions in one transaction
// (group admission) and one that applies the queued writes in another (group commit), and,
// when the database cannot be written, puts the writes into a durable local spool
// (ledger_spool.h) until it can; a third journals into the spool the writes that wait while
// the database is slow to answer.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <future>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gengyun/result.h"
#include "platform/ledger_spool.h"
#include "platform/store.h"

namespace gengyun::platform {

/// What the writer did with one batch (LedgerWriterOptions::observer).
struct LedgerEvent {
  enum class Kind {
    Committed,  ///< `writes` applied in one transaction (refused ones included)
    Spooled,    ///< `writes` appended to the spool (the database could not be written)
    /// The spool's `writes` (read from it now) to be applied: the database is tried again
    Draining,
    /// the spool's `writes` applied; the database takes writes again, and the spool is empty
    /// again (or will be once the writes journaled meanwhile are committed)
    Drained,
    /// `writes` that wait for a round of the writer past LedgerWriterOptions::journal_after_us
    /// (its own and those queued behind it) appended to the spool, still to be applied
    Journaled,
    Failed,     ///< `writes` could be neither applied nor spooled: their callers got `error`
    /// `writes` admissions decided in one transaction (refused ones included); with `error`,
    /// none was (the database failed, or the spool holds writes) and each caller got it
    Decided,
    /// `writes` admissions taken by the admission thread, to be decided now (Decided follows)
    Deciding,
    /// Called on the admitting caller's thread, not the admission thread: its admission is queued,
    /// `writes` admissions (it included) now wait for the next group admission
    Queued,
  };
  Kind kind;
  size_t writes = 0;
  std::string error;  ///< Spooled, Failed: why the database could not be written
};

/// Writes of one spool that LedgerWriter::start applied.
struct SpoolReplay {
  std::string path;  ///< the spool's file
  size_t writes = 0;  ///< writes applied (those the database refused are logged instead)
  /// Settlements and records the database refused because they were in the ledger already, as
  /// the spool says: applied before a crash kept the spool from being emptied (not logged).
  size_t landed = 0;
  bool operator==(const SpoolReplay&) const = default;
};

/// How many servers can share a numbered spool path (LedgerWriterOptions::numbered).
inline constexpr int kMaxNumberedSpools = 64;

struct LedgerWriterOptions {
  /// The spool file; "" for none (a write the database refuses then fails: tests, ":memory:").
  std::string spool_path;
  /// While the spool holds writes, how often the writer tries to apply them.
  int64_t retry_interval_us = 1'000'000;
  /// Called on the writer's thread after each batch of writes, on the journal thread after each
  /// append to the journal and on the admission thread after each group admission, before
  /// their callers are answered (so a caller whose write or admission returned has seen its
  /// event; tests synchronize on it), and for Queued on the admitting thread. Must not call the
  /// writer; may be called from three threads at once.
  std::function<void(const LedgerEvent&)> observer;
  /// Servers sharing a default spool path: when spool_path is held by another live server, the
  /// writer takes the first free of "<spool_path>-2", "-3", ... (up to kMaxNumberedSpools), and
  /// at start it applies and empties every one of them that no live server holds (those of
  /// servers that are gone).
  bool numbered = false;
  /// How long a round of the writer may wait for the database before the writes it holds and
  /// those queued behind it are journaled (appended to the spool, fsynced) while they wait, so
  /// that a crash of the server during a stall loses none of them. A healthy round takes
  /// milliseconds; 100 ms keeps the ledger behind by at most one checkpoint per request
  /// whatever the database does, for streams below 640 tokens/s (a checkpoint per 64 tokens).
  /// Without a spool nothing is journaled.
  int64_t journal_after_us = 100'000;
};

/// One store's ledger writer. Admissions and every write after them go through here, so that
/// requests do not queue behind each other's transactions and writes never stall the engine or
/// authentication: the admission thread takes the admissions queued and decides them in order
/// with Store::admit_batch in one transaction (group admission); the writer thread takes the
/// writes queued and applies them with Store::apply_writes in another; each answers its
/// callers, and what is queued meanwhile goes in its next round (group commit). The two run
/// side by side, so an admission never waits for a round of writes (their durable commit):
/// Store's transactions hold their limits between concurrent callers, as between servers. When
/// the writes' transaction fails (the database locked past its busy timeout, I/O, connection
/// lost), the batch is appended to the spool and fsynced, which counts as durable; from then on
/// every write goes to the spool, in order, and available()
/// (and admit()) refuse new requests, until the writer applies the spool (every
/// retry_interval_us) and empties it. Applying a spooled write twice changes nothing
/// (Store::apply_writes), so a crash between the commit and the emptying never counts twice.
/// While a round waits for the database longer than journal_after_us (PostgreSQL frozen up to
/// its round trip's deadline, SQLite locked up to its busy timeout), the journal thread appends
/// the round's writes and those queued behind it to the spool as they come, and answers their
/// waiting callers (durable, as spooled writes are), without refusing anything: they are still
/// applied by the writer (a refusal is then logged), and the spool is emptied once every
/// journaled write is committed. A spool so may hold checkpoints older than those the database
/// has (a crash between a commit and the emptying), which Store::apply_writes allows: a
/// checkpoint never lowers a row's counts. Thread-safe.
class LedgerWriter {
 public:
  /// Opens the spool when options.spool_path is set (options.numbered: the first free one, and
  /// the other free ones are applied too), applies what it holds (a server's start: before
  /// serving) and starts the writer thread. Errors: the spool's (LedgerSpool::open, read_all;
  /// numbered: all kMaxNumberedSpools are held), the spool holds writes the database cannot take
  /// now.
  static Result<std::unique_ptr<LedgerWriter>> start(Store& store, LedgerWriterOptions options);
  /// Applies (or spools) what is queued, then stops the thread.
  ~LedgerWriter();
  LedgerWriter(const LedgerWriter&) = delete;
  LedgerWriter& operator=(const LedgerWriter&) = delete;

  /// Queues `write` and waits until it is durable: committed, spooled or journaled. A Record
  /// without a request id gets one first (so that a spooled record is applied once). Errors:
  /// the write's refusal (Store::apply_writes; not when it was journaled first), or the database
  /// and the spool both failed.
  Result<void> write(LedgerWrite write);
  /// Queues `request` for the next group admission and waits for its answer: Store::admit's,
  /// decided after the admissions queued before it and seeing their reservations. Errors:
  /// Store::admit's for this request (unknown key, duplicate id, ...), the database failed
  /// (nothing of the batch was admitted), the spool holds writes (available()'s error), or the
  /// database failed the group admission before this one while this one was queued (its error,
  /// said to be theirs): refused then, without asking the database again.
  Result<Admission> admit(AdmissionRequest request);
  /// Queues `write` without waiting (checkpoints: a lost one costs at most one checkpoint's
  /// worth after a crash). Never blocks for longer than a queue push.
  void post(LedgerWrite write);
  /// Ok while the ledger can be written; while the spool holds writes, an error saying why (the
  /// database's last error) and how many wait: nothing may then be admitted.
  Result<void> available() const;
  /// Now on the ledger's clock (Store::now_us()), in microseconds since the Unix epoch.
  int64_t now_us() const { return store_.now_us(); }
  /// The spool's path ("" for none).
  std::string spool_path() const { return spool_ ? spool_->path() : ""; }
  /// The spools whose writes start() applied, in the order applied (numbered: every spool of a
  /// gone server, which need not be the one this writer keeps); spools with none left out.
  const std::vector<SpoolReplay>& replayed_at_start() const { return replayed_at_start_; }

 private:
  struct Pending {
    LedgerWrite write;
    std::promise<Result<void>>* done;  ///< the waiting caller's; null for post()
    uint64_t seq = 0;                  ///< 1, 2, ... in the order queued
  };
  struct PendingAdmission {
    AdmissionRequest request;
    std::promise<Result<Admission>>* done;  ///< the waiting caller's
  };

  LedgerWriter(Store& store, LedgerWriterOptions options, std::unique_ptr<LedgerSpool> spool)
      : store_(store), options_(std::move(options)), spool_(std::move(spool)) {}
  void enqueue(Pending pending);
  /// The writer thread: writes, and the spool's retries.
  void run();
  /// The admission thread.
  void run_admissions();
  /// The journal thread (with a spool only).
  void run_journal();
  /// Appends to the spool the writes of the round waiting for the store and of queue_ that are
  /// not in it yet; called with spool_mutex_ held, mutex_ not. False when the append failed.
  bool journal();
  /// Whether a write queued or in the round is not in the spool; with mutex_ held.
  bool unjournaled_locked() const;
  /// Marks the writer's call into the store that applies `round` (null: the spool's writes) as
  /// started or done, for the journal thread.
  void begin_round(std::vector<Pending>* round);
  void end_round();
  /// Empties the spool of journaled writes once those of seq <= `committed` are committed.
  void forget_journal(uint64_t committed);
  /// Applies or spools `batch` and answers its callers.
  void process(std::vector<Pending>& batch);
  /// Decides `batch` (Store::admit_batch), or refuses it while the spool holds writes, and
  /// answers its callers.
  void decide(std::vector<PendingAdmission>& batch);
  /// Tries to apply the spool; once its writes landed the database takes writes again, and the
  /// spool is emptied at once, or (writes were journaled meanwhile) by the round that commits
  /// those.
  void drain();
  void notify(LedgerEvent event) const;

  Store& store_;
  const LedgerWriterOptions options_;
  /// Used by the writer thread and the journal thread, with spool_mutex_ held (and by start()).
  std::unique_ptr<LedgerSpool> spool_;
  std::vector<SpoolReplay> replayed_at_start_;
  /// monotonic_us() of the writer's last round that waited for the disk (must_sync()); at first
  /// long ago, so the first round does. The writer thread's.
  int64_t last_sync_us_ = std::numeric_limits<int64_t>::min() / 2;

  /// Taken before mutex_ when both are.
  std::mutex spool_mutex_;
  mutable std::mutex mutex_;
  std::condition_variable queued_;             ///< a write queued, or stopping_
  std::condition_variable admissions_queued_;  ///< an admission queued, or stopping_
  std::condition_variable journal_wake_;  ///< a round began, a write queued in one, or stopping
  std::vector<Pending> queue_;
  std::vector<PendingAdmission> admissions_;
  bool stopping_ = false;
  bool journal_stopping_ = false;
  bool journal_idle_ = false;  ///< the journal thread waits for a round to begin or a write
  uint64_t last_seq_ = 0;  ///< the seq of the last write queued
  /// The writes of the writer's round waiting for the store (null: none, or the spool's);
  /// in_round_ while it waits, since round_started_.
  /// The journal thread answers their callers (Pending::done) under mutex_, so the writer
  /// reads done only after end_round().
  std::vector<Pending>* round_ = nullptr;
  bool in_round_ = false;
  bool round_journaled_ = false;  ///< something of this round was journaled (logged once)
  std::chrono::steady_clock::time_point round_started_;
  /// Every write of seq <= spooled_through_ not yet committed is in the spool. Written with
  /// both mutexes held.
  uint64_t spooled_through_ = 0;
  size_t spool_writes_ = 0;  ///< writes in the spool, journaled or spooled
  /// The database could not be written: the spool holds writes that must land before anything
  /// is admitted (available()), and every write goes to it, in order.
  bool db_failed_ = false;
  std::string db_error_;  ///< why the database could not be written, while db_failed_
  std::thread thread_;
  std::thread admission_thread_;
  std::thread journal_thread_;
};

}  // namespace gengyun::platform
