#include "platform/pg_connection.h"

#include <optional>
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

}  // namespace

Result<std::unique_ptr<Connection>> Connection::connect(const std::string& url) {
  PGconn* conn = PQconnectdb(url.c_str());
  if (conn == nullptr) return make_error("cannot connect to PostgreSQL: out of memory");
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string reason = trimmed(PQerrorMessage(conn));
    PQfinish(conn);
    return unreachable_error("cannot connect to PostgreSQL: " + reason);
  }
  std::unique_ptr<Connection> connection(new Connection(conn));
  // lock_timeout: a statement waiting for a lock fails after 5 s, as SQLite's busy timeout,
  // so that a ledger write blocked by another session is spooled (ledger_writer.h).
  if (auto quiet = connection->script("SET client_min_messages = warning; SET lock_timeout = 5000");
      !quiet)
    return quiet.error();
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
  return statement_error(conn_, sqlstate_, std::move(message));
}

Result<Rows> Connection::query(std::string_view sql, const std::vector<Param>& params) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const Param& p : params) values.push_back(p ? p->c_str() : nullptr);
  const std::string text(sql);
  return check(PQexecParams(conn_, text.c_str(), static_cast<int>(values.size()), nullptr,
                            values.data(), nullptr, nullptr, 0));
}

Result<std::vector<Rows>> Connection::pipeline(const std::vector<Statement>& statements) {
  if (PQenterPipelineMode(conn_) != 1)
    return statement_error(conn_, "", "PostgreSQL error: " + trimmed(PQerrorMessage(conn_)));
  // Sent in blocking mode: the statements and their answers are small (a batch's arrays and
  // rows), far below what the socket buffers hold, so neither side waits on the other.
  size_t sent = 0;
  for (const Statement& statement : statements) {
    std::vector<const char*> values;
    values.reserve(statement.params.size());
    for (const Param& p : statement.params) values.push_back(p ? p->c_str() : nullptr);
    if (PQsendQueryParams(conn_, statement.sql.c_str(), static_cast<int>(values.size()), nullptr,
                          values.data(), nullptr, nullptr, 0) != 1)
      break;
    ++sent;
  }
  std::optional<Error> failure;
  if (sent < statements.size())
    failure = statement_error(conn_, "", "PostgreSQL error: " + trimmed(PQerrorMessage(conn_)));
  std::vector<Rows> rows;
  if (PQpipelineSync(conn_) == 1) {
    // Each statement's result is followed by a null; the sync's result comes last.
    for (size_t i = 0; i < sent && !broken(); ++i) {
      PGresult* result = PQgetResult(conn_);
      if (!result) break;
      while (PGresult* extra = PQgetResult(conn_)) PQclear(extra);
      if (failure) {
        PQclear(result);
        continue;
      }
      if (PQresultStatus(result) == PGRES_PIPELINE_ABORTED) {
        PQclear(result);
        failure = make_error("PostgreSQL error: the pipeline was aborted");
        continue;
      }
      auto checked = check(result);
      if (!checked)
        failure = checked.error();
      else
        rows.push_back(std::move(*checked));
    }
    // Bounded: a connection that answers nulls only (no sync) is given up below.
    for (size_t nulls = 0; nulls <= statements.size() + 1 && !broken();) {
      PGresult* result = PQgetResult(conn_);
      if (!result) {
        ++nulls;
        continue;
      }
      const bool synced = PQresultStatus(result) == PGRES_PIPELINE_SYNC;
      PQclear(result);
      if (synced) break;
    }
  } else if (!failure) {
    failure = statement_error(conn_, "", "PostgreSQL error: " + trimmed(PQerrorMessage(conn_)));
  }
  if (PQexitPipelineMode(conn_) != 1) {
    unusable_ = true;  // results are left unread: no later statement could run on it
    if (!failure)
      failure = statement_error(conn_, "", "PostgreSQL error: " + trimmed(PQerrorMessage(conn_)));
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
  auto done = check(PQexec(conn_, sql));
  if (!done) return done.error();
  return {};
}

Pool::Pool(std::string url, size_t size, std::unique_ptr<Connection> first)
    : url_(std::move(url)), size_(size < 1 ? 1 : size) {
  if (first) {
    idle_.push_back(std::move(first));
    open_ = 1;
  }
}

Result<Pool::Lease> Pool::acquire() {
  std::unique_lock lock(mutex_);
  returned_.wait(lock, [&] { return !idle_.empty() || open_ < size_; });
  while (!idle_.empty()) {
    std::unique_ptr<Connection> conn = std::move(idle_.back());
    idle_.pop_back();
    if (!conn->closed_by_server()) return Lease(this, std::move(conn));
    --open_;
  }
  ++open_;
  lock.unlock();
  auto conn = Connection::connect(url_);
  if (!conn) {
    forget();
    return conn.error();
  }
  return Lease(this, std::move(*conn));
}

void Pool::release(std::unique_ptr<Connection> conn) {
  if (conn->broken()) return forget();
  {
    std::lock_guard lock(mutex_);
    idle_.push_back(std::move(conn));
  }
  returned_.notify_one();
}

void Pool::forget() {
  {
    std::lock_guard lock(mutex_);
    --open_;
  }
  returned_.notify_one();
}

Pool::Lease::~Lease() {
  if (conn_) pool_->release(std::move(conn_));
}

std::unique_ptr<Connection> Pool::Lease::keep() {
  pool_->forget();
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
