#include "platform/pg_key_listener.h"

#include <fcntl.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <utility>

#include "platform/pg_connection.h"

namespace gengyun::platform {

PgKeyListener::PgKeyListener(std::string url, KeyCache& cache, std::chrono::milliseconds timeout)
    : url_(std::move(url)), cache_(cache), timeout_(timeout) {
  if (pipe2(stop_pipe_, O_CLOEXEC | O_NONBLOCK) != 0) {
    // Without a stop pipe the listener cannot be stopped; the cache then stays bypassed.
    spdlog::error("key cache: cannot create the listener's pipe; keys are read from the database");
    stop_pipe_[0] = stop_pipe_[1] = -1;
    return;
  }
  thread_ = std::thread([this] { run(); });
}

PgKeyListener::~PgKeyListener() {
  if (thread_.joinable()) {
    const char byte = 0;
    (void)!write(stop_pipe_[1], &byte, 1);
    thread_.join();
  }
  for (int fd : stop_pipe_)
    if (fd >= 0) close(fd);
}

bool PgKeyListener::wait(int fd, std::chrono::milliseconds timeout, bool* readable) {
  pollfd fds[2] = {{stop_pipe_[0], POLLIN, 0}, {fd, POLLIN, 0}};
  const int count = fd >= 0 ? 2 : 1;
  int ready;
  do {
    ready = poll(fds, count, static_cast<int>(std::max<int64_t>(timeout.count(), 0)));
  } while (ready < 0 && errno == EINTR);
  if (readable) *readable = count == 2 && (fds[1].revents & (POLLIN | POLLERR | POLLHUP)) != 0;
  return fds[0].revents != 0;
}

void PgKeyListener::run() {
  while (true) {
    if (listen()) return;
    cache_.lose();
    if (!lost_)
      spdlog::warn(
          "key cache: the PostgreSQL connection listening for key changes is lost; API keys are "
          "read from the database until it is back");
    lost_ = true;
    if (wait(-1, kReconnectDelay, nullptr)) return;
  }
}

bool PgKeyListener::listen() {
  using Clock = KeyCache::Clock;
  auto conn = pg::Connection::connect(url_, timeout_);
  if (!conn) return false;
  const std::string setup = std::string("SET application_name = '") + kKeyListenerApplicationName +
                            "'; LISTEN " + kKeyChangeChannel;
  const Clock::time_point listening_as_of = Clock::now();
  if (!(*conn)->script(setup.c_str())) return false;
  // Changes committed before LISTEN took effect sent no notice to this connection; confirming
  // empties the cache (it was lost) and refuses the reads begun before.
  cache_.confirm(listening_as_of);
  // Logged once listening (the cache answers from then on), so that an operator, and a test
  // from outside the process, can see when it starts to.
  spdlog::info(lost_ ? "key cache: listening for key changes again"
                     : "key cache: listening for key changes");
  lost_ = false;
  PGconn* pg = (*conn)->native();
  const auto apply_notices = [&] {
    while (PGnotify* notice = PQnotifies(pg)) {
      cache_.apply_notice(notice->extra);
      PQfreemem(notice);
    }
  };
  apply_notices();
  const int fd = PQsocket(pg);
  bool ping_in_flight = false;
  Clock::time_point ping_sent = Clock::now();
  Clock::time_point next_ping = ping_sent + kPingInterval;
  while (true) {
    Clock::time_point now = Clock::now();
    if (!ping_in_flight && now >= next_ping) {
      if (PQsendQuery(pg, "SELECT 1") != 1) return false;
      // The connection is non-blocking (pg_connection.h): the ping leaves on PQflush.
      if (PQflush(pg) != 0) return false;
      ping_in_flight = true;
      ping_sent = now;
    }
    const Clock::time_point deadline = ping_in_flight ? ping_sent + kPingTimeout : next_ping;
    bool readable = false;
    if (wait(fd, std::chrono::ceil<std::chrono::milliseconds>(deadline - now), &readable))
      return true;
    if (!readable) {
      if (ping_in_flight && Clock::now() >= ping_sent + kPingTimeout) return false;
      continue;
    }
    if (PQconsumeInput(pg) != 1) return false;
    apply_notices();
    if (ping_in_flight && PQisBusy(pg) == 0) {
      bool answered = true;
      while (PGresult* result = PQgetResult(pg)) {
        answered = answered && PQresultStatus(result) == PGRES_TUPLES_OK;
        PQclear(result);
      }
      if (!answered) return false;
      apply_notices();
      cache_.confirm(ping_sent);
      ping_in_flight = false;
      next_ping = ping_sent + kPingInterval;
    }
    if (PQstatus(pg) != CONNECTION_OK) return false;
  }
}

}  // namespace gengyun::platform
