// The engine loop of one model (vLLM v1's EngineCore): schedule -> forward -> sample -> emit
// events, on a thread of its own or stepped by hand in tests.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "engine/kv_cache_manager.h"
#include "engine/model_runner.h"
#include "engine/request_stream.h"
#include "engine/scheduler.h"
#include "gengyun/engine.h"
#include "kernels/thread_pool.h"
#include "model/hparams.h"
#include "model/lora.h"
#include "sampling/grammar.h"
#include "sampling/sampler.h"
#include "sampling/token_mask.h"
#include "sampling/stop_matcher.h"
#include "tokenizer/tokenizer.h"

namespace gengyun::engine {

/// The limits of one engine.
struct EngineConfig {
  SchedulerConfig scheduler;
  int n_ctx = 0;            ///< longest sequence, prompt + generated tokens
  int n_blocks = 0;         ///< KV blocks in the pool
  int block_size = 32;      ///< positions per block
  int max_waiting = 256;    ///< requests queued beyond scheduler.max_seqs running ones
  bool prefix_cache = true;
  std::string cache_key;    ///< the prefix cache's key of the model (e.g. its path)
  int64_t stall_timeout_us = 60'000'000;
  /// An embedding model's pooling: every request is an embedding (EngineRequest::embed), the
  /// runner outputs the final-norm hidden states of the rows model::pooled_rows names, and a
  /// request finishes with its pooled vector once its prompt is computed. None: generation.
  model::PoolingType pooling = model::PoolingType::None;
  int n_embd = 0;  ///< width of the hidden states (embedding engines)
};

/// Runs every submitted request in one continuous batch. submit(), stats(), wait_until() and
/// the handles are thread-safe; step() runs on one thread at a time (the engine's own after
/// start()). The runner, tokenizer and pool must outlive it.
class EngineCore : public std::enable_shared_from_this<EngineCore> {
 public:
  EngineCore(const EngineConfig& config, ModelRunner& runner, const Tokenizer& tokenizer,
             kernels::ThreadPool& pool);
  /// Stops the thread; requests still open finish as cancelled ("the model was unloaded").
  ~EngineCore();
  EngineCore(const EngineCore&) = delete;
  EngineCore& operator=(const EngineCore&) = delete;

  /// See LoadedModel::submit. With `adapter`, the request's rows get that LoRA adapter's
  /// updates (it must have been loaded against the runner's model) and its prefix-cache blocks
  /// are keyed by `adapter_key` (unique per loaded adapter, without '\0'), so that they serve
  /// only requests of the same adapter.
  Submission submit(EngineRequest request,
                    std::shared_ptr<const model::LoraAdapter> adapter = nullptr,
                    std::string_view adapter_key = {});
  /// See LoadedModel::submit_all; `adapter` and `adapter_key` as for submit(), for every request.
  BatchSubmission submit_all(std::vector<EngineRequest> requests,
                             std::shared_ptr<const model::LoraAdapter> adapter = nullptr,
                             std::string_view adapter_key = {});

  /// One engine step: takes new requests and cancellations, schedules, runs the forward pass,
  /// samples and emits events. Returns whether a forward pass ran.
  bool step();

  /// Starts the engine's thread, which steps while there is work and sleeps otherwise.
  void start();

  EngineStats stats() const;
  /// See LoadedModel::max_requests.
  int max_requests() const { return config_.scheduler.max_seqs + config_.max_waiting; }
  /// See LoadedModel::wait_until.
  bool wait_until(const std::function<bool(const EngineStats&)>& done, int64_t timeout_us) const;

  /// Wakes the thread (a handle was cancelled).
  void wake();

 private:
  struct Job;
  /// A job for `request` with `adapter`, not queued yet; errors: the request's refusal
  /// (LoadedModel::submit's InvalidRequest cases).
  Result<std::unique_ptr<Job>> make_job(EngineRequest request,
                                        const std::shared_ptr<const model::LoraAdapter>& adapter,
                                        std::string_view adapter_key);
  void loop();
  /// Admits submitted requests into the scheduler; finishes cancelled and stalled ones.
  void take_inbox_and_cancellations();
  /// Feeds the decoder's output `decoded` to `job`'s stop strings; returns the text to give
  /// now (counted in the job's given bytes).
  std::string give(Job& job, const std::string& decoded);
  /// The held log-probabilities of `job` whose tokens' first bytes have been given; when
  /// `finished` and no stop string cut the text, all of them.
  std::vector<TokenLogprobs> given_logprobs(Job& job, bool finished);
  void finish(Job& job, FinishReason reason, std::vector<int32_t> tokens, std::string text,
              std::string error = {}, std::span<const TokenLogprobs> logprobs = {},
              std::vector<float> embedding = {});
  /// After an embedding engine's forward pass: pools each chunk's rows of `hidden` into its
  /// request and finishes the requests whose prompt is complete.
  void pool_embeddings(std::span<const ScheduledChunk> chunks, const std::vector<float>& hidden);
  Usage usage_of(const Job& job) const;
  /// The grammar of `format` (nullptr for text); errors name the schema's problem.
  Result<std::shared_ptr<const sampling::Grammar>> grammar_of(const OutputFormat& format);
  /// The tokenizer's VocabIndex, built at the first structured request (thread-safe).
  std::shared_ptr<const sampling::VocabIndex> vocab_index();
  /// After a step: publishes stats_ and wakes wait_until().
  void publish();
  /// stats_ with the requests still in the inbox counted as waiting; mutex_ held.
  EngineStats snapshot_locked() const;

  EngineConfig config_;
  ModelRunner& runner_;
  const Tokenizer& tokenizer_;
  kernels::ThreadPool& pool_;
  BlockPool blocks_;
  KvCacheManager kv_;
  Scheduler scheduler_;
  /// Every request taken from the inbox and not finished, by its sequence (what the scheduler
  /// hands back). Engine thread only.
  std::unordered_map<const Sequence*, std::unique_ptr<Job>> jobs_;
  uint64_t next_id_ = 0;
  int64_t finished_ = 0;
  int64_t steps_ = 0;
  std::vector<float> logits_;
  std::vector<int32_t> sampled_;
  std::vector<int> masks_;     ///< per sampled sequence of a step: grammar masks filled
  int64_t grammar_masks_ = 0;  ///< EngineStats::grammar_masks
  std::once_flag vocab_once_;
  std::shared_ptr<const sampling::VocabIndex> vocab_index_;

  mutable std::mutex mutex_;  ///< guards what follows
  mutable std::condition_variable wake_;
  mutable std::condition_variable published_;
  std::vector<std::unique_ptr<Job>> inbox_;
  EngineStats stats_;
  bool stopping_ = false;
  bool woken_ = false;
  std::thread thread_;
};

}  // namespace gengyun::engine
