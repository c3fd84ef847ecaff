#include "platform/ledger_writer.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>

#include "platform/key_secret.h"

namespace gengyun::platform {
namespace {

/// Applies what `spool` holds and empties it; returns how many writes it held.
Result<size_t> replay(Store& store, LedgerSpool& spool) {
  auto spooled = spool.read_all();
  if (!spooled) return spooled.error();
  if (spooled->empty()) return size_t{0};
  auto applied = store.apply_writes(*spooled);
  if (!applied)
    return make_error("ledger spool '" + spool.path() + "' holds " +
                      std::to_string(spooled->size()) +
                      " write(s) the database cannot take now: " + applied.error().message);
  if (auto cleared = spool.clear(); !cleared) return cleared.error();
  return spooled->size();
}

}  // namespace

Result<std::unique_ptr<LedgerWriter>> LedgerWriter::start(Store& store,
                                                          LedgerWriterOptions options) {
  std::unique_ptr<LedgerSpool> spool;
  size_t replayed = 0;
  if (!options.spool_path.empty() && !options.numbered) {
    auto opened = LedgerSpool::open(options.spool_path);
    if (!opened) return opened.error();
    spool = std::move(*opened);
    auto applied = replay(store, *spool);
    if (!applied) return applied.error();
    replayed = *applied;
  }
  // Numbered spools are never deleted (a server may be opening one), so they are numbered
  // without gaps: the scan ends at the first that does not exist once this server has one.
  for (int n = 1; options.numbered && !options.spool_path.empty() && n <= kMaxNumberedSpools; ++n) {
    const std::string path = options.spool_path + (n == 1 ? "" : "-" + std::to_string(n));
    std::error_code ec;
    if (spool && !std::filesystem::exists(path, ec)) break;
    bool held = false;
    auto opened = LedgerSpool::open(path, &held);
    if (!opened && held) continue;
    if (!opened) return opened.error();
    auto applied = replay(store, **opened);
    if (!applied) return applied.error();
    replayed += *applied;
    if (!spool) spool = std::move(*opened);
  }
  if (options.numbered && !options.spool_path.empty() && !spool)
    return make_error("ledger spools '" + options.spool_path + "' to '-" +
                      std::to_string(kMaxNumberedSpools) +
                      "' are all held by live servers; give this one its own (--ledger-spool)");
  std::unique_ptr<LedgerWriter> writer(
      new LedgerWriter(store, std::move(options), std::move(spool)));
  writer->replayed_at_start_ = replayed;
  writer->thread_ = std::thread([w = writer.get()] { w->run(); });
  writer->admission_thread_ = std::thread([w = writer.get()] { w->run_admissions(); });
  return writer;
}

LedgerWriter::~LedgerWriter() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  queued_.notify_one();
  admissions_queued_.notify_one();
  if (admission_thread_.joinable()) admission_thread_.join();
  if (thread_.joinable()) thread_.join();
}

void LedgerWriter::enqueue(Pending pending) {
  if (pending.write.kind == LedgerWrite::Kind::Record && pending.write.row.request_id.empty()) {
    auto random = random_base62(24);
    if (random) pending.write.row.request_id = "req-" + *random;
  }
  {
    std::lock_guard lock(mutex_);
    queue_.push_back(std::move(pending));
  }
  queued_.notify_one();
}

Result<void> LedgerWriter::write(LedgerWrite write) {
  std::promise<Result<void>> done;
  std::future<Result<void>> result = done.get_future();
  enqueue({std::move(write), &done});
  return result.get();
}

void LedgerWriter::post(LedgerWrite write) { enqueue({std::move(write), nullptr}); }

Result<Admission> LedgerWriter::admit(AdmissionRequest request) {
  std::promise<Result<Admission>> done;
  std::future<Result<Admission>> result = done.get_future();
  size_t waiting = 0;
  {
    std::lock_guard lock(mutex_);
    admissions_.push_back({std::move(request), &done});
    waiting = admissions_.size();
  }
  admissions_queued_.notify_one();
  notify({LedgerEvent::Kind::Queued, waiting, {}});
  return result.get();
}

Result<void> LedgerWriter::available() const {
  std::lock_guard lock(mutex_);
  if (spooled_ == 0) return {};
  return make_error("the usage ledger cannot be written (" + std::to_string(spooled_) +
                    " write(s) wait in the spool '" + spool_->path() + "'): " + db_error_);
}

void LedgerWriter::notify(LedgerEvent event) const {
  if (options_.observer) options_.observer(event);
}

void LedgerWriter::run() {
  const auto interval = std::chrono::microseconds(options_.retry_interval_us);
  auto next_retry = std::chrono::steady_clock::now() + interval;
  for (;;) {
    std::vector<Pending> batch;
    bool spooled = false;
    {
      std::unique_lock lock(mutex_);
      const auto ready = [&] { return stopping_ || !queue_.empty(); };
      if (spooled_ == 0)
        queued_.wait(lock, ready);
      else
        queued_.wait_until(lock, next_retry, ready);
      if (queue_.empty() && stopping_) return;
      batch.swap(queue_);
      spooled = spooled_ > 0;
    }
    if (!batch.empty()) process(batch);
    if (spooled && std::chrono::steady_clock::now() >= next_retry) {
      drain();
      next_retry = std::chrono::steady_clock::now() + interval;
    } else if (!spooled) {
      next_retry = std::chrono::steady_clock::now() + interval;
    }
  }
}

void LedgerWriter::run_admissions() {
  for (;;) {
    std::vector<PendingAdmission> batch;
    {
      std::unique_lock lock(mutex_);
      admissions_queued_.wait(lock, [&] { return stopping_ || !admissions_.empty(); });
      if (admissions_.empty()) return;  // stopping
      batch.swap(admissions_);
    }
    decide(batch);
  }
}

void LedgerWriter::process(std::vector<Pending>& batch) {
  std::vector<LedgerWrite> writes;
  writes.reserve(batch.size());
  for (const Pending& p : batch) writes.push_back(p.write);
  const auto answer_all = [&](const Result<void>& result) {
    for (Pending& p : batch)
      if (p.done) p.done->set_value(result);
  };

  bool to_spool = false;
  {
    std::lock_guard lock(mutex_);
    to_spool = spooled_ > 0;  // the spool keeps the order: nothing passes it
  }
  std::string db_error;
  if (!to_spool) {
    auto applied = store_.apply_writes(writes);
    if (applied) {
      notify({LedgerEvent::Kind::Committed, batch.size(), {}});
      for (size_t i = 0; i < batch.size(); ++i) {
        const Result<void>& result = (*applied)[i];
        if (batch[i].done)
          batch[i].done->set_value(result);
        else if (!result)
          spdlog::warn("usage ledger: {}", result.error().message);
      }
      return;
    }
    db_error = applied.error().message;
  } else {
    std::lock_guard lock(mutex_);
    db_error = db_error_;
  }

  if (!spool_) {
    notify({LedgerEvent::Kind::Failed, batch.size(), db_error});
    return answer_all(make_error(db_error));
  }
  if (auto appended = spool_->append(writes); !appended) {
    const std::string both = db_error + "; and " + appended.error().message;
    spdlog::error("usage ledger: {}", both);
    notify({LedgerEvent::Kind::Failed, batch.size(), both});
    return answer_all(make_error(both));
  }
  {
    std::lock_guard lock(mutex_);
    spooled_ += batch.size();
    db_error_ = db_error;
  }
  if (!to_spool)
    spdlog::error(
        "usage ledger: the database cannot be written ({}); {} write(s) spooled to "
        "'{}', new requests are refused until they land",
        db_error, batch.size(), spool_->path());
  notify({LedgerEvent::Kind::Spooled, batch.size(), db_error});
  answer_all({});
}

void LedgerWriter::decide(std::vector<PendingAdmission>& batch) {
  const auto refuse_all = [&](const Error& error) {
    notify({LedgerEvent::Kind::Decided, batch.size(), error.message});
    for (PendingAdmission& p : batch) p.done->set_value(error);
  };
  // Nothing is admitted while the spool holds writes (fail closed: it could not be billed).
  if (auto writable = available(); !writable) return refuse_all(writable.error());
  std::vector<AdmissionRequest> requests;
  requests.reserve(batch.size());
  for (const PendingAdmission& p : batch) requests.push_back(p.request);
  auto decided = store_.admit_batch(requests);
  if (!decided) return refuse_all(decided.error());
  notify({LedgerEvent::Kind::Decided, batch.size(), {}});
  for (size_t i = 0; i < batch.size(); ++i) batch[i].done->set_value(std::move((*decided)[i]));
}

void LedgerWriter::drain() {
  auto writes = spool_->read_all();
  if (!writes) {
    spdlog::error("usage ledger: {}", writes.error().message);
    return;
  }
  auto applied = store_.apply_writes(*writes);
  if (!applied) {
    std::lock_guard lock(mutex_);
    db_error_ = applied.error().message;
    return;
  }
  if (auto cleared = spool_->clear(); !cleared) {
    spdlog::error("usage ledger: {}", cleared.error().message);
    return;
  }
  {
    std::lock_guard lock(mutex_);
    spooled_ = 0;
    db_error_.clear();
  }
  spdlog::info("usage ledger: the database takes writes again; {} spooled write(s) applied",
               writes->size());
  notify({LedgerEvent::Kind::Drained, writes->size(), {}});
}

}  // namespace gengyun::platform
