#include "postgres_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <vector>

#include "platform/pg_connection.h"
#include "testdata.h"

namespace gengyun::platform::testing {
namespace {

int free_port() {
  const int sock = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  int port = -1;
  if (sock >= 0 && bind(sock, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      getsockname(sock, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
    port = ntohs(addr.sin_port);
  if (sock >= 0) close(sock);
  return port;
}

/// The first line `command` prints, "" when it fails.
std::string output_of(const char* command) {
  FILE* pipe = popen(command, "r");
  if (pipe == nullptr) return "";
  char line[4096] = "";
  const bool read = fgets(line, sizeof line, pipe) != nullptr;
  const int status = pclose(pipe);
  std::string text = read && status == 0 ? line : "";
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

/// The bytes of the file at `path`; "" when it cannot be opened or read (/proc/PID/stat of a
/// process that ends while it is read: libstdc++'s filebuf throws on such a read error).
std::string slurp(const std::string& path) {
  std::ifstream in(path);
  try {
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  } catch (const std::ios_base::failure&) {
    return "";
  }
}

}  // namespace

PostgresServer* PostgresServer::get_or_skip() {
  auto server = get();
  if (server.ok()) return server.value();
  // FAIL() and GTEST_SKIP() return from the function they are in: a void one, here.
  [&] {
    if (gengyun::testing::running_in_ci()) FAIL() << server.error().message;
    GTEST_SKIP() << server.error().message;
  }();
  return nullptr;
}

Result<PostgresServer*> PostgresServer::get() {
  static std::unique_ptr<PostgresServer> server;
  static std::string failure;
  if (server) return server.get();
  if (!failure.empty()) return make_error(failure);

  auto fresh = std::unique_ptr<PostgresServer>(new PostgresServer());
  fresh->bin_ = output_of("pg_config --bindir 2>/dev/null");
  if (fresh->bin_.empty() || !std::filesystem::exists(fresh->bin_ + "/initdb") ||
      !std::filesystem::exists(fresh->bin_ + "/pg_ctl")) {
    failure = "the PostgreSQL server programs are missing (install Debian's postgresql)";
    return make_error(failure);
  }
  reap_orphans(std::filesystem::temp_directory_path(), fresh->bin_);
  std::string pattern = (std::filesystem::temp_directory_path() / "gengyun-pg-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) {
    failure = "cannot create a temporary directory for PostgreSQL";
    return make_error(failure);
  }
  fresh->dir_ = pattern;
  std::ofstream(fresh->dir_ + "/owner") << getpid() << "\n";
  if (geteuid() == 0) {
    const passwd* owner = getpwnam("postgres");
    if (owner == nullptr || chown(fresh->dir_.c_str(), owner->pw_uid, owner->pw_gid) != 0) {
      failure = "running as root, and the user 'postgres' is missing or cannot own " + fresh->dir_;
      return make_error(failure);
    }
  }
  fresh->port_ = free_port();
  const std::string& d = fresh->dir_;
  if (fresh->run_as_owner(fresh->bin_ + "/initdb -D " + d + "/data -A trust -U gengyun -E UTF8 " +
                          "--no-sync > " + d + "/initdb.log 2>&1") != 0) {
    failure = "initdb failed: " + slurp(d + "/initdb.log");
    return make_error(failure);
  }
  fresh->started_ = true;
  if (auto started = fresh->start(); !started) {
    failure = started.error().message;
    return make_error(failure);
  }
  server = std::move(fresh);
  return server.get();
}

Result<void> PostgresServer::start() {
  if (run_as_owner(bin_ + "/pg_ctl -D " + dir_ + "/data -l " + dir_ + "/server.log -w " +
                   "-o '-p " + std::to_string(port_) + " -k " + dir_ +
                   " -c listen_addresses=127.0.0.1 -c fsync=off' start > " + dir_ +
                   "/pg_ctl.log 2>&1") != 0)
    return make_error("pg_ctl start failed: " + slurp(dir_ + "/pg_ctl.log") +
                      slurp(dir_ + "/server.log"));
  return {};
}

Result<void> PostgresServer::stop() {
  if (run_as_owner(bin_ + "/pg_ctl -D " + dir_ + "/data -w -m fast stop > " + dir_ +
                   "/pg_ctl.log 2>&1") != 0)
    return make_error("pg_ctl stop failed: " + slurp(dir_ + "/pg_ctl.log"));
  return {};
}

Result<void> PostgresServer::restart() {
  if (run_as_owner(bin_ + "/pg_ctl -D " + dir_ + "/data -l " + dir_ + "/server.log -w -m fast " +
                   "restart > " + dir_ + "/pg_ctl.log 2>&1") != 0)
    return make_error("pg_ctl restart failed: " + slurp(dir_ + "/pg_ctl.log"));
  return {};
}

Result<void> PostgresServer::signal_all(int signal) { return signal_server(dir_, signal); }

Result<void> PostgresServer::signal_server(const std::string& dir, int signal) {
  std::ifstream pid_file(dir + "/data/postmaster.pid");
  pid_t postmaster = 0;
  if (!(pid_file >> postmaster) || postmaster <= 0)
    return make_error("no postmaster.pid in " + dir + "/data");
  std::vector<pid_t> pids = {postmaster};
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    // /proc/PID/stat: "pid (comm) state ppid ..."; comm may hold spaces but ends at the last ')'.
    const std::string stat = slurp(entry.path().string() + "/stat");
    const size_t comm_end = stat.rfind(')');
    if (comm_end == std::string::npos) continue;
    std::istringstream fields(stat.substr(comm_end + 1));
    std::string state;
    pid_t parent = 0;
    if (fields >> state >> parent && parent == postmaster) pids.push_back(std::stoi(name));
  }
  for (pid_t pid : pids)
    if (kill(pid, signal) != 0 && errno != ESRCH)
      return make_error("cannot signal PostgreSQL process " + std::to_string(pid) + ": " +
                        std::strerror(errno));
  return {};
}

Result<void> PostgresServer::freeze() { return signal_all(SIGSTOP); }

Result<void> PostgresServer::thaw() { return signal_all(SIGCONT); }

PostgresServer::~PostgresServer() {
  if (started_) {
    // A test that failed while the server was frozen left it unable to stop.
    (void)thaw();
    run_as_owner(bin_ + "/pg_ctl -D " + dir_ + "/data -m immediate stop > /dev/null 2>&1");
  }
  std::error_code ec;
  if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
}

int PostgresServer::reap_orphans(const std::filesystem::path& temp_dir, const std::string& bin) {
  int reaped = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(temp_dir, ec)) {
    const std::string dir = entry.path().string();
    if (entry.path().filename().string().rfind("gengyun-pg-", 0) != 0 || !entry.is_directory(ec))
      continue;
    std::ifstream owner_file(dir + "/owner");
    long owner = 0;
    if (!(owner_file >> owner) || owner <= 0) continue;
    if (kill(static_cast<pid_t>(owner), 0) == 0 || errno != ESRCH) continue;
    // Its process may have died with the server frozen (freeze()): a stopped server takes no
    // stop request.
    (void)signal_server(dir, SIGCONT);
    run_as_owner(bin + "/pg_ctl -D " + dir + "/data -m immediate stop > /dev/null 2>&1");
    if (std::filesystem::remove_all(dir, ec) > 0 && !ec) ++reaped;
  }
  return reaped;
}

int PostgresServer::run_as_owner(const std::string& command) {
  const std::string line =
      geteuid() == 0 ? "runuser -u postgres -- sh -c \"" + command + "\"" : command;
  return std::system(line.c_str());
}

Result<std::string> PostgresServer::new_database() {
  const std::string base = "postgresql://gengyun@127.0.0.1:" + std::to_string(port_) + "/";
  auto admin = pg::Connection::connect(base + "postgres");
  if (!admin) return admin.error();
  const std::string name = "test_" + std::to_string(getpid()) + "_" + std::to_string(++databases_);
  if (auto created = (*admin)->script(("CREATE DATABASE " + name).c_str()); !created)
    return created.error();
  return base + name;
}

Result<void> PostgresServer::shift_clock(const std::string& url, int64_t seconds) {
  auto conn = pg::Connection::connect(url);
  if (!conn) return conn.error();
  const std::string name = url.substr(url.rfind('/') + 1);
  const std::string sql =
      "CREATE OR REPLACE FUNCTION public.clock_timestamp() RETURNS timestamptz LANGUAGE sql AS "
      "$$SELECT pg_catalog.clock_timestamp() + " +
      std::to_string(seconds) + " * interval '1 second'$$; ALTER DATABASE " + name +
      " SET search_path = public, pg_catalog";
  return (*conn)->script(sql.c_str());
}

}  // namespace gengyun::platform::testing
