#include "chat/jinja_strings.h"

#include <algorithm>
#include <cctype>
#include <cstring>

namespace gengyun::chat::jinja {

std::vector<CodePoint> decode(std::string_view s) {
  std::vector<CodePoint> out;
  size_t i = 0;
  for (const std::string& c : utf8_chars(s)) {
    uint32_t cp = static_cast<unsigned char>(c[0]);
    if (c.size() > 1) {
      cp &= 0x3F >> (c.size() - 1);
      for (size_t k = 1; k < c.size(); ++k)
        cp = (cp << 6) | (static_cast<unsigned char>(c[k]) & 0x3F);
    }
    out.push_back({cp, i, i + c.size()});
    i += c.size();
  }
  return out;
}

// Python's str.isspace() for one code point.
bool py_space(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0 ||
         cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
         cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

// str.strip / lstrip / rstrip with Python's whitespace or the code points of `chars`, keeping
// the request text of what remains.
Value strip(const Value& subject, const Value& chars, bool left, bool right) {
  const std::string_view s = subject.as_string();
  std::vector<uint32_t> set;
  const bool by_chars = chars.is_string();
  if (!chars.is_none() && !chars.is_undefined() && !by_chars) {
    fail("TypeError", "strip arg must be None or str");
  }
  if (by_chars) {
    for (const CodePoint& c : decode(chars.as_string())) set.push_back(c.cp);
  }
  auto strippable = [&](uint32_t cp) {
    return by_chars ? std::find(set.begin(), set.end(), cp) != set.end() : py_space(cp);
  };
  const std::vector<CodePoint> cps = decode(s);
  size_t b = 0;
  size_t e = cps.size();
  if (left) {
    while (b < e && strippable(cps[b].cp)) ++b;
  }
  if (right) {
    while (e > b && strippable(cps[e - 1].cp)) --e;
  }
  if (b == e) return Value("");
  return substring(subject, cps[b].begin, cps[e - 1].end);
}

namespace {

// The byte ranges of the pieces of Python's str.split / rsplit.
std::vector<std::pair<size_t, size_t>> split_ranges(std::string_view s, const Value& sep,
                                                    int64_t maxsplit, bool from_right) {
  std::vector<std::pair<size_t, size_t>> out;
  if (sep.is_none() || sep.is_undefined()) {
    const std::vector<CodePoint> cps = decode(s);
    if (!from_right) {
      size_t i = 0;
      while (i < cps.size()) {
        while (i < cps.size() && py_space(cps[i].cp)) ++i;
        if (i == cps.size()) break;
        if (maxsplit >= 0 && static_cast<int64_t>(out.size()) == maxsplit) {
          size_t e = cps.size();
          while (e > i && py_space(cps[e - 1].cp)) --e;
          out.emplace_back(cps[i].begin, cps[e - 1].end);
          break;
        }
        const size_t start = i;
        while (i < cps.size() && !py_space(cps[i].cp)) ++i;
        out.emplace_back(cps[start].begin, cps[i - 1].end);
      }
      return out;
    }
    size_t i = cps.size();
    std::vector<std::pair<size_t, size_t>> reversed;
    while (i > 0) {
      while (i > 0 && py_space(cps[i - 1].cp)) --i;
      if (i == 0) break;
      if (maxsplit >= 0 && static_cast<int64_t>(reversed.size()) == maxsplit) {
        size_t b = 0;
        while (b < i && py_space(cps[b].cp)) ++b;
        reversed.emplace_back(cps[b].begin, cps[i - 1].end);
        break;
      }
      const size_t end = i;
      while (i > 0 && !py_space(cps[i - 1].cp)) --i;
      reversed.emplace_back(cps[i].begin, cps[end - 1].end);
    }
    return {reversed.rbegin(), reversed.rend()};
  }
  if (!sep.is_string()) fail("TypeError", "must be str or None, not " + sep.type_name());
  const std::string& d = sep.as_string();
  if (d.empty()) fail("ValueError", "empty separator");
  if (!from_right) {
    size_t start = 0;
    while (true) {
      const size_t at = find_text(s, d, start);
      if (at == std::string_view::npos ||
          (maxsplit >= 0 && static_cast<int64_t>(out.size()) == maxsplit)) {
        out.emplace_back(start, s.size());
        return out;
      }
      out.emplace_back(start, at);
      start = at + d.size();
    }
  }
  std::vector<std::pair<size_t, size_t>> reversed;
  size_t end = s.size();
  while (true) {
    const size_t at = end >= d.size() ? rfind_text(s, d, end - d.size()) : std::string_view::npos;
    if (at == std::string_view::npos ||
        (maxsplit >= 0 && static_cast<int64_t>(reversed.size()) == maxsplit)) {
      reversed.emplace_back(0, end);
      return {reversed.rbegin(), reversed.rend()};
    }
    reversed.emplace_back(at + d.size(), end);
    end = at;
  }
}

// A search that went over `scanned` bytes may have compared the needle at each of them: the
// bytes scanned count, and the product of the two over kBytesPerStep.
void charge_search(size_t scanned, size_t needle) {
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

size_t rfind_text(std::string_view haystack, std::string_view needle, size_t pos) {
  const size_t at = haystack.rfind(needle, pos);
  if (needle.size() > haystack.size()) return at;
  const size_t end = std::min(pos, haystack.size() - needle.size()) + needle.size();
  charge_search(end - (at == std::string_view::npos ? 0 : at), needle.size());
  return at;
}

// str.split / rsplit of string `subject`: its pieces, keeping their request text.
List split(const Value& subject, const Value& sep, int64_t maxsplit, bool from_right) {
  List out;
  for (const auto& [b, e] : split_ranges(subject.as_string(), sep, maxsplit, from_right)) {
    out.push_back(substring(subject, b, e));
  }
  return out;
}

std::string replace(Renderer& r, std::string_view s, std::string_view old, std::string_view with,
                    int64_t count) {
  std::string out;
  if (old.empty()) {
    int64_t n = 0;
    for (const std::string& c : utf8_chars(s)) {
      if (count < 0 || n < count) {
        out.append(with);
        ++n;
      }
      out += c;
      r.check_size(out.size());
    }
    if (count < 0 || n < count) out.append(with);
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
