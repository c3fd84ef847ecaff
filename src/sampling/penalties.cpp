#include "sampling/penalties.h"

#include <algorithm>
#include <vector>

namespace gengyun::sampling {

void apply_penalties(std::span<float> logits, std::span<const int32_t> history,
                     const SamplingParams& params) {
  const bool neutral = params.repeat_penalty == 1.0f && params.presence_penalty == 0.0f &&
                       params.frequency_penalty == 0.0f;
  if (neutral || params.penalty_last_n == 0 || history.empty()) return;

  size_t window = history.size();
  if (params.penalty_last_n > 0) window = std::min(window, static_cast<size_t>(params.penalty_last_n));
  std::vector<int32_t> ids(history.end() - static_cast<std::ptrdiff_t>(window), history.end());
  std::sort(ids.begin(), ids.end());

  const auto n_vocab = static_cast<int64_t>(logits.size());
  for (size_t i = 0; i < ids.size();) {
    size_t j = i;
    while (j < ids.size() && ids[j] == ids[i]) ++j;
    const int32_t id = ids[i];
    const auto count = static_cast<float>(j - i);
    i = j;
    if (id < 0 || id >= n_vocab) continue;
    float& logit = logits[static_cast<size_t>(id)];
    if (logit <= 0.0f) {
      logit *= params.repeat_penalty;
    } else {
      logit /= params.repeat_penalty;
    }
    logit -= count * params.frequency_penalty + params.presence_penalty;
  }
}

}  // namespace gengyun::sampling
