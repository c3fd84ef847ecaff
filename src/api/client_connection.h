// Whether the client of a request is still connected. httplib 0.11.4 gives handlers no access
// to the connection's socket (Request carries its addresses only, and the per-connection
// function is private), so the socket is found by its address pair.
#pragma once

#include <httplib.h>

namespace gengyun::api {

/// The socket of this process connected from req.remote_addr:remote_port to
/// req.local_addr:local_port (one TCP connection has one such pair; the local end is not
/// compared when httplib did not fill it in), found among the open file
/// descriptors (/proc/self/fd); INVALID_SOCKET when none matches. Cost: one or two syscalls per
/// open descriptor.
socket_t find_client_socket(const httplib::Request& req);

/// True when the peer of `sock` has closed or reset the connection (EOF or an error is pending
/// on it); false while it is open, including when it has sent more data (a pipelined request),
/// and for INVALID_SOCKET. A client that only shut down its sending side looks closed too.
/// Does not block and consumes nothing.
bool client_disconnected(socket_t sock);

}  // namespace gengyun::api
