// What a model name may hold: one rule for the ids deploy serves (config keys, aliases,
// `--model NAME`, LoRA names, the file names of `--models DIR`) and the model names platform
// stores (prices, a key's models, usage filters), so that every id served can be priced and
// named in a key's model list. Unicode data: utf8proc's.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gengyun::util {

/// What holds_unprintable refuses, as its messages name it.
inline constexpr std::string_view kUnprintableCharacters =
    "control, format, invisible, private-use or unassigned characters, or bytes that are not UTF-8";

/// Whether the code point `cp` shows as nothing or as something else: Unicode's categories Cc
/// (C0, DEL, C1), Cf (format: bidi controls such as U+202E and U+2066..U+2069, U+200E/F,
/// U+061C, which reorder what a reader sees; zero-width characters such as U+200B, U+200D and
/// U+FEFF), Zl and Zp (U+2028, U+2029, which end a line), Co (private use) and Cn (unassigned
/// in utf8proc's Unicode version, noncharacters), and the other Default_Ignorable_Code_Points
/// (variation selectors U+FE00..U+FE0F and U+E0100.., U+034F, the Hangul fillers U+115F,
/// U+1160, U+3164, U+FFA0). The characters tokenizer::escape_control_characters escapes.
bool invisible_character(char32_t cp);

/// Whether `name` holds bytes that are not UTF-8 (Unicode's Table 3-7) or an
/// invisible_character. Such a name cannot be a model id: clients could not send it as shown,
/// and it would forge or disguise log lines.
bool holds_unprintable(std::string_view name);

/// The first space character other than U+0020 that `name` holds (Unicode category Zs: U+00A0,
/// U+2009, U+202F, U+3000, ...), written "U+00A0", or nullopt; bytes that are not UTF-8 are not
/// spaces. Such a name cannot be a model id: "a b" with U+00A0 and "a b" would be two ids that
/// look alike.
std::optional<std::string> lookalike_space(std::string_view name);

/// Whether `text` begins or ends with a space character (Unicode category Zs: U+0020, U+00A0,
/// U+3000, ...). Bytes that are not UTF-8 are not spaces.
bool begins_or_ends_with_space(std::string_view text);

/// Whether `text` is in Unicode Normalization Form C (UAX #15, utf8proc's Unicode version):
/// "café" with U+00E9 is, "cafe" and U+0301 (as macOS stores file names) is not. False for
/// bytes that are not UTF-8.
bool is_nfc(std::string_view text);

/// The model id of a file of `--models DIR` whose name without ".gguf" is `stem`: `stem` in NFC,
/// each code point lower-cased (Unicode's simple lower-casing, utf8proc_tolower: "Modèle É" ->
/// "modèle é"), then in NFC again, so that the id is a name model_name_flaw takes whichever
/// form the file system stores. `stem` must be UTF-8 (callers refuse holds_unprintable
/// first); bytes that are not are returned unchanged.
std::string folder_model_id(std::string_view stem);

/// Why `name` cannot be a model name, as the rest of a sentence about it, or nullopt: "holds
/// control, format, ... which a model id may not" (holds_unprintable), "holds the space U+00A0,
/// which shows as U+0020 does and which a model id may not" (lookalike_space, anywhere), "begins
/// or ends with a space, which a model id may not" ("a " and "a" would look alike), "holds a
/// comma, which a model id may not (a key's model list is stored comma-separated)", "is not in
/// Unicode NFC form, ..." (!is_nfc: "café" decomposed and composed would be two ids that look
/// alike, and a price of one would not bill the other), "is longer than 200 bytes, ..." (over
/// kMaxModelNameBytes: no price or key could name it). Any other text is a model name: letters
/// of every script, digits, punctuation, U+0020 inside. The empty name is the caller's.
std::optional<std::string> model_name_flaw(std::string_view name);

/// The longest model name in bytes (a price's or a key's model names it: platform's
/// kMaxNameBytes).
inline constexpr size_t kMaxModelNameBytes = 200;

/// Why `name` cannot be a model id, or nullopt: "WHAT 'NAME' " and its model_name_flaw (`what`:
/// "the alias", "--model: the name"). The check of config ids, aliases and LoRA names, `--model`
/// and `--lora` names. Shown, the message needs escaping (tokenizer::escape_control_characters),
/// as every message that quotes a name.
std::optional<std::string> model_name_refusal(std::string_view what, std::string_view name);

}  // namespace gengyun::util
