#include "tokenizer/byte_level.h"

#include <array>
#include <cstdio>

#include "tokenizer/utf8.h"

namespace gengyun::tokenizer {
namespace {

bool stands_for_itself(int byte) {
  return (byte >= 0x21 && byte <= 0x7E) || (byte >= 0xA1 && byte <= 0xAC) ||
         (byte >= 0xAE && byte <= 0xFF);
}

// The alphabet spans U+0000..U+0143: 188 bytes stand for themselves, 68 move to U+0100 on.
constexpr uint32_t kAlphabetEnd = 256 + 68;

struct Alphabet {
  std::array<uint32_t, 256> codepoint_of_byte{};
  std::array<std::string, 256> utf8_of_byte;
  std::array<int16_t, kAlphabetEnd> byte_of_codepoint{};
};

const Alphabet& alphabet() {
  static const Alphabet table = [] {
    Alphabet a;
    a.byte_of_codepoint.fill(-1);
    uint32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      a.codepoint_of_byte[b] = stands_for_itself(b) ? static_cast<uint32_t>(b) : next++;
      append_utf8(a.utf8_of_byte[b], a.codepoint_of_byte[b]);
      a.byte_of_codepoint[a.codepoint_of_byte[b]] = static_cast<int16_t>(b);
    }
    return a;
  }();
  return table;
}

}  // namespace

uint32_t byte_to_codepoint(uint8_t byte) { return alphabet().codepoint_of_byte[byte]; }

std::optional<uint8_t> codepoint_to_byte(uint32_t cp) {
  if (cp >= kAlphabetEnd) return std::nullopt;
  const int16_t byte = alphabet().byte_of_codepoint[cp];
  if (byte < 0) return std::nullopt;
  return static_cast<uint8_t>(byte);
}

std::string byte_level_encode(std::string_view bytes) {
  const Alphabet& a = alphabet();
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) out += a.utf8_of_byte[static_cast<uint8_t>(c)];
  return out;
}

std::string byte_level_decode(std::string_view token_text) {
  std::string out;
  for (uint32_t cp : decode_codepoints_lenient(token_text)) {
    if (const auto byte = codepoint_to_byte(cp)) {
      out.push_back(static_cast<char>(*byte));
      continue;
    }
    std::string utf8;
    append_utf8(utf8, cp);
    out += "[UNK_BYTE_0x";
    for (char c : utf8) {
      char hex[3];
      std::snprintf(hex, sizeof hex, "%02x", static_cast<uint8_t>(c));
      out += hex;
    }
    out += token_text;
    out += ']';
  }
  return out;
}

}  // namespace gengyun::tokenizer
