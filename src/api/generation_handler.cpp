#include "api/generation_handler.h"

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "api/auth.h"
#include "api/client_connection.h"
#include "api/http_reply.h"
#include "api/openai_request.h"
#include "api/sse.h"
#include "api/usage_entry.h"
#include "util/clock.h"

namespace gengyun::api {
namespace {

/// A validated request with its model loaded and its prompt tokenized.
struct PreparedGeneration {
  GenerationRequest request;
  std::shared_ptr<LoadedModel> model;
  std::vector<int32_t> prompt;
  ResponseMeta meta;
  GenerationSlots::Ticket place;  ///< this request's place in the model's queue
};

/// The ledger's http_status for a non-streamed request whose client left (nginx's "client
/// closed request"); nothing was sent to it.
constexpr int kClientClosedRequest = 499;

std::optional<std::string> header(const httplib::Request& req, const char* name) {
  if (!req.has_header(name)) return std::nullopt;
  return req.get_header_value(name);
}

/// Answers `error` and records it as the request's row.
void fail(httplib::Response& res, UsageEntry& entry, const ApiError& error) {
  if (auto written = entry.finish(error.http_status, "error", error.message); !written.ok())
    spdlog::error("usage ledger: {}", written.error().message);
  send_error(res, error);
}

ApiResult<PreparedGeneration> prepare(CompletionKind kind, const GenerationContext& context,
                                      const std::string& body_text, UsageEntry& entry) {
  deploy::Registry& registry = context.registry;
  auto body = parse_json_object(body_text);
  if (!body.ok()) return body.error();
  entry.set_model(requested_model(body.value()));
  auto request = kind == CompletionKind::Chat ? parse_chat_request(body.value())
                                              : parse_completion_request(body.value());
  if (!request.ok()) return request.error();

  PreparedGeneration out;
  out.request = std::move(request.value());
  if (!registry.contains(out.request.model)) return model_not_found(out.request.model);
  auto model = registry.get(out.request.model);
  if (!model.ok())
    return internal_error("model '" + out.request.model +
                          "' cannot be loaded: " + model.error().message);
  out.model = model.value();

  const char* param = kind == CompletionKind::Chat ? "messages" : "prompt";
  out.prompt = kind == CompletionKind::Chat
                   ? out.model->tokenize(out.model->render_chat(out.request.messages),
                                         /*add_bos=*/true, /*parse_special=*/true)
                   : out.model->tokenize(out.request.prompt, /*add_bos=*/true,
                                         /*parse_special=*/false);
  if (out.prompt.empty()) return invalid_request("the prompt is empty (it has no tokens)", param);
  const int64_t n_ctx = out.model->n_ctx();
  if (static_cast<int64_t>(out.prompt.size()) + 1 > n_ctx)
    return invalid_request("This model's maximum context length is " + std::to_string(n_ctx) +
                               " tokens. However, your " + param + " resulted in " +
                               std::to_string(out.prompt.size()) +
                               " tokens, plus 1 to generate. Please shorten the " + param + ".",
                           param, "context_length_exceeded");
  out.place = context.slots.try_acquire(out.request.model);
  if (!out.place) return model_queue_full(out.request.model, context.max_waiting_per_model);

  out.meta.kind = kind;
  out.meta.id = new_response_id(kind);
  out.meta.created = unix_time_us() / 1000000;
  out.meta.model = out.request.model;
  return out;
}

TokenUsage usage_of(const GenerationResult& result) {
  return {result.prompt_tokens, result.completion_tokens};
}

void respond_whole(httplib::Response& res, UsageEntry& entry, PreparedGeneration& job,
                   socket_t client) {
  auto result = job.model->generate(job.prompt, job.request.params, [client](std::string_view) {
    return !client_disconnected(client);
  });
  if (!result.ok())
    return fail(res, entry, internal_error("generation failed: " + result.error().message));
  const GenerationResult& r = result.value();
  entry.set_tokens(r.prompt_tokens, r.completion_tokens);
  if (r.finish_reason == FinishReason::Cancelled) {
    if (auto written = entry.finish(kClientClosedRequest, "cancelled",
                                    "the client disconnected after " +
                                        std::to_string(r.completion_tokens) + " generated tokens");
        !written.ok())
      spdlog::error("usage ledger: {}", written.error().message);
    return;
  }
  if (auto written = entry.finish(200, "ok"); !written.ok())
    return send_error(
        res, internal_error("the usage ledger cannot be written: " + written.error().message));
  send_json(
      res, completion_response(job.meta, r.text, finish_reason_name(r.finish_reason), usage_of(r)));
}

/// One streamed response. Runs inside httplib's chunked content provider; a stream that never
/// starts (the client left before the headers were out) is recorded as cancelled when the
/// response releases it.
class StreamJob {
 public:
  StreamJob(PreparedGeneration job, std::shared_ptr<UsageEntry> entry)
      : job_(std::move(job)), entry_(std::move(entry)) {}
  ~StreamJob() {
    if (!entry_->finished())
      record(200, "cancelled", "the client disconnected before the stream started");
  }
  StreamJob(const StreamJob&) = delete;
  StreamJob& operator=(const StreamJob&) = delete;

  /// Writes the whole stream. Returns false when the client has gone (httplib then closes
  /// the connection) or on an exception (recorded as an error row).
  bool run(httplib::DataSink& sink) {
    try {
      return write_stream(sink);
    } catch (const std::exception& e) {
      record(200, "error", std::string("internal error while streaming: ") + e.what());
      return false;
    }
  }

 private:
  void record(int http_status, const char* status, const std::string& error) {
    if (auto written = entry_->finish(http_status, status, error); !written.ok())
      spdlog::error("usage ledger: {}", written.error().message);
  }

  bool write_stream(httplib::DataSink& sink) {
    SseStream out(sink);
    const ResponseMeta& meta = job_.meta;
    if (auto opening = opening_chunk(meta)) out.send(*opening);
    if (!out.connected()) {
      record(200, "cancelled", "the client disconnected before generation started");
      return false;
    }
    auto result = job_.model->generate(
        job_.prompt, job_.request.params,
        [&](std::string_view text) { return out.send(text_chunk(meta, text)); });
    if (!result.ok()) {
      const ApiError error = internal_error("generation failed: " + result.error().message);
      record(200, "error", error.message);
      out.send(error_body(error));
      sink.done();
      return out.connected();
    }
    const GenerationResult& r = result.value();
    entry_->set_tokens(r.prompt_tokens, r.completion_tokens);
    if (r.finish_reason != FinishReason::Cancelled)
      out.send(finish_chunk(meta, finish_reason_name(r.finish_reason)));
    if (!out.connected()) {
      record(200, "cancelled",
             "the client disconnected after " + std::to_string(r.completion_tokens) +
                 " generated tokens");
      return false;
    }
    if (auto written = entry_->finish(200, "ok"); !written.ok()) {
      out.send(error_body(
          internal_error("the usage ledger cannot be written: " + written.error().message)));
      sink.done();
      return out.connected();
    }
    out.send(usage_chunk(meta, usage_of(r)));
    out.send_done();
    if (!out.connected()) return false;
    sink.done();
    return true;
  }

  PreparedGeneration job_;
  std::shared_ptr<UsageEntry> entry_;
};

void start_stream(httplib::Response& res, std::shared_ptr<UsageEntry> entry,
                  PreparedGeneration job) {
  auto stream = std::make_shared<StreamJob>(std::move(job), std::move(entry));
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider(
      "text/event-stream", [stream](size_t, httplib::DataSink& sink) { return stream->run(sink); });
}

}  // namespace

const char* endpoint_path(CompletionKind kind) {
  return kind == CompletionKind::Chat ? "/v1/chat/completions" : "/v1/completions";
}

void handle_generation(CompletionKind kind, const GenerationContext& context,
                       const httplib::Request& req, const std::string& body,
                       httplib::Response& res) {
  const int64_t started_at_us = unix_time_us();
  auto key = authenticate(context.store, header(req, "Authorization"));
  if (!key.ok()) return send_error(res, key.error());

  auto entry =
      std::make_shared<UsageEntry>(context.store, key->id, endpoint_path(kind), started_at_us);
  try {
    auto job = prepare(kind, context, body, *entry);
    if (!job.ok()) return fail(res, *entry, job.error());
    if (job->request.stream) return start_stream(res, entry, std::move(job.value()));
    respond_whole(res, *entry, job.value(), context.client_socket);
  } catch (const nlohmann::json::exception& e) {
    fail(res, *entry, invalid_request(std::string("invalid request: ") + e.what()));
  } catch (const std::exception& e) {
    fail(res, *entry, internal_error(std::string("internal error: ") + e.what()));
  }
}

}  // namespace gengyun::api
