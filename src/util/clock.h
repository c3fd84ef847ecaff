// Time, in microseconds: a monotonic clock for measuring durations and the wall clock for
// timestamps that are stored or shown. Every layer reads time through these two functions.
#pragma once

#include <chrono>
#include <cstdint>

namespace gengyun {

/// Microseconds on the monotonic clock (std::chrono::steady_clock) since an unspecified
/// origin: only differences of two readings mean anything. Thread-safe; a few tens of ns.
inline int64_t monotonic_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

/// Seconds elapsed since `start_us`, a monotonic_us() reading.
inline double seconds_since(int64_t start_us) { return (monotonic_us() - start_us) * 1e-6; }

/// Microseconds since the Unix epoch (system clock); may jump when the system time is set.
inline int64_t unix_time_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace gengyun
