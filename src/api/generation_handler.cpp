#include "api/generation_handler.h"

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "api/auth.h"
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
  if (kind == CompletionKind::Chat) {
    read_template_fields(body_text, out.request);
    auto prompt = out.model->chat_prompt(out.request.messages, out.request.chat);
    if (!prompt.ok())
      return invalid_request("the model's chat template refused the messages: " +
                                 prompt.error().message,
                             param);
    out.prompt = std::move(prompt.value());
  } else {
    out.prompt = out.model->tokenize(out.request.prompt, /*add_bos=*/true, /*parse_special=*/false);
  }
  if (out.prompt.empty()) return invalid_request("the prompt is empty (it has no tokens)", param);
  const int64_t n_ctx = out.model->n_ctx();
  if (static_cast<int64_t>(out.prompt.size()) + 1 > n_ctx)
    return invalid_request("This model's maximum context length is " + std::to_string(n_ctx) +
                               " tokens. However, your " + param + " resulted in " +
                               std::to_string(out.prompt.size()) +
                               " tokens, plus 1 to generate. Please shorten the " + param + ".",
                           param, "context_length_exceeded");
  out.meta.kind = kind;
  out.meta.id = new_response_id(kind);
  out.meta.created = unix_time_us() / 1000000;
  out.meta.model = out.request.model;
  return out;
}

TokenUsage usage_of(const Usage& usage) {
  return {usage.prompt_tokens, usage.completion_tokens, usage.cached_prompt_tokens};
}

/// One admitted request from its submission to its ledger row. The model's engine generates;
/// this object only turns the request's events into the answer, so no thread waits for it:
/// events are taken on the engine's thread (on_ready; cheap, never blocking) and written to
/// the responder (queued, never blocking); the end (a SQLite ledger row, then the last bytes)
/// runs on a handler thread. A client that leaves cancels the request at once.
class GenerationJob : public std::enable_shared_from_this<GenerationJob> {
 public:
  GenerationJob(PreparedGeneration job, std::unique_ptr<RequestHandle> handle,
                std::shared_ptr<Responder> out, std::unique_ptr<UsageEntry> entry,
                HandlerPool& pool)
      : job_(std::move(job)),
        handle_(std::move(handle)),
        out_(std::move(out)),
        entry_(std::move(entry)),
        pool_(pool),
        stream_(out_) {}

  /// Starts the answer (a stream's head) and the flow of events.
  void start() {
    if (job_.request.stream) {
      const auto opening = opening_chunk(job_.meta);
      if (!stream_.start() || (opening && !stream_.send(*opening))) handle_->cancel();
    }
    std::weak_ptr<GenerationJob> weak = weak_from_this();
    out_->on_client_gone([weak] {
      if (std::shared_ptr<GenerationJob> self = weak.lock()) self->handle_->cancel();
    });
    // The handle (owned here) keeps this callback; the callback keeps this object until the
    // finished event has been taken.
    handle_->on_ready([self = shared_from_this()] { self->take_events(); });
  }

 private:
  void take_events() {
    std::lock_guard lock(mutex_);
    while (std::optional<GenerationEvent> event = handle_->next(0)) {
      if (!event->text.empty()) {
        if (!job_.request.stream) {
          text_ += event->text;
        } else if (!stream_.send(text_chunk(job_.meta, event->text))) {
          handle_->cancel();
        }
      }
      if (event->finished) {
        end(std::move(*event));
        return;
      }
    }
  }

  /// After the finished event: the ledger row and the last bytes, on a handler thread (or here
  /// when the pool is full: the row must not be lost).
  void end(GenerationEvent last) {
    std::shared_ptr<GenerationJob> self = shared_from_this();
    handle_->on_ready({});
    auto finish = [self, last = std::move(last)] { self->finish(last); };
    if (!pool_.try_post(finish)) finish();
  }

  void finish(const GenerationEvent& last) {
    const TokenUsage usage = usage_of(last.usage);
    entry_->set_tokens(usage.prompt_tokens, usage.completion_tokens);
    const bool cancelled = last.finish_reason == FinishReason::Cancelled;
    const std::string gone = "the client disconnected after " +
                             std::to_string(usage.completion_tokens) + " generated tokens";
    if (!job_.request.stream) {
      if (cancelled && out_->client_gone()) return record(*entry_, kClientClosedRequest, "cancelled", gone);
      if (cancelled) return fail(*out_, *entry_, internal_error("generation stopped: " + last.error));
      if (auto written = entry_->finish(200, "ok"); !written.ok())
        return (void)send_error(*out_, internal_error("the usage ledger cannot be written: " +
                                                      written.error().message));
      send_json(*out_, completion_response(job_.meta, text_,
                                           finish_reason_name(last.finish_reason), usage));
      return;
    }
    if (cancelled) {
      if (!stream_.connected() || out_->client_gone())
        return record(*entry_, 200, "cancelled", gone);
      const ApiError error = internal_error("generation stopped: " + last.error);
      record(*entry_, 200, "error", error.message);
      stream_.send(error_body(error));
      return stream_.end();
    }
    stream_.send(finish_chunk(job_.meta, finish_reason_name(last.finish_reason)));
    if (!stream_.connected()) return record(*entry_, 200, "cancelled", gone);
    if (auto written = entry_->finish(200, "ok"); !written.ok()) {
      stream_.send(error_body(
          internal_error("the usage ledger cannot be written: " + written.error().message)));
      return stream_.end();
    }
    stream_.send(usage_chunk(job_.meta, usage));
    stream_.send_done();
    stream_.end();
  }

  PreparedGeneration job_;
  std::unique_ptr<RequestHandle> handle_;
  std::shared_ptr<Responder> out_;
  std::unique_ptr<UsageEntry> entry_;
  HandlerPool& pool_;
  std::mutex mutex_;  ///< take_events() runs on the engine's thread and, once, on start()'s
  SseStream stream_;
  std::string text_;  ///< the whole answer of a non-streamed request
};

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
  auto entry =
      std::make_unique<UsageEntry>(context.store, key->id, endpoint_path(kind), started_at_us);
  try {
    auto job = prepare(kind, context, request.body, *entry);
    if (!job.ok()) return fail(*out, *entry, job.error());
    EngineRequest submitted;
    submitted.prompt = job->prompt;
    submitted.params = job->request.params;
    Submission s = job->model->submit(std::move(submitted));
    if (s.status == SubmitStatus::QueueFull)
      return fail(*out, *entry,
                  server_busy("The model '" + job->request.model + "' is busy: " + s.message + "."));
    if (!s.handle) return fail(*out, *entry, invalid_request(s.message));
    auto running = std::make_shared<GenerationJob>(std::move(job.value()), std::move(s.handle),
                                                   out, std::move(entry), context.pool);
    running->start();
  } catch (const nlohmann::json::exception& e) {
    fail(*out, *entry, invalid_request(std::string("invalid request: ") + e.what()));
  } catch (const std::exception& e) {
    fail(*out, *entry, internal_error(std::string("internal error: ") + e.what()));
  }
}

}  // namespace gengyun::api
