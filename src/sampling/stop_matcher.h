// Cutting generated text at stop strings while streaming it.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace gengyun::sampling {

/// Streams generated text through a set of stop strings. push() returns the part of the text
/// seen so far that is safe to emit: it holds back a tail that could still grow into a stop
/// string, and a trailing incomplete UTF-8 sequence, so emitted text is always whole
/// characters. When a stop string appears (possibly spanning several pushes) push() returns the
/// text before its first occurrence and stopped() becomes true; later pushes return "".
/// Memory: the held-back tail is shorter than the longest stop string plus 4 bytes.
class StopMatcher {
 public:
  /// Empty stop strings are ignored.
  explicit StopMatcher(std::vector<std::string> stops);

  /// Appends `text` and returns what can be emitted now.
  std::string push(std::string_view text);

  /// End of generation: returns the held-back text (even an incomplete UTF-8 sequence) and
  /// clears it; "" once stopped.
  std::string flush();

  /// True once a stop string has appeared.
  bool stopped() const { return stopped_; }

 private:
  /// Start of the longest tail of pending_ that is a proper prefix of a stop string
  /// (pending_.size() when there is none).
  size_t partial_stop_start() const;

  std::vector<std::string> stops_;
  std::string pending_;
  bool stopped_ = false;
};

}  // namespace gengyun::sampling
