#include "deploy/yaml_scalar.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>
#include <regex>
#include <string>
#include <vector>

namespace gengyun::deploy {
namespace {

using Kind = PlainScalar::Kind;

/// One schema's reading of a scalar: an integer as its sign and magnitude (`overflow` when the
/// magnitude passes 64 bits, then only `value` holds it), a float as `value`.
struct Reading {
  Kind kind = Kind::Text;
  bool boolean = false;
  bool negative = false;
  uint64_t magnitude = 0;
  bool overflow = false;
  long double value = 0;
};

bool full_match(std::string_view text, const std::regex& pattern) {
  return std::regex_match(text.begin(), text.end(), pattern);
}

std::string without_underscores(std::string_view text) {
  std::string out;
  for (const char c : text)
    if (c != '_') out += c;
  return out;
}

/// The digits of `digits` (no sign, no underscores, at least one) in `base` as an Integer.
Reading integer(bool negative, std::string_view digits, int base) {
  Reading r{Kind::Integer};
  r.negative = negative;
  for (const char c : digits) {
    const int d = c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
    if (r.magnitude > (std::numeric_limits<uint64_t>::max() - d) / base) r.overflow = true;
    r.magnitude = r.magnitude * base + d;
    r.value = r.value * base + d;
  }
  if (negative) r.value = -r.value;
  return r;
}

/// `text` (no sign, no underscores; digits, '.', an exponent) as a Float; text where it holds
/// no digit (PyYAML's `._` fails).
Reading decimal_float(bool negative, std::string_view text) {
  double x = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), x);
  if (ec == std::errc::invalid_argument || end != text.data() + text.size()) return Reading{};
  if (ec == std::errc::result_out_of_range)  // 1e400 overflows, 1e-400 underflows
    x = text.find_first_of("-") == std::string_view::npos ? HUGE_VAL : 0;
  return Reading{Kind::Float, false, negative, 0, false, negative ? -x : x};
}

/// The sign of `text` taken off: whether it was '-'.
bool take_sign(std::string_view& text) {
  const bool negative = !text.empty() && text[0] == '-';
  if (!text.empty() && (text[0] == '-' || text[0] == '+')) text.remove_prefix(1);
  return negative;
}

Reading special_float(std::string_view text) {
  if (text.ends_with("nan") || text.ends_with("NaN") || text.ends_with("NAN"))
    return Reading{Kind::Float, false, false, 0, false, std::numeric_limits<double>::quiet_NaN()};
  const long double inf = std::numeric_limits<double>::infinity();
  return Reading{Kind::Float, false, text[0] == '-', 0, false, text[0] == '-' ? -inf : inf};
}

/// YAML 1.2's core schema (10.3.2 of the spec).
Reading core_schema(std::string_view text) {
  static const std::regex kNull("null|Null|NULL|~|");
  static const std::regex kTrue("true|True|TRUE"), kFalse("false|False|FALSE");
  static const std::regex kDecimal("[-+]?[0-9]+"), kOctal("0o[0-7]+"), kHex("0x[0-9a-fA-F]+");
  static const std::regex kFloat("[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?");
  static const std::regex kSpecial("[-+]?\\.(inf|Inf|INF)|\\.(nan|NaN|NAN)");
  if (full_match(text, kNull)) return Reading{Kind::Null};
  if (full_match(text, kTrue)) return Reading{Kind::Boolean, true};
  if (full_match(text, kFalse)) return Reading{Kind::Boolean, false};
  if (full_match(text, kOctal)) return integer(false, text.substr(2), 8);
  if (full_match(text, kHex)) return integer(false, text.substr(2), 16);
  std::string_view unsigned_text = text;
  const bool negative = take_sign(unsigned_text);
  if (full_match(text, kDecimal)) return integer(negative, unsigned_text, 10);
  if (full_match(text, kFloat)) return decimal_float(negative, unsigned_text);
  if (full_match(text, kSpecial)) return special_float(text);
  return Reading{};
}

/// `parts` (a base-60 number's parts, most significant first) as one value.
long double base_60(const std::vector<long double>& parts) {
  long double value = 0;
  for (const long double part : parts) value = value * 60 + part;
  return value;
}

std::vector<std::string> split_colons(const std::string& text) {
  std::vector<std::string> parts(1);
  for (const char c : text) {
    if (c == ':')
      parts.emplace_back();
    else
      parts.back() += c;
  }
  return parts;
}

/// YAML 1.1 as PyYAML's resolver and constructor read it (yaml/resolver.py, constructor.py).
Reading pyyaml(std::string_view text) {
  static const std::regex kNull("~|null|Null|NULL|");
  static const std::regex kTrue("yes|Yes|YES|true|True|TRUE|on|On|ON");
  static const std::regex kFalse("no|No|NO|false|False|FALSE|off|Off|OFF");
  static const std::regex kBinary("[-+]?0b[0-1_]+"), kOctal("[-+]?0[0-7_]+");
  static const std::regex kDecimal("[-+]?(0|[1-9][0-9_]*)"), kHex("[-+]?0x[0-9a-fA-F_]+");
  static const std::regex kBase60("[-+]?[1-9][0-9_]*(:[0-5]?[0-9])+");
  static const std::regex kFloat(
      "[-+]?[0-9][0-9_]*\\.[0-9_]*([eE][-+][0-9]+)?|\\.[0-9_]+([eE][-+][0-9]+)?");
  static const std::regex kBase60Float("[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+\\.[0-9_]*");
  static const std::regex kSpecial("[-+]?\\.(inf|Inf|INF)|\\.(nan|NaN|NAN)");
  if (full_match(text, kNull)) return Reading{Kind::Null};
  if (full_match(text, kTrue)) return Reading{Kind::Boolean, true};
  if (full_match(text, kFalse)) return Reading{Kind::Boolean, false};
  if (full_match(text, kSpecial)) return special_float(text);
  std::string_view rest = text;
  const bool negative = take_sign(rest);
  const std::string digits = without_underscores(rest);
  // PyYAML fails on a form with no digit once its underscores are gone (0b_, 0x_): text here.
  const auto has_digit = [](std::string_view s) {
    return s.find_first_of("0123456789abcdefABCDEF") != std::string_view::npos;
  };
  if (full_match(text, kBinary))
    return has_digit(digits.substr(2)) ? integer(negative, digits.substr(2), 2) : Reading{};
  if (full_match(text, kHex))
    return has_digit(digits.substr(2)) ? integer(negative, digits.substr(2), 16) : Reading{};
  if (full_match(text, kDecimal)) return integer(negative, digits, 10);
  if (full_match(text, kOctal)) return integer(negative, std::string_view(digits).substr(1), 8);
  if (full_match(text, kBase60) || full_match(text, kBase60Float)) {
    std::vector<long double> parts;
    for (const std::string& part : split_colons(digits)) parts.push_back(std::stold(part));
    const long double value = negative ? -base_60(parts) : base_60(parts);
    if (full_match(text, kBase60Float))
      return Reading{Kind::Float, false, negative, 0, false, value};
    Reading r{Kind::Integer, false, negative};
    r.value = value;
    r.overflow = !(std::fabs(value) < 0x1p64L);
    if (!r.overflow) r.magnitude = static_cast<uint64_t>(std::fabs(value));
    return r;
  }
  if (full_match(text, kFloat)) return decimal_float(negative, digits);
  return Reading{};
}

bool same_number(const Reading& a, const Reading& b) {
  if (a.kind == Kind::Integer && b.kind == Kind::Integer && !a.overflow && !b.overflow)
    return a.magnitude == b.magnitude && (a.negative == b.negative || a.magnitude == 0);
  return a.value == b.value || (std::isnan(a.value) && std::isnan(b.value));
}

bool agree(const Reading& a, const Reading& b) {
  switch (a.kind) {
    case Kind::Null:
      return b.kind == Kind::Null;
    case Kind::Boolean:
      return b.kind == Kind::Boolean && a.boolean == b.boolean;
    case Kind::Integer:
    case Kind::Float:
      return (b.kind == Kind::Integer || b.kind == Kind::Float) && same_number(a, b);
    default:
      return false;
  }
}

}  // namespace

PlainScalar read_plain_scalar(std::string_view text) {
  const Reading core = core_schema(text);
  const Reading old = pyyaml(text);
  PlainScalar out;
  if (core.kind != Kind::Text && old.kind != Kind::Text && !agree(core, old)) {
    out.kind = Kind::Conflicting;
    return out;
  }
  const Reading& r = core.kind != Kind::Text ? core : old;
  out.kind = r.kind;
  out.boolean = r.boolean;
  out.number = static_cast<double>(r.value);
  if (r.kind == Kind::Integer && !r.overflow) {
    if (!r.negative) out.uint64 = r.magnitude;
    if (r.magnitude <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      out.int64 =
          r.negative ? -static_cast<int64_t>(r.magnitude) : static_cast<int64_t>(r.magnitude);
    else if (r.negative && r.magnitude == uint64_t{1} << 63)
      out.int64 = std::numeric_limits<int64_t>::min();
    if (r.negative && r.magnitude == 0) out.uint64 = 0;
  }
  return out;
}

PlainScalar read_float_scalar(std::string_view text) {
  static const std::regex kSpecial("[-+]?\\.(inf|nan)");
  static const std::regex kDecimal("[-+]?([0-9]+(\\.[0-9]*)?|\\.[0-9]+)(e[-+]?[0-9]+)?");
  PlainScalar out;
  if (text.find(':') != std::string_view::npos) {
    const PlainScalar base_60 = read_plain_scalar(text);
    if (base_60.is_number()) {
      out.kind = Kind::Float;
      out.number = base_60.number;
    }
    return out;
  }
  std::string lowered = without_underscores(text);
  for (char& c : lowered) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  Reading r;
  if (full_match(lowered, kSpecial)) {
    r = special_float(lowered);
  } else if (full_match(lowered, kDecimal)) {
    std::string_view rest = lowered;
    const bool negative = take_sign(rest);
    r = decimal_float(negative, rest);
  }
  if (r.kind == Kind::Float) {
    out.kind = Kind::Float;
    out.number = static_cast<double>(r.value);
  }
  return out;
}

}  // namespace gengyun::deploy
