#include "bench/machine.h"

#include <immintrin.h>
#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <fstream>

#include "util/clock.h"

namespace gengyun::bench {
namespace {

/// Bytes summed per loop iteration by every variant: four 64-byte lines.
constexpr size_t kStep = 256;

__attribute__((target("avx512f"))) uint64_t sum_avx512(const uint8_t* p, size_t n) {
  __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
  for (size_t i = 0; i < n; i += kStep) {
    a0 = _mm512_add_epi64(a0, _mm512_load_si512(p + i));
    a1 = _mm512_add_epi64(a1, _mm512_load_si512(p + i + 64));
    a2 = _mm512_add_epi64(a2, _mm512_load_si512(p + i + 128));
    a3 = _mm512_add_epi64(a3, _mm512_load_si512(p + i + 192));
  }
  alignas(64) uint64_t lanes[8];
  _mm512_store_si512(lanes, _mm512_add_epi64(_mm512_add_epi64(a0, a1), _mm512_add_epi64(a2, a3)));
  uint64_t sum = 0;
  for (const uint64_t lane : lanes) sum += lane;
  return sum;
}

__attribute__((target("avx2"))) uint64_t sum_avx2(const uint8_t* p, size_t n) {
  __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
  for (size_t i = 0; i < n; i += kStep) {
    const auto* v = reinterpret_cast<const __m256i*>(p + i);
    a0 = _mm256_add_epi64(a0, _mm256_add_epi64(_mm256_load_si256(v + 0), _mm256_load_si256(v + 1)));
    a1 = _mm256_add_epi64(a1, _mm256_add_epi64(_mm256_load_si256(v + 2), _mm256_load_si256(v + 3)));
    a2 = _mm256_add_epi64(a2, _mm256_add_epi64(_mm256_load_si256(v + 4), _mm256_load_si256(v + 5)));
    a3 = _mm256_add_epi64(a3, _mm256_add_epi64(_mm256_load_si256(v + 6), _mm256_load_si256(v + 7)));
  }
  const __m256i s = _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3));
  alignas(32) uint64_t lanes[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), s);
  return lanes[0] + lanes[1] + lanes[2] + lanes[3];
}

uint64_t sum_sse2(const uint8_t* p, size_t n) {
  __m128i a0 = _mm_setzero_si128(), a1 = a0, a2 = a0, a3 = a0;
  for (size_t i = 0; i < n; i += kStep) {
    const auto* v = reinterpret_cast<const __m128i*>(p + i);
    for (int j = 0; j < 16; j += 4) {
      a0 = _mm_add_epi64(a0, _mm_load_si128(v + j));
      a1 = _mm_add_epi64(a1, _mm_load_si128(v + j + 1));
      a2 = _mm_add_epi64(a2, _mm_load_si128(v + j + 2));
      a3 = _mm_add_epi64(a3, _mm_load_si128(v + j + 3));
    }
  }
  alignas(16) uint64_t lanes[2];
  _mm_store_si128(reinterpret_cast<__m128i*>(lanes), _mm_add_epi64(_mm_add_epi64(a0, a1), _mm_add_epi64(a2, a3)));
  return lanes[0] + lanes[1];
}

using SumFn = uint64_t (*)(const uint8_t*, size_t);

SumFn widest_sum() {
  if (__builtin_cpu_supports("avx512f")) return sum_avx512;
  if (__builtin_cpu_supports("avx2")) return sum_avx2;
  return sum_sse2;
}

/// An anonymous private mapping, unmapped on destruction.
class Buffer {
 public:
  explicit Buffer(size_t bytes) : bytes_(bytes) {
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return;
    data_ = static_cast<uint8_t*>(p);
    madvise(p, bytes, MADV_HUGEPAGE);
  }
  ~Buffer() {
    if (data_) munmap(data_, bytes_);
  }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  uint8_t* data() const { return data_; }

 private:
  size_t bytes_;
  uint8_t* data_ = nullptr;
};

}  // namespace

std::string cpu_model_name() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (!line.starts_with("model name")) continue;
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    const size_t begin = line.find_first_not_of(" \t", colon + 1);
    return begin == std::string::npos ? "unknown" : line.substr(begin);
  }
  return "unknown";
}

Result<double> measure_read_bandwidth(size_t bytes, int passes, kernels::ThreadPool& pool) {
  if (bytes < kMinBandwidthBytes)
    return make_error("read bandwidth buffer of " + std::to_string(bytes) + " bytes is too small (at least 1 MiB)");
  if (passes < 1) return make_error("read bandwidth needs at least 1 pass, not " + std::to_string(passes));
  const int n_threads = pool.size();
  const size_t slice = bytes / n_threads / kStep * kStep;
  const size_t total = slice * n_threads;
  Buffer buffer(total);
  if (!buffer.data())
    return make_error("cannot allocate " + std::to_string(total) + " bytes for the read bandwidth buffer");
  // Each thread touches its own slice first, so its pages are local to it.
  pool.parallel_for(n_threads, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) std::memset(buffer.data() + t * slice, static_cast<int>(t + 1), slice);
  });
  const SumFn sum = widest_sum();
  std::atomic<uint64_t> checksum{0};
  double best_seconds = 0;
  for (int pass = 0; pass < passes; ++pass) {
    const int64_t start = monotonic_us();
    pool.parallel_for(n_threads, [&](int64_t begin, int64_t end) {
      for (int64_t t = begin; t < end; ++t) checksum += sum(buffer.data() + t * slice, slice);
    });
    const double seconds = seconds_since(start);
    if (pass == 0 || seconds < best_seconds) best_seconds = seconds;
  }
  // Every byte holds its slice's index + 1, so the sums are known: a check that no pass was
  // skipped.
  uint64_t expected = 0;
  for (int t = 0; t < n_threads; ++t) {
    uint64_t word = 0;
    std::memset(&word, t + 1, sizeof word);
    expected += word * (slice / sizeof word);
  }
  if (checksum.load() != expected * static_cast<uint64_t>(passes))
    return make_error("read bandwidth pass read wrong data (checksum mismatch)");
  return static_cast<double>(total) / std::max(best_seconds, 1e-9);
}

}  // namespace gengyun::bench
