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

size_t Scheduler::next_waiting() const {
  size_t best = 0;
  for (size_t i = 1; i < waiting_.size(); ++i) {
    const Sequence* a = waiting_[i];
    const Sequence* b = waiting_[best];
    // Preempted sequences (at the front) go first among equal priorities: they were admitted
    // before every arrival behind them.
    if (a->priority < b->priority) best = i;
  }
  return best;
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

  while (!waiting_.empty() && budget > 0 && n_running() < config_.max_seqs) {
    const size_t index = next_waiting();
    Sequence* seq = waiting_[index];
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
