#include "sampling/stop_matcher.h"

#include <algorithm>
#include <utility>

namespace gengyun::sampling {

namespace {

/// Start of a trailing UTF-8 sequence whose lead byte promises more bytes than follow it
/// (text.size() when the text ends on a character boundary or in invalid bytes).
size_t incomplete_utf8_start(std::string_view text) {
  const size_t n = text.size();
  for (size_t back = 1; back <= std::min<size_t>(4, n); ++back) {
    const auto byte = static_cast<unsigned char>(text[n - back]);
    if ((byte & 0xC0) == 0x80) continue;
    size_t length = 1;
    if ((byte & 0xE0) == 0xC0) {
      length = 2;
    } else if ((byte & 0xF0) == 0xE0) {
      length = 3;
    } else if ((byte & 0xF8) == 0xF0) {
      length = 4;
    }
    return back < length ? n - back : n;
  }
  return n;
}

}  // namespace

StopMatcher::StopMatcher(std::vector<std::string> stops) : stops_(std::move(stops)) {
  std::erase_if(stops_, [](const std::string& s) { return s.empty(); });
}

std::string StopMatcher::push(std::string_view text) {
  if (stopped_) return {};
  pending_.append(text);

  size_t first_stop = std::string::npos;
  for (const std::string& stop : stops_) first_stop = std::min(first_stop, pending_.find(stop));
  if (first_stop != std::string::npos) {
    std::string out = pending_.substr(0, first_stop);
    pending_.clear();
    stopped_ = true;
    return out;
  }

  const size_t emit = std::min(partial_stop_start(), incomplete_utf8_start(pending_));
  std::string out = pending_.substr(0, emit);
  pending_.erase(0, emit);
  return out;
}

std::string StopMatcher::flush() {
  if (stopped_) return {};
  return std::exchange(pending_, std::string());
}

size_t StopMatcher::partial_stop_start() const {
  const size_t n = pending_.size();
  size_t longest = 0;
  for (const std::string& stop : stops_) longest = std::max(longest, stop.size());
  const size_t first = longest > n ? 0 : n - longest + 1;
  for (size_t start = first; start < n; ++start) {
    const std::string_view tail = std::string_view(pending_).substr(start);
    for (const std::string& stop : stops_) {
      if (stop.size() > tail.size() && std::string_view(stop).starts_with(tail)) return start;
    }
  }
  return n;
}

}  // namespace gengyun::sampling
