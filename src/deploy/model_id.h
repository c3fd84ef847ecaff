// What a model id may hold: the names an admin gives (config keys, aliases, `--model NAME`,
// LoRA names) and the file names of `--models DIR` that become ids.
#pragma once

#include <string>
#include <string_view>

namespace gengyun::deploy {

/// Whether `name` holds a control character (C0, DEL, C1) or bytes that are not UTF-8: such a
/// name cannot be a model id, which clients could not send as written and which would forge
/// log lines.
bool holds_unprintable(std::string_view name);

/// The refusal of such a name: "WHAT 'NAME' holds control characters ..." (`what`: "the
/// alias", "--model: the name"). Shown, the message needs escaping
/// (tokenizer::escape_control_characters), as every message that quotes a name.
std::string unprintable_name_message(std::string_view what, std::string_view name);

}  // namespace gengyun::deploy
