// The ledger's cost per request (issue 8's benchmark): N requests from C threads (64 by
// default), each the platform's whole part of a request (authenticate the key, admit it:
// reserve its worst case and write its open row, settle it: close the row with its cost), on a
// fresh SQLite file or PostgreSQL database. MODE "writer" (the default) admits and settles as
// the server does, through the ledger writer (group admission: the queued admissions decided in
// one transaction; group commit: one transaction for whatever else is queued); "direct" admits
// and settles with one transaction each (Store::admit, Store::settle), for comparison.
// GENERATION is how long each request stays in flight between its admission and its
// settlement, as in serving, where C requests generate at once: "0" (the default) for none,
// which saturates the ledger; "MS" milliseconds (e.g. 200); or "MIN-MAX" milliseconds drawn
// uniformly for each request from a generator seeded with the thread's number, so every run
// draws the same durations. A request in flight posts one checkpoint halfway (a stream posts
// one every 64 tokens); in "writer" mode its checkpoint and settlement carry the admission's
// columns, as the server's do (LedgerWrite::carries_admission); the writer has a spool in the
// temporary directory, as the server's (its journal runs). Prints ledger rows written per
// second (in flight, next to C / the mean generation time, what an engine serving C streams
// would finish) and the latency the
// platform adds per request: authentication + admission + settlement, the generation time left
// out (p50, p90, p99, and admission alone). Target: p50 < 1 ms, and rows/s far above what the
// engines serve. Results go to bench/RESULTS.md; run it on an idle machine:
//   cmake --build build --target ledger_bench
//   build/ledger_bench /tmp/ledger-bench.db [REQUESTS] [THREADS] [MODE] [GENERATION]
//   build/ledger_bench postgresql://user@127.0.0.1:5432/bench [REQUESTS] [THREADS] [MODE] [...]
// The database should be new (the benchmark adds a tenant, keys and rows to it).
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "platform/ledger_writer.h"
#include "platform/store.h"

namespace {

using gengyun::platform::Admission;
using gengyun::platform::AdmissionRequest;
using gengyun::platform::LedgerWrite;
using gengyun::platform::Settlement;
using gengyun::platform::Store;
using Clock = std::chrono::steady_clock;

int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int fail(const std::string& message) {
  std::fprintf(stderr, "error: %s\n", message.c_str());
  return 1;
}

/// How long a request generates: milliseconds in [min_ms, max_ms].
struct Generation {
  int64_t min_ms = 0;
  int64_t max_ms = 0;
};

std::optional<int64_t> parse_ms(std::string_view text) {
  int64_t ms = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), ms);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty() || ms < 0 ||
      ms > 3'600'000)
    return std::nullopt;
  return ms;
}

/// "MS" or "MIN-MAX" (milliseconds, 0..3600000, MIN <= MAX).
std::optional<Generation> parse_generation(std::string_view text) {
  const size_t dash = text.find('-');
  auto min = parse_ms(text.substr(0, dash));
  auto max = dash == std::string_view::npos ? min : parse_ms(text.substr(dash + 1));
  if (!min || !max || *min > *max) return std::nullopt;
  return Generation{*min, *max};
}

int64_t percentile(const std::vector<int64_t>& sorted, double p) {
  return sorted[std::min(sorted.size() - 1, static_cast<size_t>(p * sorted.size()))];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 6) {
    std::fprintf(stderr,
                 "usage: %s DB [REQUESTS=20000] [THREADS=64] [MODE=writer|direct] "
                 "[GENERATION=0|MS|MIN-MAX]\n",
                 argv[0]);
    return 2;
  }
  const std::string db = argv[1];
  const int requests = argc > 2 ? std::atoi(argv[2]) : 20000;
  const int threads = argc > 3 ? std::atoi(argv[3]) : 64;
  const std::string mode = argc > 4 ? argv[4] : "writer";
  const auto generation = parse_generation(argc > 5 ? argv[5] : "0");
  if (requests <= 0 || threads <= 0) return fail("REQUESTS and THREADS must be > 0");
  if (mode != "writer" && mode != "direct") return fail("MODE must be writer or direct");
  if (!generation)
    return fail("GENERATION must be milliseconds MS or a range MIN-MAX (0..3600000), not '" +
                std::string(argv[5]) + "'");
  const bool in_flight = generation->max_ms > 0;

  auto store = Store::open(db);
  if (!store.ok()) return fail(store.error().message);
  if (auto price = (*store)->set_price("bench-model", {150'000, 75'000, 600'000}); !price)
    return fail(price.error().message);
  // One key per thread, all in one tenant with a budget and rates that never refuse, so the
  // admission does its full work (spend and window reads) without refusing.
  const std::string tenant = "bench-" + std::to_string(now_us());
  gengyun::platform::Limits roomy{
      int64_t{1'000'000'000'000}, {}, int64_t{1'000'000'000}, int64_t{1'000'000'000'000}};
  if (auto t = (*store)->create_tenant(tenant, roomy); !t) return fail(t.error().message);
  std::vector<std::string> secrets;
  for (int t = 0; t < threads; ++t) {
    auto secret = (*store)->create_key(
        {tenant + "-k" + std::to_string(t), tenant, gengyun::platform::Role::Member, roomy});
    if (!secret) return fail(secret.error().message);
    secrets.push_back(*secret);
  }

  // A spool of its own, as `serve` has one: the writer's journal runs as in production.
  const std::string spool = (std::filesystem::temp_directory_path() /
                             ("ledger_bench-" + std::to_string(getpid()) + "-spool"))
                                .string();
  struct RemoveAtExit {
    std::string path;
    ~RemoveAtExit() { std::filesystem::remove(path); }
  } remove_spool{spool};
  gengyun::platform::LedgerWriterOptions options;
  options.spool_path = spool;
  auto writer = gengyun::platform::LedgerWriter::start(**store, options);
  if (!writer.ok()) return fail(writer.error().message);
  const auto admit = [&](const AdmissionRequest& request) -> std::optional<Admission> {
    auto admitted = mode == "direct" ? (*store)->admit(request) : (*writer)->admit(request);
    if (!admitted.ok() || admitted->outcome != Admission::Outcome::Admitted) return std::nullopt;
    return *admitted;
  };
  // A write of the writer mode, carrying the admission's columns as the API's writes do.
  const auto carrying = [](LedgerWrite::Kind kind, const AdmissionRequest& request,
                           const Admission& admission) {
    LedgerWrite write{kind};
    write.row.request_id = request.request_id;
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
  const auto checkpoint = [&](const AdmissionRequest& request, const Admission& admission) {
    const std::string& id = request.request_id;
    if (mode == "direct") return (void)(*store)->checkpoint(id, {200, 0, 64}, now_us());
    LedgerWrite write = carrying(LedgerWrite::Kind::Checkpoint, request, admission);
    write.row.prompt_tokens = 200;
    write.row.completion_tokens = 64;
    write.row.finished_at_us = now_us();
    (*writer)->post(std::move(write));
  };
  const auto settle = [&](const AdmissionRequest& request, const Admission& admission) {
    const std::string& id = request.request_id;
    if (mode == "direct")
      return (*store)->settle(id, Settlement{{200, 0, 100}, 200, "ok", "", now_us()}).ok();
    LedgerWrite write = carrying(LedgerWrite::Kind::Settle, request, admission);
    write.row.prompt_tokens = 200;
    write.row.completion_tokens = 100;
    write.row.http_status = 200;
    write.row.status = "ok";
    write.row.finished_at_us = now_us();
    return (*writer)->write(std::move(write)).ok();
  };

  std::atomic<int> next{0};
  std::atomic<int> errors{0};
  std::vector<std::vector<int64_t>> added(threads);       // auth + admission + settlement, us
  std::vector<std::vector<int64_t>> admissions(threads);  // auth + admission, us
  std::vector<int64_t> generated_ms(threads, 0);
  const auto started = Clock::now();
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t)
    workers.emplace_back([&, t] {
      std::mt19937_64 random(static_cast<uint64_t>(t) + 1);
      std::uniform_int_distribution<int64_t> draw(generation->min_ms, generation->max_ms);
      for (int i; (i = next.fetch_add(1)) < requests;) {
        const auto begin = Clock::now();
        auto key = (*store)->authenticate(secrets[t]);
        bool ok = key.ok() && key->has_value();
        const std::string id = tenant + "-r" + std::to_string(i);
        std::optional<AdmissionRequest> request;
        std::optional<Admission> admission;
        if (ok) {
          request = AdmissionRequest{id,  (**key).id, "bench-model", "/v1/chat/completions",
                                     200, 100,        now_us()};
          admission = admit(*request);
          ok = admission.has_value();
        }
        const auto admitted = Clock::now();
        auto generated = Clock::duration::zero();
        if (ok && in_flight) {
          const auto ms = std::chrono::milliseconds(draw(random));
          std::this_thread::sleep_for(ms / 2);
          checkpoint(*request, *admission);
          std::this_thread::sleep_for(ms - ms / 2);
          generated = Clock::now() - admitted;
          generated_ms[t] += ms.count();
        }
        if (ok) ok = settle(*request, *admission);
        if (!ok) ++errors;
        const auto us = [](Clock::duration d) {
          return std::chrono::duration_cast<std::chrono::microseconds>(d).count();
        };
        admissions[t].push_back(us(admitted - begin));
        added[t].push_back(us(Clock::now() - begin - generated));
      }
    });
  for (std::thread& w : workers) w.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - started).count();

  std::vector<int64_t> all;
  std::vector<int64_t> admission;
  int64_t total_generated_ms = 0;
  for (int t = 0; t < threads; ++t) {
    all.insert(all.end(), added[t].begin(), added[t].end());
    admission.insert(admission.end(), admissions[t].begin(), admissions[t].end());
    total_generated_ms += generated_ms[t];
  }
  std::sort(all.begin(), all.end());
  std::sort(admission.begin(), admission.end());
  std::string generating = "no generation time (saturation)";
  if (in_flight) {
    const double mean_ms = std::max(static_cast<double>(total_generated_ms) / requests, 0.001);
    generating =
        "generation " + std::to_string(generation->min_ms) +
        (generation->min_ms == generation->max_ms ? "" : "-" + std::to_string(generation->max_ms)) +
        " ms in flight (an engine serving " + std::to_string(threads) + " streams of " +
        std::to_string(static_cast<int64_t>(mean_ms + 0.5)) + " ms would finish " +
        std::to_string(static_cast<int64_t>(threads * 1000.0 / mean_ms + 0.5)) + " requests/s)";
  }
  std::printf(
      "%s (%s), %s: %d requests from %d threads in %.2f s: %.0f ledger rows/s; "
      "added latency per request p50 %lld us, p90 %lld us, p99 %lld us (admission alone p50 "
      "%lld us, p99 %lld us); %d errors\n",
      db.rfind("postgres", 0) == 0 ? "postgresql" : "sqlite", mode.c_str(), generating.c_str(),
      requests, threads, seconds, requests / seconds, static_cast<long long>(percentile(all, 0.5)),
      static_cast<long long>(percentile(all, 0.9)), static_cast<long long>(percentile(all, 0.99)),
      static_cast<long long>(percentile(admission, 0.5)),
      static_cast<long long>(percentile(admission, 0.99)), errors.load());
  return errors.load() == 0 ? 0 : 1;
}
