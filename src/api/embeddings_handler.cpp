#include "api/embeddings_handler.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "api/admission.h"
#include "api/auth.h"
#include "api/embeddings_request.h"
#include "api/embeddings_response.h"
#include "api/http_reply.h"
#include "api/models_handler.h"
#include "api/openai_request.h"
#include "api/openai_response.h"
#include "api/usage_entry.h"
#include "model/model.h"

namespace gengyun::api {
namespace {

/// A validated request with its model loaded and its inputs tokenized.
struct PreparedEmbeddings {
  EmbeddingsRequest request;
  deploy::ModelLease model;    ///< held until the answer is ready (let go before it is sent)
  std::string price_fallback;  ///< a LoRA derivative's base: its prices apply when it has none
  std::vector<std::vector<int32_t>> inputs;  ///< the engine's prompts, BOS / EOS included
  int64_t n_tokens = 0;                      ///< of all inputs
};

ApiResult<PreparedEmbeddings> prepare(const GenerationContext& context,
                                      const platform::KeyInfo& key, const std::string& body_text,
                                      UsageEntry& entry, Responder& responder) {
  auto body = parse_json_object(body_text);
  if (!body.ok()) return body.error();
  entry.set_model(requested_model(body.value()));
  entry.set_end_user(requested_end_user(body.value()));
  auto request = parse_embeddings_request(body.value());
  if (!request.ok()) return request.error();

  PreparedEmbeddings out;
  out.request = std::move(request.value());
  const std::string& name = out.request.model;
  const std::optional<deploy::ModelInfo> info = context.registry.find(name);
  if (auto refused = refuse_model(key, info, name)) return *refused;
  // Refused before a load, which could evict other models (or fail for want of memory) for a
  // request that cannot run; checked again on the model loaded (its file may have changed).
  const auto text_model = [&] {
    return invalid_request("the model '" + name +
                               "' generates text: it is not an embedding model (its GGUF has no "
                               "pooling_type); use /v1/chat/completions or /v1/completions",
                           "model");
  };
  if (info && !info->file.embedding && info->file.error.empty()) return text_model();
  deploy::Acquired acquired =
      acquire_for(responder, context.registry, name, out.request.keep_alive_us);
  if (!acquired.lease) return acquire_error(acquired, name);
  out.model = std::move(*acquired.lease);
  // An alias is billed, priced and answered as the model it names; a LoRA derivative without
  // prices of its own is billed at its base's.
  entry.set_model(out.model.id());
  out.price_fallback = info->parent;
  if (!out.model->is_embedding_model()) return text_model();
  if (out.request.dimensions > out.model->n_embd())
    return invalid_request("dimensions must be between 1 and " +
                               std::to_string(out.model->n_embd()) + " for the model '" + name +
                               "', got " + std::to_string(out.request.dimensions),
                           "dimensions");

  const int n_vocab = out.model->n_vocab();
  const int64_t n_ctx = out.model->n_ctx();
  const bool many = out.request.inputs.size() > 1;
  for (size_t i = 0; i < out.request.inputs.size(); ++i) {
    const EmbeddingInput& input = out.request.inputs[i];
    const std::string where = many ? "input[" + std::to_string(i) + "]" : std::string("input");
    if (input.is_tokens) {
      for (int32_t id : input.tokens)
        if (id >= n_vocab)
          return invalid_request(where + " holds the token id " + std::to_string(id) +
                                     ", outside the vocabulary (0.." + std::to_string(n_vocab - 1) +
                                     ")",
                                 "input");
    }
    std::vector<int32_t> tokens = input.is_tokens
                                      ? input.tokens
                                      : out.model->tokenize(input.text, /*add_bos=*/false,
                                                            /*parse_special=*/false);
    tokens = out.model->embedding_input(tokens);
    if (static_cast<int64_t>(tokens.size()) > n_ctx)
      return invalid_request("This model's maximum context length is " + std::to_string(n_ctx) +
                                 " tokens. However, your " + where + " resulted in " +
                                 std::to_string(tokens.size()) + " tokens. Please shorten it.",
                             "input", "context_length_exceeded");
    out.n_tokens += static_cast<int64_t>(tokens.size());
    out.inputs.push_back(std::move(tokens));
  }
  return out;
}

/// One admitted request from the submission of its inputs to its ledger row. The model's engine
/// computes; the inputs' finished events are taken on the engine's thread (on_ready) and the
/// answer is written on a handler thread once all of them are in.
class EmbeddingsJob : public std::enable_shared_from_this<EmbeddingsJob> {
 public:
  EmbeddingsJob(PreparedEmbeddings job, std::vector<std::unique_ptr<RequestHandle>> handles,
                HttpHeaders headers, std::shared_ptr<Responder> out,
                std::unique_ptr<UsageEntry> entry, HandlerPool& pool, InFlight& in_flight)
      : job_(std::move(job)),
        handles_(std::move(handles)),
        results_(handles_.size()),
        headers_(std::move(headers)),
        out_(std::move(out)),
        entry_(std::move(entry)),
        pool_(pool),
        in_flight_(in_flight) {}

  void start() {
    std::weak_ptr<EmbeddingsJob> weak = weak_from_this();
    out_->on_client_gone([weak] {
      if (std::shared_ptr<EmbeddingsJob> self = weak.lock()) self->cancel_all();
    });
    in_flight_id_ = in_flight_.add([weak] {
      if (std::shared_ptr<EmbeddingsJob> self = weak.lock()) {
        self->ended_by_server_ = true;
        self->cancel_all();
      }
    });
    // Each handle (owned here) keeps its callback; the callbacks keep this object until the
    // last finished event has been taken.
    for (size_t i = 0; i < handles_.size(); ++i)
      handles_[i]->on_ready([self = shared_from_this(), i] { self->take_events(i); });
  }

 private:
  void cancel_all() {
    for (const auto& handle : handles_) handle->cancel();
  }

  /// On the engine's thread (or start()'s): keeps input i's finished event.
  void take_events(size_t i) {
    std::lock_guard lock(mutex_);
    while (std::optional<GenerationEvent> event = handles_[i]->next(0)) {
      if (!event->finished) continue;
      results_[i] = std::move(*event);
      handles_[i]->on_ready({});
      if (++n_finished_ < handles_.size()) return;
      auto finish = [self = shared_from_this()] { self->finish(); };
      if (!pool_.try_post(finish)) finish();
      return;
    }
  }

  void finish() {
    in_flight_.remove(in_flight_id_);
    const std::string model_id = job_.model.id();
    job_.model = {};  // let go before the answer is sent, as generation_handler.cpp does
    int prompt_tokens = 0;
    const GenerationEvent* stopped = nullptr;
    for (const std::optional<GenerationEvent>& r : results_) {
      prompt_tokens += r->usage.prompt_tokens;
      if (r->finish_reason == FinishReason::Cancelled && !stopped) stopped = &*r;
    }
    entry_->set_tokens(prompt_tokens, 0);
    if (stopped) {
      if (ended_by_server_ && !out_->client_gone()) {
        ApiError error = server_shutting_down(0);
        record(*entry_, error.http_status, "shutdown", error.message);
        error.headers = headers_;
        send_error(*out_, error);
        return;
      }
      if (out_->client_gone())
        return record(*entry_, kClientClosedRequest, "cancelled",
                      "the client disconnected after " + std::to_string(prompt_tokens) +
                          " input tokens were computed");
      ApiError error = internal_error("embedding stopped: " + stopped->error);
      error.headers = headers_;
      return fail(*out_, *entry_, error);
    }
    std::vector<std::vector<float>> vectors;
    vectors.reserve(results_.size());
    for (std::optional<GenerationEvent>& r : results_) {
      std::vector<float>& v = vectors.emplace_back(std::move(r->embedding));
      if (Result<void> normalized = model::normalize_embedding(v, job_.request.dimensions);
          !normalized)
        return fail(*out_, *entry_, internal_error(normalized.error().message));
    }
    if (auto written = entry_->finish(200, "ok"); !written.ok())
      return (void)send_error(
          *out_, internal_error("the usage ledger cannot be written: " + written.error().message));
    send_json(*out_, embeddings_response(model_id, vectors, job_.request.base64, prompt_tokens),
              200, headers_);
  }

  PreparedEmbeddings job_;
  std::vector<std::unique_ptr<RequestHandle>> handles_;
  std::vector<std::optional<GenerationEvent>> results_;
  HttpHeaders headers_;
  std::shared_ptr<Responder> out_;
  std::unique_ptr<UsageEntry> entry_;
  HandlerPool& pool_;
  InFlight& in_flight_;
  uint64_t in_flight_id_ = 0;
  std::atomic<bool> ended_by_server_{false};
  std::mutex mutex_;  ///< guards results_ and n_finished_
  size_t n_finished_ = 0;
};

}  // namespace

void handle_embeddings(const GenerationContext& context, const HttpRequest& request,
                       const std::shared_ptr<Responder>& out) {
  const int64_t started_at_us = context.store.now_us();
  auto key = authenticate(context.store, request.header("Authorization"));
  if (!key.ok()) {
    send_error(*out, key.error());
    return;
  }
  auto entry =
      std::make_unique<UsageEntry>(context.ledger, key->id, kEmbeddingsPath, started_at_us);
  try {
    auto job = prepare(context, key.value(), request.body, *entry, *out);
    if (!job.ok()) return fail(*out, *entry, job.error());
    const std::string id = random_id("emb-");
    auto headers = admit(context.ledger,
                         {id, key->id, job->model.id(), kEmbeddingsPath, job->n_tokens, 0,
                          started_at_us, job->price_fallback, job->request.user},
                         *entry);
    if (!headers.ok()) return fail(*out, *entry, headers.error());
    std::vector<EngineRequest> submitted(job->inputs.size());
    for (size_t i = 0; i < submitted.size(); ++i) {
      submitted[i].prompt = std::move(job->inputs[i]);
      submitted[i].embed = true;
    }
    // All inputs or none: nothing is billed when they are refused.
    BatchSubmission s = job->model->submit_all(std::move(submitted));
    if (s.status != SubmitStatus::Ok) {
      ApiError refused =
          s.status == SubmitStatus::QueueFull
              ? server_busy("The model '" + job->request.model +
                            "' is busy (each input is a request of its own): " + s.message + ".")
              : invalid_request(s.message, "input");
      refused.headers = std::move(headers.value());
      return fail(*out, *entry, refused);
    }
    auto running = std::make_shared<EmbeddingsJob>(
        std::move(job.value()), std::move(s.handles), std::move(headers.value()), out,
        std::move(entry), context.pool, context.in_flight);
    running->start();
  } catch (const nlohmann::json::exception& e) {
    fail(*out, *entry, invalid_request(std::string("invalid request: ") + e.what()));
  } catch (const std::exception& e) {
    fail(*out, *entry, internal_error(std::string("internal error: ") + e.what()));
  }
}

}  // namespace gengyun::api
