#include "util/strict_json.h"

#include <set>
#include <vector>

namespace gengyun {
namespace {

/// An object or array the parser is inside, with its path in the text.
struct Frame {
  bool array = false;
  size_t elements = 0;  ///< an array's elements begun so far
  std::string path;
  std::string key;  ///< an object's field being read
  std::set<std::string> keys;
};

std::string joined(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}

/// The path of the value that begins next inside `frames`' innermost (the top level when none).
std::string next_path(std::vector<Frame>& frames) {
  if (frames.empty()) return "";
  Frame& top = frames.back();
  if (top.array) return top.path + "[" + std::to_string(top.elements++) + "]";
  return joined(top.path, top.key);
}

// nlohmann::json's reason for refusing a text, from the exception's what(): its
// "[json.exception.parse_error.101] " prefix and the "; last read: '...'" part that quotes the
// input (which need not be UTF-8) left out.
std::string refusal_reason(std::string what) {
  if (const size_t end = what.find("] ");
      what.starts_with("[json.exception.") && end != std::string::npos)
    what.erase(0, end + 2);
  if (const size_t quoted = what.find("; last read"); quoted != std::string::npos)
    what.erase(quoted);
  return what;
}

}  // namespace

StrictJson parse_strict_json(std::string_view text) {
  StrictJson parsed;
  std::vector<Frame> frames;
  const auto check = [&](int, nlohmann::json::parse_event_t event, nlohmann::json& value) {
    using Event = nlohmann::json::parse_event_t;
    switch (event) {
      case Event::object_start:
      case Event::array_start: {
        Frame frame;
        frame.array = event == Event::array_start;
        frame.path = next_path(frames);
        frames.push_back(std::move(frame));
        break;
      }
      case Event::object_end:
      case Event::array_end:
        frames.pop_back();
        break;
      case Event::key: {
        Frame& top = frames.back();
        top.key = value.get<std::string>();
        if (!top.keys.insert(top.key).second && parsed.duplicate.empty())
          parsed.duplicate = joined(top.path, top.key);
        break;
      }
      case Event::value:
        if (!frames.empty() && frames.back().array) ++frames.back().elements;
        break;
    }
    return true;
  };
  try {
    parsed.value = nlohmann::json::parse(text, check);
  } catch (const nlohmann::json::exception& e) {
    parsed.value = nlohmann::json(nlohmann::json::value_t::discarded);
    parsed.duplicate.clear();
    parsed.error = refusal_reason(e.what());
  }
  return parsed;
}

}  // namespace gengyun
