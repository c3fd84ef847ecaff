// GPT-2's byte-level alphabet (bytes_to_unicode in openai/gpt-2 encoder.py): every byte is
// written as one printable code point so that byte-level BPE vocabularies are plain text.
// Bytes '!'..'~', 0xA1..0xAC and 0xAE..0xFF stand for themselves; the other 68 bytes map, in
// increasing order, to U+0100, U+0101, ... (so ' ' is 'Ġ' U+0120 and '\n' is 'Ċ' U+010A).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gengyun::tokenizer {

/// The code point that stands for `byte`.
uint32_t byte_to_codepoint(uint8_t byte);

/// The byte that `cp` stands for; nullopt when `cp` is not in the alphabet.
std::optional<uint8_t> codepoint_to_byte(uint32_t cp);

/// `bytes` written in the byte-level alphabet (UTF-8 encoded).
std::string byte_level_encode(std::string_view bytes);

/// A byte-level token's text turned back into the bytes it stands for, as llama.cpp's
/// llama_decode_text: a code point outside the alphabet becomes the marker
/// "[UNK_BYTE_0x<its UTF-8 bytes in hex><the whole token text>]".
std::string byte_level_decode(std::string_view token_text);

}  // namespace gengyun::tokenizer
