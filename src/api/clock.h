// Wall-clock time as the API and its ledger record it.
#pragma once

#include <chrono>
#include <cstdint>

namespace gengyun::api {

/// Microseconds since the Unix epoch (system clock).
inline int64_t unix_time_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace gengyun::api
