#include "platform/pg_connection.h"

#include <poll.h>
#include <sys/socket.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <optional>
#include <string_view>
#include <utility>

#include "platform/database_errors.h"

namespace gengyun::platform::pg {
namespace {

/// libpq's messages end with a newline; the store's messages do not.
std::string trimmed(const char* message) {
  std::string text = message ? message : "unknown error";
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

/// `text` with every occurrence of `part` replaced by "***".
std::string masked(std::string text, const std::string& part) {
  if (part.empty()) return text;
  for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 3))
    text.replace(at, part.size(), "***");
  return text;
}

/// `text` without the password of `url` ("scheme://user:password@host..." or a "password="
/// query parameter), as written and percent-decoded: libpq quotes a URL it cannot parse whole,
/// password and all (QA 2026-12-03, fourth).
std::string without_password(std::string text, const std::string& url) {
  const size_t scheme = url.find("://");
  if (scheme == std::string::npos) return text;
  const size_t start = scheme + 3;
  const size_t end = std::min(url.find_first_of("/?#", start), url.size());
  const size_t at = url.rfind('@', end);
  const auto hex = [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; };
  const auto mask = [&](const std::string& password) {
    std::string decoded;
    for (size_t i = 0; i < password.size(); ++i) {
      if (password[i] == '%' && i + 2 < password.size() && hex(password[i + 1]) &&
          hex(password[i + 2])) {
        decoded += static_cast<char>(std::stoi(password.substr(i + 1, 2), nullptr, 16));
        i += 2;
      } else {
        decoded += password[i];
      }
    }
    text = masked(masked(std::move(text), password), decoded);
  };
  // In the user information: "user:password@".
  const size_t colon = url.find(':', start);
  if (at != std::string::npos && at >= start && colon != std::string::npos && colon < at)
    mask(url.substr(colon + 1, at - colon - 1));
  // As a query parameter: "?password=...&" (QA 2026-12-03, fourth).
  for (size_t key = url.find("password=", end); key != std::string::npos;
       key = url.find("password=", key + 1)) {
    if (url[key - 1] != '?' && url[key - 1] != '&') continue;
    const size_t value = key + 9;
    mask(url.substr(value, std::min(url.find('&', value), url.size()) - value));
  }
  return text;
}

/// SQLSTATEs of a session that cannot go on: class 08 (connection exception), and the server
/// shutting down, crashed or starting (57P01, 57P02, 57P03).
bool connection_lost(const std::string& sqlstate) {
  return sqlstate.starts_with("08") || sqlstate == "57P01" || sqlstate == "57P02" ||
         sqlstate == "57P03";
}

/// SQLSTATEs of a database that cannot take the statement now but may soon: a lock held past
/// lock_timeout (55P03), a statement cancelled (57014), a database read-only (25006: a standby,
/// or default_transaction_read_only during a failover), a serialization failure or a deadlock
/// (40001, 40P01).
bool database_busy(const std::string& sqlstate) {
  return sqlstate == "55P03" || sqlstate == "57014" || sqlstate == "25006" ||
         sqlstate == "40001" || sqlstate == "40P01";
}

/// The error `message` of a statement on `conn` that failed with `sqlstate` ("" when the server
/// sent none): an unreachable database's (database_errors.h) when the session is lost or the
/// database cannot take the statement now.
Error statement_error(PGconn* conn, const std::string& sqlstate, std::string message) {
  if (PQstatus(conn) != CONNECTION_OK || connection_lost(sqlstate) || database_busy(sqlstate))
    return unreachable_error(message);
  return make_error(std::move(message));
}

/// How a wait on a socket ended.
enum class Ready { yes, timed_out, failed };

/// Waits until `fd` is ready for `events` (poll's POLLIN, POLLOUT) or `deadline` passes.
Ready wait_socket(int fd, short events, std::chrono::steady_clock::time_point deadline) {
  if (fd < 0) return Ready::failed;
  while (true) {
    const auto left =
        std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return Ready::timed_out;
    pollfd polled{fd, events, 0};
    const int n = poll(&polled, 1, static_cast<int>(std::min<int64_t>(left.count(), 60'000)));
    if (n > 0) return Ready::yes;
    if (n < 0 && errno != EINTR) return Ready::failed;
  }
}

/// libpq's notice receiver: the server's notices go to the log, a session's end (FATAL or
/// PANIC, which the server sends before it closes the connection) at debug level only, since
/// the call that meets the closed connection reports it, once, as its error.
void log_notice(void*, const PGresult* notice) {
  const char* severity = PQresultErrorField(notice, PG_DIAG_SEVERITY_NONLOCALIZED);
  const std::string_view level = severity ? severity : "";
  const std::string text = trimmed(PQresultErrorMessage(notice));
  if (level == "FATAL" || level == "PANIC")
    spdlog::debug("PostgreSQL: {}", text);
  else
    spdlog::warn("PostgreSQL: {}", text);
}

/// What the error of a round trip that went unanswered says (went_unanswered()).
constexpr std::string_view kNoAnswer = "PostgreSQL did not answer within ";

/// What the error of a round trip that did not end within `timeout` says.
std::string no_answer(std::chrono::milliseconds timeout) {
  return std::string(kNoAnswer) + std::to_string(timeout.count()) + " ms";
}

}  // namespace

Result<std::unique_ptr<Connection>> Connection::connect(const std::string& url,
                                                        std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  // Keywords before "dbname" are defaults: what the URL (expanded from dbname) sets wins.
  const std::string user_timeout = std::to_string(timeout.count());
  const char* keywords[] = {"tcp_user_timeout", "dbname", nullptr};
  const char* values[] = {user_timeout.c_str(), url.c_str(), nullptr};
  PGconn* conn = PQconnectStartParams(keywords, values, /*expand_dbname=*/1);
  if (conn == nullptr) return make_error("cannot connect to PostgreSQL: out of memory");
  // libpq's asynchronous connection: poll the socket for what PQconnectPoll asks for.
  PostgresPollingStatusType polled = PGRES_POLLING_WRITING;
  while (PQstatus(conn) != CONNECTION_BAD && polled != PGRES_POLLING_OK &&
         polled != PGRES_POLLING_FAILED) {
    const Ready ready =
        wait_socket(PQsocket(conn), polled == PGRES_POLLING_READING ? POLLIN : POLLOUT, deadline);
    if (ready == Ready::timed_out) {
      PQfinish(conn);
      return unreachable_error("cannot connect to PostgreSQL: " + no_answer(timeout));
    }
    polled = PQconnectPoll(conn);
  }
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string reason = without_password(trimmed(PQerrorMessage(conn)), url);
    PQfinish(conn);
    return unreachable_error("cannot connect to PostgreSQL: " + reason);
  }
  std::unique_ptr<Connection> connection(new Connection(conn, timeout));
  PQsetNoticeReceiver(conn, log_notice, nullptr);
  if (PQsetnonblocking(conn, 1) != 0)
    return make_error("cannot connect to PostgreSQL: " +
                      without_password(trimmed(PQerrorMessage(conn)), url));
  // lock_timeout: a statement waiting for a lock fails before the client's deadline (5 s at
  // most, as SQLite's busy timeout), so that a ledger write blocked by another session is
  // spooled (ledger_writer.h) on a connection still usable; statement_timeout: the server ends
  // a statement the client has stopped waiting for; idle_in_transaction_session_timeout (half
  // the lock timeout): the server ends the session of a client stalled inside a transaction
  // (a frozen server, `kill -STOP`), whose row locks would otherwise hold every other server's
  // admissions for its tenant until it resumed (QA 2026-12-03, fourth), in time for those
  // waiting on them to go on. gengyun's transactions never idle that long between round trips.
  const int64_t ms = timeout.count();
  const int64_t lock_ms = std::max<int64_t>(2, std::min<int64_t>(5000, ms / 2));
  const std::string session =
      "SET client_min_messages = warning; SET lock_timeout = " + std::to_string(lock_ms) +
      "; SET statement_timeout = " + std::to_string(ms) +
      "; SET idle_in_transaction_session_timeout = " + std::to_string(lock_ms / 2);
  if (auto set = connection->script(session.c_str()); !set) return set.error();
  return connection;
}

Connection::~Connection() { PQfinish(conn_); }

Result<Rows> Connection::check(PGresult* result) {
  const ExecStatusType status = PQresultStatus(result);
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) {
    sqlstate_.clear();
    return Rows(result);
  }
  const char* state = PQresultErrorField(result, PG_DIAG_SQLSTATE);
  sqlstate_ = state ? state : "";
  const char* primary = PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY);
  std::string message =
      "PostgreSQL error: " + (primary ? std::string(primary) : trimmed(PQerrorMessage(conn_)));
  PQclear(result);
  // The session's prepared statements no longer serve (a column's type changed under one:
  // "cached plan must not change result type", 0A000; one was deallocated: 26000): from the
  // next call on, every statement is prepared again, under a new name (QA 2026-12-03, fourth:
  // every admission failed until the server restarted).
  if (sqlstate_ == "26000" ||
      (sqlstate_ == "0A000" && message.find("cached plan must not change result type") !=
                                   std::string::npos))
    prepared_.clear();
  // A PL/pgSQL function's plan cached in the session (a trigger's) no longer fits a column's
  // type (42804, "... does not match that when preparing the plan"): only a new session
  // plans it again, so this one ends and the pool opens another (QA 2026-12-03, fifth: every
  // request refused with 503 until the server restarted).
  if (sqlstate_ == "42804" && message.find("when preparing the plan") != std::string::npos)
    unusable_ = true;
  return statement_error(conn_, sqlstate_, std::move(message));
}

Result<void> Connection::await_result(Clock::time_point deadline) {
  while (true) {
    const int flushed = PQflush(conn_);
    if (flushed < 0)
      return libpq_error();
    if (flushed == 0 && PQisBusy(conn_) == 0) return {};
    const Ready ready =
        wait_socket(PQsocket(conn_), flushed == 1 ? POLLIN | POLLOUT : POLLIN, deadline);
    if (ready == Ready::timed_out) return timed_out();
    // Readable (or an error the read reports): libpq takes what came. With output still
    // pending, input is read too, as libpq asks, so that neither side waits on the other.
    if (ready == Ready::failed || PQconsumeInput(conn_) != 1) {
      unusable_ = true;
      return unreachable_error("PostgreSQL error: " + trimmed(PQerrorMessage(conn_)));
    }
  }
}

Result<PGresult*> Connection::next_result(Clock::time_point deadline) {
  if (auto ready = await_result(deadline); !ready) return ready.error();
  return PQgetResult(conn_);
}

bool went_unanswered(const Error& error) {
  return database_unreachable(error) && error.message.find(kNoAnswer) != std::string::npos;
}

Error Connection::timed_out() {
  unusable_ = true;
  went_unanswered_ = true;
  // The connection ends now, not when it is destroyed: a connection kept (the server's, which
  // holds its advisory lock) would otherwise keep its session, and the lock, once the server
  // answers again. The server sees the end of the stream when it reads next.
  shutdown(PQsocket(conn_), SHUT_RDWR);
  return unreachable_error(no_answer(timeout_));
}

Error Connection::libpq_error() const {
  return statement_error(conn_, "", "PostgreSQL error: " + trimmed(PQerrorMessage(conn_)));
}

Error Connection::unusable() const {
  return unreachable_error("PostgreSQL error: the connection was given up");
}

Result<Rows> Connection::collect(Clock::time_point deadline) {
  PGresult* kept = nullptr;
  const auto failed = [](PGresult* r) {
    const ExecStatusType status = PQresultStatus(r);
    return status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK;
  };
  while (true) {
    auto next = next_result(deadline);
    if (!next) {
      PQclear(kept);
      return next.error();
    }
    if (*next == nullptr) break;
    if (kept != nullptr && failed(kept)) {
      PQclear(*next);
      continue;
    }
    PQclear(kept);
    kept = *next;
  }
  if (kept == nullptr)
    return libpq_error();
  return check(kept);
}

Result<Rows> Connection::query(std::string_view sql, const std::vector<Param>& params) {
  if (broken()) return unusable();
  if (!params.empty()) {
    auto rows = pipeline({Statement{std::string(sql), params}});
    if (!rows) return rows.error();
    return std::move(rows->front());
  }
  const auto deadline = Clock::now() + timeout_;
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const Param& p : params) values.push_back(p ? p->c_str() : nullptr);
  const std::string text(sql);
  if (PQsendQueryParams(conn_, text.c_str(), static_cast<int>(values.size()), nullptr,
                        values.data(), nullptr, nullptr, 0) != 1)
    return libpq_error();
  return collect(deadline);
}

Result<std::vector<Rows>> Connection::pipeline(const std::vector<Statement>& statements) {
  if (broken()) return unusable();
  const auto deadline = Clock::now() + timeout_;
  if (PQenterPipelineMode(conn_) != 1)
    return libpq_error();
  // What was sent, in order: each statement, preceded by its Parse the first time its text is
  // sent on this session (`prepares`: the text and its new name).
  struct Sent {
    const std::string* prepares = nullptr;
    std::string name;
  };
  std::vector<Sent> sent;
  std::unordered_map<std::string_view, std::string> preparing;
  bool all_sent = true;
  for (const Statement& statement : statements) {
    std::vector<const char*> values;
    values.reserve(statement.params.size());
    for (const Param& p : statement.params) values.push_back(p ? p->c_str() : nullptr);
    const int n = static_cast<int>(values.size());
    const std::string* name = nullptr;
    if (auto it = prepared_.find(statement.sql); it != prepared_.end()) {
      name = &it->second;
    } else if (auto pending = preparing.find(statement.sql); pending != preparing.end()) {
      name = &pending->second;
    } else if (prepared_.size() + preparing.size() < kMaxPreparedStatements) {
      // Names are never reused: a Parse whose answer went unread may have created its name.
      std::string fresh = "gy" + std::to_string(++statements_named_);
      if (PQsendPrepare(conn_, fresh.c_str(), statement.sql.c_str(), n, nullptr) != 1) {
        all_sent = false;
        break;
      }
      sent.push_back(Sent{&statement.sql, fresh});
      name = &preparing.emplace(statement.sql, std::move(fresh)).first->second;
    }
    const int queued =
        name ? PQsendQueryPrepared(conn_, name->c_str(), n, values.data(), nullptr, nullptr, 0)
             : PQsendQueryParams(conn_, statement.sql.c_str(), n, nullptr, values.data(), nullptr,
                                 nullptr, 0);
    if (queued != 1) {
      all_sent = false;
      break;
    }
    sent.push_back(Sent{});
  }
  std::optional<Error> failure;
  if (!all_sent)
    failure = libpq_error();
  std::vector<Rows> rows;
  if (PQpipelineSync(conn_) == 1) {
    // Each result is followed by a null; the sync's result comes last.
    for (size_t i = 0; i < sent.size() && !broken(); ++i) {
      auto result = next_result(deadline);
      if (!result) {
        failure = result.error();
        break;
      }
      if (*result == nullptr) break;
      while (!broken()) {
        auto extra = next_result(deadline);
        if (!extra) failure = extra.error();
        if (!extra || *extra == nullptr) break;
        PQclear(*extra);
      }
      if (failure) {
        PQclear(*result);
        if (broken()) break;
        continue;
      }
      if (PQresultStatus(*result) == PGRES_PIPELINE_ABORTED) {
        PQclear(*result);
        failure = make_error("PostgreSQL error: the pipeline was aborted");
        continue;
      }
      auto checked = check(*result);
      if (!checked)
        failure = checked.error();
      else if (sent[i].prepares)
        prepared_.emplace(*sent[i].prepares, std::move(sent[i].name));
      else
        rows.push_back(std::move(*checked));
    }
    // Bounded: a connection that answers nulls only (no sync) is given up below.
    for (size_t nulls = 0; nulls <= sent.size() + 1 && !broken();) {
      auto result = next_result(deadline);
      if (!result) {
        if (!failure) failure = result.error();
        break;
      }
      if (*result == nullptr) {
        ++nulls;
        continue;
      }
      const bool synced = PQresultStatus(*result) == PGRES_PIPELINE_SYNC;
      PQclear(*result);
      if (synced) break;
    }
  } else if (!failure) {
    failure = libpq_error();
  }
  if (unusable_ || PQexitPipelineMode(conn_) != 1) {
    unusable_ = true;  // results are left unread: no later statement could run on it
    if (!failure)
      failure = libpq_error();
  }
  if (failure) return *failure;
  return rows;
}

Param array(const std::vector<int64_t>& values) {
  std::string text = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i) text += ',';
    text += std::to_string(values[i]);
  }
  return text + "}";
}

Param array(const std::vector<std::string>& values) {
  std::string text = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i) text += ',';
    text += '"';
    for (char c : values[i]) {
      if (c == '"' || c == '\\') text += '\\';
      text += c;
    }
    text += '"';
  }
  return text + "}";
}

Result<void> Connection::script(const char* sql) {
  if (broken()) return unusable();
  const auto deadline = Clock::now() + timeout_;
  if (PQsendQuery(conn_, sql) != 1)
    return libpq_error();
  auto done = collect(deadline);
  if (!done) return done.error();
  return {};
}

Pool::Pool(std::string url, size_t size, std::unique_ptr<Connection> first, Deadlines deadlines)
    : url_(std::move(url)), size_(size < 1 ? 1 : size), deadlines_(deadlines) {
  if (first) {
    idle_.push_back(std::move(first));
    open_ = 1;
  }
}

std::optional<Error> Pool::refusal_locked(bool probe) const {
  if (!suspect_ || probe) return std::nullopt;
  if (std::chrono::steady_clock::now() < refuse_until_)
    return unreachable_error(
        "PostgreSQL left a round trip unanswered in the last " +
        std::to_string(deadlines_.retry_after.count()) + " ms; it is asked again after that");
  if (probe_out_)
    return unreachable_error(
        "PostgreSQL left a round trip unanswered; one caller is asking it again, and the others "
        "are refused until it answers");
  return std::nullopt;
}

Result<Pool::Lease> Pool::acquire() {
  std::unique_lock lock(mutex_);
  if (auto refused = refusal_locked(false)) return *refused;
  bool probe = false;
  const auto claim_probe = [&] {
    if (suspect_ && !probe) probe = probe_out_ = true;
  };
  claim_probe();
  const bool free = returned_.wait_for(lock, deadlines_.round_trip, [&] {
    return !idle_.empty() || open_ < size_ || refusal_locked(probe).has_value();
  });
  // The server may have become suspect while it waited.
  if (auto refused = refusal_locked(probe)) return *refused;
  claim_probe();
  if (!free) {
    if (probe) probe_out_ = false;
    return unreachable_error("no PostgreSQL connection came free within " +
                             std::to_string(deadlines_.round_trip.count()) + " ms");
  }
  while (!idle_.empty()) {
    std::unique_ptr<Connection> conn = std::move(idle_.back());
    idle_.pop_back();
    if (!conn->closed_by_server()) return Lease(this, std::move(conn), probe);
    --open_;
  }
  ++open_;
  lock.unlock();
  auto conn = Connection::connect(url_, deadlines_.round_trip);
  if (!conn) {
    {
      std::lock_guard relock(mutex_);
      if (went_unanswered(conn.error())) unanswered_locked();
    }
    forget(probe);
    return conn.error();
  }
  return Lease(this, std::move(*conn), probe);
}

void Pool::release(std::unique_ptr<Connection> conn, bool probe) {
  {
    std::lock_guard lock(mutex_);
    if (probe) probe_out_ = false;
    if (conn->went_unanswered())
      unanswered_locked();
    else if (!conn->broken())
      suspect_ = false;  // the server answered
    if (conn->broken())
      --open_;
    else
      idle_.push_back(std::move(conn));
  }
  returned_.notify_all();
}

void Pool::unanswered_locked() {
  if (deadlines_.retry_after.count() == 0) return;
  suspect_ = true;
  refuse_until_ = std::chrono::steady_clock::now() + deadlines_.retry_after;
}

void Pool::forget(bool probe) {
  {
    std::lock_guard lock(mutex_);
    --open_;
    if (probe) probe_out_ = false;
  }
  returned_.notify_all();
}

Pool::Lease::~Lease() {
  if (conn_) pool_->release(std::move(conn_), probe_);
}

std::unique_ptr<Connection> Pool::Lease::keep() {
  pool_->forget(probe_);
  return std::move(conn_);
}

Result<Transaction> Transaction::begin(Connection& conn) {
  if (auto r = conn.script("BEGIN"); !r) return r.error();
  return Transaction(conn);
}

Transaction::Transaction(Transaction&& other) noexcept
    : conn_(other.conn_), open_(std::exchange(other.open_, false)) {}

Transaction::~Transaction() {
  if (open_) (void)conn_->script("ROLLBACK");
}

Result<void> Transaction::commit() {
  if (auto r = conn_->script("COMMIT"); !r) return r;
  open_ = false;
  return {};
}

}  // namespace gengyun::platform::pg
