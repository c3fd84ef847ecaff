// The ledger's cost per request (issue 8's benchmark): N requests from C threads (64 by
// default), each the platform's whole part of a request (authenticate the key, admit it:
// reserve its worst case and write its open row, settle it: close the row with its cost), on a
// fresh SQLite file or PostgreSQL database. MODE "writer" (the default) settles as the server
// does, through the ledger writer (group commit: one transaction for whatever is queued);
// "direct" settles with one transaction per request (Store::settle), for comparison. Prints ledger
// rows written per second and the latency the platform adds per request (p50, p90, p99). Target:
// p50 < 1 ms, and rows/s far above what the engines serve. Results go to bench/RESULTS.md; run it
// on an idle machine:
//   cmake --build build --target ledger_bench
//   build/ledger_bench /tmp/ledger-bench.db [REQUESTS] [THREADS] [MODE]
//   build/ledger_bench postgresql://user@127.0.0.1:5432/bench [REQUESTS] [THREADS] [MODE]
// The database should be new (the benchmark adds a tenant, keys and rows to it).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "platform/ledger_writer.h"
#include "platform/store.h"

namespace {

using gengyun::platform::AdmissionRequest;
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

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s DB [REQUESTS=20000] [THREADS=64] [MODE=writer|direct]\n",
                 argv[0]);
    return 2;
  }
  const std::string db = argv[1];
  const int requests = argc > 2 ? std::atoi(argv[2]) : 20000;
  const int threads = argc > 3 ? std::atoi(argv[3]) : 64;
  const std::string mode = argc > 4 ? argv[4] : "writer";
  if (requests <= 0 || threads <= 0) return fail("REQUESTS and THREADS must be > 0");
  if (mode != "writer" && mode != "direct") return fail("MODE must be writer or direct");

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

  auto writer = gengyun::platform::LedgerWriter::start(**store, {});
  if (!writer.ok()) return fail(writer.error().message);
  const auto settle = [&](const std::string& id) {
    if (mode == "direct")
      return (*store)->settle(id, Settlement{{200, 0, 100}, 200, "ok", "", now_us()}).ok();
    gengyun::platform::LedgerWrite write{gengyun::platform::LedgerWrite::Kind::Settle};
    write.row.request_id = id;
    write.row.prompt_tokens = 200;
    write.row.completion_tokens = 100;
    write.row.http_status = 200;
    write.row.status = "ok";
    write.row.finished_at_us = now_us();
    return (*writer)->write(std::move(write)).ok();
  };

  std::atomic<int> next{0};
  std::atomic<int> errors{0};
  std::vector<std::vector<int64_t>> latencies(threads);
  const auto started = Clock::now();
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t)
    workers.emplace_back([&, t] {
      for (int i; (i = next.fetch_add(1)) < requests;) {
        const auto begin = Clock::now();
        auto key = (*store)->authenticate(secrets[t]);
        bool ok = key.ok() && key->has_value();
        const std::string id = tenant + "-r" + std::to_string(i);
        if (ok) {
          auto admitted = (*store)->admit(AdmissionRequest{
              id, (**key).id, "bench-model", "/v1/chat/completions", 200, 100, now_us()});
          ok =
              admitted.ok() && admitted->outcome == gengyun::platform::Admission::Outcome::Admitted;
        }
        if (ok) ok = settle(id);
        if (!ok) ++errors;
        latencies[t].push_back(
            std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - begin).count());
      }
    });
  for (std::thread& w : workers) w.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - started).count();

  std::vector<int64_t> all;
  for (const auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  const auto percentile = [&](double p) {
    return all[std::min(all.size() - 1, static_cast<size_t>(p * all.size()))];
  };
  std::printf(
      "%s (%s): %d requests from %d threads in %.2f s: %.0f ledger rows/s; "
      "added latency per request p50 %lld us, p90 %lld us, p99 %lld us; %d errors\n",
      db.rfind("postgres", 0) == 0 ? "postgresql" : "sqlite", mode.c_str(), requests, threads,
      seconds, requests / seconds, static_cast<long long>(percentile(0.5)),
      static_cast<long long>(percentile(0.9)), static_cast<long long>(percentile(0.99)),
      errors.load());
  return errors.load() == 0 ? 0 : 1;
}
