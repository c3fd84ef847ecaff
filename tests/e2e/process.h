// Running the real `gengyun` binary from tests: one-shot commands with captured output, and a
// background server that is stopped (SIGTERM, then SIGKILL) when the handle goes away.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

namespace gengyun::e2e {

struct ProcessOutput {
  int exit_code = -1;  ///< -1: did not exit normally
  std::string out;
  std::string err;
};

/// Runs `argv` (argv[0] a path) to completion; stdout and stderr captured.
ProcessOutput run_process(const std::vector<std::string>& argv);

/// A port on 127.0.0.1 that was free a moment ago.
int free_port();

class BackgroundProcess;

/// Polls GET /health on 127.0.0.1:port while `server` runs, for at most 30 s; the body of the
/// first 200 answer, or nullopt when the server exits or the deadline passes.
std::optional<std::string> wait_for_health(BackgroundProcess& server, int port);

/// A process running in the background; its stderr goes to a file read by err().
class BackgroundProcess {
 public:
  explicit BackgroundProcess(const std::vector<std::string>& argv);
  ~BackgroundProcess();
  BackgroundProcess(const BackgroundProcess&) = delete;
  BackgroundProcess& operator=(const BackgroundProcess&) = delete;

  /// Whether the process is still running (reaps it if it has exited).
  bool running();
  /// Sends `signal` (SIGTERM by default) and waits up to `timeout_s` for the exit; SIGKILL
  /// after that. Returns the exit code (-1 when killed or not exited normally).
  int stop(int timeout_s = 10, int signal = SIGTERM);
  /// The signal that ended the process once it has ended (SIGKILL where stop had to send it);
  /// 0 when it exited normally or is still running.
  int term_signal() const { return term_signal_; }
  /// Sends SIGKILL (a crash: nothing runs after it) and reaps the process.
  void kill_now();
  std::string err() const;

 private:
  pid_t pid_ = -1;
  int exit_code_ = -1;
  int term_signal_ = 0;
  std::string err_path_;
};

}  // namespace gengyun::e2e
