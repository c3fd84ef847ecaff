// A fixed set of worker threads that run data-parallel loops (the kernels' matmuls) without
// creating threads per call.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace gengyun::kernels {

/// Most threads a thread count (a --threads flag, ModelOptions::n_threads, a bench's
/// n_threads) may ask for; the code that reads the count checks it, ThreadPool does not.
inline constexpr int kMaxThreads = 1024;

/// Number of physical cores this process may run on: distinct (package, core) ids in
/// /sys/devices/system/cpu/cpuN/topology over the CPUs of the affinity mask; falls back to
/// std::thread::hardware_concurrency() (at least 1) when that is unreadable.
int physical_core_count();

/// Persistent pool: `size() - 1` worker threads plus the calling thread.
class ThreadPool {
 public:
  /// n_threads < 1 is treated as 1 (no workers: every loop runs inline on the caller).
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  /// Threads that run a parallel_for, the caller included.
  int size() const { return n_threads_; }

  /// Splits [0, n) into min(size(), n) contiguous chunks of near-equal length and calls
  /// fn(begin, end) once per chunk; returns when all are done. Worker i runs chunk i unless
  /// the caller, after running chunk 0, finds it not yet started and runs it itself (so a
  /// worker that the OS has not scheduled costs no waiting). n <= 0 calls nothing. Calls from
  /// several threads are serialized; fn must not call parallel_for on the same pool. If fn
  /// throws, the first exception is rethrown here after every chunk has finished. Cost per
  /// call with spinning workers: about a microsecond.
  void parallel_for(int64_t n, const std::function<void(int64_t begin, int64_t end)>& fn);

  /// Splits [0, n) into pieces of `grain` (the last one shorter) and the pieces into one
  /// contiguous share per thread; each thread, the caller included, claims the pieces of its
  /// own share in order, then those left in the other shares, calling fn(begin, end) once per
  /// piece: a thread that runs slower (its core shared, its memory further) takes fewer, so a
  /// call waits at most about one piece for the last thread instead of the difference between
  /// equal shares, while each thread still streams one contiguous range as long as it can
  /// (handing out the pieces in turn interleaved the threads' streams: 6% slower decode on an
  /// Intel Xeon with AMX, bench/RESULTS.md). One piece, or a pool of one thread, runs inline.
  /// grain < 1 is taken as 1.
  /// Otherwise as parallel_for (serialized calls, fn must not call the pool, exceptions).
  void parallel_for_pieces(int64_t n, int64_t grain,
                           const std::function<void(int64_t begin, int64_t end)>& fn);

 private:
  void worker_loop(int index);
  // Runs chunk `index` if it is still unclaimed in `generation`; false if someone else has it.
  bool try_run(int index, uint64_t generation);

  int n_threads_;
  std::vector<std::thread> workers_;

  // A job is published by setting each chunk's slot to the new generation number and then
  // bumping generation_. Whoever swaps a slot from the current generation to kClaimed runs
  // that chunk, so a chunk runs once, and a worker that wakes late finds its slot taken or
  // already set for a later job. remaining_ counts unfinished chunks; the job fields stay
  // untouched until it is zero. Both sides spin for a while before sleeping on the condition
  // variables, which keeps back-to-back calls (one per matmul of a decode step) cheap.
  static constexpr uint64_t kClaimed = ~uint64_t{0};
  std::mutex call_mutex_;  // one parallel_for at a time
  std::mutex mutex_;       // guards the sleeps and job_error_
  std::condition_variable start_cv_;
  std::condition_variable done_cv_;
  std::atomic<uint64_t> generation_{0};
  std::unique_ptr<std::atomic<uint64_t>[]> slots_;
  std::atomic<int> remaining_{0};
  std::atomic<bool> stopping_{false};

  const std::function<void(int64_t, int64_t)>* job_ = nullptr;
  int64_t job_n_ = 0;
  int job_chunks_ = 0;
  std::exception_ptr job_error_;
};

}  // namespace gengyun::kernels
