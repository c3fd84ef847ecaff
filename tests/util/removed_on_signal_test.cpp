// RemovedOnSignal and install_removal_on_signal: a child process registers files, installs the
// handlers and is sent a signal; the parent checks which files are gone and how the child ended.
#include "util/removed_on_signal.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace gengyun::util {
namespace {

std::string make_file(const std::filesystem::path& dir, const std::string& name) {
  const std::string path = (dir / name).string();
  std::ofstream(path) << "data";
  return path;
}

// A fresh folder under the temporary directory, removed with its files at the end.
struct TempDir {
  std::filesystem::path path =
      std::filesystem::temp_directory_path() / ("removed_on_signal_" + std::to_string(::getpid()));
  TempDir() { std::filesystem::create_directories(path); }
  ~TempDir() { std::filesystem::remove_all(path); }
};

// Forks; the child runs `child` (which should end by a signal) and exits 0 if it returns.
// Returns the child's wait status.
template <typename Fn>
int in_child(Fn child) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    child();
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return status;
}

TEST(RemovedOnSignal, ASignalRemovesTheRegisteredFilesAndEndsTheProcessByIt) {
  TempDir dir;
  const std::string registered = make_file(dir.path, "a.gguf.tmp");
  const std::string also = make_file(dir.path, "b.gguf.f32.tmp");
  const std::string released = make_file(dir.path, "c.gguf.tmp");
  const std::string never = make_file(dir.path, "d.gguf");
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
    make_file(dir.path, "a.gguf.tmp");
    make_file(dir.path, "b.gguf.f32.tmp");
    const int status = in_child([&] {
      install_removal_on_signal();
      RemovedOnSignal a(registered), b(also);
      { RemovedOnSignal c(released); }
      ::raise(sig);
    });
    ASSERT_TRUE(WIFSIGNALED(status)) << sig;
    EXPECT_EQ(WTERMSIG(status), sig);
    EXPECT_FALSE(std::filesystem::exists(registered)) << sig;
    EXPECT_FALSE(std::filesystem::exists(also)) << sig;
    EXPECT_TRUE(std::filesystem::exists(released)) << sig;
    EXPECT_TRUE(std::filesystem::exists(never)) << sig;
  }
}

// Without the handlers a registration removes nothing: the signal's default action alone.
TEST(RemovedOnSignal, WithoutTheHandlersNothingIsRemoved) {
  TempDir dir;
  const std::string registered = make_file(dir.path, "a.gguf.tmp");
  const int status = in_child([&] {
    RemovedOnSignal a(registered);
    ::raise(SIGTERM);
  });
  ASSERT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), SIGTERM);
  EXPECT_TRUE(std::filesystem::exists(registered));
}

// Slots freed by ended registrations are taken again; registrations beyond kMaxRemovedOnSignal
// at once, and paths longer than kMaxRemovedOnSignalPath, are not recorded.
TEST(RemovedOnSignal, SlotsAreReusedAndTheOverflowIsNotRecorded) {
  TempDir dir;
  std::vector<std::string> paths;
  for (size_t i = 0; i < kMaxRemovedOnSignal + 1; ++i)
    paths.push_back(make_file(dir.path, std::to_string(i) + ".tmp"));
  const std::string too_long = (dir.path / std::string(kMaxRemovedOnSignalPath, 'x')).string();
  const int status = in_child([&] {
    install_removal_on_signal();
    for (int round = 0; round < 3; ++round) {
      std::vector<std::optional<RemovedOnSignal>> held(kMaxRemovedOnSignal);
      for (size_t i = 0; i < kMaxRemovedOnSignal; ++i) held[i].emplace(paths[i]);
    }
    std::vector<std::optional<RemovedOnSignal>> held(kMaxRemovedOnSignal + 1);
    for (size_t i = 0; i < kMaxRemovedOnSignal + 1; ++i) held[i].emplace(paths[i]);
    RemovedOnSignal ignored(too_long);
    ::raise(SIGTERM);
  });
  ASSERT_TRUE(WIFSIGNALED(status));
  for (size_t i = 0; i < kMaxRemovedOnSignal; ++i)
    EXPECT_FALSE(std::filesystem::exists(paths[i])) << i;
  EXPECT_TRUE(std::filesystem::exists(paths[kMaxRemovedOnSignal]));
}

// Two signals at once (a double Ctrl-C, a supervisor repeating SIGTERM): the second, delivered
// to another thread of the process while the first handler removes the files, must not end
// the process before they are gone. The child is ready (two threads waiting) when it writes to
// the pipe; the second signal follows the first after 0 to 190 microseconds, over 40 rounds, so
// that some land while the first handler unlinks its 16 files.
TEST(RemovedOnSignal, ASecondSignalWaitsForTheFirstHandler) {
  TempDir dir;
  for (int round = 0; round < 40; ++round) {
    std::vector<std::string> paths;
    for (size_t i = 0; i < kMaxRemovedOnSignal; ++i)
      paths.push_back(make_file(dir.path, std::to_string(i) + ".tmp"));
    int ready[2];
    ASSERT_EQ(::pipe(ready), 0);
    const pid_t pid = ::fork();
    if (pid == 0) {
      install_removal_on_signal();
      std::vector<std::optional<RemovedOnSignal>> registered(paths.size());
      for (size_t i = 0; i < paths.size(); ++i) registered[i].emplace(paths[i]);
      std::thread other([] {
        for (;;) ::pause();
      });
      const char byte = 1;
      if (::write(ready[1], &byte, 1) != 1) ::_exit(2);
      for (;;) ::pause();
    }
    char byte = 0;
    ASSERT_EQ(::read(ready[0], &byte, 1), 1);
    ::close(ready[0]);
    ::close(ready[1]);
    ::kill(pid, SIGINT);
    const auto gap = std::chrono::microseconds(10 * (round % 20));
    for (const auto start = std::chrono::steady_clock::now();
         std::chrono::steady_clock::now() - start < gap;) {
    }
    ::kill(pid, SIGINT);
    int status = 0;
    ::waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << round;
    EXPECT_EQ(WTERMSIG(status), SIGINT) << round;
    for (const std::string& path : paths)
      ASSERT_FALSE(std::filesystem::exists(path)) << "round " << round << ": " << path;
  }
}

}  // namespace
}  // namespace gengyun::util
