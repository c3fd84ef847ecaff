#include "kernels/thread_pool.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

namespace gengyun::kernels {
namespace {

// Runs parallel_for(n) and checks that the chunks are contiguous, cover [0, n) exactly once
// and number min(size, n), the first of them on the calling thread (which may also run
// chunks whose workers had not started).
void check_cover(ThreadPool& pool, int64_t n) {
  std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
  std::atomic<int> chunks{0}, caller_chunks{0};
  std::atomic<bool> first_on_caller{false};
  const auto caller = std::this_thread::get_id();
  pool.parallel_for(n, [&](int64_t begin, int64_t end) {
    EXPECT_LT(begin, end);
    ++chunks;
    if (std::this_thread::get_id() == caller) {
      ++caller_chunks;
      if (begin == 0) first_on_caller = true;
    }
    for (int64_t i = begin; i < end; ++i) ++hits[static_cast<size_t>(i)];
  });
  for (int64_t i = 0; i < n; ++i)
    ASSERT_EQ(hits[static_cast<size_t>(i)].load(), 1) << "n=" << n << " i=" << i;
  EXPECT_EQ(chunks.load(), std::min<int64_t>(pool.size(), n)) << "n=" << n;
  EXPECT_EQ(first_on_caller.load(), n > 0) << "n=" << n;
  EXPECT_LE(caller_chunks.load(), chunks.load()) << "n=" << n;
}

TEST(ThreadPool, SizeClampsToAtLeastOne) {
  EXPECT_EQ(ThreadPool(0).size(), 1);
  EXPECT_EQ(ThreadPool(-3).size(), 1);
  EXPECT_EQ(ThreadPool(1).size(), 1);
  EXPECT_EQ(ThreadPool(4).size(), 4);
}

TEST(ThreadPool, CoversEveryIndexExactlyOnce) {
  for (int threads : {1, 2, 3, 8}) {
    ThreadPool pool(threads);
    for (int64_t n : {0, 1, 2, 3, 7, 8, 9, 100, 1001}) check_cover(pool, n);
  }
}

TEST(ThreadPool, SingleThreadRunsInlineAsOneChunk) {
  ThreadPool pool(1);
  int calls = 0;
  pool.parallel_for(10, [&](int64_t begin, int64_t end) {
    ++calls;
    EXPECT_EQ(begin, 0);
    EXPECT_EQ(end, 10);
  });
  EXPECT_EQ(calls, 1);
}

TEST(ThreadPool, ManyCallsReuseTheWorkers) {
  ThreadPool pool(4);
  std::atomic<int64_t> sum{0};
  for (int call = 0; call < 2000; ++call)
    pool.parallel_for(64, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) sum += i;
    });
  EXPECT_EQ(sum.load(), 2000 * (63 * 64 / 2));
}

TEST(ThreadPool, ConcurrentCallersAreSerialized) {
  ThreadPool pool(3);
  std::atomic<int64_t> total{0};
  auto caller = [&] {
    for (int call = 0; call < 300; ++call)
      pool.parallel_for(10, [&](int64_t begin, int64_t end) { total += end - begin; });
  };
  std::thread a(caller), b(caller);
  a.join();
  b.join();
  EXPECT_EQ(total.load(), 2 * 300 * 10);
}

TEST(ThreadPool, RethrowsAnExceptionAfterAllChunksFinish) {
  ThreadPool pool(4);
  std::atomic<int> finished{0};
  EXPECT_THROW(pool.parallel_for(4,
                                 [&](int64_t begin, int64_t) {
                                   if (begin == 2) throw std::runtime_error("chunk failed");
                                   ++finished;
                                 }),
               std::runtime_error);
  EXPECT_EQ(finished.load(), 3);
  check_cover(pool, 50);  // still usable
}

// Far more workers than cores: most are not running when a call starts, and the caller runs
// their chunks; every call still covers its range once and returns.
TEST(ThreadPool, CallerRunsChunksOfWorkersThatHaveNotStarted) {
  ThreadPool pool(32);
  for (int call = 0; call < 200; ++call) check_cover(pool, 1000);
}

// parallel_for_pieces: every index once, in pieces of `grain` starting at multiples of it (the
// last one shorter); one piece, or one thread (the whole range at once), runs inline.
TEST(ThreadPool, PiecesCoverEveryIndexOnceInPiecesOfTheGrain) {
  for (int threads : {1, 2, 3, 8}) {
    ThreadPool pool(threads);
    for (int64_t n : {0, 1, 2, 7, 16, 17, 100, 1001})
      for (int64_t grain : {-1, 0, 1, 3, 16, 5000}) {
        std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
        std::atomic<int> pieces{0}, off_caller{0};
        const auto caller = std::this_thread::get_id();
        pool.parallel_for_pieces(n, grain, [&](int64_t begin, int64_t end) {
          // One thread: the whole range in one call.
          const int64_t g = threads == 1 ? n : std::max<int64_t>(grain, 1);
          EXPECT_EQ(begin % g, 0) << "n=" << n << " grain=" << grain;
          EXPECT_EQ(end, std::min(n, begin + g)) << "n=" << n << " grain=" << grain;
          ++pieces;
          if (std::this_thread::get_id() != caller) ++off_caller;
          for (int64_t i = begin; i < end; ++i) ++hits[static_cast<size_t>(i)];
        });
        for (int64_t i = 0; i < n; ++i)
          ASSERT_EQ(hits[static_cast<size_t>(i)].load(), 1) << "n=" << n << " i=" << i;
        const int64_t g = std::max<int64_t>(grain, 1);
        const int64_t want = n == 0 ? 0 : (n + g - 1) / g;
        EXPECT_EQ(pieces.load(), threads == 1 && n > 0 ? 1 : want)
            << "n=" << n << " grain=" << grain;
        if (threads == 1 || want <= 1) {
          EXPECT_EQ(off_caller.load(), 0);
        }
      }
  }
}

// A thread that holds its piece long: the others take every other piece meanwhile.
TEST(ThreadPool, PiecesGoToTheThreadsThatAreFree) {
  ThreadPool pool(2);
  std::atomic<bool> slow_released{false};
  std::atomic<int> claimed_while_slow{0};
  std::atomic<int> started{0};
  pool.parallel_for_pieces(100, 1, [&](int64_t begin, int64_t) {
    ++started;
    if (begin == 0) {
      // Held until every other piece has been claimed by the other thread.
      while (started.load() < 100) std::this_thread::yield();
      slow_released = true;
    } else if (!slow_released) {
      ++claimed_while_slow;
    }
  });
  EXPECT_EQ(claimed_while_slow.load(), 99);
}

// Each thread runs its own contiguous share of the pieces in order first, then what is left of
// the others': with the first piece held until every other one is claimed, the other thread
// runs its share (50..99) and then the held thread's rest (1..49), both in order.
TEST(ThreadPool, PiecesRunTheirOwnShareInOrderFirst) {
  ThreadPool pool(2);
  std::atomic<int> started{0};
  std::mutex mutex;
  std::vector<int64_t> other;
  pool.parallel_for_pieces(100, 1, [&](int64_t begin, int64_t) {
    ++started;
    if (begin == 0) {
      while (started.load() < 100) std::this_thread::yield();
    } else {
      std::lock_guard lock(mutex);
      other.push_back(begin);
    }
  });
  std::vector<int64_t> want;
  for (int64_t i = 50; i < 100; ++i) want.push_back(i);
  for (int64_t i = 1; i < 50; ++i) want.push_back(i);
  EXPECT_EQ(other, want);
}

TEST(ThreadPool, PhysicalCoreCountIsPlausible) {
  const int cores = physical_core_count();
  EXPECT_GE(cores, 1);
  EXPECT_LE(cores, static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
}

}  // namespace
}  // namespace gengyun::kernels
