#include "api/generation_handler.h"

#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "api/admission.h"
#include "api/auth.h"
#include "api/chat_answer.h"
#include "api/http_reply.h"
#include "api/models_handler.h"
#include "api/openai_request.h"
#include "api/sse.h"
#include "api/usage_entry.h"
#include "util/clock.h"

namespace gengyun::api {
namespace {

/// A validated request with its model loaded and its prompt tokenized.
struct PreparedGeneration {
  GenerationRequest request;
  deploy::ModelLease model;  ///< held until the answer ends: the model is not unloaded under it
  std::vector<int32_t> prompt;
  ChatSyntax syntax;  ///< chat: what the answer speaks
  ResponseMeta meta;
  HttpHeaders headers;  ///< of the answer: x-request-id, x-ratelimit-*
};

/// A long answer's counts are written to its open ledger row after this many generated tokens
/// or this long, whichever comes first, so a crash loses at most that much of its bill.
constexpr int kCheckpointTokens = 64;
constexpr int64_t kCheckpointIntervalUs = 1'000'000;

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
  if (std::optional<deploy::ModelInfo> info = registry.find(requested_model(body.value())))
    for (const auto& [field, value] : info->defaults.items())
      if (!body->contains(field) || body.value()[field].is_null()) body.value()[field] = value;
  auto request = kind == CompletionKind::Chat ? parse_chat_request(body.value())
                                              : parse_completion_request(body.value());
  if (!request.ok()) return request.error();

  PreparedGeneration out;
  out.request = std::move(request.value());
  deploy::Acquired acquired = registry.acquire(out.request.model, out.request.keep_alive_us);
  if (!acquired.lease) return acquire_error(acquired, out.request.model);
  out.model = std::move(*acquired.lease);
  if (out.model->is_embedding_model())
    return invalid_request("the model '" + out.request.model +
                               "' is an embedding model: it serves /v1/embeddings, not " +
                               endpoint_path(kind),
                           "model");

  const char* param = kind == CompletionKind::Chat ? "messages" : "prompt";
  if (kind == CompletionKind::Chat) {
    read_template_fields(body_text, out.request);
    auto prompt = out.model->chat_prompt(out.request.messages, out.request.chat);
    if (!prompt.ok())
      return invalid_request("the model's chat template refused the messages: " +
                                 prompt.error().message,
                             param);
    out.prompt = std::move(prompt->tokens);
    out.syntax = prompt->syntax;
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

/// Reserves the request's worst case (its prompt plus max_tokens, or plus the rest of the
/// context when max_tokens is unset): api::admit.
ApiResult<HttpHeaders> admit(platform::Store& store, const platform::KeyInfo& key,
                             const PreparedGeneration& job, CompletionKind kind,
                             int64_t started_at_us) {
  const int64_t prompt = static_cast<int64_t>(job.prompt.size());
  const int64_t room = job.model->n_ctx() - prompt;
  const int64_t max_tokens = job.request.params.max_tokens;
  const int64_t max_completion = max_tokens < 0 ? room : std::min(max_tokens, room);
  return api::admit(store, {job.meta.id, key.id, job.request.model, endpoint_path(kind), prompt,
                            max_completion, started_at_us});
}

TokenUsage usage_of(const Usage& usage) {
  return {usage.prompt_tokens, usage.completion_tokens, usage.cached_prompt_tokens};
}

/// One admitted request from its submission to its ledger row. The model's engine generates;
/// this object only turns the request's events into the answer, so no thread waits for it:
/// events are taken on the engine's thread (on_ready; cheap, never blocking) and written to
/// the responder (queued, never blocking); checkpoints of the counts and the end (the ledger
/// row's settlement, then the last bytes) run on a handler thread. A client that leaves
/// cancels the request at once.
class GenerationJob : public std::enable_shared_from_this<GenerationJob> {
 public:
  GenerationJob(PreparedGeneration job, std::unique_ptr<RequestHandle> handle,
                std::shared_ptr<Responder> out, std::unique_ptr<UsageEntry> entry,
                platform::Store& store, HandlerPool& pool, InFlight& in_flight)
      : job_(std::move(job)),
        handle_(std::move(handle)),
        out_(std::move(out)),
        entry_(std::move(entry)),
        store_(store),
        pool_(pool),
        in_flight_(in_flight),
        stream_(out_),
        checkpointed_at_us_(monotonic_us()) {
    if (job_.meta.kind == CompletionKind::Chat)
      answer_.emplace(job_.meta, job_.syntax, !job_.request.chat.tools_json.empty(),
                      job_.request.stream);
  }

  /// Starts the answer (a stream's head) and the flow of events.
  void start() {
    if (job_.request.stream) {
      const auto opening = opening_chunk(job_.meta);
      if (!stream_.start(job_.headers) || (opening && !stream_.send(*opening))) handle_->cancel();
    }
    std::weak_ptr<GenerationJob> weak = weak_from_this();
    out_->on_client_gone([weak] {
      if (std::shared_ptr<GenerationJob> self = weak.lock()) self->handle_->cancel();
    });
    in_flight_id_ = in_flight_.add([weak] {
      if (std::shared_ptr<GenerationJob> self = weak.lock()) {
        self->ended_by_server_ = true;
        self->handle_->cancel();
      }
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
        if (answer_) {
          send_chunks(answer_->feed(event->text));
        } else if (!job_.request.stream) {
          text_ += event->text;
        } else if (!stream_.send(text_chunk(job_.meta, event->text))) {
          handle_->cancel();
        }
      }
      if (event->finished) {
        end(std::move(*event));
        return;
      }
      maybe_checkpoint(event->usage);
    }
  }

  /// Sends a chat answer's chunks (streamed); cancels the generation when the client is gone.
  void send_chunks(const std::vector<nlohmann::json>& chunks) {
    for (const nlohmann::json& chunk : chunks) {
      if (!stream_.send(chunk)) return handle_->cancel();
    }
  }

  /// Posts a checkpoint of `usage` when kCheckpointTokens were generated or
  /// kCheckpointIntervalUs passed since the last one, and none is being written (mutex_ held).
  void maybe_checkpoint(const Usage& usage) {
    if (checkpointing_ || usage.completion_tokens == checkpointed_tokens_) return;
    const int64_t now_us = monotonic_us();
    if (usage.completion_tokens - checkpointed_tokens_ < kCheckpointTokens &&
        now_us - checkpointed_at_us_ < kCheckpointIntervalUs)
      return;
    checkpointing_ = true;
    checkpointed_tokens_ = usage.completion_tokens;
    checkpointed_at_us_ = now_us;
    const platform::TokenCounts counts{usage.prompt_tokens, usage.cached_prompt_tokens,
                                       usage.completion_tokens};
    if (!pool_.try_post([self = shared_from_this(), counts] { self->write_checkpoint(counts); }))
      checkpointing_ = false;
  }

  /// On a handler thread. A checkpoint that arrives after the settlement changes nothing.
  void write_checkpoint(const platform::TokenCounts& counts) {
    if (auto written = store_.checkpoint(entry_->request_id(), counts, unix_time_us());
        !written.ok())
      spdlog::warn("usage ledger checkpoint: {}", written.error().message);
    std::lock_guard lock(mutex_);
    checkpointing_ = false;
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
    in_flight_.remove(in_flight_id_);
    const TokenUsage usage = usage_of(last.usage);
    entry_->set_tokens(usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens);
    const bool cancelled = last.finish_reason == FinishReason::Cancelled;
    const std::string gone = "the client disconnected after " +
                             std::to_string(usage.completion_tokens) + " generated tokens";
    if (cancelled && ended_by_server_ && !out_->client_gone()) {
      ApiError error = server_shutting_down(usage.completion_tokens);
      record(*entry_, job_.request.stream ? 200 : error.http_status, "shutdown", error.message);
      if (!job_.request.stream) {
        error.headers = job_.headers;
        return (void)send_error(*out_, error);
      }
      // What was generated is billed: the usage chunk says so before the error, and the
      // stream ends as every stream does.
      stream_.send(usage_chunk(job_.meta, usage));
      stream_.send(error_body(error));
      stream_.send_done();
      return stream_.end();
    }
    if (!job_.request.stream) {
      if (cancelled && out_->client_gone()) return record(*entry_, kClientClosedRequest, "cancelled", gone);
      if (cancelled) return fail(*out_, *entry_, internal_error("generation stopped: " + last.error));
      if (auto written = entry_->finish(200, "ok"); !written.ok())
        return (void)send_error(*out_, internal_error("the usage ledger cannot be written: " +
                                                      written.error().message));
      if (!answer_) {
        send_json(*out_,
                  completion_response(job_.meta, text_, finish_reason_name(last.finish_reason),
                                      usage),
                  200, job_.headers);
        return;
      }
      answer_->finish();
      nlohmann::json body =
          completion_response(job_.meta, "", answer_->finish_reason(last.finish_reason), usage);
      body["choices"][0]["message"] = answer_->message();
      send_json(*out_, body, 200, job_.headers);
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
    std::string_view finish_reason = finish_reason_name(last.finish_reason);
    if (answer_) {
      send_chunks(answer_->finish());
      finish_reason = answer_->finish_reason(last.finish_reason);
    }
    stream_.send(finish_chunk(job_.meta, finish_reason));
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
  platform::Store& store_;
  HandlerPool& pool_;
  InFlight& in_flight_;
  uint64_t in_flight_id_ = 0;
  std::atomic<bool> ended_by_server_{false};
  std::mutex mutex_;  ///< take_events() runs on the engine's thread and, once, on start()'s
  SseStream stream_;
  std::string text_;  ///< the whole answer of a non-streamed completion
  std::optional<ChatAnswer> answer_;  ///< a chat's answer (reasoning, content, tool calls)
  bool checkpointing_ = false;  ///< a checkpoint is posted and not yet written
  int checkpointed_tokens_ = 0;
  int64_t checkpointed_at_us_;  ///< monotonic_us() of the last checkpoint (or the start)
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
    const std::vector<std::string>& allowed = key->models;
    if (!allowed.empty() &&
        std::find(allowed.begin(), allowed.end(), job->request.model) == allowed.end())
      return fail(*out, *entry, model_not_allowed(job->request.model));
    auto headers = admit(context.store, key.value(), job.value(), kind, started_at_us);
    if (!headers.ok()) return fail(*out, *entry, headers.error());
    entry->admitted(job->meta.id);
    job->headers = std::move(headers.value());
    EngineRequest submitted;
    submitted.prompt = job->prompt;
    submitted.params = job->request.params;
    Submission s = job->model->submit(std::move(submitted));
    ApiError refused;
    if (s.status == SubmitStatus::QueueFull)
      refused = server_busy("The model '" + job->request.model + "' is busy: " + s.message + ".");
    else if (!s.handle)
      refused = invalid_request(s.message);
    if (!s.handle) {
      refused.headers = job->headers;
      return fail(*out, *entry, refused);
    }
    auto running =
        std::make_shared<GenerationJob>(std::move(job.value()), std::move(s.handle), out,
                                        std::move(entry), context.store, context.pool,
                                        context.in_flight);
    running->start();
  } catch (const nlohmann::json::exception& e) {
    fail(*out, *entry, invalid_request(std::string("invalid request: ") + e.what()));
  } catch (const std::exception& e) {
    fail(*out, *entry, internal_error(std::string("internal error: ") + e.what()));
  }
}

}  // namespace gengyun::api
