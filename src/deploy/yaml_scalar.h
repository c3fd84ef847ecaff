// What a plain YAML scalar of the deployment config means: one rule for every field that takes
// a number, a boolean or text (deploy/config.cpp).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace gengyun::deploy {

/// What a plain (unquoted, untagged) YAML scalar reads as. yaml-cpp hands every scalar over as
/// text and resolves only some number forms, so the config resolves them itself, by the union
/// of YAML 1.2's core schema and YAML 1.1 as PyYAML resolves it: a scalar is a null, a boolean
/// or a number where either reads one, text where both read text.
///
///   null     ~ null Null NULL, the empty scalar (both)
///   boolean  true True TRUE false False FALSE (both); yes no on off, Yes ..., YES ... (1.1;
///            y and n are text, as in PyYAML)
///   integer  [-+]?[0-9]+ (1.2: decimal, 010 is 10), 0o[0-7]+, 0x[0-9a-fA-F]+ (1.2);
///            [-+]?0[0-7_]+ (1.1: octal, 010 is 8), [-+]?(0|[1-9][0-9_]*), [-+]?0x[0-9a-fA-F_]+,
///            [-+]?0b[01_]+, base 60 [-+]?[1-9][0-9_]*(:[0-5]?[0-9])+ (1:30 is 90) (1.1)
///   float    [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? (1.2: 1e3 is 1000.0),
///            [-+]?\.(inf|Inf|INF), \.(nan|NaN|NAN) (both); with '_' between digits, exponents
///            signed, base 60 (1:30.5 is 90.5) (1.1)
///
/// Where both read a number they agree, except an integer with a leading 0 and only digits 0-7
/// after it whose octal value (1.1) is not its decimal one (1.2): 010 (8 or 10) is
/// Kind::Conflicting, 007 is 7 and 08 is 8 (text in 1.1, not octal).
struct PlainScalar {
  enum class Kind { Text, Null, Boolean, Integer, Float, Conflicting };
  Kind kind = Kind::Text;
  bool boolean = false;  ///< a Boolean's value
  double number = 0;     ///< an Integer's or a Float's value (an Integer rounded to a double)
  std::optional<int64_t> int64;    ///< an Integer's value when it fits in int64
  std::optional<uint64_t> uint64;  ///< an Integer's value when it fits in uint64

  bool is_number() const { return kind == Kind::Integer || kind == Kind::Float; }
};

/// The reading of the plain scalar `text` by the rule above.
PlainScalar read_plain_scalar(std::string_view text);

/// What the text of a scalar tagged !!float reads as: Kind::Float and its value, or Kind::Text
/// where it is no float. By the union of the two schemas again, each of which reads a tagged
/// float in decimal only: YAML 1.2's core float form ([-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)
/// ([eE][-+]?[0-9]+)?, integers in decimal included) and PyYAML's float constructor (YAML 1.1:
/// the text with '_' dropped and lower-cased, read as .inf, .nan, base 60 or a decimal by
/// Python's float()). Where both read a value it is the same one, so `010` is 10.0 (not octal:
/// PyYAML's float constructor reads its digits as decimal), `1_000.5` is 1000.5 and `-.NaN` NaN
/// (1.1), `1:30` is 90.0 (1.1; base 60 where read_plain_scalar reads it); `0x10`, `0o10` and
/// `0b1` are no float in either (PyYAML fails on them), and neither are Python's words `inf`
/// and `nan`, which no YAML version resolves (YAML spells them .inf and .nan).
PlainScalar read_float_scalar(std::string_view text);

}  // namespace gengyun::deploy
