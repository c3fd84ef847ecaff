#include "process.h"

#include <fcntl.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "api/eventually.h"

extern char** environ;

namespace gengyun::e2e {
namespace {

std::string temp_file(const char* tag) {
  std::string path =
      (std::filesystem::temp_directory_path() / (std::string("gengyun-e2e-") + tag + "-XXXXXX"))
          .string();
  const int fd = mkstemp(path.data());
  if (fd >= 0) close(fd);
  return path;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

/// Starts argv with stdout and stderr sent to the given files; -1 on failure.
pid_t spawn(const std::vector<std::string>& argv, const std::string& out_path,
            const std::string& err_path) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out_path.c_str(), O_WRONLY | O_TRUNC,
                                   0);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err_path.c_str(), O_WRONLY | O_TRUNC,
                                   0);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  if (posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ) != 0) pid = -1;
  posix_spawn_file_actions_destroy(&actions);
  return pid;
}

int exit_code_of(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : -1; }

}  // namespace

ProcessOutput run_process(const std::vector<std::string>& argv) {
  const std::string out_path = temp_file("out");
  const std::string err_path = temp_file("err");
  ProcessOutput result;
  const pid_t pid = spawn(argv, out_path, err_path);
  if (pid > 0) {
    int status = 0;
    if (waitpid(pid, &status, 0) == pid) result.exit_code = exit_code_of(status);
  }
  result.out = slurp(out_path);
  result.err = slurp(err_path);
  std::filesystem::remove(out_path);
  std::filesystem::remove(err_path);
  return result;
}

int free_port() {
  const int sock = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  int port = -1;
  if (sock >= 0 && bind(sock, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      getsockname(sock, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
    port = ntohs(addr.sin_port);
  if (sock >= 0) close(sock);
  return port;
}

BackgroundProcess::BackgroundProcess(const std::vector<std::string>& argv)
    : err_path_(temp_file("server-err")) {
  pid_ = spawn(argv, "/dev/null", err_path_);
}

BackgroundProcess::~BackgroundProcess() {
  stop();
  std::filesystem::remove(err_path_);
}

bool BackgroundProcess::running() {
  if (pid_ <= 0) return false;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) == pid_) {
    exit_code_ = exit_code_of(status);
    term_signal_ = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    pid_ = -1;
    return false;
  }
  return true;
}

int BackgroundProcess::stop(int timeout_s, int signal) {
  if (!running()) return exit_code_;
  kill(pid_, signal);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  while (running() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  if (running()) {
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    exit_code_ = -1;
    term_signal_ = SIGKILL;
  }
  return exit_code_;
}

void BackgroundProcess::kill_now() {
  if (!running()) return;
  kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  exit_code_ = -1;
  term_signal_ = SIGKILL;
}

std::string BackgroundProcess::err() const { return slurp(err_path_); }

std::optional<std::string> wait_for_health(BackgroundProcess& server, int port) {
  std::optional<std::string> body;
  api::testing::eventually(
      [&] {
        if (!server.running()) return true;
        httplib::Client client("127.0.0.1", port);
        if (auto r = client.Get("/health"); r && r->status == 200) body = r->body;
        return body.has_value();
      },
      std::chrono::seconds(30));
  return body;
}

}  // namespace gengyun::e2e
