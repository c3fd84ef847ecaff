// A PostgreSQL server of the tests' own: initdb and pg_ctl from Debian's `postgresql` in a
// temporary directory, on a free loopback port, as the user `postgres` when the tests run as
// root (PostgreSQL refuses to run as root); stopped and removed when the test process exits,
// or by the next test process when it died first.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "gengyun/result.h"

namespace gengyun::platform::testing {

class PostgresServer {
 public:
  /// The server of this process, started on first use. Errors: the PostgreSQL server
  /// programs are missing or the server does not start (with initdb's or pg_ctl's output).
  static Result<PostgresServer*> get();
  /// get()'s server for a test that needs PostgreSQL; when it cannot start, null, the calling
  /// test having been failed under CI (gengyun::testing::running_in_ci(): a CI run cannot pass
  /// by skipping) and skipped elsewhere, with get()'s error as the message. The caller returns
  /// at once on null: `auto* server = PostgresServer::get_or_skip(); if (!server) return;`.
  static PostgresServer* get_or_skip();
  ~PostgresServer();

  /// Stops and removes the servers that test processes now gone left in `temp_dir` (a test
  /// process that dies, killed or aborted, cannot stop its own): the directories named
  /// gengyun-pg-* whose `owner` file names a process that no longer exists; pg_ctl from `bin`.
  /// Directories without an owner file (being created, or of an older build) are left.
  /// Returns how many were removed. get() calls it before starting this process's server.
  static int reap_orphans(const std::filesystem::path& temp_dir, const std::string& bin);

  /// The URL of a new, empty database on the server. Errors: the server's.
  Result<std::string> new_database();
  /// Makes the database at `url` (one of new_database()'s) read a clock `seconds` ahead of the
  /// machine's (negative: behind) in sessions that start from now on, as the database of servers
  /// whose clocks are off: a function public.clock_timestamp() in front of PostgreSQL's
  /// (pg_catalog after public in the database's search_path). Errors: the database's.
  static Result<void> shift_clock(const std::string& url, int64_t seconds);
  /// Restarts the server (pg_ctl restart, fast shutdown: every session ends), waiting until it
  /// accepts connections again. Errors: pg_ctl's output.
  Result<void> restart();
  /// Stops the server (pg_ctl stop, fast shutdown: every session ends), waiting until it is
  /// down: connections are refused until start(). Errors: pg_ctl's output.
  Result<void> stop();
  /// Starts the server stopped by stop() on its port, waiting until it accepts connections.
  /// Errors: pg_ctl's output and the server's log.
  Result<void> start();
  /// Stops every process of the server with SIGSTOP, as a server that stops answering (a frozen
  /// machine, a network that drops packets): the kernel still accepts TCP connections and takes
  /// what clients send, but nothing is answered until thaw(). Errors: no postmaster.pid, or a
  /// signal refused.
  Result<void> freeze();
  /// Lets every process of the server go on (SIGCONT) after freeze(). Errors: as freeze()'s.
  Result<void> thaw();

 private:
  PostgresServer() = default;
  /// Runs `command` (a shell command line) as the servers' user; its exit status.
  static int run_as_owner(const std::string& command);
  /// Sends `signal` to the postmaster and to each of its children.
  Result<void> signal_all(int signal);
  /// signal_all() for the server in `dir`. Errors: no postmaster.pid, a signal refused.
  static Result<void> signal_server(const std::string& dir, int signal);

  std::string dir_;
  std::string bin_;
  int port_ = 0;
  bool started_ = false;
  int databases_ = 0;
};

}  // namespace gengyun::platform::testing
