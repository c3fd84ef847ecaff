#include "api/in_flight.h"

#include <utility>
#include <vector>

namespace gengyun::api {

uint64_t InFlight::add(std::function<void()> end) {
  {
    std::lock_guard lock(mutex_);
    if (!ending_) {
      ends_.emplace(next_id_, std::move(end));
      return next_id_++;
    }
  }
  end();
  return 0;
}

void InFlight::remove(uint64_t id) {
  std::lock_guard lock(mutex_);
  ends_.erase(id);
}

void InFlight::end_all() {
  std::vector<std::function<void()>> ends;
  {
    std::lock_guard lock(mutex_);
    ending_ = true;
    for (auto& [id, end] : ends_) ends.push_back(std::move(end));
    ends_.clear();
  }
  for (auto& end : ends) end();
}

}  // namespace gengyun::api
