// `gengyun serve [--models DIR] [--model NAME=PATH ...] [--config FILE] --listen HOST:PORT
// --db PATH`: the OpenAI-compatible API over the model registry (docs/deploy.md).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "api/server.h"
#include "cli/admin_flags.h"
#include "cli/commands.h"
#include "cli/integer_range.h"
#include "cli/read_file.h"
#include "deploy/registry.h"
#include "deploy/units.h"
#include "kernels/simd_level.h"
#include "kernels/thread_pool.h"
#include "platform/ledger_spool.h"
#include "platform/ledger_writer.h"
#include "platform/price_file.h"
#include "platform/reconciler.h"
#include "platform/store.h"
#include "tokenizer/utf8.h"

namespace gengyun::cli {
namespace {

struct ServeOptions {
  std::vector<std::string> models;
  std::vector<std::string> loras;
  std::string models_dir;
  std::string config;
  std::optional<std::string> max_memory;  ///< given: a budget ("" is refused, QA: no limit)
  std::string memory_wait = "5m";
  std::string listen = "127.0.0.1:8080";
  std::string db = "gengyun.db";
  int threads = 0;
  int ctx = 0;
  std::string kv_type = "f16";
  int64_t kv_cache_mb = 0;
  int max_batch_tokens = 512;
  int max_seqs = 64;
  int max_waiting = 256;
  bool no_prefix_cache = false;
  bool mmap = false;
  int shutdown_grace_s = 30;
  std::string prices_file;
  std::vector<std::string> cors_origins;
  std::string ledger_spool;
};

/// The ledger spool of --db `db` when --ledger-spool is not given: "<db>-ledger-spool" beside a
/// SQLite file, "gengyun-ledger-spool" in the working directory for PostgreSQL (where the
/// default --db lives too); none for ":memory:". Numbered (LedgerWriterOptions::numbered), so
/// that servers sharing it take "-2", "-3", ... and apply those of servers that are gone.
std::string default_ledger_spool(const std::string& db) {
  if (db == ":memory:") return "";
  if (db.starts_with("postgres://") || db.starts_with("postgresql://"))
    return "gengyun-ledger-spool";
  return db + "-ledger-spool";
}

/// Why --ledger-spool `path` cannot be a spool, known without opening it ("" when nothing is
/// known against it, and for "", the default spool): it is the SQLite database `db` (--db) or
/// one of its -wal, -shm, -journal files, by name or through a link (the database was cut and
/// left malformed: QA); it is a symbolic link to nothing, a folder, a FIFO, a device or another
/// file that is not a regular one, one that cannot be written, or a file that is not a spool
/// (platform::ledger_spool_mismatch()); missing, its folder does not exist, is no folder or
/// cannot be written.
std::string ledger_spool_refusal(const std::string& path, const std::string& db) {
  if (path.empty()) return "";
  std::error_code ec;
  if (db != ":memory:" && !platform::is_postgres_url(db)) {
    const std::pair<const char*, const char*> files[] = {{"", "the database"},
                                                         {"-wal", "the database's write-ahead log"},
                                                         {"-shm", "the database's shared memory"},
                                                         {"-journal", "the database's journal"}};
    const auto canonical = [](const std::string& name) {
      std::error_code error;
      const std::filesystem::path resolved = std::filesystem::weakly_canonical(name, error);
      return error ? std::filesystem::path() : resolved;
    };
    const std::filesystem::path spool = canonical(path);
    for (const auto& [suffix, what] : files) {
      const std::string file = db + suffix;
      // The same file by another name (a link, "./"), or the name one not made yet will have.
      const bool same = std::filesystem::exists(path, ec) && std::filesystem::exists(file, ec)
                            ? std::filesystem::equivalent(path, file, ec)
                            : !spool.empty() && spool == canonical(file);
      if (same)
        return std::string("it is ") + what + " (--db " + tokenizer::escape_control_characters(db) +
               "), not a spool";
    }
  }
  const auto errno_text = [] { return std::string(std::strerror(errno)); };
  const std::filesystem::file_status link = std::filesystem::symlink_status(path, ec);
  if (std::filesystem::is_symlink(link) && !std::filesystem::exists(path, ec)) {
    // Opening it would create the file it names, wherever that is.
    const std::string target = std::filesystem::read_symlink(path, ec).string();
    return "it is a symbolic link to '" + tokenizer::escape_control_characters(target) +
           "', which does not exist";
  }
  if (std::filesystem::exists(link)) {
    const std::filesystem::file_status status = std::filesystem::status(path, ec);
    if (std::filesystem::is_directory(status)) return "it is a folder, not a file";
    // Rows spooled to a FIFO or a device (/dev/null) would be lost.
    if (std::filesystem::is_fifo(status)) return "it is a FIFO, not a regular file";
    if (std::filesystem::is_character_file(status) || std::filesystem::is_block_file(status))
      return "it is a device, not a regular file";
    if (!std::filesystem::is_regular_file(status)) return "it is not a regular file";
    // EPERM for an immutable file (chattr +i), root's too.
    if (access(path.c_str(), R_OK | W_OK) != 0) return "cannot write it: " + errno_text();
    return platform::ledger_spool_mismatch(path);
  }
  const std::filesystem::path folder = std::filesystem::path(path).parent_path();
  if (!folder.empty() && !std::filesystem::is_directory(folder, ec))
    return std::filesystem::exists(folder, ec)
               ? "'" + tokenizer::escape_control_characters(folder.string()) + "' is not a folder"
               : "there is no folder '" + tokenizer::escape_control_characters(folder.string()) +
                     "'";
  // EACCES for a folder without write permission, EPERM for an immutable one (root's too).
  const std::string in = folder.empty() ? "." : folder.string();
  if (access(in.c_str(), W_OK | X_OK) != 0)
    return "cannot create it in folder '" + tokenizer::escape_control_characters(in) +
           "': " + errno_text();
  return "";
}

/// Splits "HOST:PORT" (the last ':' separates; "[::1]:8080" allowed).
Result<std::pair<std::string, int>> parse_listen(const std::string& text) {
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size())
    return make_error("--listen expects HOST:PORT, got '" + text + "'");
  std::string host = text.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  int port = 0;
  for (char c : text.substr(colon + 1)) {
    if (c < '0' || c > '9' || port > 65535) return make_error("--listen: bad port in '" + text + "'");
    port = port * 10 + (c - '0');
  }
  if (port > 65535) return make_error("--listen: port out of range in '" + text + "'");
  return std::pair{host, port};
}

/// The value of one part of a host written as an IPv4 address, as the WHATWG URL Standard's
/// IPv4 number parser reads it (0x: hexadecimal; another leading 0: octal; "" and "0x": 0), or
/// nullopt when it is no number. `part` is lower-case.
std::optional<uint64_t> ipv4_number(std::string_view part) {
  int radix = 10;
  if (part.starts_with("0x")) {
    radix = 16;
    part.remove_prefix(2);
  } else if (part.size() >= 2 && part.starts_with('0')) {
    radix = 8;
    part.remove_prefix(1);
  }
  uint64_t value = 0;
  for (char c : part) {
    const int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : 99;
    if (digit >= radix) return std::nullopt;
    value = value * radix + digit;
    if (value > 0xFFFFFFFF) value = 0x100000000;  // too large for any part, and no overflow
  }
  return value;
}

/// For a lower-case host name without a trailing dot that a browser reads as an IPv4 address
/// (its last label a number, WHATWG URL Standard: 127.1, 010.0.0.1, 0x7f.0.0.1): the address
/// as browsers serialize it, four decimal numbers (127.0.0.1, 8.0.0.1, 127.0.0.1); "" when it
/// is no address (1.2.3.256: no browser takes the URL). nullopt for a domain name.
std::optional<std::string> ipv4_serialized(const std::string& host) {
  std::vector<std::string> parts;
  for (size_t begin = 0, dot = 0; dot != std::string::npos; begin = dot + 1) {
    dot = host.find('.', begin);
    parts.push_back(host.substr(begin, dot == std::string::npos ? dot : dot - begin));
  }
  const std::string& last = parts.back();
  if (!std::all_of(last.begin(), last.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
      !ipv4_number(last))
    return std::nullopt;
  if (parts.size() > 4) return "";
  uint64_t address = 0;
  for (size_t i = 0; i < parts.size(); ++i) {
    const std::optional<uint64_t> number = ipv4_number(parts[i]);
    const bool is_last = i + 1 == parts.size();
    // The last part fills the bytes that the parts before it leave (127.1: 127.0.0.1).
    const uint64_t limit = is_last ? uint64_t{1} << (8 * (5 - parts.size())) : 256;
    if (!number || *number >= limit) return "";
    address = is_last ? (address << (8 * (5 - parts.size()))) + *number : (address << 8) + *number;
  }
  return std::to_string(address >> 24) + "." + std::to_string((address >> 16) & 0xFF) + "." +
         std::to_string((address >> 8) & 0xFF) + "." + std::to_string(address & 0xFF);
}

/// The IPv6 address `text` (without brackets) as browsers serialize it (WHATWG URL Standard,
/// RFC 5952's form: lower-case hexadecimal without leading zeros, the first longest run of two
/// or more zero pieces written ::, no dotted IPv4 tail), or "" when it is no IPv6 address.
std::string ipv6_serialized(const std::string& text) {
  in6_addr address{};
  if (inet_pton(AF_INET6, text.c_str(), &address) != 1) return "";
  std::array<unsigned, 8> pieces{};
  for (size_t i = 0; i < pieces.size(); ++i)
    pieces[i] = address.s6_addr[2 * i] << 8 | address.s6_addr[2 * i + 1];
  size_t run_begin = pieces.size();
  size_t run_length = 1;
  for (size_t i = 0; i < pieces.size();) {
    size_t j = i;
    while (j < pieces.size() && pieces[j] == 0) ++j;
    if (j - i > run_length) {
      run_begin = i;
      run_length = j - i;
    }
    i = j == i ? i + 1 : j;
  }
  std::string serialized;
  for (size_t i = 0; i < pieces.size(); ++i) {
    if (i == run_begin) {
      serialized += i == 0 ? "::" : ":";
      i += run_length - 1;
      continue;
    }
    char piece[8];
    std::snprintf(piece, sizeof piece, "%x", pieces[i]);
    serialized += piece + std::string(i + 1 < pieces.size() ? ":" : "");
  }
  return serialized;
}

/// `text`, an address such as a browser's address bar shows, without what an origin has not:
/// spaces around it, user information (user@), a path, query or fragment, a ':' without a port.
/// "" when `text` has no "://".
std::string origin_in_address(const std::string& text) {
  const size_t first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return "";
  std::string origin = text.substr(first, text.find_last_not_of(" \t\r\n") + 1 - first);
  const size_t authority = origin.find("://");
  if (authority == std::string::npos) return "";
  origin.resize(std::min(origin.size(), origin.find_first_of("/?#", authority + 3)));
  if (const size_t at = origin.rfind('@'); at != std::string::npos && at > authority)
    origin.erase(authority + 3, at - authority - 2);
  if (origin.ends_with(':')) origin.pop_back();
  return origin;
}

/// Why `text` cannot be --cors-origin ("" when it can): it must be `*` or an origin as browsers
/// send it in the Origin header, scheme://host[:port] (RFC 6454; no path, no trailing '/'), and
/// in the form they serialize it (RFC 6454 section 6.2, the WHATWG URL Standard: scheme and host
/// lower-case, no default port, no leading zero, an IPv4 address as four decimal numbers, an
/// IPv6 address in RFC 5952's form), since the server compares it with the header as it is (QA:
/// HTTPS://A.B, https://a.b:443 and https://127.1 were taken, and no browser request ever
/// matched them). A host with a trailing dot and a host not in ASCII get messages of their own.
std::string cors_origin_refusal(const std::string& text) {
  static const std::regex kOrigin(
      "([A-Za-z][A-Za-z0-9+.-]*)://"
      "([^\\[\\]:/?#@\\s]+|\\[[0-9A-Fa-f:.]+\\])(:([0-9]{1,5}))?");
  static const std::regex kName("([A-Za-z0-9-]+(\\.[A-Za-z0-9-]+)*)(\\.?)");
  const std::string generic = "'" + tokenizer::escape_control_characters(text) +
                              "' is neither * nor an origin scheme://host[:port] (e.g. "
                              "https://app.example)";
  if (text == "*") return "";
  // A pasted page address (QA: a trailing '/', a path, user information, a ':' without a port
  // and spaces around got the generic message): the origin in it to write.
  if (const std::string origin = origin_in_address(text);
      !origin.empty() && origin != text && cors_origin_refusal(origin).empty())
    return "'" + tokenizer::escape_control_characters(text) +
           "' is more than an origin (scheme://host[:port] alone: no spaces, user, path, query "
           "or fragment): write " +
           origin;
  std::smatch match;
  if (!std::regex_match(text, match, kOrigin) ||
      (match[4].matched && std::stoi(match[4].str()) > 65535))
    return generic;
  std::string scheme = match[1].str();
  std::string host = match[2].str();
  for (std::string* part : {&scheme, &host})
    for (char& c : *part) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  bool trailing_dot = false;
  if (host.starts_with('[')) {
    const std::string address = ipv6_serialized(host.substr(1, host.size() - 2));
    if (address.empty()) return generic;
    host = "[" + address + "]";
  } else {
    std::smatch name;
    if (!std::regex_match(host, name, kName)) {
      const auto not_ascii = [](char c) { return static_cast<unsigned char>(c) >= 0x80; };
      const auto name_character = [&](char c) {
        return not_ascii(c) || std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.';
      };
      if (std::any_of(host.begin(), host.end(), not_ascii) &&
          std::all_of(host.begin(), host.end(), name_character))
        return "'" + tokenizer::escape_control_characters(text) +
               "' has a host that is not ASCII: write the host in its xn-- (punycode) form, as "
               "browsers send it (e.g. https://xn--bcher-kva.example for https://bücher.example)";
      return generic;
    }
    trailing_dot = name[3].length() > 0;
    host = name[1].str();
    const std::optional<std::string> address = ipv4_serialized(host);
    if (address && address->empty()) return generic;
    if (address) host = *address;
  }
  std::string serialized = scheme + "://" + host;
  if (match[4].matched) {
    const int port = std::stoi(match[4].str());
    const bool default_port =
        (scheme == "http" && port == 80) || (scheme == "https" && port == 443);
    if (!default_port) serialized += ":" + std::to_string(port);
  }
  if (trailing_dot)
    return "'" + text +
           "' has a host that ends in a dot (the origin only of pages whose address has that "
           "dot): write " +
           serialized;
  if (serialized != text)
    return "'" + text + "' is not the origin as browsers send it: write " + serialized;
  return "";
}

/// Warns on stderr when the budget `max_memory_bytes` (0: none) is less than what the smallest
/// of `models` takes loaded (ModelInfo::memory_bytes, an estimate until it loads; a model that
/// cannot be served takes none and is left out): every request for a model would get 503.
void warn_when_no_model_fits(int64_t max_memory_bytes,
                             const std::vector<deploy::ModelInfo>& models) {
  const deploy::ModelInfo* smallest = nullptr;
  for (const deploy::ModelInfo& m : models)
    if (m.memory_bytes > 0 && (smallest == nullptr || m.memory_bytes < smallest->memory_bytes))
      smallest = &m;
  if (max_memory_bytes == 0 || smallest == nullptr || smallest->memory_bytes <= max_memory_bytes)
    return;
  std::fprintf(stderr,
               "gengyun: warning: --max-memory %s is less than the smallest model takes: '%s', "
               "%s (weights and KV cache, estimated); a request for a model that does not fit "
               "gets 503\n",
               deploy::format_bytes(max_memory_bytes).c_str(),
               tokenizer::escape_control_characters(smallest->id).c_str(),
               deploy::format_bytes(smallest->memory_bytes).c_str());
}

/// Warns on stderr, one line each, of the prices (the store's, --prices' seeded) whose model is
/// no id of `models`: a misspelt name, an alias, a name written otherwise than the id (case,
/// accents) never bills a request, and its model is served free. Errors: the store's.
Result<void> warn_of_unserved_prices(platform::Store& store,
                                     const std::vector<deploy::ModelInfo>& models) {
  constexpr int64_t kPageSize = 500;
  std::set<std::string, std::less<>> ids;
  for (const deploy::ModelInfo& m : models) ids.insert(m.id);
  platform::PricePage page{.after_model = "", .limit = kPageSize};
  while (true) {
    auto prices = store.prices_page(page);
    if (!prices.ok()) return make_error("the prices could not be read: " + prices.error().message);
    for (const platform::ModelPrice& price : *prices)
      if (!ids.contains(price.model))
        std::fprintf(stderr,
                     "gengyun: warning: the price of '%s' matches no model served: prices apply "
                     "to model ids exactly (not to aliases), so it bills no request\n",
                     tokenizer::escape_control_characters(price.model).c_str());
    if (static_cast<int64_t>(prices->size()) < kPageSize) return {};
    page.after_model = prices->back().model;
  }
}

/// How often the ledger's rows left open by servers that died are closed.
constexpr std::chrono::seconds kReconcilePeriod{5};

/// Descriptors kept for everything but client connections (models, the database, logs).
constexpr rlim_t kReservedDescriptors = 64;

/// Raises the open-file limit to its hard limit (every connection is a descriptor) and returns
/// how many connections fit under it, at most `wanted`.
size_t connections_within_descriptor_limit(size_t wanted) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return wanted;
  if (limit.rlim_cur < limit.rlim_max) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  }
  if (limit.rlim_cur == RLIM_INFINITY) return wanted;
  const rlim_t usable = limit.rlim_cur > 2 * kReservedDescriptors
                            ? limit.rlim_cur - kReservedDescriptors
                            : limit.rlim_cur / 2;
  return std::min<size_t>(wanted, usable);
}

/// The registry's events as log lines on stderr, ids and details with their control characters
/// escaped (a file name or a config key holding "\n" cannot forge a line). kv_sized_at_load:
/// neither --max-memory nor --kv-cache-mb is given, so a model's KV pool is sized from the
/// memory free at its load (ModelInstance::load) and LoadStarted's bytes are its weights alone.
void log_registry_event(deploy::RegistryEvent e, bool mmap, bool kv_sized_at_load) {
  using Kind = deploy::RegistryEvent::Kind;
  e.model = tokenizer::escape_control_characters(e.model);
  e.detail = tokenizer::escape_control_characters(e.detail);
  e.base = tokenizer::escape_control_characters(e.base);
  const char* id = e.model.c_str();
  switch (e.kind) {
    case Kind::Warning:
      std::fprintf(stderr, "gengyun: warning: %s\n", e.detail.c_str());
      break;
    case Kind::Added:
      if (e.detail.empty())
        std::fprintf(stderr, "gengyun: model '%s': available\n", id);
      else
        std::fprintf(stderr, "gengyun: model '%s': cannot be served: %s\n", id, e.detail.c_str());
      break;
    case Kind::Removed:
      std::fprintf(stderr, "gengyun: model '%s': removed (%s)\n", id, e.detail.c_str());
      break;
    case Kind::WaitingForLoad:
      break;
    case Kind::WaitingForMemory:
      std::fprintf(stderr, "gengyun: model '%s': a request waits (%s)\n", id, e.detail.c_str());
      break;
    case Kind::LoadStarted:
      // A LoRA derivative's requests use its base's KV cache: its figure is the adapter's.
      if (!e.base.empty())
        std::fprintf(stderr,
                     "gengyun: model '%s': loading %s (%s of adapter; it runs in the KV cache "
                     "of '%s')\n",
                     id, e.detail.c_str(), deploy::format_bytes(e.bytes).c_str(), e.base.c_str());
      else
        std::fprintf(
            stderr, "gengyun: model '%s': loading %s (%s%s)\n", id, e.detail.c_str(),
            deploy::format_bytes(e.bytes).c_str(),
            kv_sized_at_load ? " of weights; its KV cache is sized at load" : " with its KV cache");
      break;
    case Kind::LoadProgress:
      std::fprintf(stderr, "gengyun: model '%s': %lld%% read (%s of %s)\n", id,
                   static_cast<long long>(e.total_bytes > 0 ? e.bytes * 100 / e.total_bytes : 100),
                   deploy::format_bytes(e.bytes).c_str(),
                   deploy::format_bytes(e.total_bytes).c_str());
      break;
    case Kind::Loaded:
      std::fprintf(stderr, "gengyun: model '%s': loaded in %.2f s (%s %s), %s%s%s%s\n", id,
                   static_cast<double>(e.duration_us) * 1e-6,
                   e.base.empty() ? "weights" : "adapter",
                   mmap ? "mapped from the file" : "in anonymous memory",
                   deploy::format_bytes(e.bytes).c_str(),
                   e.base.empty() ? " with its KV cache" : " of adapter, in the KV cache of '",
                   e.base.c_str(), e.base.empty() ? "" : "'");
      break;
    case Kind::LoadFailed:
      std::fprintf(stderr, "gengyun: model '%s': the load failed after %.2f s: %s\n", id,
                   static_cast<double>(e.duration_us) * 1e-6, e.detail.c_str());
      break;
    case Kind::LoadStopped:
      std::fprintf(stderr, "gengyun: model '%s': the load stopped after %.2f s: %s\n", id,
                   static_cast<double>(e.duration_us) * 1e-6, e.detail.c_str());
      break;
    case Kind::Unloaded:
      std::fprintf(stderr, "gengyun: model '%s': unloaded (%s)\n", id, e.detail.c_str());
      break;
  }
}

/// The thread that takes SIGINT and SIGTERM (blocked in every thread: serve() blocks them
/// before any thread exists) with sigwait, so that stopping happens outside a signal handler.
/// Until serving(): a signal ends the process at once, with 128 + its number, nothing being
/// served yet (QA: Ctrl-C during a long pinned model's load waited for it, then the server
/// opened its database, served and stopped). Once serving(): the first signal stops accepting
/// and lets the requests in flight finish (and be billed) for `grace_s` seconds, then ends
/// those still running (billed as "shutdown"); a second signal exits at once. stop() (and the
/// destructor, on every return of serve()) ends the thread.
class SignalThread {
 public:
  SignalThread(const sigset_t& signals, int grace_s)
      : signals_(signals), grace_s_(grace_s), thread_([this] { run(); }) {}
  ~SignalThread() { stop(); }
  SignalThread(const SignalThread&) = delete;
  SignalThread& operator=(const SignalThread&) = delete;

  /// From now on a signal stops `server` (which outlives this call's stop()).
  void serving(api::Server& server) { server_ = &server; }
  /// Served: a later signal changes nothing; wakes the thread and joins it. Idempotent.
  void stop() {
    if (!thread_.joinable()) return;
    stopped_ = true;
    pthread_kill(thread_.native_handle(), SIGTERM);
    thread_.join();
  }

 private:
  void run() {
    int received = 0;
    sigwait(&signals_, &received);
    if (stopped_) return;
    api::Server* server = server_;
    if (server == nullptr) {
      std::fprintf(stderr, "gengyun: %s during start-up: exiting (nothing is served yet)\n",
                   received == SIGINT ? "SIGINT" : "SIGTERM");
      std::_Exit(128 + received);
    }
    std::fprintf(stderr,
                 "gengyun: stopping: finishing the requests in flight for up to %d s (a second "
                 "signal exits at once)\n",
                 grace_s_);
    server->stop();
    const timespec grace{grace_s_, 0};
    if (sigtimedwait(&signals_, nullptr, &grace) < 0) {
      if (stopped_) return;
      std::fprintf(stderr,
                   "gengyun: the grace period is over: ending the requests still running\n");
      server->end_in_flight();
      sigwait(&signals_, &received);
    }
    if (stopped_) return;
    std::fprintf(stderr,
                 "gengyun: second signal: exiting without finishing the requests in flight\n");
    std::_Exit(1);
  }

  const sigset_t signals_;
  const int grace_s_;
  std::atomic<api::Server*> server_{nullptr};
  std::atomic<bool> stopped_{false};
  std::thread thread_;
};

int serve(const ServeOptions& o) {
  // SIGINT/SIGTERM are blocked before any thread exists (threads inherit the mask, and the
  // models' thread pools start below) and taken by a thread of their own (SignalThread).
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  SignalThread signal_thread(signals, o.shutdown_grace_s);

  // Each step gives every running sequence its next token first: a budget below the running
  // sequences would starve those behind the first (vLLM refuses it too).
  if (o.max_batch_tokens < o.max_seqs) {
    std::fprintf(stderr,
                 "error: --max-batch-tokens (%d) must be at least --max-seqs (%d): each engine "
                 "step decodes one token of every running sequence\n",
                 o.max_batch_tokens, o.max_seqs);
    return 1;
  }
  auto specs = deploy::parse_model_specs(o.models);
  if (!specs.ok()) {
    std::fprintf(stderr, "error: %s\n",
                 tokenizer::escape_control_characters(specs.error().message).c_str());
    return 1;
  }
  auto loras = deploy::parse_lora_specs(o.loras);
  if (!loras.ok()) {
    std::fprintf(stderr, "error: %s\n",
                 tokenizer::escape_control_characters(loras.error().message).c_str());
    return 1;
  }
  if (o.models.empty() && o.models_dir.empty() && o.config.empty()) {
    std::fprintf(stderr, "error: give the models to serve: --models DIR, --model NAME=PATH or "
                         "--config FILE\n");
    return 1;
  }
  auto listen = parse_listen(o.listen);
  if (!listen.ok()) {
    std::fprintf(stderr, "error: %s\n", listen.error().message.c_str());
    return 1;
  }
  // The config is read before the database is opened: a bad one leaves no new database behind.
  deploy::Config config;
  if (!o.config.empty()) {
    auto loaded = deploy::load_config(o.config);
    if (!loaded.ok()) {
      std::fprintf(stderr, "error: --config %s\n",
                   tokenizer::escape_control_characters(loaded.error().message).c_str());
      return 1;
    }
    config = std::move(loaded.value());
  }
  // The flags' values and the prices file, too, are checked before the database is opened (QA:
  // `--memory-wait x` left a new gengyun.db and its spool behind).
  int64_t max_memory_bytes = 0;
  if (o.max_memory) {
    auto bytes = deploy::parse_byte_size(*o.max_memory);
    if (!bytes.ok()) {
      std::fprintf(stderr, "error: --max-memory: %s\n", bytes.error().message.c_str());
      return 1;
    }
    max_memory_bytes = bytes.value();
  }
  auto wait = deploy::parse_duration(o.memory_wait);
  if (!wait.ok() || wait.value() == deploy::kKeepForever) {
    std::fprintf(
        stderr, "error: --memory-wait: %s\n",
        wait.ok() ? "must not be negative (0: refuse at once)" : wait.error().message.c_str());
    return 1;
  }
  const int64_t memory_wait_us = wait.value();
  std::optional<std::vector<platform::ModelPrice>> prices;
  if (!o.prices_file.empty()) {
    auto text = read_file(kPriceFile, o.prices_file);
    if (!text) {
      std::fprintf(stderr, "error: %s\n", text.error().message.c_str());
      return 1;
    }
    auto parsed = platform::parse_price_file(*text);
    if (!parsed.ok()) {
      std::fprintf(stderr, "error: %s: %s\n", o.prices_file.c_str(),
                   parsed.error().message.c_str());
      return 1;
    }
    prices = std::move(parsed.value());
  }
  // A spool that cannot be opened would be refused only after the database was opened.
  if (const std::string refusal = ledger_spool_refusal(o.ledger_spool, o.db); !refusal.empty()) {
    std::fprintf(stderr, "error: --ledger-spool %s: %s\n",
                 tokenizer::escape_control_characters(o.ledger_spool).c_str(), refusal.c_str());
    return 1;
  }
  // The registry, too, before the database: a --models that is no folder, a --lora of no model,
  // an alias of a file's id are refused without a new database left behind (QA).
  deploy::RegistryOptions registry_options;
  registry_options.specs = std::move(specs.value());
  registry_options.models_dir = o.models_dir;
  registry_options.loras = std::move(loras.value());
  registry_options.config = std::move(config);
  registry_options.model = {
      .n_threads = o.threads,
      .n_ctx = o.ctx,
      .kv_cache_type = o.kv_type == "f32" ? KvCacheType::F32 : KvCacheType::F16,
      .kv_cache_bytes = o.kv_cache_mb << 20,
      .max_batch_tokens = o.max_batch_tokens,
      .max_seqs = o.max_seqs,
      .max_waiting = o.max_waiting,
      .prefix_cache = !o.no_prefix_cache,
      .mmap = o.mmap};
  registry_options.max_memory_bytes = max_memory_bytes;
  registry_options.memory_wait_us = memory_wait_us;
  registry_options.observer =
      [mmap = o.mmap, kv_sized_at_load = registry_options.max_memory_bytes == 0 &&
                                         o.kv_cache_mb == 0](const deploy::RegistryEvent& e) {
        log_registry_event(e, mmap, kv_sized_at_load);
      };
  // The registry's errors about a config entry name the file (Config::path), as the config's
  // own do (QA).
  const auto registry_error = [](const std::string& message) {
    std::fprintf(stderr, "error: %s\n", tokenizer::escape_control_characters(message).c_str());
    return 1;
  };
  auto registry = deploy::Registry::create(std::move(registry_options));
  if (!registry.ok()) return registry_error(registry.error().message);
  const std::vector<deploy::ModelInfo> models = registry.value()->list();
  warn_when_no_model_fits(registry.value()->memory().budget_bytes, models);
  // Pinned models load before the database is opened (the registry needs none), and before the
  // port is bound, so that clients are not taken while they load: a model that cannot load
  // leaves no new database behind.
  if (auto pinned = registry.value()->load_pinned(); !pinned.ok())
    return registry_error(pinned.error().message);
  // The port, too, is bound before the database is opened (a port in use left a new database
  // behind). Connections wait in its backlog until the server runs.
  auto listener = api::Listener::listen(listen->first, listen->second);
  if (!listener.ok()) {
    std::fprintf(stderr, "error: %s\n", listener.error().message.c_str());
    return 1;
  }
  // A database created here is said on stderr, so that a mistyped --db does not go unnoticed.
  std::unique_ptr<platform::Store> store = open_store(o.db);
  if (!store) return 1;
  // Rows still open of servers that are not live were being served when their server died:
  // they are closed from their last checkpoint. Rows of other live servers stay open.
  auto server_id = store->start_server();
  if (!server_id.ok()) {
    std::fprintf(stderr, "error: %s\n", server_id.error().message.c_str());
    return 1;
  }
  if (prices) {
    auto seeded = platform::seed_prices(*store, *prices, cli_actor());
    if (!seeded.ok()) {
      std::fprintf(stderr, "error: %s\n", seeded.error().message.c_str());
      return 1;
    }
    std::fprintf(stderr, "gengyun: %s: %zu model price(s), %d changed\n", o.prices_file.c_str(),
                 prices->size(), *seeded);
  }
  // Rows spooled by an earlier run land before anything is served, and before its open rows are
  // closed from their checkpoints (a spooled settlement is the better bill).
  platform::LedgerWriterOptions ledger_options;
  ledger_options.spool_path = o.ledger_spool.empty() ? default_ledger_spool(o.db) : o.ledger_spool;
  ledger_options.numbered = o.ledger_spool.empty();
  auto ledger = platform::LedgerWriter::start(*store, ledger_options);
  if (!ledger.ok()) {
    std::fprintf(stderr, "error: %s\n", ledger.error().message.c_str());
    return 1;
  }
  for (const platform::SpoolReplay& replayed : ledger.value()->replayed_at_start()) {
    std::fprintf(stderr, "gengyun: applied %zu spooled ledger write(s) (spool '%s')",
                 replayed.writes, replayed.path.c_str());
    if (replayed.landed > 0)
      std::fprintf(stderr,
                   "; %zu more were in the ledger already (applied before a crash kept the "
                   "spool from being emptied)",
                   replayed.landed);
    std::fputc('\n', stderr);
  }
  auto interrupted = store->close_interrupted();
  if (!interrupted.ok()) {
    std::fprintf(stderr, "error: %s\n", interrupted.error().message.c_str());
    return 1;
  }
  if (interrupted.value() > 0)
    std::fprintf(stderr,
                 "gengyun: closed %lld interrupted request(s) in the ledger from their last "
                 "checkpoint\n",
                 static_cast<long long>(interrupted.value()));
  if (auto checked = warn_of_unserved_prices(*store, models); !checked.ok()) {
    std::fprintf(stderr, "error: %s\n", checked.error().message.c_str());
    return 1;
  }
  api::ServerOptions server_options;
  server_options.cors_origins = o.cors_origins;
  server_options.ledger = ledger->get();
  server_options.http.max_connections =
      connections_within_descriptor_limit(server_options.http.max_connections);
  api::Server server(*registry.value(), *store, server_options);
  auto port = server.bind(std::move(listener.value()));
  if (!port.ok()) {
    std::fprintf(stderr, "error: %s\n", port.error().message.c_str());
    return 1;
  }

  signal_thread.serving(server);
  // Other servers on the database may die while this one runs: their open rows are closed
  // every few seconds, not only when a server starts. A failing pass is logged once, not every
  // pass while the database is down, and so is the first pass that works again.
  platform::Reconciler reconciler(
      *store, kReconcilePeriod, [failing = std::string()](const Result<int64_t>& closed) mutable {
        if (!closed.ok()) {
          if (closed.error().message != failing)
            std::fprintf(stderr, "gengyun: %s (retried every %lld s)\n",
                         closed.error().message.c_str(),
                         static_cast<long long>(kReconcilePeriod.count()));
          failing = closed.error().message;
          return;
        }
        if (!failing.empty())
          std::fprintf(stderr, "gengyun: interrupted requests are closed again\n");
        failing.clear();
        if (closed.value() > 0)
          std::fprintf(stderr,
                       "gengyun: closed %lld request(s) of a server that is gone, from their "
                       "last checkpoint\n",
                       static_cast<long long>(closed.value()));
      });
  std::fprintf(stderr, "gengyun: serving %zu model(s) on http://%s; kernels: %s\n",
               registry.value()->list().size(),
               api::host_and_port(listen->first, port.value()).c_str(),
               kernels::simd_level_description().c_str());
  server.run();
  signal_thread.stop();
  return 0;
}

}  // namespace

void add_serve_command(CLI::App& app, int& exit_code) {
  auto options = std::make_shared<ServeOptions>();
  auto* cmd = app.add_subcommand("serve", "serve models behind an OpenAI-compatible HTTP API");
  cmd->add_option("--model", options->models, "NAME=PATH of a GGUF model (repeatable)");
  cmd->add_option("--lora", options->loras,
                  "NAME=BASE:ADAPTER.gguf[@SCALE]: a LoRA adapter of the model BASE served as "
                  "the model NAME, batched with BASE's requests (repeatable; scale 1 by default)");
  cmd->add_option("--models", options->models_dir,
                  "a folder of GGUF models, each served as its file name without .gguf, "
                  "in Unicode NFC and lower-cased; files added or removed are seen within seconds");
  cmd->add_option("--config", options->config,
                  "a YAML file: aliases, request defaults, keep_alive, pinning (docs/deploy.md)");
  cmd->add_option("--max-memory", options->max_memory,
                  "bound on the weights plus KV caches of the loaded models (e.g. 8GiB; 0 or "
                  "absent: no limit); idle models are unloaded to make room, least recently used "
                  "first");
  cmd->add_option("--memory-wait", options->memory_wait,
                  "how long a request whose model does not fit --max-memory waits for the models "
                  "that running requests hold to become idle, so they can be unloaded (those "
                  "take no new request meanwhile); 0: answer 503 at once")
      ->capture_default_str();
  cmd->add_option("--listen", options->listen, "HOST:PORT to listen on")->capture_default_str();
  cmd->add_option("--db", options->db, std::string("keys and usage: ") + kDbCreatedHelp)
      ->capture_default_str();
  cmd->add_option("-t,--threads", options->threads, "threads per model (default: physical cores)")
      ->check(integer_in(0, kernels::kMaxThreads));
  cmd->add_option("-c,--ctx", options->ctx,
                  "longest sequence in tokens, at most each model's training context (0, the "
                  "default: the model's training context, or what the KV cache holds)")
      ->check(integer_in(0, std::numeric_limits<int>::max()));
  cmd->add_option("--kv-cache-mb", options->kv_cache_mb,
                  "KV cache pool per model in MiB (0, the default: a quarter of the available "
                  "memory, at least one and at most --max-seqs whole contexts)")
      ->check(integer_in(int64_t{0}, int64_t{1} << 30));
  cmd->add_option("--max-batch-tokens", options->max_batch_tokens,
                  "tokens per engine step (decode tokens plus prefill chunks)")
      ->check(integer_in(1, 65536))
      ->capture_default_str();
  cmd->add_option("--max-seqs", options->max_seqs, "sequences generating at once per model")
      ->check(integer_in(1, 4096))
      ->capture_default_str();
  cmd->add_option("--max-waiting", options->max_waiting,
                  "requests queued per model beyond the --max-seqs running ones (more get 503)")
      ->check(integer_in(0, 1 << 20))
      ->capture_default_str();
  cmd->add_option("--ledger-spool", options->ledger_spool,
                  "file where usage rows wait, fsynced, while the database cannot be written "
                  "(default: DB-ledger-spool beside a SQLite file, ./gengyun-ledger-spool for "
                  "PostgreSQL, numbered -2, -3, ... for further servers); one per server");
  cmd->add_option("--shutdown-grace", options->shutdown_grace_s,
                  "seconds that SIGTERM/SIGINT lets requests in flight finish before ending them")
      ->check(integer_in(0, 86400))
      ->capture_default_str();
  cmd->add_option(
      "--prices", options->prices_file,
      "JSON file of model prices seeded into the database at start "
      "({\"MODEL\": {\"input\": \"0.15\", \"output\": \"0.6\"}}, USD per 1M tokens; "
      "MODEL is a model's id: a price whose MODEL is no id served, such as an alias, is never "
      "used, and is warned of at start)");
  cmd->add_flag("--mmap", options->mmap,
                "keep the weights in a mapping of the file instead of reading them into anonymous "
                "memory with huge pages");
  cmd->add_flag("--no-prefix-cache", options->no_prefix_cache,
                "do not share the KV blocks of equal prompt prefixes");
  cmd->add_option("--cors-origin", options->cors_origins,
                  "browser origin allowed to call the API (CORS): * or scheme://host[:port], e.g. "
                  "https://app.example (repeatable); off by default")
      ->check(CLI::Validator(cors_origin_refusal, "ORIGIN"));
  cmd->add_option("--kv-type", options->kv_type,
                  "KV cache element type (f32: unrounded, for debugging)")
      ->check(CLI::IsMember({"f16", "f32"}, CLI::ignore_case))
      ->capture_default_str();
  cmd->callback([options, &exit_code] { exit_code = serve(*options); });
}

}  // namespace gengyun::cli
