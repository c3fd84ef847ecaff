#include "util/model_name.h"

#include <utf8proc.h>

#include <cstdio>

namespace gengyun::util {

namespace {

/// The character of `text` at byte `pos` (< text.size()) and its length in bytes, or a length
/// of at most 0 where the bytes there are not UTF-8 (utf8proc_iterate follows Table 3-7).
utf8proc_ssize_t character_at(std::string_view text, size_t pos, utf8proc_int32_t& cp) {
  return utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(text.data()) + pos,
                          static_cast<utf8proc_ssize_t>(text.size() - pos), &cp);
}

}  // namespace

bool invisible_character(char32_t cp) {
  const auto code = static_cast<utf8proc_int32_t>(cp);
  if (utf8proc_get_property(code)->ignorable) return true;
  switch (utf8proc_category(code)) {
    case UTF8PROC_CATEGORY_CC:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_ZL:
    case UTF8PROC_CATEGORY_ZP:
    case UTF8PROC_CATEGORY_CO:
    case UTF8PROC_CATEGORY_CN:
      return true;
    default:
      return false;
  }
}

bool holds_unprintable(std::string_view name) {
  for (size_t pos = 0; pos < name.size();) {
    utf8proc_int32_t cp = 0;
    const utf8proc_ssize_t length = character_at(name, pos, cp);
    if (length <= 0 || invisible_character(static_cast<char32_t>(cp))) return true;
    pos += static_cast<size_t>(length);
  }
  return false;
}

std::optional<std::string> lookalike_space(std::string_view name) {
  for (size_t pos = 0; pos < name.size();) {
    utf8proc_int32_t cp = 0;
    const utf8proc_ssize_t length = character_at(name, pos, cp);
    if (length <= 0) {
      ++pos;  // not UTF-8 (no continuation byte starts a character)
      continue;
    }
    if (cp != ' ' && utf8proc_category(cp) == UTF8PROC_CATEGORY_ZS) {
      char code[16];
      std::snprintf(code, sizeof code, "U+%04X", static_cast<unsigned>(cp));
      return code;
    }
    pos += static_cast<size_t>(length);
  }
  return std::nullopt;
}

bool begins_or_ends_with_space(std::string_view text) {
  const auto is_space = [&text](size_t pos) {
    utf8proc_int32_t cp = 0;
    return character_at(text, pos, cp) > 0 && utf8proc_category(cp) == UTF8PROC_CATEGORY_ZS;
  };
  if (text.empty()) return false;
  size_t last = text.size() - 1;  // the last character's first byte
  while (last > 0 && text.size() - last < 4 &&
         (static_cast<unsigned char>(text[last]) & 0xC0) == 0x80)
    --last;
  return is_space(0) || is_space(last);
}

std::optional<std::string> model_name_flaw(std::string_view name) {
  if (holds_unprintable(name))
    return "holds " + std::string(kUnprintableCharacters) + ", which a model id may not";
  if (const std::optional<std::string> space = lookalike_space(name))
    return "holds the space " + *space +
           ", which shows as U+0020 does and which a model id may not";
  if (begins_or_ends_with_space(name))
    return "begins or ends with a space, which a model id may not";
  if (name.find(',') != std::string_view::npos)
    return "holds a comma, which a model id may not (a key's model list is stored "
           "comma-separated)";
  return std::nullopt;
}

std::optional<std::string> model_name_refusal(std::string_view what, std::string_view name) {
  std::optional<std::string> flaw = model_name_flaw(name);
  if (!flaw) return std::nullopt;
  return std::string(what) + " '" + std::string(name) + "' " + *flaw;
}

}  // namespace gengyun::util
