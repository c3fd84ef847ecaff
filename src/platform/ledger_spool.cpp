#include "platform/ledger_spool.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <optional>

namespace gengyun::platform {
namespace {

/// w3: w2's fields, then the row's end user. w2: w1's fields, then whether the write carries
/// its admission (0 or 1) and its reservation. w1 and w2 lines (spooled before) are still read.
constexpr const char* kVersion = "w3";
constexpr size_t kFields = 22;
constexpr const char* kVersion2 = "w2";
constexpr size_t kFields2 = 21;
constexpr const char* kVersion1 = "w1";
constexpr size_t kFields1 = 19;

std::string escaped(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        out += c;
    }
  }
  return out;
}

Result<std::string> unescaped(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\\') {
      out += text[i];
      continue;
    }
    if (++i == text.size()) return make_error("a field ends with a lone '\\'");
    switch (text[i]) {
      case '\\':
        out += '\\';
        break;
      case 't':
        out += '\t';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      default:
        return make_error(std::string("unknown escape '\\") + text[i] + "'");
    }
  }
  return out;
}

Result<int64_t> integer(const std::string& text) {
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty())
    return make_error("'" + text + "' is not an integer");
  return value;
}

char kind_letter(LedgerWrite::Kind kind) {
  switch (kind) {
    case LedgerWrite::Kind::Checkpoint:
      return 'c';
    case LedgerWrite::Kind::Settle:
      return 's';
    case LedgerWrite::Kind::Record:
      break;
  }
  return 'r';
}

Error io_error(const std::string& what, const std::string& path) {
  return make_error("ledger spool '" + path + "': cannot " + what + ": " + std::strerror(errno));
}

/// Writes all of `data` at `offset`.
bool write_all(int fd, const std::string& data, size_t offset) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n =
        pwrite(fd, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

/// How many bytes of a file recognition reads: its first line's start, after empty lines.
constexpr size_t kRecognitionBytes = 4096;

/// Why `head` (a file's first bytes; `whole`: all of them) is not the start of a spool, "" when
/// it is: a spool is empty or its first line that is not empty starts with a version ('w', digits,
/// a tab; any version, so that one of a newer gengyun is named as such by parse_spool_line), or,
/// unfinished (a crash during the first append), with a start of one. Nothing else is required,
/// so that a spool whose lines are damaged is still one (`spool repair`'s case).
std::string unrecognized(const std::string& head, bool whole) {
  size_t start = 0;
  while (start < head.size() && (head[start] == '\n' || head.compare(start, 2, "\r\n") == 0))
    start += head[start] == '\n' ? 1 : 2;
  if (start == head.size()) return "";
  const size_t lf = head.find('\n', start);
  const std::string line = head.substr(start, lf == std::string::npos ? lf : lf - start);
  size_t digits = 1;
  while (digits < line.size() && line[digits] >= '0' && line[digits] <= '9') ++digits;
  if (line[0] == 'w' && digits > 1 && digits < line.size() && line[digits] == '\t') return "";
  // An unfinished first and only line that stops within its version.
  if (whole && lf == std::string::npos && line[0] == 'w' && digits == line.size()) return "";
  std::string shown;
  for (const char c : line.substr(0, 16)) {
    if (c >= 0x20 && c < 0x7f) {
      shown += c;
    } else {
      char hex[5];
      std::snprintf(hex, sizeof hex, "\\x%02x", static_cast<unsigned char>(c));
      shown += hex;
    }
  }
  const size_t line_number = std::count(head.begin(), head.begin() + start, '\n') + 1;
  return "line " + std::to_string(line_number) + " starts with '" + shown + "'" +
         (line.size() > 16 ? "..." : "") + ", not with a spool version such as '" + kVersion +
         "' and a tab";
}

/// Reads up to `size` bytes of `fd` from its start (fewer at its end). Errors: I/O (errno set).
std::optional<std::string> read_start(int fd, size_t size) {
  std::string data(size, '\0');
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = pread(fd, data.data() + done, data.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::nullopt;
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  data.resize(done);
  return data;
}

}  // namespace

std::string ledger_spool_mismatch(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT ? "" : std::string("cannot read it: ") + std::strerror(errno);
  struct stat st {};
  std::string reason;
  if (fstat(fd, &st) != 0) {
    reason = std::string("cannot read it: ") + std::strerror(errno);
  } else if (!S_ISREG(st.st_mode)) {
    reason = "it is not a regular file";
  } else if (auto head = read_start(fd, kRecognitionBytes); !head) {
    reason = std::string("cannot read it: ") + std::strerror(errno);
  } else if (const std::string why = unrecognized(*head, head->size() < kRecognitionBytes);
             !why.empty()) {
    reason = "it is not a ledger spool: " + why;
  }
  close(fd);
  return reason;
}

std::string spool_line(const LedgerWrite& write) {
  const UsageRecord& r = write.row;
  std::string line = kVersion;
  const auto add = [&](const std::string& field) { (line += '\t') += field; };
  add(std::string(1, kind_letter(write.kind)));
  add(escaped(r.request_id));
  add(std::to_string(r.key_id));
  add(escaped(r.model));
  add(escaped(r.endpoint));
  add(std::to_string(r.prompt_tokens));
  add(std::to_string(r.cached_prompt_tokens));
  add(std::to_string(r.completion_tokens));
  add(std::to_string(r.started_at_us));
  add(std::to_string(r.finished_at_us));
  add(std::to_string(r.http_status));
  add(escaped(r.status));
  add(escaped(r.error));
  add(std::to_string(r.cost_micro_usd));
  add(std::to_string(r.price.input));
  add(std::to_string(r.price.cached_input));
  add(std::to_string(r.price.output));
  add(std::to_string(r.tenant_id));
  add(write.carries_admission ? "1" : "0");
  add(std::to_string(write.reserved_micro_usd));
  add(escaped(r.end_user));
  return line;
}

Result<LedgerWrite> parse_spool_line(const std::string& line) {
  // No database text holds NUL (PostgreSQL's cannot): such a line, which builds before
  // 2026-12-07 could spool from a client's text, would be refused on every replay; damaged
  // instead, `spool repair` sets it aside.
  if (line.find('\0') != std::string::npos)
    return make_error("a NUL byte, which the database's text cannot hold");
  std::vector<std::string> fields;
  for (size_t start = 0;;) {
    const size_t tab = line.find('\t', start);
    fields.push_back(line.substr(start, tab == std::string::npos ? tab : tab - start));
    if (tab == std::string::npos) break;
    start = tab + 1;
  }
  const bool version1 = fields.size() == kFields1 && fields[0] == kVersion1;
  const bool version2 = fields.size() == kFields2 && fields[0] == kVersion2;
  if (!version1 && !version2 && (fields.size() != kFields || fields[0] != kVersion)) {
    // The first field names the version, so that a line of another one says so.
    if (fields.size() == kFields && fields[0] != kVersion)
      return make_error(std::string("not a spooled ledger write (it starts with '") +
                        fields[0].substr(0, 16) + "', expected '" + kVersion + "', '" + kVersion2 +
                        "' or '" + kVersion1 + "')");
    return make_error("not a spooled ledger write (" + std::to_string(fields.size()) +
                      " fields, expected " + std::to_string(kFields) + " starting with '" +
                      kVersion + "')");
  }
  LedgerWrite write;
  if (!version1) {
    if (fields[19] != "0" && fields[19] != "1")
      return make_error("'" + fields[19] +
                        "' is not 0 or 1 (whether the write carries its admission)");
    write.carries_admission = fields[19] == "1";
    auto reserved = integer(fields[20]);
    if (!reserved) return reserved.error();
    write.reserved_micro_usd = *reserved;
  }
  if (!version1 && !version2) {
    auto end_user = unescaped(fields[21]);
    if (!end_user) return end_user.error();
    write.row.end_user = std::move(*end_user);
  }
  if (fields[1] == "c")
    write.kind = LedgerWrite::Kind::Checkpoint;
  else if (fields[1] == "s")
    write.kind = LedgerWrite::Kind::Settle;
  else if (fields[1] != "r")
    return make_error("unknown write kind '" + fields[1] + "'");
  UsageRecord& r = write.row;
  std::string* texts[] = {&r.request_id, &r.model, &r.endpoint, &r.status, &r.error};
  const size_t text_fields[] = {2, 4, 5, 12, 13};
  for (size_t i = 0; i < 5; ++i) {
    auto text = unescaped(fields[text_fields[i]]);
    if (!text) return text.error();
    *texts[i] = std::move(*text);
  }
  int64_t* numbers[] = {&r.key_id,
                        &r.prompt_tokens,
                        &r.cached_prompt_tokens,
                        &r.completion_tokens,
                        &r.started_at_us,
                        &r.finished_at_us,
                        nullptr,
                        &r.cost_micro_usd,
                        &r.price.input,
                        &r.price.cached_input,
                        &r.price.output,
                        &r.tenant_id};
  const size_t number_fields[] = {3, 6, 7, 8, 9, 10, 11, 14, 15, 16, 17, 18};
  for (size_t i = 0; i < 12; ++i) {
    auto value = integer(fields[number_fields[i]]);
    if (!value) return value.error();
    if (numbers[i])
      *numbers[i] = *value;
    else
      r.http_status = static_cast<int>(*value);
  }
  return write;
}

Result<std::unique_ptr<LedgerSpool>> LedgerSpool::open(const std::string& path, bool* held,
                                                       UnfinishedLine unfinished) {
  if (held) *held = false;
  if (path.empty()) return make_error("the ledger spool path is empty");
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    Error error = io_error("open it", path);
    std::error_code ec;
    const std::filesystem::path parent = std::filesystem::path(path).parent_path();
    if (!parent.empty() && !std::filesystem::is_directory(parent, ec))
      error.message += " (directory '" + parent.string() + "' does not exist)";
    return error;
  }
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    Error error = io_error("read its type", path);
    close(fd);
    return error;
  }
  // Rows spooled to a FIFO or a device (/dev/null) would be lost.
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return make_error("ledger spool '" + path + "': it is not a regular file");
  }
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (held) *held = errno == EWOULDBLOCK;
    Error error = errno == EWOULDBLOCK
                      ? make_error("ledger spool '" + path +
                                   "' is held by another live server; give each server a spool "
                                   "of its own (serve --ledger-spool PATH)")
                      : io_error("lock it", path);
    close(fd);
    return error;
  }
  // Its size once locked: until then its last server may still have been appending.
  if (fstat(fd, &st) != 0) {
    Error error = io_error("read its size", path);
    close(fd);
    return error;
  }
  std::unique_ptr<LedgerSpool> spool(new LedgerSpool(fd, path, static_cast<size_t>(st.st_size)));
  // Nothing is written to a file before it is known to be a spool: the database given as the
  // spool lost its last "line" to the cut below, then was refused (QA).
  auto head = read_start(fd, std::min(spool->bytes_, kRecognitionBytes));
  if (!head) return io_error("read it", path);
  if (const std::string why = unrecognized(*head, spool->bytes_ <= kRecognitionBytes); !why.empty())
    return make_error("'" + path + "' is not a ledger spool: " + why + " (it was left as it was)");
  if (unfinished == UnfinishedLine::Keep) return spool;
  // Every complete line is a write, or the spool is refused as it is, uncut: `spool repair`
  // sets the damaged lines aside, the unfinished one with them.
  auto data = spool->contents();
  if (!data) return data.error();
  if (auto writes = spool->writes_of(*data); !writes) return writes.error();
  // A last line cut short by a crash was never acknowledged: it goes, so that the next append
  // starts a line of its own.
  const size_t kept = data->rfind('\n') == std::string::npos ? 0 : data->rfind('\n') + 1;
  if (kept < data->size()) {
    if (ftruncate(fd, static_cast<off_t>(kept)) != 0 || fdatasync(fd) != 0)
      return io_error("cut its last, unfinished line", path);
    spool->bytes_ = kept;
    spdlog::warn(
        "ledger spool '{}': its last line was unfinished ({} bytes without their end: a crash "
        "during an append, which was never acknowledged) and is cut off",
        path, data->size() - kept);
  }
  return spool;
}

LedgerSpool::~LedgerSpool() { close(fd_); }

Result<void> LedgerSpool::append(const std::vector<LedgerWrite>& writes) {
  std::string data;
  for (const LedgerWrite& write : writes) (data += spool_line(write)) += '\n';
  if (!write_all(fd_, data, bytes_) || fdatasync(fd_) != 0) {
    Error error = io_error("append to it", path_);
    if (ftruncate(fd_, static_cast<off_t>(bytes_)) == 0) (void)fdatasync(fd_);
    return error;
  }
  bytes_ += data.size();
  return {};
}

Result<std::string> LedgerSpool::contents() const {
  auto data = read_start(fd_, bytes_);
  if (!data) return io_error("read it", path_);
  return std::move(*data);
}

namespace {

/// Calls fn(line_number, line) for each complete line of a spool's text (1-based numbers), in
/// order, until fn returns false: a last line without its LF (cut short by a crash, never
/// acknowledged) is left out, a CR before an LF dropped (gengyun writes none: a CR in a field
/// is escaped; a text editor may) and empty lines passed over (a person's edit; they hold no
/// write).
template <class Fn>
void for_each_spool_line(const std::string& data, Fn fn) {
  size_t line_number = 0;
  for (size_t start = 0; start < data.size();) {
    const size_t lf = data.find('\n', start);
    if (lf == std::string::npos) return;
    ++line_number;
    const size_t end = lf > start && data[lf - 1] == '\r' ? lf - 1 : lf;
    if (end > start && !fn(line_number, data.substr(start, end - start))) return;
    start = lf + 1;
  }
}

}  // namespace

Result<std::vector<LedgerWrite>> LedgerSpool::read_all() {
  auto data = contents();
  if (!data) return data.error();
  return writes_of(*data);
}

Result<std::vector<LedgerWrite>> LedgerSpool::writes_of(const std::string& data) const {
  std::vector<LedgerWrite> writes;
  std::optional<Error> damaged;
  for_each_spool_line(data, [&](size_t line_number, const std::string& line) {
    auto write = parse_spool_line(line);
    if (!write) {
      damaged = make_error("ledger spool '" + path_ + "', line " + std::to_string(line_number) +
                           ": " + write.error().message + " (`gengyun spool repair " + path_ +
                           "` sets damaged lines aside)");
      return false;
    }
    writes.push_back(std::move(*write));
    return true;
  });
  if (damaged) return *damaged;
  return writes;
}

Result<LedgerSpool::Repair> LedgerSpool::set_aside_damaged(const std::string& aside_path) {
  auto data = contents();
  if (!data) return data.error();
  Repair repair;
  std::string good;
  for_each_spool_line(*data, [&](size_t line_number, const std::string& line) {
    if (parse_spool_line(line)) {
      (good += line) += '\n';
      ++repair.kept;
    } else {
      repair.damaged_lines.push_back(line_number);
    }
    return true;
  });
  // A last line without its newline (kept by open(): UnfinishedLine::Keep) was never
  // acknowledged: set aside with the damaged ones, so that the copy holds it.
  if (!data->empty() && data->back() != '\n')
    repair.damaged_lines.push_back(std::count(data->begin(), data->end(), '\n') + 1);
  if (repair.damaged_lines.empty()) return repair;
  const auto aside_error = [&](const char* what) {
    return make_error("cannot " + std::string(what) + " '" + aside_path +
                      "' (the copy of ledger spool '" + path_ + "'): " + std::strerror(errno));
  };
  const int aside = ::open(aside_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (aside < 0) return aside_error("create");
  const bool copied = write_all(aside, *data, 0) && fsync(aside) == 0;
  Error copy_error = copied ? Error{} : aside_error("write");
  close(aside);
  if (!copied) return copy_error;
  if (!write_all(fd_, good, 0) || ftruncate(fd_, static_cast<off_t>(good.size())) != 0 ||
      fdatasync(fd_) != 0)
    return io_error("rewrite it without its damaged lines (all of it is in '" + aside_path + "')",
                    path_);
  bytes_ = good.size();
  return repair;
}

Result<void> LedgerSpool::clear() {
  if (ftruncate(fd_, 0) != 0 || fdatasync(fd_) != 0) return io_error("empty it", path_);
  bytes_ = 0;
  return {};
}

}  // namespace gengyun::platform
