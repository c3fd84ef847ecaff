#include "engine/engine_core.h"

#include <algorithm>
#include <chrono>
#include <deque>
#include <optional>
#include <random>

#include "engine/grammar_vocab.h"
#include "engine/tool_call_grammar.h"
#include "model/model.h"
#include "sampling/json_schema.h"
#include "sampling/sampling_params.h"
#include "util/clock.h"
#include "util/counted.h"

namespace gengyun::engine {
namespace {

sampling::SamplingParams sampling_params(const GenerationParams& params) {
  sampling::SamplingParams sp;
  sp.temperature = params.temperature;
  sp.top_k = params.top_k;
  sp.top_p = params.top_p;
  sp.min_p = params.min_p;
  sp.repeat_penalty = params.repeat_penalty;
  sp.presence_penalty = params.presence_penalty;
  sp.frequency_penalty = params.frequency_penalty;
  sp.penalty_last_n = params.penalty_last_n;
  sp.seed = params.seed ? *params.seed : std::random_device{}();
  sp.logit_bias = params.logit_bias;
  sp.top_logprobs = params.top_logprobs;
  return sp;
}

/// The handle a caller of submit() holds.
class Handle final : public RequestHandle {
 public:
  Handle(std::shared_ptr<RequestStream> stream, std::weak_ptr<EngineCore> engine)
      : stream_(std::move(stream)), engine_(std::move(engine)) {}
  ~Handle() override {
    if (!stream_->finished()) cancel();
  }
  std::optional<GenerationEvent> next(int64_t timeout_us) override {
    return stream_->next(timeout_us);
  }
  void on_ready(std::function<void()> notify) override { stream_->on_ready(std::move(notify)); }
  bool finished() const override { return stream_->finished(); }
  void cancel() override {
    stream_->request_cancel();
    if (std::shared_ptr<EngineCore> engine = engine_.lock()) engine->wake();
  }

 private:
  std::shared_ptr<RequestStream> stream_;
  std::weak_ptr<EngineCore> engine_;
};

}  // namespace

struct EngineCore::Job {
  Job(const sampling::SamplingParams& sp, const Tokenizer& tokenizer,
      std::vector<std::string> stops, std::string text_prefix)
      : sampler(sp), decoder(tokenizer, std::move(text_prefix)), stop(std::move(stops)) {}

  Sequence seq;
  sampling::Sampler sampler;
  StreamDecoder decoder;
  sampling::StopMatcher stop;
  /// The output format's position and this step's mask; absent for text.
  std::optional<sampling::GrammarMatcher> matcher;
  sampling::TokenMask mask;
  bool logprobs = false;
  sampling::SampleLogprobs sampled_logprobs;
  /// Sampled tokens' log-probabilities whose text is not given yet, each with the offset of
  /// its first byte in the decoded text (GenerationEvent::logprobs).
  std::deque<std::pair<TokenLogprobs, int64_t>> held_logprobs;
  int64_t decoded_bytes = 0;  ///< the decoder's output so far, before the stop strings' cut
  int64_t given_bytes = 0;    ///< text given in events so far
  RequestTimes times;
  int max_tokens = 0;  ///< completion tokens at most
  bool ignore_eos = false;
  int n_completion = 0;
  std::shared_ptr<RequestStream> stream = std::make_shared<RequestStream>();
  std::optional<model::EmbeddingPool> pooled;  ///< an embedding request's pooled rows
};

EngineCore::EngineCore(const EngineConfig& config, ModelRunner& runner, const Tokenizer& tokenizer,
                       kernels::ThreadPool& pool)
    : config_(config),
      runner_(runner),
      tokenizer_(tokenizer),
      pool_(pool),
      blocks_(config.n_blocks),
      kv_(blocks_, config.block_size, config.prefix_cache),
      scheduler_(config.scheduler, kv_) {
  stats_.kv_blocks_total = config.n_blocks;
  stats_.kv_block_tokens = config.block_size;
}

EngineCore::~EngineCore() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  for (auto& job : inbox_) jobs_.emplace(&job->seq, std::move(job));
  inbox_.clear();
  for (auto& [seq, job] : jobs_)
    job->stream->finish({}, {}, usage_of(*job), job->times, FinishReason::Cancelled,
                        /*stop_string=*/false, "the model was unloaded");
}

Submission EngineCore::submit(EngineRequest request,
                              std::shared_ptr<const model::LoraAdapter> adapter,
                              std::string_view adapter_key) {
  std::vector<EngineRequest> one;
  one.push_back(std::move(request));
  BatchSubmission all = submit_all(std::move(one), std::move(adapter), adapter_key);
  Submission out;
  out.status = all.status;
  out.message = std::move(all.message);
  if (!all.handles.empty()) out.handle = std::move(all.handles.front());
  return out;
}

BatchSubmission EngineCore::submit_all(std::vector<EngineRequest> requests,
                                       std::shared_ptr<const model::LoraAdapter> adapter,
                                       std::string_view adapter_key) {
  BatchSubmission out;
  std::vector<std::unique_ptr<Job>> jobs;
  jobs.reserve(requests.size());
  for (EngineRequest& request : requests) {
    Result<std::unique_ptr<Job>> job = make_job(std::move(request), adapter, adapter_key);
    if (!job) {
      out.status = SubmitStatus::InvalidRequest;
      out.message = job.error().message;
      return out;
    }
    jobs.push_back(std::move(job.value()));
  }
  {
    std::lock_guard lock(mutex_);
    // Requests not yet admitted may fill the free running places, then max_waiting more: all
    // of `requests` or none (QA: two requests of 2048 embedding inputs each, queued in turns,
    // were both refused half-way).
    const int free_places = std::max(0, config_.scheduler.max_seqs - stats_.running);
    if (stats_.waiting + static_cast<int>(inbox_.size()) + static_cast<int>(jobs.size()) >
        free_places + config_.max_waiting) {
      out.status = SubmitStatus::QueueFull;
      // The counts now, then the limits (QA: the limits were named as if they were the counts).
      const std::string queued = std::to_string(stats_.running) + " running and " +
                                 std::to_string(stats_.waiting + static_cast<int>(inbox_.size())) +
                                 " queued (at most " + std::to_string(config_.scheduler.max_seqs) +
                                 " running and " + std::to_string(config_.max_waiting) +
                                 " more queued); retry later";
      out.message = jobs.size() == 1 ? "this model has " + queued
                                     : std::to_string(jobs.size()) +
                                           " requests at once do not fit beside the " + queued;
      return out;
    }
    for (std::unique_ptr<Job>& job : jobs) {
      job->seq.id = next_id_++;
      out.handles.push_back(std::make_unique<Handle>(job->stream, weak_from_this()));
      inbox_.push_back(std::move(job));
    }
    woken_ = true;
  }
  wake_.notify_all();
  published_.notify_all();
  return out;
}

Result<std::unique_ptr<EngineCore::Job>> EngineCore::make_job(
    EngineRequest request, const std::shared_ptr<const model::LoraAdapter>& adapter,
    std::string_view adapter_key) {
  if (request.prompt.empty()) return make_error("the prompt is empty");
  const bool embedding_engine = config_.pooling != model::PoolingType::None;
  if (request.embed != embedding_engine)
    return make_error(embedding_engine
                          ? "this is an embedding model: it computes embeddings, not text"
                          : "this model generates text: it has no pooling type to compute "
                            "embeddings");
  if (embedding_engine && static_cast<int64_t>(request.prompt.size()) > config_.n_ctx)
    return make_error("the input has " + std::to_string(request.prompt.size()) +
                      " tokens but the context holds " + std::to_string(config_.n_ctx));
  if (!embedding_engine && static_cast<int64_t>(request.prompt.size()) + 1 > config_.n_ctx)
    return make_error("the prompt has " + std::to_string(request.prompt.size()) +
                      " tokens but the context holds " + std::to_string(config_.n_ctx) +
                      " (prompt + at least one generated token)");
  const int n_vocab = runner_.n_vocab();
  for (int32_t id : request.prompt)
    if (id < 0 || id >= n_vocab)
      return make_error("token id " + std::to_string(id) + " is outside the vocabulary (0.." +
                        std::to_string(n_vocab - 1) + ")");
  const sampling::SamplingParams sp = sampling_params(request.params);
  if (Result<void> valid = sampling::validate(sp, n_vocab); !valid)
    return make_error(valid.error().message);
  Result<std::shared_ptr<const sampling::Grammar>> grammar = grammar_of(request.params.format);
  if (!grammar) return make_error(grammar.error().message);

  auto job =
      std::make_unique<Job>(sp, tokenizer_, request.params.stop, std::move(request.text_prefix));
  if (grammar.value()) {
    job->matcher.emplace(grammar.value(), vocab_index());
    job->mask = sampling::TokenMask(n_vocab);
  }
  job->logprobs = sp.top_logprobs >= 0;
  if (embedding_engine) job->pooled.emplace(config_.pooling, config_.n_embd);
  job->times.submitted_us = monotonic_us();
  job->seq.priority = request.priority;
  job->ignore_eos = request.params.ignore_eos;
  job->seq.n_prompt = static_cast<int>(request.prompt.size());
  job->seq.tokens = std::move(request.prompt);
  // Model, adapter, salt: neither of the first two holds a '\0', so no salt can forge a key.
  job->seq.cache_key = config_.cache_key + '\0';
  job->seq.cache_key.append(adapter_key);
  job->seq.cache_key += '\0' + request.cache_salt;
  job->seq.adapter = adapter;
  const int room = config_.n_ctx - job->seq.n_prompt;
  job->max_tokens = request.params.max_tokens < 0 ? room : std::min(request.params.max_tokens, room);
  return job;
}

Result<std::shared_ptr<const sampling::Grammar>> EngineCore::grammar_of(
    const OutputFormat& format) {
  switch (format.kind) {
    case OutputFormat::Kind::Text:
      return std::shared_ptr<const sampling::Grammar>();
    case OutputFormat::Kind::JsonObject:
      return sampling::json_object_grammar();
    case OutputFormat::Kind::ToolCalls: {
      Result<std::shared_ptr<const sampling::Grammar>> g = tool_call_grammar(format);
      if (!g) return make_error("the tool calls' grammar: " + g.error().message);
      return g;
    }
    case OutputFormat::Kind::JsonSchema:
      break;
  }
  Result<std::shared_ptr<const sampling::Grammar>> g =
      sampling::compile_json_schema_text(format.json_schema);
  if (!g) return make_error("the output format's JSON schema: " + g.error().message);
  return g;
}

std::shared_ptr<const sampling::VocabIndex> EngineCore::vocab_index() {
  std::call_once(vocab_once_, [this] { vocab_index_ = make_vocab_index(tokenizer_); });
  return vocab_index_;
}

void EngineCore::wake() {
  {
    std::lock_guard lock(mutex_);
    woken_ = true;
  }
  wake_.notify_all();
}

Usage EngineCore::usage_of(const Job& job) const {
  Usage usage;
  usage.prompt_tokens = job.seq.n_prompt_processed;
  usage.cached_prompt_tokens = std::min(job.seq.n_cached_prompt, usage.prompt_tokens);
  usage.completion_tokens = job.n_completion;
  return usage;
}

std::string EngineCore::give(Job& job, const std::string& decoded) {
  job.decoded_bytes += static_cast<int64_t>(decoded.size());
  std::string text = job.stop.push(decoded);
  job.given_bytes += static_cast<int64_t>(text.size());
  return text;
}

std::vector<TokenLogprobs> EngineCore::given_logprobs(Job& job, bool finished) {
  std::vector<TokenLogprobs> out;
  while (!job.held_logprobs.empty() && (job.held_logprobs.front().second < job.given_bytes ||
                                        (finished && !job.stop.stopped()))) {
    out.push_back(std::move(job.held_logprobs.front().first));
    job.held_logprobs.pop_front();
  }
  return out;
}

void EngineCore::finish(Job& job, FinishReason reason, std::vector<int32_t> tokens,
                        std::string text, std::string error,
                        std::span<const TokenLogprobs> logprobs, std::vector<float> embedding) {
  scheduler_.finish(&job.seq);
  job.times.finished_us = monotonic_us();
  job.stream->finish(tokens, text, usage_of(job), job.times, reason,
                     reason == FinishReason::Stop && job.stop.stopped(), std::move(error), logprobs,
                     std::move(embedding));
  ++finished_;
}

void EngineCore::take_inbox_and_cancellations() {
  std::vector<std::unique_ptr<Job>> arrived;
  {
    std::lock_guard lock(mutex_);
    arrived.swap(inbox_);
    woken_ = false;
  }
  for (auto& job : arrived) {
    scheduler_.add(&job->seq);
    jobs_.emplace(&job->seq, std::move(job));
  }
  const int64_t now = monotonic_us();
  for (auto it = jobs_.begin(); it != jobs_.end();) {
    Job& job = *it->second;
    if (job.stream->cancel_requested()) {
      finish(job, FinishReason::Cancelled, {}, {});
    } else if (const int64_t since = job.stream->unread_since_us();
               since != 0 && now - since >= config_.stall_timeout_us) {
      finish(job, FinishReason::Cancelled, {}, {},
             "the client read nothing for " + std::to_string(config_.stall_timeout_us / 1000000) +
                 " s");
    } else {
      ++it;
      continue;
    }
    it = jobs_.erase(it);
  }
}

bool EngineCore::step() {
  take_inbox_and_cancellations();
  const SchedulerOutput out = scheduler_.schedule();
  if (out.chunks.empty()) {
    publish();
    return false;
  }
  if (Result<void> ran = runner_.execute(out.chunks, logits_); !ran) {
    for (const ScheduledChunk& c : out.chunks) {
      finish(*jobs_.at(c.seq), FinishReason::Cancelled, {}, {},
             "the forward pass failed: " + ran.error().message);
      jobs_.erase(c.seq);
    }
    publish();
    return true;
  }
  scheduler_.update(out);
  ++steps_;
  if (config_.pooling != model::PoolingType::None) {
    pool_embeddings(out.chunks, logits_);
    publish();
    return true;
  }

  // Sampling runs on the pool, one sequence per task: each sampler owns its random state.
  std::vector<Job*> sampled_jobs;
  for (const ScheduledChunk& c : out.chunks)
    if (c.samples()) sampled_jobs.push_back(jobs_.at(c.seq).get());
  sampled_.resize(sampled_jobs.size());
  masks_.resize(sampled_jobs.size());
  const size_t n_vocab = static_cast<size_t>(runner_.n_vocab());
  // A token the output format cannot continue with comes back as -1, a row of logits that are
  // all NaN as Sampler::kAllLogitsNaN.
  pool_.parallel_for(static_cast<int64_t>(sampled_jobs.size()), [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const std::span<const float> row(logits_.data() + static_cast<size_t>(i) * n_vocab, n_vocab);
      Job& job = *sampled_jobs[i];
      masks_[i] = 0;
      const auto sample_masked = [&](const sampling::TokenMask* mask) {
        return mask && mask->count() == 0
                   ? -1
                   : job.sampler.sample(row, job.seq.tokens, mask,
                                        job.logprobs ? &job.sampled_logprobs : nullptr,
                                        static_cast<size_t>(job.seq.n_prompt));
      };
      // A lazy grammar before its trigger: sampled free, and again under the mask only when
      // the token reaches the trigger with bytes the grammar refuses after it.
      const bool awaiting = job.matcher && job.matcher->awaiting_trigger();
      if (job.matcher && !awaiting) {
        job.matcher->fill_mask(job.mask);
        ++masks_[i];
      }
      sampled_[i] = sample_masked(job.matcher && !awaiting ? &job.mask : nullptr);
      if (job.matcher && sampled_[i] >= 0 && !job.matcher->accept(sampled_[i])) {
        sampled_[i] = -1;
        if (awaiting) {
          job.matcher->fill_mask(job.mask);
          ++masks_[i];
          sampled_[i] = sample_masked(&job.mask);
          if (sampled_[i] >= 0 && !job.matcher->accept(sampled_[i])) sampled_[i] = -1;
        }
      }
    }
  });
  for (const int m : masks_) grammar_masks_ += m;

  for (size_t i = 0; i < sampled_jobs.size(); ++i) {
    Job& job = *sampled_jobs[i];
    const int32_t token = sampled_[i];
    if (token == sampling::Sampler::kAllLogitsNaN) {
      finish(job, FinishReason::Cancelled, {}, {},
             "the model's logits are all NaN (after " +
                 counted(job.n_completion, "generated token") +
                 "): its weights hold NaN or infinite values, or its "
                 "activations overflowed");
      jobs_.erase(&job.seq);
      continue;
    }
    if (token < 0) {
      finish(job, FinishReason::Cancelled, {}, {},
             "the output format allows no token of this model's vocabulary here (after " +
                 counted(job.n_completion, "token") + ")");
      jobs_.erase(&job.seq);
      continue;
    }
    if (job.logprobs) {
      TokenLogprobs lp{token, job.sampled_logprobs.logprob, {}};
      for (const sampling::TokenLogprob& t : job.sampled_logprobs.top)
        lp.top.emplace_back(t.id, t.logprob);
      job.held_logprobs.emplace_back(std::move(lp), job.decoded_bytes);
    }
    job.seq.tokens.push_back(token);
    if (job.n_completion++ == 0) job.times.first_token_us = monotonic_us();
    const std::vector<int32_t> new_tokens = {token};
    bool done = true;
    FinishReason reason = FinishReason::Stop;
    std::string text;
    if (job.ignore_eos || !tokenizer_.is_eog(token)) {
      text = give(job, job.decoder.push(token));
      if (!job.stop.stopped()) {
        // An output format that admits no further byte ends the answer without an EOS token.
        const bool complete = job.matcher && job.matcher->finished();
        done = complete || job.n_completion >= job.max_tokens;
        reason = complete ? FinishReason::Stop : FinishReason::Length;
      }
    }
    if (!done) {
      job.stream->push(new_tokens, text, usage_of(job), given_logprobs(job, false));
      continue;
    }
    if (!job.stop.stopped()) {
      // The decoder's last bytes go to the stop strings before they give what they held back
      // (two statements: the operands of + are unsequenced). That text needs no count: unless
      // a stop string is found in those bytes, every held log-probability is given at the end.
      text += give(job, job.decoder.flush());
      text += job.stop.flush();
    }
    finish(job, reason, new_tokens, std::move(text), {}, given_logprobs(job, true));
    jobs_.erase(&job.seq);
  }
  publish();
  return true;
}

void EngineCore::pool_embeddings(std::span<const ScheduledChunk> chunks,
                                 const std::vector<float>& hidden) {
  const size_t n_embd = static_cast<size_t>(config_.n_embd);
  size_t row = 0;
  for (const ScheduledChunk& c : chunks) {
    Job& job = *jobs_.at(c.seq);
    const bool first = c.start == 0;
    const model::LogitRows rows = model::pooled_rows(config_.pooling, first, c.samples());
    const size_t n_rows = rows == model::LogitRows::All    ? static_cast<size_t>(c.n_tokens)
                          : rows == model::LogitRows::Last ? 1
                                                           : 0;
    job.pooled->add(hidden.data() + row * n_embd, n_rows, first);
    row += n_rows;
    if (!c.samples()) continue;
    job.times.first_token_us = monotonic_us();
    finish(job, FinishReason::Stop, {}, {}, {}, {},
           job.pooled->result(static_cast<size_t>(job.seq.n_tokens())));
    jobs_.erase(c.seq);
  }
}

void EngineCore::publish() {
  {
    std::lock_guard lock(mutex_);
    stats_.running = scheduler_.n_running();
    stats_.waiting = scheduler_.n_waiting();
    stats_.kv_blocks_used = blocks_.n_blocks() - blocks_.n_free();
    stats_.prefix_cache_queries = kv_.counters().queries;
    stats_.prefix_cache_hits = kv_.counters().hits;
    stats_.steps = steps_;
    stats_.grammar_masks = grammar_masks_;
    stats_.preemptions = scheduler_.n_preemptions();
    stats_.finished = finished_;
  }
  published_.notify_all();
}

EngineStats EngineCore::snapshot_locked() const {
  EngineStats s = stats_;
  s.waiting += static_cast<int>(inbox_.size());
  return s;
}

EngineStats EngineCore::stats() const {
  std::lock_guard lock(mutex_);
  return snapshot_locked();
}

bool EngineCore::wait_until(const std::function<bool(const EngineStats&)>& done,
                            int64_t timeout_us) const {
  std::unique_lock lock(mutex_);
  return published_.wait_for(lock, std::chrono::microseconds(timeout_us),
                             [&] { return done(snapshot_locked()); });
}

void EngineCore::start() { thread_ = std::thread([this] { loop(); }); }

void EngineCore::loop() {
  while (true) {
    {
      std::unique_lock lock(mutex_);
      if (stopping_) return;
    }
    if (step()) continue;
    std::unique_lock lock(mutex_);
    wake_.wait(lock, [this] { return stopping_ || woken_; });
  }
}

}  // namespace gengyun::engine
