#include "sampling/penalties.h"

#include <algorithm>
#include <vector>

namespace gengyun::sampling {
namespace {

/// Calls apply(id, count) for each distinct id of `tokens` within [0, n_vocab).
template <class Apply>
void for_each_count(std::span<const int32_t> tokens, int64_t n_vocab, Apply apply) {
  std::vector<int32_t> ids(tokens.begin(), tokens.end());
  std::sort(ids.begin(), ids.end());
  for (size_t i = 0; i < ids.size();) {
    size_t j = i;
    while (j < ids.size() && ids[j] == ids[i]) ++j;
    if (ids[i] >= 0 && ids[i] < n_vocab) apply(ids[i], static_cast<float>(j - i));
    i = j;
  }
}

}  // namespace

void apply_penalties(std::span<float> logits, std::span<const int32_t> history, size_t n_prompt,
                     const SamplingParams& params) {
  const auto n_vocab = static_cast<int64_t>(logits.size());
  if (params.repeat_penalty != 1.0f && params.penalty_last_n != 0) {
    size_t window = history.size();
    if (params.penalty_last_n > 0)
      window = std::min(window, static_cast<size_t>(params.penalty_last_n));
    for_each_count(history.last(window), n_vocab, [&](int32_t id, float) {
      float& logit = logits[static_cast<size_t>(id)];
      if (logit <= 0.0f) {
        logit *= params.repeat_penalty;
      } else {
        logit /= params.repeat_penalty;
      }
    });
  }
  if ((params.presence_penalty != 0.0f || params.frequency_penalty != 0.0f) &&
      n_prompt < history.size()) {
    for_each_count(history.subspan(n_prompt), n_vocab, [&](int32_t id, float count) {
      logits[static_cast<size_t>(id)] -= count * params.frequency_penalty + params.presence_penalty;
    });
  }
}

}  // namespace gengyun::sampling
