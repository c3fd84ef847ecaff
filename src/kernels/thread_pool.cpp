#include "kernels/thread_pool.h"

#include <sched.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <string>
#include <utility>

#include "util/clock.h"

namespace gengyun::kernels {
namespace {

bool read_int_file(const std::string& path, long& value) {
  std::ifstream in(path);
  return static_cast<bool>(in >> value);
}

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#else
  std::this_thread::yield();
#endif
}

// How long a thread polls before it sleeps: long enough to span the gap between the matmuls
// of a decode step, short enough not to burn a core when nothing runs.
constexpr int64_t kSpinUs = 200;

// Polls ready() with pause instructions for up to kSpinUs; true once it holds.
template <typename Ready>
bool spin_until(Ready ready) {
  const int64_t deadline = monotonic_us() + kSpinUs;
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      if (ready()) return true;
      cpu_relax();
    }
    if (monotonic_us() > deadline) return ready();
  }
}

int fallback_core_count() { return std::max(1u, std::thread::hardware_concurrency()); }

}  // namespace

int physical_core_count() {
  cpu_set_t mask;
  CPU_ZERO(&mask);
  if (sched_getaffinity(0, sizeof(mask), &mask) != 0) return fallback_core_count();
  std::set<std::pair<long, long>> cores;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (!CPU_ISSET(cpu, &mask)) continue;
    const std::string dir = "/sys/devices/system/cpu/cpu" + std::to_string(cpu) + "/topology/";
    long package = 0, core = 0;
    if (!read_int_file(dir + "core_id", core)) return fallback_core_count();
    if (!read_int_file(dir + "physical_package_id", package)) package = 0;
    cores.emplace(package, core);
  }
  return cores.empty() ? fallback_core_count() : static_cast<int>(cores.size());
}

ThreadPool::ThreadPool(int n_threads)
    : n_threads_(std::max(1, n_threads)),
      slots_(new std::atomic<uint64_t>[static_cast<size_t>(n_threads_)]) {
  for (int i = 0; i < n_threads_; ++i) slots_[i].store(kClaimed, std::memory_order_relaxed);
  workers_.reserve(static_cast<size_t>(n_threads_ - 1));
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  start_cv_.notify_all();
  for (auto& t : workers_) t.join();
}

bool ThreadPool::try_run(int index, uint64_t generation) {
  uint64_t expected = generation;
  if (!slots_[index].compare_exchange_strong(expected, kClaimed, std::memory_order_acq_rel))
    return false;
  const int64_t begin = job_n_ * index / job_chunks_;
  const int64_t end = job_n_ * (index + 1) / job_chunks_;
  try {
    (*job_)(begin, end);
  } catch (...) {
    std::lock_guard lock(mutex_);
    if (!job_error_) job_error_ = std::current_exception();
  }
  if (remaining_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    std::lock_guard lock(mutex_);
    done_cv_.notify_one();
  }
  return true;
}

void ThreadPool::worker_loop(int index) {
  uint64_t seen = 0;
  for (;;) {
    auto started = [&] {
      return generation_.load(std::memory_order_acquire) != seen ||
             stopping_.load(std::memory_order_relaxed);
    };
    if (!spin_until(started)) {
      std::unique_lock lock(mutex_);
      start_cv_.wait(lock, started);
    }
    if (stopping_.load(std::memory_order_acquire)) return;
    seen = generation_.load(std::memory_order_acquire);
    try_run(index, seen);
  }
}

void ThreadPool::parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  if (n_threads_ == 1 || n == 1) {
    fn(0, n);
    return;
  }
  std::lock_guard call_lock(call_mutex_);
  const int chunks = static_cast<int>(std::min<int64_t>(n_threads_, n));
  const uint64_t generation = generation_.load(std::memory_order_relaxed) + 1;
  job_ = &fn;
  job_n_ = n;
  job_chunks_ = chunks;
  job_error_ = nullptr;
  remaining_.store(chunks, std::memory_order_relaxed);
  for (int i = 0; i < n_threads_; ++i)
    slots_[i].store(i < chunks ? generation : kClaimed, std::memory_order_relaxed);
  {
    std::lock_guard lock(mutex_);
    generation_.store(generation, std::memory_order_release);
  }
  start_cv_.notify_all();

  // Chunk 0, then any chunk whose worker has not started it yet.
  for (int i = 0; i < chunks; ++i) try_run(i, generation);

  auto done = [&] { return remaining_.load(std::memory_order_acquire) == 0; };
  const bool finished = spin_until(done);
  std::exception_ptr error;
  {
    std::unique_lock lock(mutex_);
    if (!finished) done_cv_.wait(lock, done);
    error = std::exchange(job_error_, nullptr);
  }
  job_ = nullptr;
  if (error) std::rethrow_exception(error);
}

void ThreadPool::parallel_for_pieces(int64_t n, int64_t grain,
                                     const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  const int64_t pieces = (n + grain - 1) / grain;
  if (n_threads_ == 1 || pieces == 1) {
    fn(0, n);
    return;
  }
  // Share c: pieces [first(c), first(c + 1)), claimed in order through counters[c] (a cache
  // line each: the threads claim their own shares without sharing a line).
  struct alignas(64) Counter {
    std::atomic<int64_t> next;
  };
  const int64_t shares = std::min<int64_t>(n_threads_, pieces);
  const auto first = [&](int64_t c) { return c * pieces / shares; };
  std::vector<Counter> counters(static_cast<size_t>(shares));
  for (int64_t c = 0; c < shares; ++c) counters[static_cast<size_t>(c)].next.store(first(c));
  parallel_for(shares, [&](int64_t own, int64_t) {
    for (int64_t i = 0; i < shares; ++i) {
      const int64_t c = (own + i) % shares;
      std::atomic<int64_t>& next = counters[static_cast<size_t>(c)].next;
      for (int64_t piece; (piece = next.fetch_add(1, std::memory_order_relaxed)) < first(c + 1);)
        fn(piece * grain, std::min(n, (piece + 1) * grain));
    }
  });
}

}  // namespace gengyun::kernels
