#include "deploy/model_id.h"

#include <algorithm>
#include <cstdio>

#include "tokenizer/utf8.h"

namespace gengyun::deploy {

// Escaping changes such a name beyond its backslashes, which it doubles.
bool holds_unprintable(std::string_view name) {
  return tokenizer::escape_control_characters(name).size() !=
         name.size() + std::count(name.begin(), name.end(), '\\');
}

std::optional<std::string> lookalike_space(std::string_view name) {
  const std::optional<uint32_t> space = tokenizer::space_other_than_u0020(name);
  if (!space) return std::nullopt;
  char code[16];
  std::snprintf(code, sizeof code, "U+%04X", *space);
  return code;
}

std::optional<std::string> name_refusal(std::string_view what, std::string_view name) {
  if (holds_unprintable(name))
    return std::string(what) + " '" + std::string(name) + "' holds " +
           std::string(kUnprintableCharacters) + ", which a model id may not";
  if (const std::optional<std::string> space = lookalike_space(name))
    return std::string(what) + " '" + std::string(name) + "' holds the space " + *space +
           ", which shows as U+0020 does and which a model id may not";
  if (tokenizer::begins_or_ends_with_space(name))
    return std::string(what) + " '" + std::string(name) +
           "' begins or ends with a space, which a model id may not";
  return std::nullopt;
}

}  // namespace gengyun::deploy
