#include "cli/read_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "api/http_server.h"
#include "chat/chat_template.h"

namespace gengyun::cli {

const TextFileKind kTemplateFile{"--template", chat::kMaxTemplateBytes, "a chat template file"};
const TextFileKind kJsonSchemaFile{"--json-schema", api::kMaxRequestBodyBytes,
                                   "a JSON schema file (as a request to serve)"};
const TextFileKind kConversationFile{"--conversation", size_t{16} << 20, "a conversation file"};
const TextFileKind kTextFile{"--file", size_t{16} << 20, "a text file"};
const TextFileKind kPriceFile{"--prices", size_t{1} << 20, "a price file"};

namespace {

/// `bytes` in MiB when it is a whole number of them ("16 MiB"), else in bytes.
std::string size_text(size_t bytes) {
  constexpr size_t kMiB = size_t{1} << 20;
  if (bytes % kMiB == 0) return std::to_string(bytes / kMiB) + " MiB";
  return std::to_string(bytes) + " bytes";
}

}  // namespace

Result<std::string> read_file(const TextFileKind& kind, const std::string& path) {
  const auto failed = [&](const std::string& why) {
    return make_error(std::string(kind.flag) + ": cannot read " + path + ": " + why);
  };
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return failed(std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
    ::close(fd);
    return failed("it is a directory");
  }
  std::string bytes;
  char buffer[65536];
  // One byte past the bound is read to tell a file of exactly max_bytes from a larger one.
  while (bytes.size() <= kind.max_bytes) {
    const size_t wanted = std::min(sizeof buffer, kind.max_bytes + 1 - bytes.size());
    const ssize_t n = ::read(fd, buffer, wanted);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const std::string why = std::strerror(errno);
      ::close(fd);
      return failed(why);
    }
    if (n == 0) break;
    bytes.append(buffer, static_cast<size_t>(n));
  }
  ::close(fd);
  if (bytes.size() > kind.max_bytes) {
    const std::string bound = size_text(kind.max_bytes);
    return make_error(std::string(kind.flag) + " " + path + ": more than " + bound + "; " +
                      kind.what + " may hold at most " + bound);
  }
  return bytes;
}

}  // namespace gengyun::cli
