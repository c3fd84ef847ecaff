#include "deploy/pull.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "gguf/gguf.h"

namespace gengyun::deploy {
namespace {

// Attempts of one run: a dropped connection is retried (resuming) as long as each attempt
// adds bytes; an attempt that adds none ends the run.
constexpr int kMaxAttempts = 8;
constexpr long kMaxRedirects = 10;  // followed per request
// A body whose header has not ended by gguf::kMaxHeaderBytes is stopped as not a GGUF file: it
// bounds what a body that looks like a GGUF header but never ends one writes to the disk.
using gguf::kMaxHeaderBytes;

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

bool is_sha256_hex(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return std::isxdigit(static_cast<unsigned char>(c));
         });
}

// The SHA-256 an (X-Linked-)ETag carries: the value without a weak prefix "W/" and quotes,
// when it is 64 hex digits (HF's ETag of an LFS file); empty otherwise (an S3 MD5, a git SHA-1).
std::string sha256_from_etag(std::string_view etag) {
  etag = trim(etag);
  if (etag.starts_with("W/")) etag.remove_prefix(2);
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"')
    etag = etag.substr(1, etag.size() - 2);
  return is_sha256_hex(etag) ? lower(etag) : std::string();
}

std::string percent_decode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// A name that stays inside DIR: no separators, NUL or control characters, not "." or "..".
bool is_safe_file_name(std::string_view name) {
  if (name.empty() || name == "." || name == "..") return false;
  return std::none_of(name.begin(), name.end(), [](char c) {
    return c == '/' || c == '\\' || static_cast<unsigned char>(c) < 0x20;
  });
}

// The URL path's last segment, percent-decoded; empty when there is none or it is unsafe.
std::string file_name_from_url(std::string_view url) {
  const size_t scheme = url.find("://");
  std::string_view rest = scheme == std::string_view::npos ? url : url.substr(scheme + 3);
  rest = rest.substr(0, rest.find_first_of("?#"));
  const size_t slash = rest.find('/');
  if (slash == std::string_view::npos) return {};
  std::string name = percent_decode(rest.substr(rest.rfind('/') + 1));
  return is_safe_file_name(name) ? name : std::string();
}

// The file name of a Content-Disposition value (RFC 6266): filename*=UTF-8''NAME (percent-
// encoded) preferred over filename="NAME" (an RFC 9110 quoted-string: a backslash quotes the next
// character, a ';' inside is the name's) or filename=NAME; only its last path component.
std::string file_name_from_content_disposition(std::string_view value) {
  std::string plain, extended;
  size_t start = 0;  // of a parameter (the disposition type first, which has no '=')
  while (start < value.size()) {
    const size_t eq = value.find_first_of("=;", start);
    if (eq == std::string_view::npos) break;
    if (value[eq] == ';') {  // no value
      start = eq + 1;
      continue;
    }
    const std::string key = lower(trim(value.substr(start, eq - start)));
    size_t j = eq + 1;
    while (j < value.size() && (value[j] == ' ' || value[j] == '\t')) ++j;
    std::string v;
    size_t end;  // the ';' after the value, or npos
    if (j < value.size() && value[j] == '"') {
      for (++j; j < value.size() && value[j] != '"'; ++j) {
        if (value[j] == '\\' && j + 1 < value.size()) ++j;
        v += value[j];
      }
      end = value.find(';', j);
    } else {
      end = value.find(';', j);
      v = std::string(trim(value.substr(j, end == std::string_view::npos ? end : end - j)));
    }
    start = end == std::string_view::npos ? value.size() : end + 1;
    if (key == "filename*") {
      const size_t quote = v.find("''");
      if (quote != std::string::npos) extended = percent_decode(v.substr(quote + 2));
    } else if (key == "filename") {
      plain = std::move(v);
    }
  }
  std::string name = extended.empty() ? plain : extended;
  const size_t sep = name.find_last_of("/\\");
  if (sep != std::string::npos) name = name.substr(sep + 1);
  return is_safe_file_name(name) ? name : std::string();
}

bool ends_with_gguf(std::string_view name) {
  return name.size() > 5 && lower(name.substr(name.size() - 5)) == ".gguf";
}

uint64_t file_size_or_zero(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

std::string errno_text() { return std::strerror(errno); }

// A decimal of up to 19 digits (below 2^63), surrounding spaces allowed.
std::optional<uint64_t> parse_decimal(std::string_view s) {
  s = trim(s);
  if (s.empty() || s.size() > 19 ||
      !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  return std::stoull(std::string(s));
}

// One HTTP request (redirects included) and what it wrote to the part file.
struct Transfer {
  const PullOptions* options = nullptr;
  std::string shown_url;  // options->url as messages show it (url_without_userinfo)
  CURL* curl = nullptr;
  std::string name;  // the file's name, once known
  std::string part_path;
  uint64_t offset = 0;        // bytes already in the part file, asked for with Range when > 0
  uint64_t resumed_from = 0;  // bytes of a part file from an earlier run still in use
  bool restart = false;       // the part file is unusable: remove it and ask for the whole file
  std::string error;          // fatal: stop the run

  // The current response of the redirect chain.
  long status = 0;
  std::string content_disposition, content_range;
  std::optional<uint64_t> content_length;
  // Across the chain: HF's 302 carries the checksum, the CDN's 200 carries the body.
  std::string linked_etag_sha256, etag_sha256;

  int fd = -1;
  int lock_fd = -1;  // holds the part file's flock for the whole pull (lock_part)
  bool body_started = false;
  std::string curl_error;  // libcurl's message for a failed request
  uint64_t total = 0;      // the whole file's size, 0 while unknown

  // While a body arrives: the part file's size, and what its GGUF header says.
  uint64_t end = 0;
  std::optional<gguf::FileExtent> extent;  // the file's, once its header is in the part file
  uint64_t probe_at = 0;                   // the size at which to read the header (again)
  bool discard = false;  // the part file can never become the file: removed with t.error

  ~Transfer() {
    if (fd >= 0) ::close(fd);
    if (lock_fd >= 0) ::close(lock_fd);
  }
};

// Takes an exclusive flock on the part file (created empty when missing) and holds it until the
// pull ends, renamed or not, so that two pulls of one file into one folder never write, resume
// or rename one part file at once (QA 2026-12-07: the second resumed from the first's bytes and
// the first then failed). False, with t.error set, when another process holds it.
bool lock_part(Transfer& t) {
  if (t.lock_fd >= 0) return true;
  const int fd = ::open(t.part_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    t.error = t.part_path + ": " + errno_text();
    return false;
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    t.error = t.part_path +
              ": another `gengyun pull` is downloading this file into the same folder; wait for "
              "it to end";
    ::close(fd);
    return false;
  }
  t.lock_fd = fd;
  return true;
}

size_t on_header(char* data, size_t size, size_t n, void* user) {
  auto& t = *static_cast<Transfer*>(user);
  const std::string_view line(data, size * n);
  if (line.starts_with("HTTP/")) {  // a new response (after a redirect or a 100 Continue)
    t.content_disposition.clear();
    t.content_range.clear();
    t.content_length.reset();
    return size * n;
  }
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) return size * n;
  const std::string key = lower(trim(line.substr(0, colon)));
  const std::string_view value = trim(line.substr(colon + 1));
  if (key == "content-disposition") {
    t.content_disposition = value;
  } else if (key == "content-range") {
    t.content_range = value;
  } else if (key == "content-length") {
    t.content_length = parse_decimal(value);
  } else if (key == "x-linked-etag") {
    if (std::string sha = sha256_from_etag(value); !sha.empty()) t.linked_etag_sha256 = sha;
  } else if (key == "etag") {
    if (std::string sha = sha256_from_etag(value); !sha.empty() && t.etag_sha256.empty())
      t.etag_sha256 = sha;
  }
  return size * n;
}

// "bytes START-END/TOTAL" (TOTAL may be "*"): START and TOTAL (0 when "*").
std::optional<std::pair<uint64_t, uint64_t>> parse_content_range(std::string_view v) {
  if (!v.starts_with("bytes ")) return std::nullopt;
  v.remove_prefix(6);
  const size_t dash = v.find('-'), slash = v.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  const std::optional<uint64_t> total =
      v.substr(slash + 1) == "*" ? std::optional<uint64_t>(0) : parse_decimal(v.substr(slash + 1));
  if (!total) return std::nullopt;
  if (v.substr(0, slash) == "*") return std::pair<uint64_t, uint64_t>{0, *total};
  if (dash == std::string_view::npos || dash > slash) return std::nullopt;
  const std::optional<uint64_t> start = parse_decimal(v.substr(0, dash));
  if (!start) return std::nullopt;
  return std::pair<uint64_t, uint64_t>{*start, *total};
}

// The error for a download that goes on past the size its GGUF header gives the file.
std::string past_extent_message(const std::string& url, const gguf::FileExtent& extent) {
  return url + ": the body goes on past the " + std::to_string(extent.padded_end) +
         " bytes that its GGUF header gives the file (tensor data up to byte " +
         std::to_string(extent.data_end) +
         ", padded to the alignment): it is not the GGUF file it starts as, so the download was "
         "removed";
}

// True when the `size - have` bytes of the file still to come fit in the free space of the
// folder's file system (or statvfs cannot tell); else false with t.error set. The part file is
// kept: the same command resumes once there is room.
bool fits_free_space(Transfer& t, uint64_t size, uint64_t have) {
  struct statvfs fs;
  if (size <= have || ::statvfs(t.options->dir.c_str(), &fs) != 0) return true;
  const uint64_t free_bytes = uint64_t{fs.f_bavail} * fs.f_frsize;
  if (size - have <= free_bytes) return true;
  t.error = t.options->dir + ": " + t.name + " needs " + std::to_string(size - have) +
            " more bytes (" + std::to_string(size) + " in all) but the folder's file system has " +
            std::to_string(free_bytes) + " bytes free; " +
            (have > 0 ? "the " + std::to_string(have) + " bytes downloaded are kept in " +
                            t.part_path + "; "
                      : "") +
            "free some space and run the same command again";
  return false;
}

// Stops the download as one that can never become a valid GGUF file: t.error names why, and
// the part file is removed (t.discard). Returns false.
bool discard_part(Transfer& t, std::string message) {
  t.error = std::move(message);
  t.discard = true;
  return false;
}

// Reads the GGUF header (gguf::probe_header) from the part file's first bytes (of its t.end, up
// to kMaxHeaderBytes; t.probe_at of them, 64 KiB at first, then twice as many or as the header
// asks for): sets t.extent once they hold the header, else t.probe_at to the size at which to
// read again. False, with t.error set, when they do not start a GGUF file, when the part file
// holds more than the size the header gives the file, when the header alone takes more than
// kMaxHeaderBytes (each discards the part file), or when the file does not fit in the free
// space.
bool read_header(Transfer& t) {
  const uint64_t have = std::min(t.end, kMaxHeaderBytes);
  const std::string not_gguf =
      t.shown_url + ": the download is not a valid GGUF file, so it was removed: ";
  std::vector<uint8_t> prefix;
  for (uint64_t size = std::min(have, std::max<uint64_t>(t.probe_at, uint64_t{64} << 10));;) {
    size_t done = prefix.size();
    prefix.resize(size);
    while (done < prefix.size()) {
      const ssize_t r =
          ::pread(t.fd, prefix.data() + done, prefix.size() - done, static_cast<off_t>(done));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) {
        t.error = t.part_path + ": " + (r < 0 ? errno_text() : "shorter than written");
        return false;
      }
      done += static_cast<size_t>(r);
    }
    const Result<gguf::HeaderProbe> probe = gguf::probe_header(prefix, t.part_path);
    if (!probe) return discard_part(t, not_gguf + probe.error().message);
    if (probe->extent) {
      t.extent = probe->extent;
      break;
    }
    if (probe->need_bytes > kMaxHeaderBytes)
      return discard_part(t, not_gguf + t.part_path + ": its GGUF header takes at least " +
                                 std::to_string(probe->need_bytes) + " bytes, more than the " +
                                 std::to_string(kMaxHeaderBytes) + " a header may take");
    size = std::min(std::max(probe->need_bytes, 2 * size), kMaxHeaderBytes);
    if (size > have) {
      t.probe_at = size;
      return true;
    }
  }
  if (t.end > t.extent->padded_end)
    return discard_part(t, past_extent_message(t.shown_url, *t.extent));
  return fits_free_space(t, t.extent->padded_end, t.end);
}

// Decides, at the first bytes of the body, where they go: appended to the part file (206 from
// the offset asked for), or the part file restarted (200: the server ignored Range).
bool start_body(Transfer& t) {
  curl_easy_getinfo(t.curl, CURLINFO_RESPONSE_CODE, &t.status);
  if (t.status != 200 && t.status != 206) return false;  // reported after curl_easy_perform
  if (t.name.empty()) {
    t.name = file_name_from_content_disposition(t.content_disposition);
    if (t.name.empty()) t.name = file_name_from_url(t.options->url);
    if (t.name.empty()) {
      t.error = t.shown_url +
                ": cannot tell the file name: the URL has no file name and the response no "
                "Content-Disposition file name that is safe to use";
      return false;
    }
    t.part_path = (std::filesystem::path(t.options->dir) / (t.name + ".part")).string();
    if (!lock_part(t)) return false;
  }
  if (t.status == 206) {
    const auto range = parse_content_range(t.content_range);
    if (!range || range->first != t.offset) {  // not the bytes asked for: start over
      t.restart = true;
      return false;
    }
    t.total = range->second;
  } else {
    t.offset = 0;  // a 200 is the whole file, whatever Range asked for
    t.resumed_from = 0;
    if (t.content_length) t.total = *t.content_length;
  }
  if (t.total > 0 && !fits_free_space(t, t.total, t.offset)) return false;
  // The file lock_part locked (read and write: read_header reads its first bytes back), never
  // the path opened again, so that what is written is always the locked file.
  t.fd = ::fcntl(t.lock_fd, F_DUPFD_CLOEXEC, 0);
  if (t.fd < 0 || ::ftruncate(t.fd, static_cast<off_t>(t.offset)) != 0 ||
      ::lseek(t.fd, static_cast<off_t>(t.offset), SEEK_SET) < 0) {
    t.error = t.part_path + ": " + errno_text();
    return false;
  }
  t.end = t.offset;
  t.extent.reset();
  t.probe_at = 0;
  t.body_started = true;
  return true;
}

size_t on_body(char* data, size_t size, size_t n, void* user) {
  auto& t = *static_cast<Transfer*>(user);
  const size_t bytes = size * n;
  if (!t.body_started && !start_body(t)) return 0;
  // Once the GGUF header is in, the file's size is known: a body that goes on past it is not
  // that file, whatever the response declared (or did not: no Content-Length, chunked).
  const size_t keep =
      t.extent ? static_cast<size_t>(std::min<uint64_t>(bytes, t.extent->padded_end - t.end))
               : bytes;
  for (size_t done = 0; done < keep;) {
    const ssize_t w = ::write(t.fd, data + done, keep - done);
    if (w < 0) {
      if (errno == EINTR) continue;
      t.error = t.part_path + ": " + errno_text();
      return 0;
    }
    done += static_cast<size_t>(w);
  }
  t.end += keep;
  if (keep < bytes) {
    discard_part(t, past_extent_message(t.shown_url, *t.extent));
    return 0;
  }
  if (!t.extent && t.end >= t.probe_at && !read_header(t)) return 0;
  return bytes;
}

// The file's size as progress reports it: the response's (Content-Length, Content-Range), else
// the one its GGUF header gives (FileExtent's padded_end: the writers' size, and the most that
// on_body keeps), else 0.
uint64_t progress_total(const Transfer& t) {
  return t.total > 0 ? t.total : t.extent ? t.extent->padded_end : 0;
}

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto& t = *static_cast<Transfer*>(user);
  if (t.body_started && t.options->progress) t.options->progress(t.end, progress_total(t));
  return 0;
}

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};

bool is_transient(CURLcode rc) {
  switch (rc) {
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return true;
    default:
      return false;
  }
}

// The host of an http(s) URL, lower-cased, without user info, port or IPv6 brackets.
std::string url_without_userinfo(std::string_view url) {
  const size_t scheme = url.find("://");
  const size_t host = scheme == std::string_view::npos ? 0 : scheme + 3;
  const size_t end = std::min(url.find_first_of("/?#", host), url.size());
  const size_t at = url.substr(0, end).rfind('@');
  if (at == std::string_view::npos || at < host) return std::string(url);
  return std::string(url.substr(0, host)) + "***" + std::string(url.substr(at));
}

std::string url_host(std::string_view url) {
  const size_t scheme = url.find("://");
  std::string_view rest = scheme == std::string_view::npos ? url : url.substr(scheme + 3);
  rest = rest.substr(0, rest.find_first_of("/?#"));
  if (const size_t at = rest.rfind('@'); at != std::string_view::npos) rest.remove_prefix(at + 1);
  if (rest.starts_with("[")) return lower(rest.substr(1, rest.find(']') - 1));
  return lower(rest.substr(0, rest.find(':')));
}

bool is_loopback_host(const std::string& host) {
  return host == "localhost" || host.starts_with("127.") || host == "::1";
}

// True when `token` holds only the characters of RFC 6750's b64token (and so cannot break the
// header it goes into).
bool is_bearer_token(std::string_view token) {
  return std::all_of(token.begin(), token.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) ||
           std::string_view("-._~+/=").find(c) != std::string_view::npos;
  });
}

struct SlistDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};

// One request of the run. Returns the curl result; t records the rest.
CURLcode perform(Transfer& t) {
  std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
  if (!curl) return CURLE_FAILED_INIT;
  CURL* c = curl.get();
  t.curl = c;
  char errbuf[CURL_ERROR_SIZE] = {};
  curl_easy_setopt(c, CURLOPT_URL, t.options->url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, kMaxRedirects);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "gengyun-pull");
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);  // a stalled transfer: below 1 byte/s for 60 s
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, &t);
  // The token goes to the URL's own host only: curl leaves custom Authorization headers out of
  // requests to another hostname, scheme or port unless CURLOPT_UNRESTRICTED_AUTH is set.
  std::unique_ptr<curl_slist, SlistDeleter> headers;
  if (!t.options->token.empty()) {
    const std::string header = "Authorization: Bearer " + t.options->token;
    headers.reset(curl_slist_append(nullptr, header.c_str()));
    if (!headers) return CURLE_OUT_OF_MEMORY;
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
    curl_easy_setopt(c, CURLOPT_UNRESTRICTED_AUTH, 0L);
  }
  const std::string range = std::to_string(t.offset) + "-";
  if (t.offset > 0) curl_easy_setopt(c, CURLOPT_RANGE, range.c_str());
  const CURLcode rc = curl_easy_perform(c);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &t.status);
  t.curl_error = errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc);
  t.curl = nullptr;
  if (t.fd >= 0) {
    ::close(t.fd);
    t.fd = -1;
  }
  return rc;
}

// SHA-256 of the file at `path`, lower-case hex.
Result<std::string> file_sha256(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return make_error(path + ": " + errno_text());
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) {
    ::close(fd);
    return make_error("OpenSSL cannot compute SHA-256 (EVP_DigestInit_ex failed)");
  }
  std::vector<unsigned char> buf(size_t{1} << 20);
  for (;;) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const std::string why = errno_text();
      ::close(fd);
      return make_error(path + ": " + why);
    }
    if (n == 0) break;
    EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<size_t>(n));
  }
  ::close(fd);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx.get(), digest, &len);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < len; ++i) {
    hex += kHex[digest[i] >> 4];
    hex += kHex[digest[i] & 15];
  }
  return hex;
}

// Flushes `path` (a file, or a folder after a rename in it) to the disk.
Result<void> fsync_path(const std::string& path, int flags) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return make_error(path + ": " + errno_text());
  const bool ok = ::fsync(fd) == 0;
  const std::string why = ok ? std::string() : errno_text();
  ::close(fd);
  if (!ok) return make_error(path + ": fsync: " + why);
  return {};
}

void remove_part(Transfer& t) {
  std::error_code ec;
  if (!t.part_path.empty()) std::filesystem::remove(t.part_path, ec);
  t.offset = 0;
  t.resumed_from = 0;
}

// Empties the part file for a download from byte 0, in place: the file stays the one lock_part
// locked (removing it and writing a new one would leave the lock on the removed file, and a
// second pull could lock and write the new one; QA). False, with t.error set, on an I/O error.
bool restart_part(Transfer& t) {
  if (::ftruncate(t.lock_fd, 0) != 0) {
    t.error = t.part_path + ": " + errno_text();
    return false;
  }
  t.offset = 0;
  t.resumed_from = 0;
  return true;
}

// Runs requests until the part file holds the whole file: a dropped connection is resumed as
// long as each attempt adds bytes. Fills `t` (name, part_path, checksums, total).
Result<void> download(Transfer& t) {
  const std::string& url = t.shown_url;
  for (int attempt = 1;; ++attempt) {
    const uint64_t before = t.offset;
    t.restart = false;
    t.body_started = false;
    t.status = 0;
    const CURLcode rc = perform(t);
    if (!t.error.empty()) {
      if (t.discard) remove_part(t);
      return make_error(t.error);
    }
    if (t.restart) {
      if (!restart_part(t)) return make_error(t.error);
      if (attempt >= kMaxAttempts)
        return make_error(url + ": the server keeps answering with another range than asked");
      continue;
    }
    // 416: the Range starts at or past the end, so the part is complete or too long.
    if (t.status == 416 && t.offset > 0) {
      const auto range = parse_content_range(t.content_range);
      if (range && range->second == t.offset) {
        t.total = t.offset;
        return {};
      }
      if (!restart_part(t)) return make_error(t.error);
      if (attempt >= kMaxAttempts)
        return make_error(url + ": HTTP 416 (range not satisfiable) on every attempt");
      continue;
    }
    if (rc == CURLE_TOO_MANY_REDIRECTS)
      return make_error(url + ": more than " + std::to_string(kMaxRedirects) +
                        " redirects (a redirect loop?)");
    if (t.status != 0 && t.status != 200 && t.status != 206)
      return make_error(
          url + ": HTTP " + std::to_string(t.status) +
          (t.offset > 0 ? " (asking for bytes from " + std::to_string(t.offset) + ")" : ""));
    if (!t.part_path.empty() && t.body_started) t.offset = file_size_or_zero(t.part_path);
    if (rc == CURLE_OK) {
      if (!t.body_started) {  // an empty body never reached on_body: the file is empty
        if (!start_body(t))
          return make_error(t.error.empty() ? url + ": unusable Content-Range" : t.error);
        ::close(t.fd);
        t.fd = -1;
      }
      if (t.total == 0) {  // no size declared: the file ends where the body did
        t.total = t.offset;
        if (t.options->progress) t.options->progress(t.offset, t.total);
      }
      if (t.offset != t.total)
        return make_error(url + ": the transfer ended after " + std::to_string(t.offset) + " of " +
                          std::to_string(t.total) + " bytes");
      return {};
    }
    if (!is_transient(rc) || t.offset <= before || attempt >= kMaxAttempts) {
      std::string message = url + ": " + t.curl_error;
      if (!t.part_path.empty() && t.offset > 0)
        message += "; " + std::to_string(t.offset) + " bytes are kept in " + t.part_path +
                   " and the same command resumes from there";
      return make_error(message);
    }
  }
}

}  // namespace

bool is_hugging_face_url(std::string_view url) {
  if (!lower(url).starts_with("https://")) return false;
  const std::string host = url_host(url);
  return host == "huggingface.co" || host == "hf.co";
}

Result<std::string> expand_hf_url(std::string_view url) {
  constexpr std::string_view kScheme = "hf://";
  if (!lower(url.substr(0, kScheme.size())).starts_with(kScheme)) return std::string(url);
  const std::string shown = "'" + std::string(url) + "'";
  std::string_view rest = url.substr(kScheme.size());
  const size_t org_end = rest.find('/');
  const size_t repo_end = org_end == std::string_view::npos ? org_end : rest.find('/', org_end + 1);
  if (org_end == 0 || org_end == std::string_view::npos || repo_end == std::string_view::npos ||
      repo_end == org_end + 1 || repo_end + 1 == rest.size())
    return make_error(shown + ": expected hf://ORG/REPO/FILE or hf://ORG/REPO@REVISION/FILE");
  std::string_view repo = rest.substr(0, repo_end);
  std::string_view revision = "main";
  if (const size_t at = repo.find('@', org_end + 1); at != std::string_view::npos) {
    revision = repo.substr(at + 1);
    repo = repo.substr(0, at);
    if (revision.empty() || repo.size() == org_end + 1)
      return make_error(shown +
                        ": expected hf://ORG/REPO@REVISION/FILE with a non-empty REPO "
                        "and REVISION");
  }
  // Hugging Face's names (huggingface_hub's validate_repo_id): letters, digits, '-', '_', '.',
  // no ".."; a REVISION also takes '%' (refs%2Fpr%2F1). Nothing may climb out of the repo, also
  // not through a percent-encoded '.' (%2e), which a server may decode before it normalizes.
  const auto dots_decoded = [](std::string_view text) {
    std::string out;
    for (size_t i = 0; i < text.size(); ++i) {
      if (text[i] == '%' && i + 2 < text.size() && text[i + 1] == '2' &&
          (text[i + 2] == 'e' || text[i + 2] == 'E')) {
        out += '.';
        i += 2;
      } else {
        out += text[i];
      }
    }
    return out;
  };
  const auto name_error = [&](std::string_view what, std::string_view part,
                              std::string_view extra) -> std::optional<Error> {
    const std::string dots = dots_decoded(part);
    const bool bad_char = std::any_of(part.begin(), part.end(), [&](char c) {
      return !(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ||
               extra.find(c) != std::string_view::npos);
    });
    if (part.empty() || dots == "." || dots.find("..") != std::string::npos || bad_char)
      return make_error(shown + ": the " + std::string(what) + " '" + std::string(part) +
                        "' is not a Hugging Face name (letters, digits, '-', '_', '.'" +
                        (extra.empty() ? "" : ", '%'") + "; not '.', no '..')");
    return std::nullopt;
  };
  if (auto bad = name_error("ORG", repo.substr(0, org_end), "")) return *bad;
  if (auto bad = name_error("REPO", repo.substr(org_end + 1), "")) return *bad;
  if (auto bad = name_error("REVISION", revision, "%")) return *bad;
  const std::string_view file = rest.substr(repo_end + 1);
  for (size_t start = 0; start <= file.size();) {
    const size_t end = std::min(file.find('/', start), file.size());
    const std::string segment = dots_decoded(file.substr(start, end - start));
    if (segment.empty() || segment == "." || segment == "..")
      return make_error(shown + ": the FILE path holds an empty, '.' or '..' folder");
    start = end + 1;
  }
  return "https://huggingface.co/" + std::string(repo) + "/resolve/" + std::string(revision) + "/" +
         std::string(file);
}

namespace {
/// pull() once its folder exists: the transfer, the checks and the rename.
Result<PullResult> pull_into_dir(const PullOptions& options, PullResult result,
                                 std::string expected_sha);
}  // namespace

Result<PullResult> pull(const PullOptions& given) {
  Result<std::string> expanded = expand_hf_url(given.url);
  if (!expanded) return expanded.error();
  PullOptions options = given;
  options.url = std::move(expanded).value();
  const std::string lower_url = lower(options.url);
  const std::string shown_url = url_without_userinfo(options.url);
  if (!lower_url.starts_with("http://") && !lower_url.starts_with("https://"))
    return make_error("'" + shown_url + "' is not an http:// or https:// URL");
  if (!options.token.empty()) {
    if (!is_bearer_token(options.token))
      return make_error(
          "the token holds characters a bearer token cannot (spaces, control "
          "characters, ...); it was not sent");
    if (lower_url.starts_with("http://") && !is_loopback_host(url_host(options.url)))
      return make_error("'" + shown_url +
                        "': a token is sent over https only (plain http would carry it in clear)");
  }
  PullResult result;
  std::string expected_sha = lower(options.sha256);
  if (!expected_sha.empty()) {
    if (!is_sha256_hex(expected_sha))
      return make_error("--sha256 '" + options.sha256 + "' is not a SHA-256 (64 hex digits)");
    result.sha256_source = "--sha256";
  }
  // The folders this run creates, deepest first: removed again if it fails and leaves them
  // empty (a part file kept for a resume keeps its folder).
  std::vector<std::filesystem::path> created;
  std::error_code ec;
  for (std::filesystem::path d = std::filesystem::absolute(options.dir, ec);
       !ec && !d.empty() && !std::filesystem::exists(d, ec) && d != d.parent_path();
       d = d.parent_path())
    created.push_back(d);
  std::filesystem::create_directories(options.dir, ec);
  if (ec) return make_error(options.dir + ": " + ec.message());
  Result<PullResult> pulled = pull_into_dir(options, std::move(result), std::move(expected_sha));
  if (!pulled)
    for (const std::filesystem::path& d : created) std::filesystem::remove(d, ec);
  return pulled;
}

namespace {

Result<PullResult> pull_into_dir(const PullOptions& options, PullResult result,
                                 std::string expected_sha) {
  std::error_code ec;
  static const CURLcode global_init = curl_global_init(CURL_GLOBAL_DEFAULT);
  if (global_init != CURLE_OK)
    return make_error(std::string("libcurl: ") + curl_easy_strerror(global_init));

  Transfer t;
  t.options = &options;
  t.shown_url = url_without_userinfo(options.url);
  if (std::string name = file_name_from_url(options.url); ends_with_gguf(name)) {
    t.name = name;
    t.part_path = (std::filesystem::path(options.dir) / (name + ".part")).string();
    if (!lock_part(t)) return make_error(t.error);
    t.offset = t.resumed_from = file_size_or_zero(t.part_path);
  }
  if (Result<void> r = download(t); !r) {
    // An empty part file (made by lock_part) holds nothing to resume from.
    if (t.lock_fd >= 0 && file_size_or_zero(t.part_path) == 0)
      std::filesystem::remove(t.part_path, ec);
    return r.error();
  }
  result.resumed_from = t.resumed_from;

  if (expected_sha.empty()) {
    expected_sha = !t.linked_etag_sha256.empty() ? t.linked_etag_sha256 : t.etag_sha256;
    result.sha256_source = !t.linked_etag_sha256.empty() ? "X-Linked-Etag"
                           : !t.etag_sha256.empty()      ? "ETag"
                                                         : "";
  }
  if (!expected_sha.empty()) {
    Result<std::string> actual = file_sha256(t.part_path);
    if (!actual) return actual.error();
    if (actual.value() != expected_sha) {
      std::filesystem::remove(t.part_path, ec);
      return make_error(t.shown_url + ": SHA-256 mismatch: expected " + expected_sha + " (from " +
                        result.sha256_source + "), the download has " + actual.value() +
                        "; it was removed");
    }
    result.sha256 = expected_sha;
  }
  if (Result<void> r = fsync_path(t.part_path, O_RDONLY); !r) return r.error();
  {
    Result<gguf::File> file = gguf::File::open(t.part_path);
    if (!file) {
      std::filesystem::remove(t.part_path, ec);
      return make_error(
          t.shown_url +
          ": the download is not a valid GGUF file, so it was removed: " + file.error().message);
    }
    // A part file that was complete before this run (HTTP 416) was not read as it arrived.
    if (file->size() > file->extent().padded_end) {
      std::filesystem::remove(t.part_path, ec);
      return make_error(past_extent_message(t.shown_url, file->extent()));
    }
  }
  result.path = (std::filesystem::path(options.dir) / t.name).string();
  if (::rename(t.part_path.c_str(), result.path.c_str()) != 0)
    return make_error(t.part_path + " -> " + result.path + ": " + errno_text());
  if (Result<void> r = fsync_path(options.dir, O_RDONLY | O_DIRECTORY); !r) return r.error();
  result.size = t.offset;
  return result;
}

}  // namespace
}  // namespace gengyun::deploy
