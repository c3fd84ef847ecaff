#include "deploy/units.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <iterator>
#include <optional>

namespace gengyun::deploy {
namespace {

/// Lower-cased copy of `text`.
std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

/// Reads an unsigned decimal number ("12", "1.5", ".5") at text[pos], advancing pos; nullopt
/// when there is none.
std::optional<double> read_decimal(std::string_view text, size_t& pos) {
  const size_t start = pos;
  double value = 0;
  bool digits = false;
  while (pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos]))) {
    value = value * 10 + (text[pos++] - '0');
    digits = true;
  }
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    double scale = 0.1;
    while (pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos]))) {
      value += (text[pos++] - '0') * scale;
      scale /= 10;
      digits = true;
    }
  }
  if (!digits) {
    pos = start;
    return std::nullopt;
  }
  return value;
}

/// parse_keep_alive's reading of `text`, its error for a value over 100 years naming `what`
/// ("keep-alive") and ending in `hint`.
Result<int64_t> parse_seconds_or_duration(std::string_view text, std::string_view what,
                                          std::string_view hint) {
  // A plain decimal number: an optional sign, digits with an optional '.' and exponent.
  std::string_view digits = text;
  const bool negative = !digits.empty() && digits[0] == '-';
  if (!digits.empty() && (digits[0] == '-' || digits[0] == '+')) digits.remove_prefix(1);
  if (!digits.empty() &&
      (std::isdigit(static_cast<unsigned char>(digits[0])) || digits[0] == '.')) {
    double seconds = 0;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), seconds);
    if (end == digits.data() + digits.size() && ec != std::errc::invalid_argument) {
      if (ec == std::errc::result_out_of_range)  // 1e400 overflows, 1e-400 underflows
        seconds = digits.find("e-") == std::string_view::npos &&
                          digits.find("E-") == std::string_view::npos
                      ? HUGE_VAL
                      : 0;
      if (negative && seconds > 0) return kKeepForever;
      Result<int64_t> us = keep_alive_from_seconds(seconds);
      if (us.ok()) return us;
      return make_error("invalid " + std::string(what) + " '" + std::string(text) +
                        "': longer than 100 years" + std::string(hint));
    }
  }
  return parse_duration(text);
}

}  // namespace

Result<int64_t> keep_alive_from_seconds(double seconds) {
  if (std::isnan(seconds)) return make_error("invalid keep-alive: not a number");
  if (seconds < 0) return kKeepForever;
  if (seconds * 1e6 > static_cast<double>(kMaxKeepAliveUs)) {
    char shown[32];
    std::snprintf(shown, sizeof shown, "%g", seconds);
    return make_error("invalid keep-alive " + std::string(shown) +
                      " seconds: longer than 100 years (-1 keeps the model loaded)");
  }
  return static_cast<int64_t>(seconds * 1e6);
}

Result<int64_t> parse_keep_alive(std::string_view text) {
  return parse_seconds_or_duration(text, "keep-alive", " (-1 keeps the model loaded)");
}

Result<int64_t> parse_rescan_interval(std::string_view text) {
  return parse_seconds_or_duration(text, "rescan interval", " (0: no rescans)");
}

Result<int64_t> parse_duration(std::string_view text) {
  const std::string shown = "'" + std::string(text) + "'";
  const auto refuse = [&shown](const std::string& why) {
    return make_error("invalid duration " + shown + ": " + why);
  };
  // What every refusal of a number's form ends in: the form a duration's numbers take.
  constexpr std::string_view kPlainDecimal =
      "; a duration's numbers are plain decimals (digits and an optional '.'), e.g. \"1000s\" "
      "or \"1.5h\"";
  if (std::any_of(text.begin(), text.end(),
                  [](char c) { return std::isspace(static_cast<unsigned char>(c)); }))
    return refuse(
        "it holds whitespace; write each number and its unit together, e.g. \"5s\" or "
        "\"1h30m\"");
  std::string_view rest = text;
  bool negative = false;
  if (!rest.empty() && (rest[0] == '-' || rest[0] == '+')) {
    negative = rest[0] == '-';
    rest.remove_prefix(1);
  }
  if (rest == "0") return int64_t{0};
  if (rest.empty()) return refuse("it is empty");
  if (const std::string word = lower(rest); word == "inf" || word == "infinity" || word == "nan")
    return refuse("'" + std::string(rest) + "' is not a number a duration can take" +
                  std::string(kPlainDecimal));
  if (negative) {
    // A negative number without a unit ("-1") is negative whatever its unit, so that a caller
    // refusing negative durations says that rather than asking for a unit.
    size_t end = 0;
    const std::optional<double> number = read_decimal(rest, end);
    if (number && end == rest.size() && *number > 0) return kKeepForever;
  }
  struct Unit {
    std::string_view name;
    double us;
  };
  static constexpr Unit kUnits[] = {{"ns", 1e-3}, {"us", 1},  {"\xC2\xB5s", 1}, {"\xCE\xBCs", 1},
                                    {"ms", 1e3},  {"s", 1e6}, {"m", 60e6},      {"h", 3600e6}};
  const auto find_unit = [](std::string_view name) -> const Unit* {
    for (const Unit& u : kUnits)
      if (u.name == name) return &u;
    return nullptr;
  };
  const auto is_digit = [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; };
  double total_us = 0;
  size_t pos = 0;
  while (pos < rest.size()) {
    const size_t number_start = pos;
    const std::optional<double> number = read_decimal(rest, pos);
    if (!number) {
      if (rest[pos] == '-' || rest[pos] == '+')
        return refuse("a sign ('+' or '-') may only start the duration, e.g. \"-1m\"");
      size_t word_end = pos;
      while (word_end < rest.size() && !is_digit(rest[word_end])) ++word_end;
      const std::string_view word = rest.substr(pos, word_end - pos);
      if (find_unit(word))
        return refuse("the unit '" + std::string(word) + "' has no number before it, e.g. \"5" +
                      std::string(word) + "\"");
      return refuse("expected a number at '" + std::string(word) +
                    "': a duration is numbers with units (ns, us, ms, s, m, h), e.g. \"5m\"");
    }
    if (pos < rest.size() && rest[pos] == '.') {  // read_decimal stops at a second '.'
      size_t end = pos;
      while (end < rest.size() && (is_digit(rest[end]) || rest[end] == '.')) ++end;
      return refuse("the number '" + std::string(rest.substr(number_start, end - number_start)) +
                    "' has more than one '.'" + std::string(kPlainDecimal));
    }
    if (rest.substr(number_start, pos - number_start) == "0" && pos + 1 < rest.size() &&
        (rest[pos] == 'x' || rest[pos] == 'X') &&
        std::isxdigit(static_cast<unsigned char>(rest[pos + 1]))) {
      size_t end = pos + 1;
      while (end < rest.size() && std::isxdigit(static_cast<unsigned char>(rest[end]))) ++end;
      return refuse("the number '" + std::string(rest.substr(number_start, end - number_start)) +
                    "' is hexadecimal" + std::string(kPlainDecimal));
    }
    size_t unit_end = pos;
    while (unit_end < rest.size() && rest[unit_end] != '.' && !is_digit(rest[unit_end])) ++unit_end;
    const std::string_view unit = rest.substr(pos, unit_end - pos);
    if (unit.empty()) return refuse("a number needs a unit (ns, us, ms, s, m, h), e.g. \"5m\"");
    // "1e3s", "1E+3s", "2e-3h": an exponent, which the scan above reads as a unit "e".
    if (const std::string_view sign = unit.substr(std::min<size_t>(1, unit.size()));
        (unit[0] == 'e' || unit[0] == 'E') && (sign.empty() || sign == "+" || sign == "-") &&
        unit_end < rest.size() && is_digit(rest[unit_end])) {
      size_t end = unit_end;
      while (end < rest.size() && is_digit(rest[end])) ++end;
      return refuse("the number '" + std::string(rest.substr(number_start, end - number_start)) +
                    "' has an exponent" + std::string(kPlainDecimal));
    }
    if (unit.find_first_of("+-") != std::string_view::npos)
      return refuse("a sign ('+' or '-') may only start the duration, e.g. \"-1m\"");
    const Unit* found = find_unit(unit);
    if (!found) return refuse("unknown unit '" + std::string(unit) + "' (ns, us, ms, s, m, h)");
    total_us += *number * found->us;
    pos = unit_end;
  }
  if (negative && total_us > 0) return kKeepForever;
  if (total_us > static_cast<double>(kMaxKeepAliveUs)) return refuse("longer than 100 years");
  return static_cast<int64_t>(total_us);
}

Result<int64_t> parse_byte_size(std::string_view text) {
  const std::string shown = "'" + std::string(text) + "'";
  size_t pos = 0;
  const std::optional<double> number = read_decimal(text, pos);
  if (!number)
    return make_error("invalid byte size " + shown +
                      ": expected a number with an optional unit, e.g. 8GiB or 512MB");
  // "1e9", "2E+9": an exponent, which would read as a unit "e9" (QA).
  if (pos + 1 < text.size() && (text[pos] == 'e' || text[pos] == 'E') &&
      (std::isdigit(static_cast<unsigned char>(text[pos + 1])) || text[pos + 1] == '+' ||
       text[pos + 1] == '-'))
    return make_error("invalid byte size " + shown +
                      ": the number has an exponent; a byte size is a plain decimal with an "
                      "optional unit, e.g. 1GB or 1000000000");
  while (pos < text.size() && text[pos] == ' ') ++pos;
  const std::string unit = lower(text.substr(pos));
  struct Unit {
    std::string_view name;
    double bytes;
  };
  static constexpr Unit kUnits[] = {
      {"", 1},          {"b", 1},    {"k", 1e3},       {"kb", 1e3},       {"kib", 1 << 10},
      {"m", 1e6},       {"mb", 1e6}, {"mib", 1 << 20}, {"g", 1e9},        {"gb", 1e9},
      {"gib", 1 << 30}, {"t", 1e12}, {"tb", 1e12},     {"tib", 1ll << 40}};
  for (const Unit& u : kUnits) {
    if (u.name != unit) continue;
    const double bytes = std::round(*number * u.bytes);
    if (bytes > static_cast<double>(int64_t{1} << 62))
      return make_error("invalid byte size " + shown + ": too large");
    return static_cast<int64_t>(bytes);
  }
  return make_error("invalid byte size " + shown + ": unknown unit '" +
                    std::string(text.substr(pos)) + "' (B, KB, KiB, MB, MiB, GB, GiB, TB, TiB)");
}

std::string format_bytes(int64_t bytes) {
  static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB"};
  if (bytes < 1024) return std::to_string(bytes) + " B";
  double value = static_cast<double>(bytes) / 1024;
  size_t unit = 0;
  while (value >= 1024 && unit + 1 < std::size(kUnits)) {
    value /= 1024;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof text, "%.1f %s", value, kUnits[unit]);
  return text;
}

}  // namespace gengyun::deploy
