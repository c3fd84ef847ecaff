#include "api/generation_handler.h"

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "api/auth.h"
#include "api/clock.h"
#include "api/http_reply.h"
#include "api/openai_request.h"
#include "api/sse.h"
#include "api/usage_entry.h"

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

/// Writes the request's ledger row (a failure to write it is logged).
void record(UsageEntry& entry, int http_status, const char* status, const std::string& error = {}) {
  if (auto written = entry.finish(http_status, status, error); !written.ok())
    spdlog::error("usage ledger: {}", written.error().message);
}

/// Answers `error` and records it as the request's row.
void fail(Responder& out, UsageEntry& entry, const ApiError& error) {
  record(entry, error.http_status, "error", error.message);
  send_error(out, error);
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

/// Runs `job` on its model, handing each piece of text to `on_text` (false cancels) until the
/// generation ends. The one place the engine is called: #6 replaces this blocking
/// LoadedModel::generate() with the batching engine's request handle, whose events feed
/// `on_text` and whose end gives the result.
Result<GenerationResult> submit(PreparedGeneration& job, const TextCallback& on_text) {
  return job.model->generate(job.prompt, job.request.params, on_text);
}

TokenUsage usage_of(const GenerationResult& result) {
  return {result.prompt_tokens, result.completion_tokens};
}

void respond_whole(Responder& out, UsageEntry& entry, PreparedGeneration& job) {
  auto result = submit(job, [&out](std::string_view) { return !out.client_gone(); });
  if (!result.ok())
    return fail(out, entry, internal_error("generation failed: " + result.error().message));
  const GenerationResult& r = result.value();
  entry.set_tokens(r.prompt_tokens, r.completion_tokens);
  if (r.finish_reason == FinishReason::Cancelled)
    return record(entry, kClientClosedRequest, "cancelled",
                  "the client disconnected after " + std::to_string(r.completion_tokens) +
                      " generated tokens");
  if (auto written = entry.finish(200, "ok"); !written.ok()) {
    send_error(out,
               internal_error("the usage ledger cannot be written: " + written.error().message));
    return;
  }
  send_json(out,
            completion_response(job.meta, r.text, finish_reason_name(r.finish_reason), usage_of(r)));
}

void respond_stream(const std::shared_ptr<Responder>& out, UsageEntry& entry,
                    PreparedGeneration& job) {
  SseStream stream(out);
  const ResponseMeta& meta = job.meta;
  const auto opening = opening_chunk(meta);
  if (!stream.start() || (opening && !stream.send(*opening)))
    return record(entry, 200, "cancelled", "the client disconnected before generation started");

  auto result =
      submit(job, [&](std::string_view text) { return stream.send(text_chunk(meta, text)); });
  if (!result.ok()) {
    const ApiError error = internal_error("generation failed: " + result.error().message);
    record(entry, 200, "error", error.message);
    stream.send(error_body(error));
    return stream.end();
  }
  const GenerationResult& r = result.value();
  entry.set_tokens(r.prompt_tokens, r.completion_tokens);
  if (r.finish_reason != FinishReason::Cancelled)
    stream.send(finish_chunk(meta, finish_reason_name(r.finish_reason)));
  if (!stream.connected())
    return record(entry, 200, "cancelled",
                  "the client disconnected after " + std::to_string(r.completion_tokens) +
                      " generated tokens");
  if (auto written = entry.finish(200, "ok"); !written.ok()) {
    stream.send(error_body(
        internal_error("the usage ledger cannot be written: " + written.error().message)));
    return stream.end();
  }
  stream.send(usage_chunk(meta, usage_of(r)));
  stream.send_done();
  stream.end();
}

}  // namespace

const char* endpoint_path(CompletionKind kind) {
  return kind == CompletionKind::Chat ? "/v1/chat/completions" : "/v1/completions";
}

void handle_generation(CompletionKind kind, const GenerationContext& context,
                       const HttpRequest& request, const std::shared_ptr<Responder>& out) {
  const int64_t started_at_us = unix_time_us();
  auto key = authenticate(context.store, request.header("Authorization"));
  if (!key.ok()) {
    send_error(*out, key.error());
    return;
  }
  UsageEntry entry(context.store, key->id, endpoint_path(kind), started_at_us);
  try {
    auto job = prepare(kind, context, request.body, entry);
    if (!job.ok()) return fail(*out, entry, job.error());
    if (job->request.stream) return respond_stream(out, entry, job.value());
    respond_whole(*out, entry, job.value());
  } catch (const nlohmann::json::exception& e) {
    fail(*out, entry, invalid_request(std::string("invalid request: ") + e.what()));
  } catch (const std::exception& e) {
    fail(*out, entry, internal_error(std::string("internal error: ") + e.what()));
  }
}

}  // namespace gengyun::api
