#include "api/client_connection.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace gengyun::api {
namespace {

/// Numeric host and port of a socket address, as httplib formats Request::remote_addr.
bool host_and_port(const sockaddr_storage& addr, socklen_t len, std::string& host, int& port) {
  char h[NI_MAXHOST];
  char p[NI_MAXSERV];
  if (getnameinfo(reinterpret_cast<const sockaddr*>(&addr), len, h, sizeof h, p, sizeof p,
                  NI_NUMERICHOST | NI_NUMERICSERV) != 0)
    return false;
  host = h;
  port = std::atoi(p);
  return true;
}

bool endpoint_is(int fd, bool peer, const std::string& host, int port) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  const int rc = peer ? getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len)
                      : getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  std::string found_host;
  int found_port = -1;
  return rc == 0 && host_and_port(addr, len, found_host, found_port) && found_port == port &&
         found_host == host;
}

}  // namespace

socket_t find_client_socket(const httplib::Request& req) {
  if (req.remote_port < 0) return INVALID_SOCKET;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd", ec)) {
    const std::string name = entry.path().filename().string();
    int fd = -1;
    if (std::from_chars(name.data(), name.data() + name.size(), fd).ec != std::errc()) continue;
    if (endpoint_is(fd, /*peer=*/true, req.remote_addr, req.remote_port) &&
        (req.local_port < 0 || endpoint_is(fd, /*peer=*/false, req.local_addr, req.local_port)))
      return fd;
  }
  return INVALID_SOCKET;
}

bool client_disconnected(socket_t sock) {
  if (sock == INVALID_SOCKET) return false;
  pollfd pfd{sock, POLLIN | POLLRDHUP, 0};
  if (poll(&pfd, 1, 0) <= 0) return false;
  if (pfd.revents & (POLLERR | POLLHUP | POLLRDHUP | POLLNVAL)) return true;
  char byte;
  const ssize_t n = recv(sock, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

}  // namespace gengyun::api
