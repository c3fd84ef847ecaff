// Thin RAII helpers over libpq for the PostgreSQL store: one connection, queries with text
// parameters ($1, $2, ...; never spliced into SQL text), results, transactions. Every round trip
// (connecting, a statement, a pipeline, waiting for a pooled connection) has a deadline, so that
// a server that stops answering (frozen, or a network that drops packets) fails callers within
// it instead of holding them.
#pragma once

#include <libpq-fe.h>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "gengyun/result.h"

namespace gengyun::platform::pg {

/// A query parameter in PostgreSQL's text format; nullopt is SQL NULL.
using Param = std::optional<std::string>;
inline Param param(int64_t value) { return std::to_string(value); }
inline Param param(std::string_view text) { return std::string(text); }
inline Param param(const std::optional<int64_t>& value) {
  return value ? param(*value) : std::nullopt;
}

/// The rows of one query; cleared on destruction.
class Rows {
 public:
  explicit Rows(PGresult* result) : result_(result, PQclear) {}
  int count() const { return PQntuples(result_.get()); }
  int columns() const { return PQnfields(result_.get()); }
  bool is_null(int row, int col) const { return PQgetisnull(result_.get(), row, col) != 0; }
  std::string text(int row, int col) const {
    return std::string(PQgetvalue(result_.get(), row, col),
                       static_cast<size_t>(PQgetlength(result_.get(), row, col)));
  }
  int64_t int64(int row, int col) const { return std::stoll(text(row, col)); }
  std::optional<int64_t> optional_int(int row, int col) const {
    return is_null(row, col) ? std::nullopt : std::optional<int64_t>(int64(row, col));
  }

 private:
  std::unique_ptr<PGresult, void (*)(PGresult*)> result_;
};

/// One statement of a pipeline (Connection::pipeline): SQL text and its parameters.
struct Statement {
  std::string sql;
  std::vector<Param> params;
};

/// A PostgreSQL array literal of `values` ("{1,2}"), to bind as one parameter ($1::BIGINT[]).
Param array(const std::vector<int64_t>& values);
/// A PostgreSQL array literal of `values`, each quoted and escaped ("{\"a\",\"b\"}"), to bind as
/// one parameter ($1::TEXT[]).
Param array(const std::vector<std::string>& values);

/// How many statement texts a Connection prepares on its session (the store's statements are a
/// few dozen fixed texts; the cap bounds the session's memory should texts ever vary).
inline constexpr size_t kMaxPreparedStatements = 256;

/// How long one round trip to PostgreSQL may take by default: connecting (libpq's whole start
/// of a session), one statement or pipeline from sending to its last result, or waiting for a
/// pooled connection. Past it the connection is given up (closed) and the caller gets an
/// unreachable error (database_errors.h). The server's statement_timeout is set to it as well,
/// so a statement the client gave up on does not run on; its lock_timeout to half of it (at most
/// 5 s), so a statement blocked by a lock fails with the server's error first.
inline constexpr std::chrono::milliseconds kDefaultRoundTripTimeout{10'000};

/// How long a Pool refuses at once, by default, after a round trip or a connection attempt
/// went unanswered past its deadline: callers then get the unreachable error without waiting
/// another deadline each (a frozen server would otherwise hold every request for it), and
/// the first caller after it asks the server again.
inline constexpr std::chrono::milliseconds kDefaultRetryAfter{1'000};

/// The deadlines of a Pool's connections (pg_connection.h's defaults).
struct Deadlines {
  std::chrono::milliseconds round_trip = kDefaultRoundTripTimeout;
  /// 0: never refuse at once.
  std::chrono::milliseconds retry_after = kDefaultRetryAfter;
};

/// Whether `error` is a round trip's or a connection attempt's that passed its deadline.
bool went_unanswered(const Error& error);

/// One connection, in libpq's non-blocking mode: every round trip waits on the socket with
/// poll() until its deadline (the connection's round-trip timeout). Not thread-safe: callers
/// serialise its use.
class Connection {
 public:
  /// Connects to `url` ("postgres://user@host:port/db") within `timeout` (also each later round
  /// trip's), with TCP's tcp_user_timeout set to it unless the URL sets its own. Errors,
  /// unreachable (database_errors.h): libpq's (server not running, authentication, no such
  /// database), never the URL's password; "did not answer within" past the timeout.
  static Result<std::unique_ptr<Connection>> connect(
      const std::string& url, std::chrono::milliseconds timeout = kDefaultRoundTripTimeout);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  /// Runs one statement with `params` (a statement with parameters as pipeline() runs it,
  /// prepared on the session; one without, unnamed: DDL and one-off reads). Errors: the
  /// server's message (database_errors.h's when the session is lost or the round trip passed
  /// its deadline, which also closes the connection: broken() from then on; a trigger's plan
  /// that no longer fits a column's type ends the session too); last_sqlstate() holds its
  /// SQLSTATE ("23505": unique, "23503": FK).
  Result<Rows> query(std::string_view sql, const std::vector<Param>& params = {});
  /// Runs `statements` in order in one round trip (libpq's pipeline mode): all are sent, then
  /// their results read. Returns each statement's rows. Each statement (BEGIN and COMMIT too) is
  /// prepared on the session the first time its text is sent (its Parse message goes in the
  /// same round trip) and executed by name after, so that the server parses and plans it once
  /// per connection (docs/platform.md, "PostgreSQL statements are prepared once"); up to
  /// kMaxPreparedStatements texts, later ones run unnamed. Errors: the first failing statement's
  /// (the server then skips the rest; an open transaction stays open, failed, until ROLLBACK);
  /// last_sqlstate() holds its SQLSTATE as after query().
  Result<std::vector<Rows>> pipeline(const std::vector<Statement>& statements);
  /// Whether a transaction is open (BEGIN without COMMIT or ROLLBACK yet).
  bool in_transaction() const { return PQtransactionStatus(conn_) != PQTRANS_IDLE; }
  /// Runs SQL text without parameters, possibly several statements (schema DDL). Errors: as
  /// query()'s, the first failing statement's (the server skips the rest).
  Result<void> script(const char* sql);
  /// The SQLSTATE of the last failed statement; "" after a success.
  const std::string& last_sqlstate() const { return sqlstate_; }
  /// Whether a round trip on it passed its deadline (it is then broken()).
  bool went_unanswered() const { return went_unanswered_; }
  /// Whether the connection to the server is lost (it is then of no further use).
  bool broken() const { return unusable_ || PQstatus(conn_) != CONNECTION_OK; }
  /// broken(), after reading what the server sent an idle connection without waiting: a
  /// session the server ended (a restart, pg_terminate_backend) shows as broken here before
  /// a statement fails on it.
  bool closed_by_server() {
    // The first read takes the server's last message (FATAL: terminating connection), the
    // second meets the end of the stream; either failing means the session is over.
    for (int read = 0; read < 2 && !broken(); ++read) {
      if (PQconsumeInput(conn_) == 0) return true;
      (void)PQisBusy(conn_);
    }
    return broken();
  }
  /// The libpq connection, owned by this, for libpq's asynchronous calls (the key listener's
  /// notifications and pings, pg_key_listener.h). It is in non-blocking mode: a caller sending
  /// on it flushes with PQflush.
  PGconn* native() const { return conn_; }

 private:
  using Clock = std::chrono::steady_clock;

  Connection(PGconn* conn, std::chrono::milliseconds timeout) : conn_(conn), timeout_(timeout) {}
  Result<Rows> check(PGresult* result);
  /// Sends what libpq holds and waits until a result can be read without blocking. Errors:
  /// the session lost, or `deadline` passed (the connection is then unusable).
  Result<void> await_result(Clock::time_point deadline);
  /// The next result (PQgetResult: null after the last of a statement) once await_result()
  /// says it is there. Errors: await_result()'s.
  Result<PGresult*> next_result(Clock::time_point deadline);
  /// The result of the statement(s) just sent: the first error, else the last result.
  Result<Rows> collect(Clock::time_point deadline);
  /// Marks the connection unusable, ends it (shuts its socket down, so that the server ends the
  /// session and releases its locks once it runs again) and gives the unreachable error of a
  /// missed deadline.
  Error timed_out();
  /// The error libpq reports on the connection (PQerrorMessage), unreachable when the session
  /// is lost (statement_error()).
  Error libpq_error() const;
  /// The unreachable error of a statement asked of a connection no longer usable.
  Error unusable() const;

  PGconn* conn_;
  const std::chrono::milliseconds timeout_;
  /// The statements prepared on this session: SQL text -> statement name ("gy1", "gy2", ...).
  std::unordered_map<std::string, std::string> prepared_;
  uint64_t statements_named_ = 0;  ///< names given so far, prepared or not
  std::string sqlstate_;
  bool unusable_ = false;  ///< a pipeline could not be left (results unread), or timed_out()
  bool went_unanswered_ = false;  ///< timed_out()
};

/// Up to `size` connections to one database, opened as needed and reused, so that concurrent
/// callers (admissions, the ledger writer, reads) do not queue behind one connection. Thread-safe.
class Pool {
 public:
  /// A connection taken from the pool; returned to it on destruction (dropped if broken).
  class Lease {
   public:
    Lease(Pool* pool, std::unique_ptr<Connection> conn, bool probe = false)
        : pool_(pool), conn_(std::move(conn)), probe_(probe) {}
    Lease(Lease&&) noexcept = default;
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    Connection& operator*() const { return *conn_; }
    Connection* operator->() const { return conn_.get(); }
    /// Takes the connection out of the pool for good (it then no longer counts against size).
    std::unique_ptr<Connection> keep();

   private:
    Pool* pool_;
    std::unique_ptr<Connection> conn_;
    bool probe_;  ///< the one lease that asks a server that left a round trip unanswered
  };

  /// A pool of at most `size` (>= 1) connections to `url`, holding `first` (already open),
  /// each with round trips of at most `deadlines.round_trip`.
  Pool(std::string url, size_t size, std::unique_ptr<Connection> first, Deadlines deadlines = {});
  /// An idle connection the server has not closed (those it closed are dropped), else a new
  /// one while fewer than `size` are open, else waits for one, for at most the round-trip
  /// deadline. Once a round trip or a connection attempt went unanswered (and retry_after is
  /// not 0), the server is suspect until one is answered again: callers are refused at once,
  /// without asking it, for `deadlines.retry_after`, then one caller at a time asks it (the
  /// probe) while the others are still refused at once, so that a server that stopped
  /// answering holds one caller per deadline, not every caller. Errors: connect()'s;
  /// unreachable (database_errors.h) when none came free in time, or refused as above.
  Result<Lease> acquire();

 private:
  void release(std::unique_ptr<Connection> conn, bool probe);
  void forget(bool probe);
  /// The server left a round trip unanswered: suspect, refused for retry_after from now.
  void unanswered_locked();
  /// Why a caller (the probe or not) is refused at once now; nullopt when it may ask.
  std::optional<Error> refusal_locked(bool probe) const;

  const std::string url_;
  const size_t size_;
  const Deadlines deadlines_;
  std::mutex mutex_;
  bool suspect_ = false;    ///< a round trip went unanswered and none was answered since
  bool probe_out_ = false;  ///< while suspect_, a caller is asking the server
  std::chrono::steady_clock::time_point refuse_until_{};  ///< unanswered_locked()'s
  std::condition_variable returned_;
  std::vector<std::unique_ptr<Connection>> idle_;
  size_t open_ = 0;  ///< connections open: idle and leased
};

/// BEGIN on construction, ROLLBACK on destruction unless commit() succeeded.
class Transaction {
 public:
  /// Errors: the connection's.
  static Result<Transaction> begin(Connection& conn);
  Transaction(Transaction&& other) noexcept;
  Transaction& operator=(Transaction&&) = delete;
  ~Transaction();
  /// COMMIT; durable on return (synchronous_commit on).
  Result<void> commit();

 private:
  explicit Transaction(Connection& conn) : conn_(&conn) {}
  Connection* conn_;
  bool open_ = true;
};

}  // namespace gengyun::platform::pg
