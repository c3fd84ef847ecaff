// The scheduler (vLLM v1's): each step it decides which sequences run and how many of their
// tokens, under a token budget, admitting waiting requests in priority order and preempting
// the most recently admitted sequence when KV blocks run out.
#pragma once

#include <cstdint>
#include <deque>
#include <vector>

#include "engine/kv_cache_manager.h"
#include "engine/sequence.h"

namespace gengyun::engine {

/// The limits the scheduler keeps.
struct SchedulerConfig {
  int max_batch_tokens = 512;  ///< tokens per step (decode tokens plus prefill chunks)
  int max_seqs = 64;           ///< running sequences at most
};

/// One sequence's share of a step: tokens [start, start + n_tokens) of seq->tokens.
struct ScheduledChunk {
  Sequence* seq = nullptr;
  int start = 0;
  int n_tokens = 0;
  /// True when the chunk ends at the sequence's last token: its logits are sampled.
  bool samples() const { return start + n_tokens == seq->n_tokens(); }
};

/// What one step runs, running sequences first (in admission order), then newly admitted ones.
struct SchedulerOutput {
  std::vector<ScheduledChunk> chunks;
  std::vector<Sequence*> preempted;  ///< sequences sent back to waiting by this step
};

/// Not thread-safe (the engine's thread owns it). Sequences are the caller's and must stay
/// alive until finish() or until they leave the scheduler.
class Scheduler {
 public:
  Scheduler(const SchedulerConfig& config, KvCacheManager& kv);

  /// Queues a new sequence (status Waiting).
  void add(Sequence* seq);

  /// Decides the next step: first every running sequence's next tokens (its remaining prompt
  /// chunk, or the one token sampled last), each allocated the blocks it needs; when the pool
  /// runs out, the most recently admitted running sequence is preempted (its blocks freed, its
  /// n_computed reset; it goes back to the front of the waiting queue and is recomputed later,
  /// through the prefix cache when its blocks are still there). Then, if nothing was preempted,
  /// waiting sequences in order of (priority, arrival) while the budget, max_seqs and the pool
  /// allow, each starting from its cached prefix. A waiting sequence whose prompt shares full
  /// blocks with the prompt a running sequence is still prefilling, beyond what that one has
  /// computed, waits (others behind it may pass): once the blocks are computed they are in the
  /// prefix cache and it adopts them instead of computing them again (n choices of one prompt:
  /// one prefill; docs/engine.md). An empty output means nothing can run.
  SchedulerOutput schedule();

  /// Records that the chunks of `out` were computed (n_computed advances, full blocks enter
  /// the prefix cache).
  void update(const SchedulerOutput& out);

  /// Removes `seq` from the scheduler (finished or cancelled, waiting or running) and frees its
  /// blocks. status becomes Finished.
  void finish(Sequence* seq);

  int n_running() const { return static_cast<int>(running_.size()); }
  int n_waiting() const { return static_cast<int>(waiting_.size()); }
  int64_t n_preemptions() const { return n_preemptions_; }

 private:
  void preempt(Sequence* seq);
  /// Index in waiting_ of the next sequence to admit, among those not in `deferred`;
  /// waiting_.size() when none is left.
  size_t next_waiting(const std::vector<const Sequence*>& deferred) const;
  /// Whether `seq` should wait for a running sequence that is prefilling a prompt prefix of
  /// full blocks it shares (see schedule()).
  bool awaits_shared_prefill(const Sequence& seq) const;

  SchedulerConfig config_;
  KvCacheManager& kv_;
  std::vector<Sequence*> running_;  ///< in admission order
  std::deque<Sequence*> waiting_;   ///< preempted ones at the front, then arrivals in order
  int64_t n_preemptions_ = 0;
};

}  // namespace gengyun::engine
