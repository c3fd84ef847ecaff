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

/// A validated request with its model loaded and its prompts tokenized.
struct PreparedGeneration {
  GenerationRequest request;
  /// Held until every choice has finished (let go before the answer's last bytes are sent): the
  /// model is not unloaded under it.
  deploy::ModelLease model;
  std::string price_fallback;  ///< a LoRA derivative's base: its prices apply when it has none
  std::vector<std::vector<int32_t>> prompts;  ///< chat: one; completions: one per prompt
  std::vector<std::string> echoes;  ///< completions with echo: each prompt's text
  ChatSyntax syntax;  ///< chat: what the answer speaks
  ResponseMeta meta;
  HttpHeaders headers;  ///< of the answer: x-request-id, x-ratelimit-*
};

/// A long answer's counts are written to its open ledger row after this many generated tokens
/// or this long, whichever comes first, so a crash loses at most that much of its bill.
constexpr int kCheckpointTokens = 64;
constexpr int64_t kCheckpointIntervalUs = 1'000'000;
/// A streamed answer whose connection holds more than this unsent (its queue and its socket's)
/// takes no more events until it drains: they wait in the engine (merged), whose stall timeout then
/// cancels a client that reads nothing (QA 2026-12-07: such a client was billed max_tokens, its
/// whole answer queued).
constexpr size_t kUnsentMarkBytes = 256 * 1024;

/// The ledger's http_status for a non-streamed request whose client left (nginx's "client
/// closed request"); nothing was sent to it.
constexpr int kClientClosedRequest = 499;

ApiResult<PreparedGeneration> prepare(CompletionKind kind, const GenerationContext& context,
                                      const platform::KeyInfo& key, const std::string& body_text,
                                      UsageEntry& entry) {
  deploy::Registry& registry = context.registry;
  auto body = parse_json_object(body_text);
  if (!body.ok()) return body.error();
  entry.set_model(requested_model(body.value()));
  entry.set_end_user(requested_end_user(body.value()));
  // One lookup serves the defaults, the key's check and the prices.
  const std::optional<deploy::ModelInfo> info = registry.find(requested_model(body.value()));
  if (info)
    for (const auto& [field, value] : info->defaults.items())
      if (!body->contains(field) || body.value()[field].is_null()) body.value()[field] = value;
  auto request = kind == CompletionKind::Chat ? parse_chat_request(body.value())
                                              : parse_completion_request(body.value());
  if (!request.ok()) return request.error();

  PreparedGeneration out;
  out.request = std::move(request.value());
  if (auto refused = refuse_model(key, info, out.request.model)) return *refused;
  // Refused before a load, which could evict other models (or fail for want of memory) for a
  // request that cannot run; checked again on the model loaded (its file may have changed).
  const auto embedding_model = [&] {
    return invalid_request("the model '" + out.request.model +
                               "' is an embedding model: it serves /v1/embeddings, not " +
                               endpoint_path(kind),
                           "model");
  };
  if (info && info->file.embedding) return embedding_model();
  deploy::Acquired acquired = registry.acquire(out.request.model, out.request.keep_alive_us);
  if (!acquired.lease) return acquire_error(acquired, out.request.model);
  out.model = std::move(*acquired.lease);
  // An alias is billed, priced and answered as the model it names; a LoRA derivative without
  // prices of its own is billed at its base's.
  entry.set_model(out.model.id());
  out.price_fallback = info->parent;
  if (out.model->is_embedding_model()) return embedding_model();
  read_response_format_schema(body_text, out.request);
  for (const auto& [id, bias] : out.request.params.logit_bias)
    if (id >= out.model->n_vocab())
      return invalid_request("logit_bias names token " + std::to_string(id) +
                                 ", outside the model's vocabulary (0.." +
                                 std::to_string(out.model->n_vocab() - 1) + ")",
                             "logit_bias");

  const char* param = kind == CompletionKind::Chat ? "messages" : "prompt";
  if (kind == CompletionKind::Chat) {
    read_template_fields(body_text, out.request);
    auto prompt = out.model->chat_prompt(out.request.messages, out.request.chat);
    if (!prompt.ok())
      return invalid_request("the model's chat template refused the messages: " +
                                 prompt.error().message,
                             param);
    if (auto error = check_builtin_format(prompt->own_template, out.request)) return *error;
    if (auto error = apply_tool_choice(prompt->syntax, out.request)) return *error;
    out.prompts.push_back(std::move(prompt->tokens));
    out.syntax = prompt->syntax;
    // A JSON response_format holds the answer to its grammar from the first byte: no reasoning
    // comes first, and a <think> token inside one of its strings is the answer's text, not the
    // start of reasoning (QA 2026-12-07: an answer cut in two, its JSON's end in reasoning).
    const OutputFormat::Kind format = out.request.params.format.kind;
    if (format == OutputFormat::Kind::JsonObject || format == OutputFormat::Kind::JsonSchema) {
      out.syntax.reasoning = false;
      out.syntax.starts_in_reasoning = false;
    }
  }
  for (const PromptInput& input : out.request.prompts) {
    std::string echo = input.text;
    if (!input.is_tokens) {
      out.prompts.push_back(
          out.model->tokenize(input.text, /*add_bos=*/true, /*parse_special=*/true));
    } else {
      for (const int32_t id : input.tokens)
        if (id >= out.model->n_vocab())
          return invalid_request("prompt holds token " + std::to_string(id) +
                                     ", outside the model's vocabulary (0.." +
                                     std::to_string(out.model->n_vocab() - 1) + ")",
                                 param);
      // (the text a text prompt of these tokens would have: special tokens' text included)
      if (out.request.echo) echo = out.model->detokenize(input.tokens);
      out.prompts.push_back(input.tokens);
    }
    if (out.request.echo) out.echoes.push_back(std::move(echo));
  }
  const int64_t n_ctx = out.model->n_ctx();
  for (const std::vector<int32_t>& prompt : out.prompts) {
    if (prompt.empty()) return invalid_request("the prompt is empty (it has no tokens)", param);
    if (static_cast<int64_t>(prompt.size()) + 1 > n_ctx)
      return invalid_request("This model's maximum context length is " + std::to_string(n_ctx) +
                                 " tokens. However, your " + param + " resulted in " +
                                 std::to_string(prompt.size()) +
                                 " tokens, plus 1 to generate. Please shorten the " + param + ".",
                             param, "context_length_exceeded");
  }
  // Every choice of every prompt is an engine request of its own: more than the model holds at
  // once would be refused as busy however often the client retried.
  const int64_t requests = static_cast<int64_t>(out.prompts.size()) * out.request.n;
  const int max_requests = out.model->max_requests();
  if (requests > max_requests)
    return invalid_request("the request needs " + std::to_string(requests) + " sequences (" +
                               std::to_string(out.prompts.size()) +
                               " prompt(s) x n = " + std::to_string(out.request.n) +
                               "), more than the model '" + out.request.model +
                               "' holds at once (" + std::to_string(max_requests) +
                               ": its running and waiting places); ask for fewer",
                           out.request.n > max_requests ? std::string("n") : std::string(param));
  out.meta.kind = kind;
  out.meta.id = new_response_id(kind);
  out.meta.created = unix_time_us() / 1000000;
  out.meta.model = out.model.id();
  out.meta.system_fingerprint = system_fingerprint(out.model->path(), out.model->n_ctx());
  if (out.request.service_tier) out.meta.service_tier = "default";
  out.meta.usage_chunk = out.request.include_usage;
  return out;
}

/// Reserves the request's worst case (its prompts, plus max_tokens, or the rest of the context
/// when max_tokens is unset, for each of its choices): api::admit.
ApiResult<HttpHeaders> admit(platform::LedgerWriter& ledger, const platform::KeyInfo& key,
                             const PreparedGeneration& job, CompletionKind kind,
                             int64_t started_at_us, UsageEntry& entry) {
  int64_t prompt = 0;
  int64_t max_completion = 0;
  for (const std::vector<int32_t>& tokens : job.prompts) {
    const int64_t room = job.model->n_ctx() - static_cast<int64_t>(tokens.size());
    const int64_t max_tokens = job.request.params.max_tokens;
    prompt += static_cast<int64_t>(tokens.size());
    max_completion += job.request.n * (max_tokens < 0 ? room : std::min(max_tokens, room));
  }
  return api::admit(ledger,
                    {job.meta.id, key.id, job.model.id(), endpoint_path(kind), prompt,
                     max_completion, started_at_us, job.price_fallback, job.request.user},
                    entry);
}

/// One admitted request from its submission to its ledger row. The model's engine generates
/// each choice as a request of its own; this object only turns their events into the answer,
/// so no thread waits for it: events are taken on the engine's thread (on_ready; cheap, never
/// blocking) and written to the responder (queued, never blocking); checkpoints of the counts
/// are posted to the ledger writer; the end (the ledger row's settlement, waited for until it is
/// durable, then the last bytes) runs on a handler thread. A client that leaves cancels every
/// choice at once.
class GenerationJob : public std::enable_shared_from_this<GenerationJob> {
 public:
  /// One choice: its engine request and what it produced so far.
  struct Choice {
    std::unique_ptr<RequestHandle> handle;
    size_t prompt = 0;  ///< index into PreparedGeneration::prompts
    std::string text;   ///< a non-streamed choice's whole text
    /// When asked for: a non-streamed choice's; a streamed chat choice's not yet sent (those of
    /// tokens whose text its answer holds back).
    std::vector<TokenLogprob> logprobs;
    std::optional<ChatAnswer> answer;  ///< chat: its message (reasoning, content, tool calls)
    /// chat: the completion tokens up to the last that added to reasoning_content (reasoning
    /// comes first in an answer)
    int reasoning_tokens = 0;
    TextOffset text_offset;   ///< completions: where the choice's text stands (completion_logprobs)
    Usage usage;              ///< as of its latest event
    std::optional<GenerationEvent> last;  ///< its finished event
  };

  /// `authorization`: the request's Authorization header, whose key is checked again at each
  /// checkpoint.
  GenerationJob(PreparedGeneration job, std::vector<Choice> choices, std::shared_ptr<Responder> out,
                std::unique_ptr<UsageEntry> entry, platform::Store& store,
                std::optional<std::string> authorization, platform::LedgerWriter& ledger,
                HandlerPool& pool, InFlight& in_flight)
      : job_(std::move(job)),
        choices_(std::move(choices)),
        out_(std::move(out)),
        entry_(std::move(entry)),
        store_(store),
        authorization_(std::move(authorization)),
        ledger_(ledger),
        pool_(pool),
        in_flight_(in_flight),
        stream_(out_),
        checkpointed_at_us_(monotonic_us()) {
    if (job_.meta.kind == CompletionKind::Chat)
      for (size_t i = 0; i < choices_.size(); ++i)
        choices_[i].answer.emplace(job_.meta, job_.syntax, !job_.request.chat.tools_json.empty(),
                                   job_.request.stream, static_cast<int>(i),
                                   streams_tool_arguments(job_.request));
  }

  /// Starts the answer (a stream's head, each choice's opening and echo) and the flow of events.
  void start() {
    {
      std::lock_guard lock(mutex_);
      if (job_.request.stream && !stream_.start(job_.headers)) cancel_all();
      for (size_t i = 0; i < choices_.size(); ++i) {
        const int index = static_cast<int>(i);
        const std::string* echo =
            job_.echoes.empty() ? nullptr : &job_.echoes[choices_[i].prompt];
        if (!job_.request.stream) {
          if (echo) choices_[i].text = *echo;
          continue;
        }
        const auto opening = opening_chunk(job_.meta, index);
        if ((opening && !stream_.send(*opening)) ||
            (echo && !stream_.send(text_chunk(job_.meta, *echo, nullptr, index))))
          cancel_all();
      }
    }
    std::weak_ptr<GenerationJob> weak = weak_from_this();
    out_->on_client_gone([weak] {
      if (std::shared_ptr<GenerationJob> self = weak.lock()) self->cancel_all();
    });
    in_flight_id_ = in_flight_.add([weak] {
      if (std::shared_ptr<GenerationJob> self = weak.lock()) {
        self->ended_by_server_ = true;
        self->cancel_all();
      }
    });
    // Each handle (owned here) keeps its callback; the callback keeps this object until the
    // choice's finished event has been taken.
    for (size_t i = 0; i < choices_.size(); ++i)
      choices_[i].handle->on_ready([self = shared_from_this(), i] { self->take_events(i); });
  }

 private:
  void cancel_all() {
    for (Choice& c : choices_) c.handle->cancel();
  }

  /// The event's tokens with their log-probabilities, as the API reports them; tokens that
  /// stand for no bytes (an end-of-generation token) are left out, as they are of the text.
  std::vector<TokenLogprob> logprobs_of(const GenerationEvent& event) const {
    std::vector<TokenLogprob> out;
    for (const TokenLogprobs& sampled : event.logprobs) {
      std::string bytes = job_.model->token_bytes(sampled.id);
      if (bytes.empty()) continue;
      TokenLogprob& t = out.emplace_back();
      t.bytes = std::move(bytes);
      t.logprob = sampled.logprob;
      for (const auto& [id, logprob] : sampled.top)
        t.top.emplace_back(job_.model->token_bytes(id), logprob);
    }
    return out;
  }

  /// `tokens` of `choice` in the endpoint's logprobs object (advances its text_offset).
  nlohmann::json logprobs_json(const std::vector<TokenLogprob>& tokens, Choice& choice) const {
    return job_.meta.kind == CompletionKind::Chat ? chat_logprobs(tokens)
                                                  : completion_logprobs(tokens, choice.text_offset);
  }

  /// The request's usage from its choices' (mutex_ held, or all finished): each prompt counted
  /// once (from the choice that processed most of it), the completions of every choice summed.
  TokenUsage total_usage() const {
    std::vector<const Usage*> per_prompt(job_.prompts.size(), nullptr);
    TokenUsage total;
    for (const Choice& c : choices_) {
      const Usage*& best = per_prompt[c.prompt];
      if (!best || c.usage.prompt_tokens > best->prompt_tokens) best = &c.usage;
      total.completion_tokens += c.usage.completion_tokens;
      total.reasoning_tokens += c.reasoning_tokens;
    }
    for (const Usage* u : per_prompt) {
      if (!u) continue;
      total.prompt_tokens += u->prompt_tokens;
      total.cached_tokens += u->cached_prompt_tokens;
    }
    return total;
  }

  void take_events(size_t index) {
    std::lock_guard lock(mutex_);
    Choice& choice = choices_[index];
    const bool logprobs = job_.request.params.top_logprobs >= 0;
    for (;;) {
      // (the finished event is always taken: nothing would call here again)
      if (job_.request.stream && out_->unsent_bytes() > kUnsentMarkBytes &&
          !choice.handle->finished())
        return;
      std::optional<GenerationEvent> event = choice.handle->next(0);
      if (!event) return;
      choice.usage = event->usage;
      std::vector<TokenLogprob> tokens;
      if (logprobs) tokens = logprobs_of(*event);
      if (choice.answer) {
        const size_t reasoned = choice.answer->reasoning_size();
        std::vector<nlohmann::json> chunks = choice.answer->feed(event->text);
        if (choice.answer->reasoning_size() > reasoned)
          choice.reasoning_tokens = choice.usage.completion_tokens;
        send_answer(choice, std::move(chunks), std::move(tokens), static_cast<int>(index));
      } else if (!job_.request.stream) {
        choice.text += event->text;
        choice.logprobs.insert(choice.logprobs.end(), tokens.begin(), tokens.end());
      } else if ((!event->text.empty() || !tokens.empty()) &&
                 !stream_.send(text_chunk(job_.meta, event->text,
                                          logprobs ? logprobs_json(tokens, choice) : nullptr,
                                          static_cast<int>(index)))) {
        cancel_all();
      }
      if (event->finished) {
        choice.handle->on_ready({});
        const bool cancelled = event->finish_reason == FinishReason::Cancelled;
        if (cancelled && !error_) {
          error_ = event->error;
          cancel_all();  // the answer fails as a whole
        }
        if (choice.answer && !cancelled) {
          const size_t reasoned = choice.answer->reasoning_size();
          std::vector<nlohmann::json> chunks = choice.answer->finish();
          if (choice.answer->reasoning_size() > reasoned)
            choice.reasoning_tokens = choice.usage.completion_tokens;
          send_answer(choice, std::move(chunks), {}, static_cast<int>(index), /*end=*/true);
        }
        choice.last = std::move(*event);
        // A choice that ends before the last one gets its finishing chunk now; the last one's
        // carries the usage, after the ledger row is settled.
        if (++n_finished_ == choices_.size()) {
          last_finished_ = index;
          end();
        } else if (job_.request.stream && !cancelled) {
          stream_.send(
              finish_chunk(job_.meta, finish_reason(choice), nullptr, static_cast<int>(index)));
        }
        return;
      }
      maybe_checkpoint(total_usage());
    }
  }

  /// A chat choice's chunks from its answer and the logprobs of `tokens`. Streamed, the logprobs
  /// held so far ride on the first chunk, and at the `end` those left get a chunk of their own;
  /// a client that is gone cancels every choice. Not streamed, the logprobs are kept.
  void send_answer(Choice& choice, std::vector<nlohmann::json> chunks,
                   std::vector<TokenLogprob> tokens, int index, bool end = false) {
    choice.logprobs.insert(choice.logprobs.end(), tokens.begin(), tokens.end());
    if (!job_.request.stream) return;
    if (!choice.logprobs.empty()) {
      if (!chunks.empty())
        chunks.front()["choices"][0]["logprobs"] = chat_logprobs(choice.logprobs);
      else if (end)
        chunks.push_back(delta_chunk(job_.meta, nlohmann::json::object(),
                                     chat_logprobs(choice.logprobs), index));
      if (!chunks.empty()) choice.logprobs.clear();
    }
    for (const nlohmann::json& chunk : chunks)
      if (!stream_.send(chunk)) return cancel_all();
  }

  /// The finish_reason of a finished choice ("tool_calls" when its answer called a tool).
  std::string_view finish_reason(const Choice& choice) const {
    return choice.answer ? choice.answer->finish_reason(choice.last->finish_reason)
                         : finish_reason_name(choice.last->finish_reason);
  }

  /// Posts a checkpoint of `usage` to the ledger writer (a queue push: the engine's thread never
  /// waits for the database) when kCheckpointTokens were generated or kCheckpointIntervalUs
  /// passed since the last one (mutex_ held). A checkpoint that lands after the settlement
  /// changes nothing.
  void maybe_checkpoint(const TokenUsage& usage) {
    if (usage.completion_tokens == checkpointed_tokens_) return;
    const int64_t now_us = monotonic_us();
    if (usage.completion_tokens - checkpointed_tokens_ < kCheckpointTokens &&
        now_us - checkpointed_at_us_ < kCheckpointIntervalUs)
      return;
    checkpointed_tokens_ = usage.completion_tokens;
    checkpointed_at_us_ = now_us;
    ledger_.post(entry_->checkpoint(
        {usage.prompt_tokens, usage.cached_tokens, usage.completion_tokens}, ledger_.now_us()));
    check_key();
  }

  /// Has the request's key checked again on a handler thread (check_key_now()), unless a check
  /// is queued or running already or the pool is full (the next checkpoint asks again): the
  /// engine's thread never waits for the store.
  void check_key() {
    if (key_check_running_.exchange(true)) return;
    std::weak_ptr<GenerationJob> weak = weak_from_this();
    if (!pool_.try_post([weak] {
          if (std::shared_ptr<GenerationJob> self = weak.lock()) self->check_key_now();
        }))
      key_check_running_ = false;
  }

  /// Authenticates the request's key again, through the store's key cache (which hears of
  /// revocations: docs/platform.md, "Key cache"): a key revoked or expired since admission ends
  /// the generation at the engine's next step (finish() answers it). A store that cannot be read
  /// now ends nothing: the key was valid at admission, and the next checkpoint asks again.
  void check_key_now() {
    const ApiResult<platform::KeyInfo> key = authenticate(store_, authorization_);
    if (!key.ok() && key.error().http_status == 401) {
      {
        std::lock_guard lock(mutex_);
        key_withdrawn_ = key.error().message == expired_api_key().message;  // (authenticate's)
      }
      cancel_all();
    }
    key_check_running_ = false;
  }

  /// Ends a generation that the server cut (`error`, recorded with `status`): billed for what
  /// it generated (`usage`); a non-streamed request gets `error`, a stream its usage chunk,
  /// `error` and [DONE], as every stream ends.
  void end_cut(ApiError error, const char* status, const TokenUsage& usage) {
    record(*entry_, job_.request.stream ? 200 : error.http_status, status, error.message);
    if (!job_.request.stream) {
      error.headers = job_.headers;
      return (void)send_error(*out_, error);
    }
    stream_.send(usage_chunk(job_.meta, usage));
    stream_.send(error_body(error));
    stream_.send_done();
    stream_.end();
  }

  /// After every choice's finished event: the ledger row and the last bytes, on a handler
  /// thread (or here when the pool is full: the row must not be lost).
  void end() {
    auto finish = [self = shared_from_this()] { self->finish(); };
    if (!pool_.try_post(finish)) finish();
  }

  /// (Every choice has finished, so no take_events() runs any more; a check_key_now() may.)
  void finish() {
    in_flight_.remove(in_flight_id_);
    // The model is let go before the last bytes are sent: a client that has read its answer
    // and sends the next request at once must find the model idle (QA 2026-12-07: under
    // --max-memory, a request for another model then got 503 insufficient_memory, "held by"
    // the answered one).
    job_.model = {};
    const TokenUsage usage = total_usage();
    entry_->set_tokens(usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens);
    const bool cancelled = error_.has_value();
    const std::string gone = "the client disconnected after " +
                             std::to_string(usage.completion_tokens) + " generated tokens";
    std::optional<bool> key_withdrawn;
    {
      std::lock_guard lock(mutex_);
      key_withdrawn = key_withdrawn_;
    }
    if (cancelled && ended_by_server_ && !out_->client_gone())
      return end_cut(server_shutting_down(usage.completion_tokens), "shutdown", usage);
    if (cancelled && key_withdrawn && !out_->client_gone())
      return end_cut(key_withdrawn_mid_request(*key_withdrawn, usage.completion_tokens), "error",
                     usage);
    if (!job_.request.stream) {
      if (cancelled && out_->client_gone())
        return record(*entry_, kClientClosedRequest, "cancelled", gone);
      if (cancelled) return fail(*out_, *entry_, internal_error("generation stopped: " + *error_));
      if (auto written = entry_->finish(200, "ok"); !written.ok())
        return (void)send_error(*out_, internal_error("the usage ledger cannot be written: " +
                                                      written.error().message));
      std::vector<ResponseChoice> answer;
      for (Choice& c : choices_)
        answer.push_back({std::move(c.text), std::string(finish_reason(c)),
                          job_.request.params.top_logprobs >= 0 ? logprobs_json(c.logprobs, c)
                                                                : nlohmann::json(),
                          c.answer ? c.answer->message() : nlohmann::json()});
      send_json(*out_, completion_response(job_.meta, answer, usage), 200, job_.headers);
      return;
    }
    if (cancelled) {
      if (!stream_.connected() || out_->client_gone())
        return record(*entry_, 200, "cancelled", gone);
      const ApiError error = internal_error("generation stopped: " + *error_);
      record(*entry_, 200, "error", error.message);
      stream_.send(error_body(error));
      return stream_.end();
    }
    if (!stream_.connected() || out_->client_gone())
      return record(*entry_, 200, "cancelled", gone);
    if (auto written = entry_->finish(200, "ok"); !written.ok()) {
      stream_.send(error_body(
          internal_error("the usage ledger cannot be written: " + written.error().message)));
      return stream_.end();
    }
    const Choice& last = choices_[last_finished_];
    const bool usage_chunk_follows = job_.meta.usage_chunk;
    stream_.send(finish_chunk(job_.meta, finish_reason(last),
                              usage_chunk_follows ? nullptr : &usage,
                              static_cast<int>(last_finished_)));
    if (usage_chunk_follows) stream_.send(usage_chunk(job_.meta, usage));
    stream_.send_done();
    stream_.end();
  }

  PreparedGeneration job_;
  std::vector<Choice> choices_;
  std::shared_ptr<Responder> out_;
  std::unique_ptr<UsageEntry> entry_;
  platform::Store& store_;
  const std::optional<std::string> authorization_;
  platform::LedgerWriter& ledger_;
  HandlerPool& pool_;
  InFlight& in_flight_;
  uint64_t in_flight_id_ = 0;
  std::atomic<bool> ended_by_server_{false};
  std::atomic<bool> key_check_running_{false};  ///< check_key_now() is queued or running
  /// take_events() runs on the engine's thread (one choice at a time), start() and finish()
  /// on a handler thread.
  std::mutex mutex_;
  SseStream stream_;
  size_t n_finished_ = 0;     ///< choices whose finished event was taken
  size_t last_finished_ = 0;  ///< the choice that finished last
  std::optional<std::string> error_;  ///< why the first cancelled choice stopped
  /// Set when check_key_now() found the key withdrawn mid-request: true when it expired, false
  /// when it was revoked (or is gone).
  std::optional<bool> key_withdrawn_;
  int checkpointed_tokens_ = 0;
  int64_t checkpointed_at_us_;  ///< monotonic_us() of the last checkpoint (or the start)
};

}  // namespace

const char* endpoint_path(CompletionKind kind) {
  return kind == CompletionKind::Chat ? "/v1/chat/completions" : "/v1/completions";
}

void handle_generation(CompletionKind kind, const GenerationContext& context,
                       const HttpRequest& request, const std::shared_ptr<Responder>& out) {
  const int64_t started_at_us = context.store.now_us();
  auto key = authenticate(context.store, request.header("Authorization"));
  if (!key.ok()) {
    send_error(*out, key.error());
    return;
  }
  auto entry =
      std::make_unique<UsageEntry>(context.ledger, key->id, endpoint_path(kind), started_at_us);
  try {
    auto job = prepare(kind, context, key.value(), request.body, *entry);
    if (!job.ok()) return fail(*out, *entry, job.error());
    auto headers = admit(context.ledger, key.value(), job.value(), kind, started_at_us, *entry);
    if (!headers.ok()) return fail(*out, *entry, headers.error());
    job->headers = std::move(headers.value());
    // Each choice is an engine request of its own: n per prompt, in the order of their index;
    // with a seed, choice k of a prompt samples with seed + k (reproducible, yet different).
    std::vector<GenerationJob::Choice> choices;
    for (size_t p = 0; p < job->prompts.size(); ++p)
      for (int k = 0; k < job->request.n; ++k) {
        EngineRequest submitted;
        submitted.prompt = job->prompts[p];
        submitted.params = job->request.params;
        if (submitted.params.seed) *submitted.params.seed += static_cast<uint64_t>(k);
        Submission s = job->model->submit(std::move(submitted));
        ApiError refused;
        if (s.status == SubmitStatus::QueueFull)
          refused =
              server_busy("The model '" + job->request.model + "' is busy: " + s.message + ".");
        else if (!s.handle)
          refused = invalid_request(s.message);
        if (!s.handle) {  // (the choices submitted already are cancelled with their handles)
          refused.headers = job->headers;
          return fail(*out, *entry, refused);
        }
        GenerationJob::Choice& choice = choices.emplace_back();
        choice.handle = std::move(s.handle);
        choice.prompt = p;
      }
    auto running = std::make_shared<GenerationJob>(
        std::move(job.value()), std::move(choices), out, std::move(entry), context.store,
        request.header("Authorization"), context.ledger, context.pool, context.in_flight);
    running->start();
  } catch (const nlohmann::json::exception& e) {
    fail(*out, *entry, invalid_request(std::string("invalid request: ") + e.what()));
  } catch (const std::exception& e) {
    fail(*out, *entry, internal_error(std::string("internal error: ") + e.what()));
  }
}

}  // namespace gengyun::api
