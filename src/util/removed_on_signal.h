// Temporary files that a fatal SIGINT, SIGTERM or SIGHUP removes before the process dies: a
// Ctrl-C during `gengyun quantize` or `synth` would otherwise leave gigabytes of `OUT.tmp`.
#pragma once

#include <cstddef>
#include <string>

namespace gengyun::util {

/// Most paths registered at once; a registration beyond them is not recorded (the file is then
/// left behind by a signal, as without this facility).
inline constexpr size_t kMaxRemovedOnSignal = 16;
/// Longest path (bytes) a registration records; a longer one is not recorded.
inline constexpr size_t kMaxRemovedOnSignalPath = 4095;

/// Registers `path` for removal by the handlers of install_removal_on_signal() for as long as
/// the object lives; the destructor only unregisters (the file stays). Register a temporary file
/// right after creating it, and let the object go once the file was renamed or removed, so that
/// a signal never removes a finished output. Thread-safe.
class RemovedOnSignal {
 public:
  explicit RemovedOnSignal(const std::string& path);
  ~RemovedOnSignal();
  RemovedOnSignal(const RemovedOnSignal&) = delete;
  RemovedOnSignal& operator=(const RemovedOnSignal&) = delete;

 private:
  int slot_ = -1;  ///< -1: not recorded
};

/// Installs handlers for SIGINT, SIGTERM and SIGHUP that unlink every registered path and then
/// end the process by the same signal (its default action: the exit status a shell shows as
/// 128 + signal). For one-shot commands that write files; not for `serve`, which handles these
/// signals itself. Idempotent.
void install_removal_on_signal();

}  // namespace gengyun::util
