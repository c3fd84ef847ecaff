// What a model id may hold: the names an admin gives (config keys, aliases, `--model NAME`,
// LoRA names) and the file names of `--models DIR` that become ids.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace gengyun::deploy {

/// What holds_unprintable refuses, as its messages name it.
inline constexpr std::string_view kUnprintableCharacters =
    "control, format, invisible, private-use or unassigned characters, or bytes that are not UTF-8";

/// Whether `name` holds bytes that are not UTF-8 or a character that shows as nothing or as
/// something else, those that tokenizer::escape_control_characters escapes: Unicode's
/// categories Cc (C0, DEL, C1), Cf (format: bidi controls such as U+202E and U+2066..U+2069,
/// U+200E/F, U+061C, which reorder what an operator reads; zero-width characters such as U+200B,
/// U+200D and U+FEFF, which make two names that look alike), Zl and Zp (U+2028, U+2029, which
/// break log lines), Co (private use) and Cn (unassigned in utf8proc's Unicode version,
/// noncharacters), and the other default-ignorable code points (variation selectors, Hangul
/// fillers). Such a name cannot be a model id: clients could not send it as shown, and
/// it would forge or disguise log lines. One rule for config ids, aliases and LoRA names,
/// `--model` and `--lora` names and the file names of `--models DIR`.
bool holds_unprintable(std::string_view name);

/// The first space character other than U+0020 that `name` holds, written "U+00A0"
/// (tokenizer::space_other_than_u0020: U+00A0, U+2009, U+202F, U+3000, any of category Zs), or
/// nullopt. Such a name cannot be a model id: "a b" with U+00A0 and "a b" would be two ids that
/// look alike. One rule for the names name_refusal checks and the file names of `--models DIR`.
std::optional<std::string> lookalike_space(std::string_view name);

/// Why `name` cannot be a model id, or nullopt: it holds_unprintable ("WHAT 'NAME' holds
/// control, format, ... which a model id may not"; `what`: "the alias", "--model: the name"),
/// it holds a lookalike_space anywhere ("WHAT 'NAME' holds the space U+00A0, which shows as
/// U+0020 does and which a model id may not"), or it begins or ends with U+0020
/// (tokenizer::begins_or_ends_with_space: "a " and "a" would be two ids that look alike): "WHAT
/// 'NAME' begins or ends with a space, which a model id may not". The checks of config ids, aliases
/// and LoRA names, `--model` and `--lora` names. Shown, the message needs escaping
/// (tokenizer::escape_control_characters), as every message that quotes a name.
std::optional<std::string> name_refusal(std::string_view what, std::string_view name);

}  // namespace gengyun::deploy
