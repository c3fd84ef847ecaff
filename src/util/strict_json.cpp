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
  parsed.value = nlohmann::json::parse(text, check, /*allow_exceptions=*/false);
  if (parsed.value.is_discarded()) parsed.duplicate.clear();
  return parsed;
}

}  // namespace gengyun
