#include "api/generation_slots.h"

namespace gengyun::api {

GenerationSlots::Ticket GenerationSlots::try_acquire(const std::string& model) {
  {
    std::lock_guard lock(mutex_);
    size_t& count = admitted_[model];
    if (count >= max_per_model_) return nullptr;
    ++count;
  }
  return Ticket(static_cast<void*>(this), [this, model](void*) { release(model); });
}

size_t GenerationSlots::admitted(const std::string& model) const {
  std::lock_guard lock(mutex_);
  const auto it = admitted_.find(model);
  return it == admitted_.end() ? 0 : it->second;
}

void GenerationSlots::release(const std::string& model) {
  std::lock_guard lock(mutex_);
  const auto it = admitted_.find(model);
  if (--it->second == 0) admitted_.erase(it);
}

}  // namespace gengyun::api
