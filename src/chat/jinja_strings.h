// Python's str operations as Jinja templates meet them (strip, split, replace, case mapping,
// startswith), on UTF-8 code points, keeping which bytes of the result are request text.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "chat/jinja_renderer.h"

namespace gengyun::chat::jinja {

/// Python's str.isspace() for one code point.
bool py_space(uint32_t cp);
/// Whether code point `cp` is a word character of Python's re (`\w` in a str pattern): a letter
/// or number of any script (Unicode categories L* and N*) or '_'.
bool py_word_char(uint32_t cp);
/// Whether code point `cp` is a decimal digit of Python's re (`\d` in a str pattern: Unicode
/// category Nd).
bool py_decimal(uint32_t cp);

/// str.strip / lstrip / rstrip of string `subject` (`chars` none: Python's whitespace), with
/// the request text of what remains, in one walk that allocates nothing per code point.
/// TypeError when `chars` is neither none nor a string.
Value strip(const Value& subject, const Value& chars, bool left, bool right);

/// haystack.find(needle, from) in linear time (glibc's memmem), counting the bytes it went over
/// against the rendering's steps (and, for needles over kBytesPerStep bytes, their product).
size_t find_text(std::string_view haystack, std::string_view needle, size_t from);
/// haystack.rfind(needle) in linear time: find_text of the reversed needle in the reversed
/// haystack (copies counted as bytes built), its bytes counted as find_text's.
size_t rfind_text(std::string_view haystack, std::string_view needle);

/// str.split / rsplit of string `subject` (`sep` none: runs of whitespace), its pieces keeping
/// their request text; `maxsplit` < 0: no limit. Each piece counts a step as it is found and the
/// list is checked against max_value_bytes as it grows; rsplit with a separator searches the
/// reversed string (linear, as split). ValueError for an empty separator.
List split(const Value& subject, const Value& sep, int64_t maxsplit, bool from_right);

/// str.splitlines(keepends) of string `subject`: its lines, split at Python's line boundaries
/// (\n, \r, \r\n, \v, \f, \x1c-\x1e, U+0085, U+2028, U+2029), each with its boundary when
/// `keepends`, keeping their request text; counted and checked as split's pieces.
List split_lines(const Value& subject, bool keepends);

/// str.replace (`count` < 0: all); the result's size is checked against the renderer's limit.
std::string replace(Renderer& r, std::string_view s, std::string_view old, std::string_view with,
                    int64_t count);

/// Case mappings of ASCII letters (other bytes unchanged, so lengths are kept).
std::string upper(std::string s);
std::string lower(std::string s);
std::string capitalize(const std::string& s);
std::string title(const std::string& s);

/// Jinja2's `title` filter (do_title, not str.title): string `s` split at runs of '-', '(', '{',
/// '[', '<' and Python's whitespace, each piece's first code point upper-cased and the rest
/// lower-cased with Python's full Unicode case mappings (all but the final-sigma rule). The
/// request text of `s` keeps covering what its code points map to; the result's size is
/// checked against the renderer's limit.
Value title_words(Renderer& r, const Value& s);

/// Python's str.isupper (`upper_case`) or islower as this engine maps case: some ASCII letter,
/// none of the other case. Allocates nothing.
bool cased(std::string_view s, bool upper_case);

/// str.startswith / endswith of string `subject` with a string or a list of strings.
bool prefix_test(const Value& subject, const Value& affix, bool at_end);

/// `mapped`, a same-length mapping of string `s` (a case mapping), with the request text of `s`.
Value same_spans(const Value& s, std::string mapped);

}  // namespace gengyun::chat::jinja
