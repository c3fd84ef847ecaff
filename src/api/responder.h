// What an HTTP handler sees: the request, read whole, and a Responder through which it answers,
// either whole or as a chunked stream fed from any thread.
//
// A typical streaming producer (the engine pushing token events from its own thread):
//
//   if (!responder->start_stream(200, "text/event-stream")) return;   // client already gone
//   responder->on_client_gone([request] { request->cancel(); });      // optional
//   ... for each event, on the producer's thread:
//   if (!responder->write(sse_event(event))) cancel();               // client gone / too slow
//   ... at the end:
//   responder->finish();
//
// Nothing blocks: write() queues the chunk and returns, the connection's I/O thread sends the
// queued chunks in order. A producer that may outpace its client watches queued_bytes() (e.g.
// pauses or drops the request above some mark); past HttpOptions::max_queued_bytes the
// connection is closed and write() returns false.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gengyun::api {

/// Header fields in the order received or to be sent; names compared case-insensitively.
using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

/// One request, header and body read completely.
struct HttpRequest {
  std::string method;  ///< as sent, e.g. "GET"
  std::string target;  ///< the request-target, e.g. "/v1/models?x=1"
  std::string path;    ///< target up to '?'
  HttpHeaders headers;
  std::string body;  ///< at most HttpOptions::max_body_bytes bytes

  /// The value of the first field named `name` (case-insensitive); nullopt when absent.
  std::optional<std::string> header(std::string_view name) const;
  /// How many fields are named `name` (case-insensitive).
  size_t header_count(std::string_view name) const;
};

/// A whole response. Content-Length and Connection are added by the server.
struct HttpResponse {
  int status = 200;
  std::string content_type;  ///< empty: no Content-Type field
  std::string body;
  HttpHeaders headers;  ///< further fields
};

/// The answer channel of one request. Every member is thread-safe and non-blocking (it takes a
/// short internal lock and hands the bytes to the connection's I/O thread), so the handler that
/// received it may pass it to any thread, e.g. an engine loop that streams tokens.
///
/// A request gets exactly one answer: respond() once, or start_stream() once followed by any
/// number of write() and one finish(). Dropping the last reference before the answer is complete
/// closes the connection (the client sees a missing or truncated response).
class Responder {
 public:
  virtual ~Responder() = default;

  /// Sends `response` whole. Returns false, and sends nothing, when the request was already
  /// answered (or its stream started) or the client is gone.
  virtual bool respond(HttpResponse response) = 0;

  /// Sends the head of a streamed response: `status`, `content_type` and `headers`; the body is
  /// sent chunked (Transfer-Encoding: chunked; to an HTTP/1.0 client, unframed and ended by
  /// closing the connection). Returns false as respond().
  virtual bool start_stream(int status, std::string content_type, HttpHeaders headers = {}) = 0;

  /// Queues `chunk` (sent as one HTTP chunk; an empty chunk is skipped) after everything written
  /// before it, from whatever thread. Returns true when queued; false when the stream was not
  /// started or is finished, when the client is gone, and when queueing it would put more than
  /// HttpOptions::max_queued_bytes unsent (the connection is then closed: the client stopped
  /// reading). After the first false, every later write() is false.
  virtual bool write(std::string chunk) = 0;

  /// Ends a started stream (the last chunk) once everything queued is sent; the connection then
  /// serves its next request or closes. Returns false when the stream was not started, is
  /// already finished or the client is gone.
  virtual bool finish() = 0;

  /// True once the client can no longer receive this response: it closed or reset the
  /// connection (a client that only shut down its sending side counts as gone too), a write
  /// failed or timed out, max_queued_bytes was exceeded, or the server closed the connection.
  /// The connection is watched while the request is answered, so a departure is seen at once;
  /// a client that has already sent bytes of its next request (pipelining) is seen to be gone
  /// only when a write to it fails. Once the answer is complete (respond() or finish()
  /// returned true) it no longer changes: delivering what is queued is the server's business.
  virtual bool client_gone() const = 0;

  /// Calls `callback` once when the client goes (see client_gone()): on an I/O thread, or at
  /// once on the calling thread when it is gone already. A later call replaces an earlier,
  /// not yet called callback. The callback must not block (e.g. set a flag, notify the
  /// producer); it is never called once the answer is complete (see client_gone()).
  virtual void on_client_gone(std::function<void()> callback) = 0;

  /// Bytes queued by respond() / start_stream() / write() / finish() (with their HTTP framing)
  /// that the client has not yet accepted; 0 once gone.
  virtual size_t queued_bytes() const = 0;
  /// queued_bytes() plus the bytes the connection's socket holds unsent or unacknowledged
  /// (Linux SIOCOUTQ): all that the client has not taken. The kernel's send buffer grows to
  /// megabytes (tcp_wmem), which a client that reads nothing fills before the queue grows.
  virtual size_t unsent_bytes() const = 0;
};

}  // namespace gengyun::api
