#include "engine/scheduler.h"

#include <algorithm>

namespace gengyun::engine {

Scheduler::Scheduler(const SchedulerConfig& config, KvCacheManager& kv)
    : config_(config), kv_(kv) {}

void Scheduler::add(Sequence* seq) {
  seq->status = SequenceStatus::Waiting;
  waiting_.push_back(seq);
}

void Scheduler::preempt(Sequence* seq) {
  kv_.free(*seq);
  seq->status = SequenceStatus::Waiting;
  ++seq->n_preemptions;
  ++n_preemptions_;
  waiting_.push_front(seq);
}

size_t Scheduler::next_waiting(const std::vector<const Sequence*>& deferred) const {
  size_t best = waiting_.size();
  for (size_t i = 0; i < waiting_.size(); ++i) {
    const Sequence* a = waiting_[i];
    if (std::find(deferred.begin(), deferred.end(), a) != deferred.end()) continue;
    // Preempted sequences (at the front) go first among equal priorities: they were admitted
    // before every arrival behind them.
    if (best == waiting_.size() || a->priority < waiting_[best]->priority) best = i;
  }
  return best;
}

bool Scheduler::awaits_shared_prefill(const Sequence& seq) const {
  if (!kv_.prefix_caching()) return false;
  const int block = kv_.block_size();
  for (const Sequence* other : running_) {
    if (other->n_computed >= other->n_prompt || other->cache_key != seq.cache_key) continue;
    // Full blocks of a common prefix, short of seq's last token (which must be computed).
    const int limit = std::min(std::min(seq.n_prompt, seq.n_tokens() - 1), other->n_prompt);
    const auto [mine, theirs] =
        std::mismatch(seq.tokens.begin(), seq.tokens.begin() + limit, other->tokens.begin());
    const int shared = static_cast<int>(mine - seq.tokens.begin()) / block * block;
    if (shared > other->n_computed) return true;
  }
  return false;
}

SchedulerOutput Scheduler::schedule() {
  SchedulerOutput out;
  int budget = config_.max_batch_tokens;
  // Decoding sequences first, then prefill chunks: a long prompt never holds back the streams.
  for (const bool decoding : {true, false}) {
    for (size_t i = 0; i < running_.size() && budget > 0;) {
      Sequence* seq = running_[i];
      // A sequence scheduled in the decode pass still has one token uncomputed (n_computed
      // advances in update()), so the prefill pass skips it.
      if ((seq->n_uncomputed() == 1) != decoding) {
        ++i;
        continue;
      }
      const int n = std::min(seq->n_uncomputed(), budget);
      if (kv_.allocate(*seq, seq->n_computed + n, nullptr)) {
        out.chunks.push_back({seq, seq->n_computed, n});
        budget -= n;
        ++i;
        continue;
      }
      // Out of blocks: the most recently admitted sequence gives its blocks back, possibly
      // this one (then nothing admitted after it runs this step either).
      Sequence* victim = running_.back();
      running_.pop_back();
      const auto scheduled = std::find_if(out.chunks.begin(), out.chunks.end(),
                                          [victim](const ScheduledChunk& c) { return c.seq == victim; });
      if (scheduled != out.chunks.end()) {
        budget += scheduled->n_tokens;
        out.chunks.erase(scheduled);
      }
      preempt(victim);
      out.preempted.push_back(victim);
      if (victim == seq) break;
    }
  }
  if (!out.preempted.empty()) return out;

  std::vector<const Sequence*> deferred;
  while (budget > 0 && n_running() < config_.max_seqs) {
    const size_t index = next_waiting(deferred);
    if (index == waiting_.size()) break;
    Sequence* seq = waiting_[index];
    if (awaits_shared_prefill(*seq)) {
      deferred.push_back(seq);
      continue;
    }
    const PrefixHit hit = kv_.find_prefix(*seq);
    const int n = std::min(seq->n_tokens() - hit.n_tokens, budget);
    if (!kv_.allocate(*seq, hit.n_tokens + n, &hit)) break;
    waiting_.erase(waiting_.begin() + static_cast<std::ptrdiff_t>(index));
    if (seq->n_preemptions == 0) seq->n_cached_prompt = std::min(hit.n_tokens, seq->n_prompt);
    seq->status = SequenceStatus::Running;
    running_.push_back(seq);
    out.chunks.push_back({seq, seq->n_computed, n});
    budget -= n;
  }
  return out;
}

void Scheduler::update(const SchedulerOutput& out) {
  for (const ScheduledChunk& c : out.chunks) {
    Sequence* seq = c.seq;
    seq->n_computed = c.start + c.n_tokens;
    seq->n_prompt_processed = std::max(seq->n_prompt_processed,
                                       std::min(seq->n_computed, seq->n_prompt));
    kv_.cache_computed(*seq);
  }
}

void Scheduler::finish(Sequence* seq) {
  if (seq->status == SequenceStatus::Running) {
    running_.erase(std::find(running_.begin(), running_.end(), seq));
  } else if (seq->status == SequenceStatus::Waiting) {
    const auto it = std::find(waiting_.begin(), waiting_.end(), seq);
    if (it != waiting_.end()) waiting_.erase(it);
  }
  kv_.free(*seq);
  seq->status = SequenceStatus::Finished;
}

}  // namespace gengyun::engine
