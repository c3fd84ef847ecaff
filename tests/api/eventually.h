// Waiting in tests for state the server exposes (open connections, ledger rows, a counter a
// helper thread advances): poll the condition until it holds, with a deadline far beyond any
// machine's speed so that only a real failure runs into it.
#pragma once

#include <chrono>
#include <functional>
#include <thread>

namespace gengyun::api::testing {

/// Polls `condition` every millisecond until it holds (true) or `timeout` passes (false).
inline bool eventually(const std::function<bool()>& condition,
                       std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

}  // namespace gengyun::api::testing
