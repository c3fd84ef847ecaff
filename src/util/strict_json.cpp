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

/// A SAX pass over JSON text that notes the path of the first field an object holds twice. A
/// pass of its own, not nlohmann::json::parse's callback: the callback parser looks through the
/// enclosing object's members each time a member object or array ends, which made an object of
/// n object members cost n^2 (QA 2026-12-07: 20,000 members, 6 s of a request's parse).
struct DuplicateFinder {
  std::vector<Frame> frames;
  std::string duplicate;

  bool start(bool array) {
    Frame frame;
    frame.array = array;
    frame.path = next_path(frames);
    frames.push_back(std::move(frame));
    return true;
  }
  bool end() {
    frames.pop_back();
    return true;
  }
  /// A value that is not an object or an array (those are counted as they start): an array's
  /// element more.
  bool scalar() {
    if (!frames.empty() && frames.back().array) ++frames.back().elements;
    return true;
  }
  bool null() { return scalar(); }
  bool boolean(bool) { return scalar(); }
  bool number_integer(nlohmann::json::number_integer_t) { return scalar(); }
  bool number_unsigned(nlohmann::json::number_unsigned_t) { return scalar(); }
  bool number_float(nlohmann::json::number_float_t, const std::string&) { return scalar(); }
  bool string(std::string&) { return scalar(); }
  bool binary(nlohmann::json::binary_t&) { return scalar(); }
  bool start_object(size_t) { return start(false); }
  bool end_object() { return end(); }
  bool start_array(size_t) { return start(true); }
  bool end_array() { return end(); }
  bool key(std::string& name) {
    Frame& top = frames.back();
    top.key = name;
    if (!top.keys.insert(name).second && duplicate.empty()) duplicate = joined(top.path, name);
    return true;
  }
  bool parse_error(size_t, const std::string&, const nlohmann::detail::exception&) { return false; }
};

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
  try {
    parsed.value = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    parsed.value = nlohmann::json(nlohmann::json::value_t::discarded);
    parsed.error = refusal_reason(e.what());
    return parsed;
  }
  DuplicateFinder finder;
  nlohmann::json::sax_parse(text, &finder);
  parsed.duplicate = std::move(finder.duplicate);
  return parsed;
}

size_t json_nesting_depth(std::string_view text) {
  size_t depth = 0;
  size_t deepest = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

}  // namespace gengyun
