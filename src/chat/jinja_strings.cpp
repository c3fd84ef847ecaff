#include "chat/jinja_strings.h"

#include <utf8proc.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <deque>
#include <iterator>
#include <tuple>
#include <unordered_set>
#include <vector>

namespace gengyun::chat::jinja {

// Python's str.isspace() for one code point.
bool py_space(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0 ||
         cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
         cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

// Python's \d: Unicode category Nd.
bool py_decimal(uint32_t cp) {
  return cp <= 0x10FFFF &&
         utf8proc_category(static_cast<utf8proc_int32_t>(cp)) == UTF8PROC_CATEGORY_ND;
}

// Python's \w: str.isalnum() (the letters L* and the numbers N*: every code point with a numeric
// value is one or the other) or '_'. Code points utf8proc does not know are not letters.
bool py_word_char(uint32_t cp) {
  if (cp == '_') return true;
  if (cp > 0x10FFFF) return false;
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(cp))) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
      return true;
    default:
      return false;
  }
}

// str.strip / lstrip / rstrip with Python's whitespace or the code points of `chars`, keeping
// the request text of what remains. One walk forward over the string, allocating nothing per
// code point.
Value strip(const Value& subject, const Value& chars, bool left, bool right) {
  const std::string_view s = subject.as_string();
  const bool by_chars = chars.is_string();
  if (!chars.is_none() && !chars.is_undefined() && !by_chars) {
    fail("TypeError", "strip arg must be None or str");
  }
  std::unordered_set<uint32_t> set;
  if (by_chars) {
    const std::string_view c = chars.as_string();
    for (size_t i = 0; i < c.size();) set.insert(next_code_point(c, i));
  }
  auto strippable = [&](uint32_t cp) { return by_chars ? set.count(cp) != 0 : py_space(cp); };
  size_t b = 0;
  if (left) {
    for (size_t next = 0; b < s.size() && strippable(next_code_point(s, next)); b = next) {
    }
  }
  size_t e = s.size();
  if (right) {
    // Code points decode forward only: the end of the last one kept.
    e = b;
    for (size_t i = b; i < s.size();) {
      if (!strippable(next_code_point(s, i))) e = i;
    }
  }
  if (b == e) return Value("");
  return substring(subject, b, e);
}

namespace {

// The byte ranges of the pieces of a split as it finds them: each counts a step, and the list
// they will make is checked against max_value_bytes before it grows, so a split into millions
// of pieces stops before building them.
class Pieces {
 public:
  void add(size_t begin, size_t end) {
    charge_steps(1);
    bytes_ += end - begin;
    check_value_bytes((ranges_.size() + 1) * sizeof(Value) + bytes_);
    ranges_.emplace_back(begin, end);
  }
  std::vector<std::pair<size_t, size_t>>& ranges() { return ranges_; }

 private:
  std::vector<std::pair<size_t, size_t>> ranges_;
  size_t bytes_ = 0;
};

// The end of the run of code points of `s` from `i` that are (`space`) or are not whitespace.
size_t skip_run(std::string_view s, size_t i, bool space) {
  for (size_t next = i; i < s.size() && py_space(next_code_point(s, next)) == space; i = next) {
  }
  return i;
}

// The byte ranges of the pieces of Python's str.split / rsplit.
std::vector<std::pair<size_t, size_t>> split_ranges(std::string_view s, const Value& sep,
                                                    int64_t maxsplit, bool from_right) {
  Pieces out;
  if (sep.is_none() || sep.is_undefined()) {
    if (!from_right || maxsplit < 0) {
      // (rsplit without maxsplit is split.) After maxsplit pieces the rest is one piece, its
      // leading whitespace skipped and its trailing whitespace kept.
      for (size_t i = skip_run(s, 0, true); i < s.size(); i = skip_run(s, i, true)) {
        if (!from_right && maxsplit >= 0 && static_cast<int64_t>(out.ranges().size()) == maxsplit) {
          out.add(i, s.size());
          break;
        }
        const size_t end = skip_run(s, i, false);
        out.add(i, end);
        i = end;
      }
      return std::move(out.ranges());
    }
    // rsplit with maxsplit: the last maxsplit words, and before them all the rest up to the end
    // of the word before them, its leading whitespace kept. Code points decode forward only, so
    // one walk forward keeps the last maxsplit + 1 words seen.
    std::deque<std::pair<size_t, size_t>> last;
    int64_t words = 0;
    for (size_t i = skip_run(s, 0, true); i < s.size(); i = skip_run(s, i, true)) {
      const size_t end = skip_run(s, i, false);
      ++words;
      last.emplace_back(i, end);
      if (static_cast<int64_t>(last.size()) - 1 > maxsplit) last.pop_front();
      check_value_bytes(last.size() * sizeof(Value));
      i = end;
    }
    Pieces kept;
    for (size_t k = 0; k < last.size(); ++k) {
      kept.add(k == 0 && words > maxsplit ? 0 : last[k].first, last[k].second);
    }
    return std::move(kept.ranges());
  }
  if (!sep.is_string()) fail("TypeError", "must be str or None, not " + sep.type_name());
  const std::string& d = sep.as_string();
  if (d.empty()) fail("ValueError", "empty separator");
  // rsplit takes its matches from the right: they are split's matches in the reversed string.
  std::string reversed;
  std::string reversed_sep;
  if (from_right) {
    charge_bytes(s.size() + d.size());
    reversed.assign(s.rbegin(), s.rend());
    reversed_sep.assign(d.rbegin(), d.rend());
  }
  const std::string_view text = from_right ? std::string_view(reversed) : s;
  const std::string_view delimiter = from_right ? std::string_view(reversed_sep) : d;
  size_t start = 0;
  while (true) {
    const size_t at = maxsplit >= 0 && static_cast<int64_t>(out.ranges().size()) == maxsplit
                          ? std::string_view::npos
                          : find_text(text, delimiter, start);
    if (at == std::string_view::npos) {
      out.add(start, text.size());
      break;
    }
    out.add(start, at);
    start = at + delimiter.size();
  }
  std::vector<std::pair<size_t, size_t>>& ranges = out.ranges();
  if (from_right) {
    std::reverse(ranges.begin(), ranges.end());
    for (auto& [b, e] : ranges) std::tie(b, e) = std::pair(s.size() - e, s.size() - b);
  }
  return std::move(ranges);
}

// A search that went over `scanned` bytes may have compared the needle at each of them: the
// bytes scanned count, and the product of the two over kBytesPerStep; and each search a step
// (a split or count into millions of pieces counts them all).
void charge_search(size_t scanned, size_t needle) {
  charge_steps(1);
  charge_bytes(scanned + scanned / kBytesPerStep * needle);
}

}  // namespace

size_t find_text(std::string_view haystack, std::string_view needle, size_t from) {
  if (from > haystack.size()) return std::string_view::npos;
  const void* found =
      memmem(haystack.data() + from, haystack.size() - from, needle.data(), needle.size());
  const size_t at = found == nullptr
                        ? std::string_view::npos
                        : static_cast<size_t>(static_cast<const char*>(found) - haystack.data());
  const size_t end = found == nullptr ? haystack.size() : at + needle.size();
  charge_search(end - from, needle.size());
  return at;
}

size_t rfind_text(std::string_view haystack, std::string_view needle) {
  if (needle.size() > haystack.size()) return std::string_view::npos;
  // The last match is the first in the reversed haystack of the reversed needle.
  charge_bytes(haystack.size() + needle.size());
  const std::string reversed(haystack.rbegin(), haystack.rend());
  const std::string reversed_needle(needle.rbegin(), needle.rend());
  const size_t at = find_text(reversed, reversed_needle, 0);
  return at == std::string_view::npos ? at : haystack.size() - at - needle.size();
}

// str.split / rsplit of string `subject`: its pieces, keeping their request text.
List split(const Value& subject, const Value& sep, int64_t maxsplit, bool from_right) {
  List out;
  for (const auto& [b, e] : split_ranges(subject.as_string(), sep, maxsplit, from_right)) {
    out.push_back(substring(subject, b, e));
  }
  return out;
}

List split_lines(const Value& subject, bool keepends) {
  const std::string& s = subject.as_string();
  Pieces lines;
  size_t begin = 0;
  for (size_t i = 0; i < s.size();) {
    const size_t at = i;
    const uint32_t cp = next_code_point(s, i);
    const bool boundary = cp == '\n' || cp == '\r' || cp == 0x0B || cp == 0x0C ||
                          (cp >= 0x1C && cp <= 0x1E) || cp == 0x85 || cp == 0x2028 || cp == 0x2029;
    if (!boundary) continue;
    if (cp == '\r' && i < s.size() && s[i] == '\n') ++i;
    lines.add(begin, keepends ? i : at);
    begin = i;
  }
  if (begin < s.size()) lines.add(begin, s.size());
  List out;
  for (const auto& [b, e] : lines.ranges()) out.push_back(substring(subject, b, e));
  return out;
}

std::string replace(Renderer& r, std::string_view s, std::string_view old, std::string_view with,
                    int64_t count) {
  std::string out;
  if (old.empty()) {
    // `with` before each code point and at the end, up to `count` times: its size is known, so
    // it is checked and counted before it is built.
    const size_t slots = utf8_length(s) + 1;
    const size_t inserted = count < 0 ? slots : std::min(slots, static_cast<size_t>(count));
    size_t size = 0;
    if (__builtin_mul_overflow(inserted, with.size(), &size) ||
        __builtin_add_overflow(size, s.size(), &size)) {
      size = SIZE_MAX;
    }
    r.check_size(size);
    charge_bytes(size);
    out.reserve(size);
    size_t n = 0;
    for (size_t i = 0; i < s.size();) {
      if (n++ < inserted) out.append(with);
      const size_t begin = i;
      next_code_point(s, i);
      out.append(s.substr(begin, i - begin));
    }
    if (n < inserted) out.append(with);
    return out;
  }
  size_t start = 0;
  int64_t n = 0;
  while (count < 0 || n < count) {
    const size_t at = find_text(s, old, start);
    if (at == std::string_view::npos) break;
    out.append(s.substr(start, at - start)).append(with);
    r.check_size(out.size());
    start = at + old.size();
    ++n;
  }
  out.append(s.substr(start));
  r.check_size(out.size());
  return out;
}

namespace {

std::string ascii_map(std::string s, int (*f)(int)) {
  for (char& c : s) {
    if (static_cast<unsigned char>(c) < 0x80)
      c = static_cast<char>(f(static_cast<unsigned char>(c)));
  }
  return s;
}
}  // namespace

std::string upper(std::string s) {
  return ascii_map(std::move(s), [](int c) { return std::toupper(c); });
}
std::string lower(std::string s) {
  return ascii_map(std::move(s), [](int c) { return std::tolower(c); });
}

std::string capitalize(const std::string& s) {
  std::string out = lower(s);
  if (!out.empty() && static_cast<unsigned char>(out[0]) < 0x80) {
    out[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(out[0])));
  }
  return out;
}

std::string title(const std::string& s) {
  std::string out = s;
  bool previous_cased = false;
  for (char& c : out) {
    const auto u = static_cast<unsigned char>(c);
    const bool cased = std::isalpha(u) != 0;
    if (u < 0x80 && cased)
      c = static_cast<char>(previous_cased ? std::tolower(u) : std::toupper(u));
    previous_cased = cased;
  }
  return out;
}

namespace {

// Python's str.upper() of the code points it maps to more than one (from SpecialCasing.txt, as
// Python 3.11 gives them), sorted; every other code point has Unicode's simple mapping.
struct FullUpper {
  uint32_t cp;
  const char* upper;
};
constexpr FullUpper kFullUpper[] = {{0x00DF, "SS"},
                                    {0x0149, "\u02BCN"},
                                    {0x01F0, "J\u030C"},
                                    {0x0390, "\u0399\u0308\u0301"},
                                    {0x03B0, "\u03A5\u0308\u0301"},
                                    {0x0587, "\u0535\u0552"},
                                    {0x1E96, "H\u0331"},
                                    {0x1E97, "T\u0308"},
                                    {0x1E98, "W\u030A"},
                                    {0x1E99, "Y\u030A"},
                                    {0x1E9A, "A\u02BE"},
                                    {0x1F50, "\u03A5\u0313"},
                                    {0x1F52, "\u03A5\u0313\u0300"},
                                    {0x1F54, "\u03A5\u0313\u0301"},
                                    {0x1F56, "\u03A5\u0313\u0342"},
                                    {0x1F80, "\u1F08\u0399"},
                                    {0x1F81, "\u1F09\u0399"},
                                    {0x1F82, "\u1F0A\u0399"},
                                    {0x1F83, "\u1F0B\u0399"},
                                    {0x1F84, "\u1F0C\u0399"},
                                    {0x1F85, "\u1F0D\u0399"},
                                    {0x1F86, "\u1F0E\u0399"},
                                    {0x1F87, "\u1F0F\u0399"},
                                    {0x1F88, "\u1F08\u0399"},
                                    {0x1F89, "\u1F09\u0399"},
                                    {0x1F8A, "\u1F0A\u0399"},
                                    {0x1F8B, "\u1F0B\u0399"},
                                    {0x1F8C, "\u1F0C\u0399"},
                                    {0x1F8D, "\u1F0D\u0399"},
                                    {0x1F8E, "\u1F0E\u0399"},
                                    {0x1F8F, "\u1F0F\u0399"},
                                    {0x1F90, "\u1F28\u0399"},
                                    {0x1F91, "\u1F29\u0399"},
                                    {0x1F92, "\u1F2A\u0399"},
                                    {0x1F93, "\u1F2B\u0399"},
                                    {0x1F94, "\u1F2C\u0399"},
                                    {0x1F95, "\u1F2D\u0399"},
                                    {0x1F96, "\u1F2E\u0399"},
                                    {0x1F97, "\u1F2F\u0399"},
                                    {0x1F98, "\u1F28\u0399"},
                                    {0x1F99, "\u1F29\u0399"},
                                    {0x1F9A, "\u1F2A\u0399"},
                                    {0x1F9B, "\u1F2B\u0399"},
                                    {0x1F9C, "\u1F2C\u0399"},
                                    {0x1F9D, "\u1F2D\u0399"},
                                    {0x1F9E, "\u1F2E\u0399"},
                                    {0x1F9F, "\u1F2F\u0399"},
                                    {0x1FA0, "\u1F68\u0399"},
                                    {0x1FA1, "\u1F69\u0399"},
                                    {0x1FA2, "\u1F6A\u0399"},
                                    {0x1FA3, "\u1F6B\u0399"},
                                    {0x1FA4, "\u1F6C\u0399"},
                                    {0x1FA5, "\u1F6D\u0399"},
                                    {0x1FA6, "\u1F6E\u0399"},
                                    {0x1FA7, "\u1F6F\u0399"},
                                    {0x1FA8, "\u1F68\u0399"},
                                    {0x1FA9, "\u1F69\u0399"},
                                    {0x1FAA, "\u1F6A\u0399"},
                                    {0x1FAB, "\u1F6B\u0399"},
                                    {0x1FAC, "\u1F6C\u0399"},
                                    {0x1FAD, "\u1F6D\u0399"},
                                    {0x1FAE, "\u1F6E\u0399"},
                                    {0x1FAF, "\u1F6F\u0399"},
                                    {0x1FB2, "\u1FBA\u0399"},
                                    {0x1FB3, "\u0391\u0399"},
                                    {0x1FB4, "\u0386\u0399"},
                                    {0x1FB6, "\u0391\u0342"},
                                    {0x1FB7, "\u0391\u0342\u0399"},
                                    {0x1FBC, "\u0391\u0399"},
                                    {0x1FC2, "\u1FCA\u0399"},
                                    {0x1FC3, "\u0397\u0399"},
                                    {0x1FC4, "\u0389\u0399"},
                                    {0x1FC6, "\u0397\u0342"},
                                    {0x1FC7, "\u0397\u0342\u0399"},
                                    {0x1FCC, "\u0397\u0399"},
                                    {0x1FD2, "\u0399\u0308\u0300"},
                                    {0x1FD3, "\u0399\u0308\u0301"},
                                    {0x1FD6, "\u0399\u0342"},
                                    {0x1FD7, "\u0399\u0308\u0342"},
                                    {0x1FE2, "\u03A5\u0308\u0300"},
                                    {0x1FE3, "\u03A5\u0308\u0301"},
                                    {0x1FE4, "\u03A1\u0313"},
                                    {0x1FE6, "\u03A5\u0342"},
                                    {0x1FE7, "\u03A5\u0308\u0342"},
                                    {0x1FF2, "\u1FFA\u0399"},
                                    {0x1FF3, "\u03A9\u0399"},
                                    {0x1FF4, "\u038F\u0399"},
                                    {0x1FF6, "\u03A9\u0342"},
                                    {0x1FF7, "\u03A9\u0342\u0399"},
                                    {0x1FFC, "\u03A9\u0399"},
                                    {0xFB00, "FF"},
                                    {0xFB01, "FI"},
                                    {0xFB02, "FL"},
                                    {0xFB03, "FFI"},
                                    {0xFB04, "FFL"},
                                    {0xFB05, "ST"},
                                    {0xFB06, "ST"},
                                    {0xFB13, "\u0544\u0546"},
                                    {0xFB14, "\u0544\u0535"},
                                    {0xFB15, "\u0544\u053B"},
                                    {0xFB16, "\u054E\u0546"},
                                    {0xFB17, "\u0544\u053D"}};

void append_code_point(std::string& out, uint32_t cp) {
  utf8proc_uint8_t buf[4];
  const auto n = utf8proc_encode_char(static_cast<utf8proc_int32_t>(cp), buf);
  out.append(reinterpret_cast<const char*>(buf), static_cast<size_t>(n));
}

// Appends Python's chr(cp).upper() (or .lower()) to `out`; `bytes` are the UTF-8 of `cp`.
void append_case_mapped(std::string& out, uint32_t cp, std::string_view bytes, bool upper_case) {
  if (upper_case) {
    const auto* it = std::lower_bound(std::begin(kFullUpper), std::end(kFullUpper), cp,
                                      [](const FullUpper& f, uint32_t c) { return f.cp < c; });
    if (it != std::end(kFullUpper) && it->cp == cp) {
      out += it->upper;
      return;
    }
  } else if (cp == 0x130) {  // LATIN CAPITAL LETTER I WITH DOT ABOVE: "i" and a combining dot
    out += "i\u0307";
    return;
  }
  const auto c = static_cast<utf8proc_int32_t>(cp);
  const auto mapped = static_cast<uint32_t>(upper_case ? utf8proc_toupper(c) : utf8proc_tolower(c));
  if (mapped == cp) {
    out.append(bytes);
  } else {
    append_code_point(out, mapped);
  }
}

// The characters of Jinja2's _word_beginning_split_re, `([-\s\(\{\[\<]+)`.
bool word_separator(uint32_t cp) {
  return cp == '-' || cp == '(' || cp == '{' || cp == '[' || cp == '<' || py_space(cp);
}

}  // namespace

Value title_words(Renderer& r, const Value& s) {
  const std::string_view in = s.as_string();
  std::string out;
  out.reserve(in.size());
  // With request text: where each code point begins in `in` and in `out`, to carry its spans.
  const bool track = s.spans() != nullptr;
  std::vector<size_t> in_at;
  std::vector<size_t> out_at;
  bool word_start = true;
  for (size_t i = 0; i < in.size();) {
    const size_t begin = i;
    const uint32_t cp = next_code_point(in, i);
    if (track) {
      in_at.push_back(begin);
      out_at.push_back(out.size());
    }
    const std::string_view bytes = in.substr(begin, i - begin);
    const bool separator = word_separator(cp);
    if (separator || (cp >= 0x80 && bytes.size() == 1)) {  // an invalid byte stays as it is
      out.append(bytes);
    } else {
      append_case_mapped(out, cp, bytes, word_start);
    }
    word_start = separator;
  }
  r.check_size(out.size());
  if (!track) return Value(std::move(out));
  in_at.push_back(in.size());
  out_at.push_back(out.size());
  auto out_offset = [&](size_t at, bool round_up) {
    const auto it = round_up ? std::lower_bound(in_at.begin(), in_at.end(), at)
                             : std::upper_bound(in_at.begin(), in_at.end(), at) - 1;
    return out_at[static_cast<size_t>(it - in_at.begin())];
  };
  Spans spans;
  for (const auto& [b, e] : *s.spans())
    spans.emplace_back(out_offset(b, false), out_offset(e, true));
  return Value::with_spans(std::move(out), std::move(spans));
}

bool cased(std::string_view s, bool upper_case) {
  bool seen = false;
  for (const char c : s) {
    if (std::islower(static_cast<unsigned char>(c))) {
      if (upper_case) return false;
      seen = true;
    } else if (std::isupper(static_cast<unsigned char>(c))) {
      if (!upper_case) return false;
      seen = true;
    }
  }
  return seen;
}

bool prefix_test(const Value& subject, const Value& affix, bool at_end) {
  const std::string& s = subject.as_string();
  auto one = [&](const Value& a) {
    if (!a.is_string()) {
      fail("TypeError", std::string(at_end ? "endswith" : "startswith") +
                            " first arg must be str or a tuple of str, not " + a.type_name());
    }
    const std::string& x = a.as_string();
    if (x.size() > s.size()) return false;
    return at_end ? s.compare(s.size() - x.size(), x.size(), x) == 0
                  : s.compare(0, x.size(), x) == 0;
  };
  if (affix.is_list()) {
    for (const Value& a : affix.as_list()) {
      charge_steps(1);
      if (a.is_string()) charge_bytes(a.as_string().size());
      if (one(a)) return true;
    }
    return false;
  }
  return one(affix);
}

// `mapped`, a same-length case mapping of string `s`, with the request text of `s`.
Value same_spans(const Value& s, std::string mapped) {
  return s.spans() ? Value::with_spans(std::move(mapped), *s.spans()) : Value(std::move(mapped));
}

}  // namespace gengyun::chat::jinja
