#include "cli/seed_flag.h"

#include <charconv>
#include <cstdint>
#include <limits>
#include <string>

namespace gengyun::cli {

CLI::Validator seed_check() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        uint64_t value = 0;
        const char* end = text.data() + text.size();
        const auto [at, error] = std::from_chars(text.data(), end, value);
        if (text.empty() || error != std::errc() || at != end)
          return text + " is not an integer in [0, " +
                 std::to_string(std::numeric_limits<uint64_t>::max()) + "]";
        return {};
      },
      "UINT64");
}

}  // namespace gengyun::cli
