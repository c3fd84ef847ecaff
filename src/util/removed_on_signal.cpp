#include "util/removed_on_signal.h"

#include <signal.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstring>

namespace gengyun::util {
namespace {

// A slot's states: free; being written by a registration; holding a path; being read by the
// handler (whose process ends right after, so that state is never left).
enum SlotState : int { kFree = 0, kWriting = 1, kReady = 2, kRemoving = 3 };

// Fixed storage: the handler may only read memory that no thread frees or reallocates.
struct Slot {
  std::atomic<int> state{kFree};
  char path[kMaxRemovedOnSignalPath + 1] = {};
};
std::array<Slot, kMaxRemovedOnSignal> slots;

// Set by the first handler to run: a second signal, delivered to another thread while the
// first handler removes the files, must not end the process before it is done.
std::atomic<bool> removing{false};

// Async-signal-safe: atomics (lock-free), unlink, sigaction, raise and pause only.
void remove_and_die(int sig) {
  if (removing.exchange(true)) {
    // Another thread's handler is removing the files and then ends the process.
    for (;;) ::pause();
  }
  for (Slot& slot : slots) {
    int expected = kReady;
    if (slot.state.compare_exchange_strong(expected, kRemoving, std::memory_order_acquire))
      ::unlink(slot.path);
  }
  // The default action again; the signal is blocked in this thread until the handler returns,
  // and is then delivered: the process ends by it.
  struct sigaction default_action = {};
  default_action.sa_handler = SIG_DFL;
  sigemptyset(&default_action.sa_mask);
  ::sigaction(sig, &default_action, nullptr);
  ::raise(sig);
}

}  // namespace

RemovedOnSignal::RemovedOnSignal(const std::string& path) {
  if (path.size() > kMaxRemovedOnSignalPath) return;
  for (size_t i = 0; i < slots.size(); ++i) {
    int expected = kFree;
    if (!slots[i].state.compare_exchange_strong(expected, kWriting, std::memory_order_acquire))
      continue;
    std::memcpy(slots[i].path, path.c_str(), path.size() + 1);
    slots[i].state.store(kReady, std::memory_order_release);
    slot_ = static_cast<int>(i);
    return;
  }
}

RemovedOnSignal::~RemovedOnSignal() {
  if (slot_ < 0) return;
  // Fails only while the handler reads the path on another thread: the process is ending then,
  // and the slot must not be rewritten under it.
  std::atomic<int>& state = slots[static_cast<size_t>(slot_)].state;
  for (int expected = kReady;
       !state.compare_exchange_weak(expected, kFree, std::memory_order_release);
       expected = kReady) {
  }
}

void install_removal_on_signal() {
  static_assert(std::atomic<int>::is_always_lock_free);
  static_assert(std::atomic<bool>::is_always_lock_free);
  struct sigaction action = {};
  action.sa_handler = remove_and_die;
  constexpr int kSignals[] = {SIGINT, SIGTERM, SIGHUP};
  // All three blocked while a handler runs in its thread.
  sigemptyset(&action.sa_mask);
  for (int sig : kSignals) sigaddset(&action.sa_mask, sig);
  for (int sig : kSignals) sigaction(sig, &action, nullptr);
}

}  // namespace gengyun::util
