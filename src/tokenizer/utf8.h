// UTF-8 helpers shared by the tokenizers and the stream decoder.
//
// Two decoders on purpose: decode_codepoints_lenient() reproduces llama.cpp's unicode.cpp
// decoder (which the pre-tokenizer's output depends on: it accepts overlong forms and
// surrogates, and turns each undecodable byte into U+FFFD), while next_utf8_sequence() is the
// strict Unicode definition (Table 3-7 of the standard) that the detokenizer uses to decide
// what text is complete.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace gengyun::tokenizer {

inline constexpr uint32_t kReplacementCharacter = 0xFFFD;

/// Length of the UTF-8 sequence that `lead` starts, from its high nibble only (1 for ASCII,
/// continuation bytes and 0xF8..0xFF; 2, 3 or 4 otherwise), as llama.cpp's unicode_len_utf8.
size_t utf8_sequence_length(char lead);

/// Code points of `text` decoded like llama.cpp's unicode_cpts_from_utf8: a lead byte with the
/// right number of continuation bytes gives one code point (overlong forms, surrogates and
/// values up to 0x1FFFFF included); any other byte gives U+FFFD and is skipped alone.
std::vector<uint32_t> decode_codepoints_lenient(std::string_view text);

/// Appends the UTF-8 encoding of `cp`; values above 0x10FFFF append U+FFFD.
void append_utf8(std::string& out, uint32_t cp);

/// What the next bytes of a buffer hold, by the strict UTF-8 definition.
struct Utf8Sequence {
  enum class Kind {
    Valid,       ///< `length` bytes form one well-formed character
    Invalid,     ///< `length` bytes (a maximal ill-formed subpart) stand for one U+FFFD
    Incomplete,  ///< the buffer ends inside a character whose bytes so far are well formed
  };
  Kind kind;
  size_t length;
};

/// Classifies the bytes of `text` starting at `pos` (< text.size()). Invalid subparts follow
/// the Unicode "maximal subpart" practice, which is what Python's
/// bytes.decode("utf-8", "replace") does.
Utf8Sequence next_utf8_sequence(std::string_view text, size_t pos);

/// The length of the longest prefix of `text` of at most `max_bytes` that ends at the start of
/// a UTF-8 character (so that cutting there splits none).
size_t utf8_prefix_length(std::string_view text, size_t max_bytes);

/// The length of the unfinished character that `text` ends with: the bytes after its last
/// whole character or ill-formed subpart that are well formed so far (next_utf8_sequence's
/// Incomplete; at most 3). 0 when `text` ends with neither.
size_t unfinished_utf8_length(std::string_view text);

/// Each byte of `bytes` as \xNN (lowercase hex).
std::string hex_escaped_bytes(std::string_view bytes);

/// `text` with its bytes that are not UTF-8 and the bytes of each character that shows as
/// nothing or as something else written as \xNN each, a backslash as \\ (so that no two texts
/// show alike), the rest as it is: text a client sent, made safe to show in a terminal (where
/// ESC sequences would drive it), a log line or a CSV file. The characters escaped are those of
/// Unicode's categories Cc (C0, DEL, C1), Cf (format characters: the bidi controls U+061C,
/// U+200E, U+200F, U+202A..U+202E, U+2066..U+2069 that reorder what a reader sees, zero-width
/// characters such as U+200B and U+FEFF), Zl and Zp (U+2028, U+2029, which end a line) and
/// Co and Cn (private-use and unassigned code points, which show as nothing certain), and the
/// other Default_Ignorable_Code_Points (variation selectors U+FE00..U+FE0F and U+E0100..,
/// U+034F COMBINING GRAPHEME JOINER, the Hangul fillers U+115F, U+1160, U+3164, U+FFA0: "a" and
/// "a" + U+FE0F look alike), by utf8proc's Unicode data: util::invisible_character.
std::string escape_control_characters(std::string_view text);

/// `json` (JSON text, such as nlohmann's dump) with each character escape_control_characters
/// would escape written as a JSON escape \uXXXX (a surrogate pair past U+FFFF, RFC 8259): the
/// same JSON value, safe to show in a terminal (U+202E, U+2028 raw reorder or break its lines).
/// Such characters stand only inside strings (the whitespace between tokens and the ASCII
/// controls a dump escaped already are kept, DEL is escaped); bytes not UTF-8 are kept as they are.
std::string escape_invisible_in_json(std::string_view json);

/// The columns `text` takes in a terminal with a monospaced font: per character, utf8proc's
/// locale-independent width (Unicode's East Asian Width: 2 for wide and fullwidth characters
/// such as CJK ideographs, 0 for combining marks and controls, 1 otherwise); a byte that is
/// not UTF-8 counts 1 (a terminal shows U+FFFD).
size_t display_width(std::string_view text);

}  // namespace gengyun::tokenizer
