#include "util/model_name.h"

#include <utf8proc.h>

#include <cstdio>
#include <cstdlib>

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

namespace {

/// `text` mapped by utf8proc_map_custom with `options` and `lower` (utf8proc_tolower or none),
/// or nullopt where `text` is not UTF-8.
std::optional<std::string> mapped(std::string_view text, utf8proc_option_t options, bool lower) {
  utf8proc_uint8_t* out = nullptr;
  const utf8proc_custom_func to_lower = [](utf8proc_int32_t cp, void*) {
    return utf8proc_tolower(cp);
  };
  const utf8proc_ssize_t length =
      utf8proc_map_custom(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                          static_cast<utf8proc_ssize_t>(text.size()), &out, options,
                          lower ? to_lower : nullptr, nullptr);
  if (length < 0) return std::nullopt;
  std::string result(reinterpret_cast<const char*>(out), static_cast<size_t>(length));
  std::free(out);
  return result;
}

constexpr utf8proc_option_t kNfc =
    static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE);

}  // namespace

bool is_nfc(std::string_view text) {
  const std::optional<std::string> nfc = mapped(text, kNfc, false);
  return nfc && *nfc == text;
}

std::string folder_model_id(std::string_view stem) {
  // utf8proc applies the custom function to each code point of its input before normalizing
  // it: the input in NFC first, so that "I" and U+0307 lower-cases as U+0130 does, to "i".
  const std::optional<std::string> nfc = mapped(stem, kNfc, false);
  if (!nfc) return std::string(stem);
  return *mapped(*nfc, kNfc, true);
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
  if (!is_nfc(name))
    return "is not in Unicode NFC form, which a model id may not; write it composed, e.g. the "
           "'é' of 'café' as U+00E9, not 'e' and U+0301";
  // (QA: such a file was served, and could be neither priced nor named in a key's models.)
  if (name.size() > kMaxModelNameBytes)
    return "is longer than " + std::to_string(kMaxModelNameBytes) +
           " bytes, which a model id may not (no price or key could name it)";
  return std::nullopt;
}

std::optional<std::string> model_name_refusal(std::string_view what, std::string_view name) {
  std::optional<std::string> flaw = model_name_flaw(name);
  if (!flaw) return std::nullopt;
  return std::string(what) + " '" + std::string(name) + "' " + *flaw;
}

}  // namespace gengyun::util
