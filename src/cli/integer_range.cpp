#include "cli/integer_range.h"

#include <charconv>
#include <string>

namespace gengyun::cli {

CLI::Validator integer_in(int64_t min, int64_t max) {
  const std::string range = "[" + std::to_string(min) + ", " + std::to_string(max) + "]";
  return CLI::Validator(
      [min, max, range](std::string& text) -> std::string {
        int64_t value = 0;
        const char* end = text.data() + text.size();
        const auto [at, error] = std::from_chars(text.data(), end, value);
        if (text.empty() || error != std::errc() || at != end || value < min || value > max)
          return text + " is not an integer in " + range;
        return {};
      },
      range);
}

}  // namespace gengyun::cli
