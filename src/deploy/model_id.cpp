#include "deploy/model_id.h"

#include <algorithm>

#include "tokenizer/utf8.h"

namespace gengyun::deploy {

// Escaping changes such a name beyond its backslashes, which it doubles.
bool holds_unprintable(std::string_view name) {
  return tokenizer::escape_control_characters(name).size() !=
         name.size() + std::count(name.begin(), name.end(), '\\');
}

std::string unprintable_name_message(std::string_view what, std::string_view name) {
  return std::string(what) + " '" + std::string(name) + "' holds " +
         std::string(kUnprintableCharacters) + ", which a model id may not";
}

}  // namespace gengyun::deploy
