#include "tokenizer/utf8.h"

#include <utf8proc.h>

#include <cstdio>

#include "util/model_name.h"

namespace gengyun::tokenizer {

size_t utf8_sequence_length(char lead) {
  static constexpr size_t kLengthByHighNibble[16] = {1, 1, 1, 1, 1, 1, 1, 1,
                                                     1, 1, 1, 1, 2, 2, 3, 4};
  return kLengthByHighNibble[static_cast<uint8_t>(lead) >> 4];
}

std::vector<uint32_t> decode_codepoints_lenient(std::string_view text) {
  std::vector<uint32_t> out;
  out.reserve(text.size());
  const auto byte = [&](size_t i) { return static_cast<uint8_t>(text[i]); };
  const auto continuation = [&](size_t i) { return i < text.size() && (byte(i) & 0xC0) == 0x80; };
  size_t i = 0;
  while (i < text.size()) {
    const uint8_t b0 = byte(i);
    if (b0 < 0x80) {
      out.push_back(b0);
      i += 1;
    } else if ((b0 & 0xE0) == 0xC0 && continuation(i + 1)) {
      out.push_back((uint32_t{b0} & 0x1F) << 6 | (byte(i + 1) & 0x3F));
      i += 2;
    } else if ((b0 & 0xF0) == 0xE0 && continuation(i + 1) && continuation(i + 2)) {
      out.push_back((uint32_t{b0} & 0x0F) << 12 | (uint32_t{byte(i + 1)} & 0x3F) << 6 |
                    (byte(i + 2) & 0x3F));
      i += 3;
    } else if ((b0 & 0xF8) == 0xF0 && continuation(i + 1) && continuation(i + 2) &&
               continuation(i + 3)) {
      out.push_back((uint32_t{b0} & 0x07) << 18 | (uint32_t{byte(i + 1)} & 0x3F) << 12 |
                    (uint32_t{byte(i + 2)} & 0x3F) << 6 | (byte(i + 3) & 0x3F));
      i += 4;
    } else {
      out.push_back(kReplacementCharacter);
      i += 1;
    }
  }
  return out;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp > 0x10FFFF) cp = kReplacementCharacter;
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

Utf8Sequence next_utf8_sequence(std::string_view text, size_t pos) {
  using Kind = Utf8Sequence::Kind;
  const uint8_t lead = static_cast<uint8_t>(text[pos]);
  if (lead < 0x80) return {Kind::Valid, 1};
  // Table 3-7: the allowed range of the second byte depends on the lead byte; later bytes are
  // always 0x80..0xBF.
  size_t length = 0;
  uint8_t second_lo = 0x80, second_hi = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) second_lo = 0xA0;
    if (lead == 0xED) second_hi = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) second_lo = 0x90;
    if (lead == 0xF4) second_hi = 0x8F;
  } else {
    return {Kind::Invalid, 1};
  }
  for (size_t k = 1; k < length; ++k) {
    if (pos + k >= text.size()) return {Kind::Incomplete, k};
    const uint8_t b = static_cast<uint8_t>(text[pos + k]);
    const uint8_t lo = k == 1 ? second_lo : 0x80;
    const uint8_t hi = k == 1 ? second_hi : 0xBF;
    if (b < lo || b > hi) return {Kind::Invalid, k};
  }
  return {Kind::Valid, length};
}

size_t utf8_prefix_length(std::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return text.size();
  size_t cut = max_bytes;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return cut;
}

size_t unfinished_utf8_length(std::string_view text) {
  for (size_t pos = 0; pos < text.size();) {
    const Utf8Sequence seq = next_utf8_sequence(text, pos);
    if (seq.kind == Utf8Sequence::Kind::Incomplete) return text.size() - pos;
    pos += seq.length;
  }
  return 0;
}

std::string hex_escaped_bytes(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (const char c : bytes) {
    const auto b = static_cast<unsigned char>(c);
    ((out += "\\x") += kHex[b >> 4]) += kHex[b & 15];
  }
  return out;
}

namespace {

/// The code point of the character whose well-formed UTF-8 is `bytes`.
char32_t code_point(std::string_view bytes) {
  utf8proc_int32_t cp = 0;
  utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(bytes.data()),
                   static_cast<utf8proc_ssize_t>(bytes.size()), &cp);
  return static_cast<char32_t>(cp);
}

}  // namespace

std::string escape_control_characters(std::string_view text) {
  std::string out;
  for (size_t pos = 0; pos < text.size();) {
    const Utf8Sequence seq = next_utf8_sequence(text, pos);
    const auto first = static_cast<unsigned char>(text[pos]);
    if (first == '\\') {
      out += "\\\\";
    } else if (seq.kind == Utf8Sequence::Kind::Valid &&
               !util::invisible_character(code_point(text.substr(pos, seq.length)))) {
      out += text.substr(pos, seq.length);
    } else {
      out += hex_escaped_bytes(text.substr(pos, seq.length));
    }
    pos += seq.length;
  }
  return out;
}

std::string escape_invisible_in_json(std::string_view json) {
  std::string out;
  char unit[16];  // "\\uXXXX" and its NUL
  for (size_t pos = 0; pos < json.size();) {
    const Utf8Sequence seq = next_utf8_sequence(json, pos);
    const std::string_view bytes = json.substr(pos, seq.length);
    pos += seq.length;
    // (ASCII controls stand outside strings only as whitespace, escaped inside them; DEL is not)
    const bool ascii_kept = bytes.size() == 1 && bytes[0] != '\x7f';
    const bool decoded = seq.kind == Utf8Sequence::Kind::Valid && !ascii_kept;
    unsigned cp = decoded ? code_point(bytes) : 0;
    if (!decoded || !util::invisible_character(cp)) {
      out += bytes;
      continue;
    }
    if (cp >= 0x10000) {  // a UTF-16 surrogate pair (RFC 8259, 7)
      std::snprintf(unit, sizeof unit, "\\u%04x", 0xD800 + ((cp - 0x10000) >> 10));
      out += unit;
      cp = 0xDC00 + ((cp - 0x10000) & 0x3FF);
    }
    std::snprintf(unit, sizeof unit, "\\u%04x", cp);
    out += unit;
  }
  return out;
}

size_t display_width(std::string_view text) {
  size_t width = 0;
  const auto* bytes = reinterpret_cast<const utf8proc_uint8_t*>(text.data());
  for (size_t pos = 0; pos < text.size();) {
    utf8proc_int32_t cp = 0;
    const utf8proc_ssize_t length =
        utf8proc_iterate(bytes + pos, static_cast<utf8proc_ssize_t>(text.size() - pos), &cp);
    if (length <= 0) {
      ++width;
      ++pos;
      continue;
    }
    width += static_cast<size_t>(utf8proc_charwidth(cp));
    pos += static_cast<size_t>(length);
  }
  return width;
}

}  // namespace gengyun::tokenizer
