#include "sampling/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "sampling/penalties.h"

namespace gengyun::sampling {

namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

/// Greedy choice: the highest logit, the lowest id among equals.
int32_t argmax(std::span<const float> logits) {
  size_t best = 0;
  for (size_t i = 1; i < logits.size(); ++i) {
    if (logits[i] > logits[best]) best = i;
  }
  return static_cast<int32_t>(best);
}

/// A uniform double in [0, 1) from the top 53 bits of one 64-bit output.
double uniform01(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

}  // namespace

Sampler::Sampler(const SamplingParams& params) : params_(params), rng_(params.seed) {}

int32_t Sampler::sample(std::span<const float> logits, std::span<const int32_t> history,
                        const TokenMask* allowed, SampleLogprobs* logprobs, size_t n_prompt) {
  if (logits.empty()) return -1;
  if (std::all_of(logits.begin(), logits.end(), [](float x) { return std::isnan(x); }))
    return kAllLogitsNaN;
  logits_.assign(logits.begin(), logits.end());
  for (const auto& [id, bias] : params_.logit_bias)
    if (id >= 0 && static_cast<size_t>(id) < logits_.size())
      logits_[static_cast<size_t>(id)] += bias;
  apply_penalties(logits_, history, n_prompt, params_);
  for (float& logit : logits_) {
    if (std::isnan(logit)) {
      logit = kNegInf;
    } else if (logit == std::numeric_limits<float>::infinity()) {
      logit = std::numeric_limits<float>::max();
    }
  }
  if (allowed != nullptr) {
    const std::span<const uint64_t> words = allowed->words();
    for (size_t w = 0; w < words.size(); ++w) {
      if (words[w] == ~uint64_t{0}) continue;
      const size_t end = std::min(logits_.size(), (w + 1) * 64);
      if (words[w] == 0) {
        std::fill(logits_.begin() + static_cast<std::ptrdiff_t>(w * 64),
                  logits_.begin() + static_cast<std::ptrdiff_t>(end), kNegInf);
        continue;
      }
      for (size_t i = w * 64; i < end; ++i)
        if (!(words[w] >> (i & 63) & 1)) logits_[i] = kNegInf;
    }
  }
  const int32_t best = argmax(logits_);
  const int32_t chosen = choose(best);
  if (logprobs != nullptr && params_.top_logprobs >= 0)
    report(chosen, logits_[static_cast<size_t>(best)], *logprobs);
  return chosen;
}

void Sampler::report(int32_t chosen, float max_logit, SampleLogprobs& out) const {
  out.top.clear();
  if (max_logit == kNegInf) {
    out.logprob = kNegInf;
    return;
  }
  double total = 0.0;
  for (float logit : logits_) total += std::exp(static_cast<double>(logit) - max_logit);
  const double log_total = std::log(total);
  const auto logprob = [&](int32_t id) {
    const float logit = logits_[static_cast<size_t>(id)];
    if (logit == kNegInf) return kNegInf;
    return static_cast<float>(static_cast<double>(logit) - max_logit - log_total);
  };
  out.logprob = logprob(chosen);
  // The k best by a heap whose front is the worst kept (lower logit, then higher id).
  const size_t k = std::min(static_cast<size_t>(params_.top_logprobs), logits_.size());
  const auto better = [this](int32_t a, int32_t b) {
    const float la = logits_[static_cast<size_t>(a)], lb = logits_[static_cast<size_t>(b)];
    return la > lb || (la == lb && a < b);
  };
  std::vector<int32_t> heap;
  heap.reserve(k + 1);
  for (size_t i = 0; i < logits_.size() && k > 0; ++i) {
    const auto id = static_cast<int32_t>(i);
    if (heap.size() < k) {
      heap.push_back(id);
      std::push_heap(heap.begin(), heap.end(), better);
    } else if (better(id, heap.front())) {
      std::pop_heap(heap.begin(), heap.end(), better);
      heap.back() = id;
      std::push_heap(heap.begin(), heap.end(), better);
    }
  }
  std::sort_heap(heap.begin(), heap.end(), better);
  for (int32_t id : heap) out.top.push_back({id, logprob(id)});
}

int32_t Sampler::choose(int32_t best) {
  const float max_logit = logits_[static_cast<size_t>(best)];
  if (!(params_.temperature > 0.0f) || max_logit == kNegInf) return best;

  candidates_.resize(logits_.size());
  for (size_t i = 0; i < logits_.size(); ++i) {
    candidates_[i] = {static_cast<int32_t>(i), logits_[i]};
  }
  // Candidates stay in id order or in `better` order so that the draw is platform-independent.
  size_t sorted_end = 0;

  if (params_.top_k > 0 && static_cast<size_t>(params_.top_k) < candidates_.size()) {
    sort_best(0, static_cast<size_t>(params_.top_k));
    candidates_.resize(static_cast<size_t>(params_.top_k));
    sorted_end = candidates_.size();
  }

  // top-p normalizes over the top-k survivors; min-p and top-p each keep a prefix of the
  // `better` order, so min-p can run first and spare top-p most of the sorting.
  double mass = 0.0;
  if (params_.top_p < 1.0f) {
    for (const Candidate& c : candidates_) mass += std::exp(static_cast<double>(c.logit) - max_logit);
  }

  if (params_.min_p > 0.0f) {
    const float min_logit = max_logit + std::log(params_.min_p);
    std::erase_if(candidates_, [&](const Candidate& c) { return !(c.logit >= min_logit); });
    if (candidates_.empty()) candidates_.push_back(Candidate{best, max_logit});
    sorted_end = std::min(sorted_end, candidates_.size());
  }

  if (params_.top_p < 1.0f) {
    size_t chunk = 64;
    double cumulative = 0.0;
    for (size_t i = 0; i < candidates_.size(); ++i) {
      if (i == sorted_end) {
        sorted_end = std::min(candidates_.size(), i + chunk);
        sort_best(i, sorted_end);
        chunk *= 2;
      }
      cumulative += std::exp(static_cast<double>(candidates_[i].logit) - max_logit) / mass;
      if (cumulative >= params_.top_p) {
        candidates_.resize(i + 1);
        break;
      }
    }
  }

  return draw(max_logit);
}

void Sampler::sort_best(size_t from, size_t to) {
  const auto better = [](const Candidate& a, const Candidate& b) {
    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
  };
  const auto first = candidates_.begin() + static_cast<std::ptrdiff_t>(from);
  const auto middle = candidates_.begin() + static_cast<std::ptrdiff_t>(to);
  // A heap of a few winners rejects most candidates with one comparison; selection wins for
  // large prefixes.
  if (static_cast<size_t>(middle - first) * 64 < static_cast<size_t>(candidates_.end() - first)) {
    std::partial_sort(first, middle, candidates_.end(), better);
    return;
  }
  if (middle != candidates_.end()) std::nth_element(first, middle, candidates_.end(), better);
  std::sort(first, middle, better);
}

int32_t Sampler::draw(float max_logit) {
  const double inv_temperature = 1.0 / static_cast<double>(params_.temperature);
  weights_.resize(candidates_.size());
  double total = 0.0;
  for (size_t i = 0; i < candidates_.size(); ++i) {
    weights_[i] = std::exp((static_cast<double>(candidates_[i].logit) - max_logit) * inv_temperature);
    total += weights_[i];
  }
  if (!(total > 0.0) || !std::isfinite(total)) return candidates_.front().id;

  const double target = uniform01(rng_) * total;
  double cumulative = 0.0;
  size_t last_positive = 0;
  for (size_t i = 0; i < candidates_.size(); ++i) {
    if (weights_[i] <= 0.0) continue;
    cumulative += weights_[i];
    last_positive = i;
    if (target < cumulative) return candidates_[i].id;
  }
  return candidates_[last_positive].id;
}

}  // namespace gengyun::sampling
