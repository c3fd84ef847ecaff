// Counts in messages for people: "1 generated token", "3 generated tokens".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace gengyun {

/// `count` in decimal, a space and `noun` ("generated token"), the noun with an "s" unless
/// `count` is 1: "1 generated token", "0 generated tokens", "64 generated tokens". For nouns
/// whose plural adds an "s".
inline std::string counted(int64_t count, std::string_view noun) {
  return std::to_string(count) + " " + std::string(noun) + (count == 1 ? "" : "s");
}

}  // namespace gengyun
