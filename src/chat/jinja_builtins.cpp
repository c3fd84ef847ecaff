#include "chat/jinja_builtins.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "chat/jinja_strings.h"

namespace gengyun::chat::jinja {
namespace {

// ---- arguments ----

// The argument at `pos` or named `name`, or nullptr.
const Value* find_arg(const CallArgs& a, size_t pos, std::string_view name) {
  if (pos < a.positional.size()) return &a.positional[pos];
  for (const auto& [k, v] : a.keyword) {
    if (k == name) return &v;
  }
  return nullptr;
}

Value arg(const CallArgs& a, size_t pos, std::string_view name, Value fallback) {
  const Value* v = find_arg(a, pos, name);
  return v ? *v : std::move(fallback);
}

// An integer argument as Python takes one (a bool is 0 or 1), `fallback` when it is not given;
// anything else is Python's TypeError.
int64_t int_arg(const CallArgs& a, size_t pos, std::string_view name, int64_t fallback) {
  const Value* v = find_arg(a, pos, name);
  if (v == nullptr) return fallback;
  if (v->is_bool()) return v->as_bool();
  if (!v->is_int()) {
    fail("TypeError", "'" + v->type_name() + "' object cannot be interpreted as an integer");
  }
  return v->as_int();
}

const Value& required_arg(const CallArgs& a, size_t pos, std::string_view name,
                          std::string_view function) {
  const Value* v = find_arg(a, pos, name);
  if (v == nullptr) {
    fail("TypeError",
         std::string(function) + "() missing required argument '" + std::string(name) + "'");
  }
  return *v;
}

const std::string& string_arg(const CallArgs& a, size_t pos, std::string_view name,
                              std::string_view function) {
  const Value& v = required_arg(a, pos, name, function);
  if (!v.is_string()) {
    fail("TypeError", std::string(function) + "() argument '" + std::string(name) +
                          "' must be str, not " + v.type_name());
  }
  return v.as_string();
}

int64_t py_len(const Value& v) {
  switch (v.type()) {
    case Value::Type::kUndefined:
      return 0;
    case Value::Type::kString:
      return static_cast<int64_t>(utf8_length(v.as_string()));
    case Value::Type::kList:
      return static_cast<int64_t>(v.as_list().size());
    case Value::Type::kDict:
      if (!v.as_dict().is_namespace) return static_cast<int64_t>(v.as_dict().items.size());
      break;
    default:
      break;
  }
  fail("TypeError", "object of type '" + v.type_name() + "' has no len()");
}

Value join(Renderer& r, const Value& items, const Value& sep, const Value& attribute);

// Jinja's attribute getter for filters: "a.b.0" walks items (then attributes).
Value get_path(Renderer& r, const Value& item, const Value& attribute) {
  if (attribute.is_int()) return r.get_item(item, attribute);
  if (!attribute.is_string()) return r.get_item(item, attribute);
  Value v = item;
  std::string_view path = attribute.as_string();
  while (true) {
    const size_t dot = path.find('.');
    const std::string part(path.substr(0, dot));
    const bool digits = !part.empty() && std::all_of(part.begin(), part.end(), [](char c) {
      return std::isdigit(static_cast<unsigned char>(c));
    });
    v = digits ? r.get_item(v, Value(static_cast<int64_t>(std::stoll(part))))
               : r.get_item(v, Value(part));
    if (dot == std::string_view::npos) return v;
    path.remove_prefix(dot + 1);
  }
}

// ---- filters ----

Value f_tojson(Renderer&, const Value& s, CallArgs& a) {
  JsonOptions o;
  o.ensure_ascii = arg(a, 0, "ensure_ascii", Value(false)).truthy();
  const Value indent = arg(a, 1, "indent", Value(nullptr));
  if (indent.is_int()) {
    o.indent = static_cast<int>(std::clamp<int64_t>(indent.as_int(), 0, 64));
  } else if (!indent.is_none() && !indent.is_undefined()) {
    fail("TypeError", "tojson indent must be an integer");
  }
  const Value separators = arg(a, 2, "separators", Value(nullptr));
  if (separators.is_list() && separators.as_list().size() == 2 &&
      separators.as_list()[0].is_string() && separators.as_list()[1].is_string()) {
    o.item_separator = separators.as_list()[0].as_string();
    o.key_separator = separators.as_list()[1].as_string();
  } else if (!separators.is_none() && !separators.is_undefined()) {
    fail("TypeError", "tojson separators must be a pair of strings");
  }
  o.sort_keys = arg(a, 3, "sort_keys", Value(false)).truthy();
  return Value(to_json(s, o));
}

// Jinja's do_trim: soft_str(value).strip(chars), so undefined trims to "" and None to "None"
// (QA 2026-12-07: Hermes 3's tool-use template trims a parameter's description, which OpenAI's
// schemas may leave out; it failed with UndefinedError).
Value f_trim(Renderer&, const Value& s, CallArgs& a) {
  return strip(Renderer::stringify(s), arg(a, 0, "chars", Value(nullptr)), true, true);
}

Value f_length(Renderer&, const Value& s, CallArgs&) { return Value(py_len(s)); }

Value f_upper(Renderer&, const Value& s, CallArgs&) {
  const Value t = Renderer::stringify(s);
  return same_spans(t, upper(t.as_string()));
}
Value f_lower(Renderer&, const Value& s, CallArgs&) {
  const Value t = Renderer::stringify(s);
  return same_spans(t, lower(t.as_string()));
}
Value f_capitalize(Renderer&, const Value& s, CallArgs&) {
  const Value t = Renderer::stringify(s);
  return same_spans(t, capitalize(t.as_string()));
}
Value f_title(Renderer& r, const Value& s, CallArgs&) {
  return title_words(r, Renderer::stringify(s));
}

Value f_replace(Renderer& r, const Value& s, CallArgs& a) {
  const Value* count = find_arg(a, 2, "count");
  return Value(replace(r, s.to_str(), required_arg(a, 0, "old", "replace").to_str(),
                       required_arg(a, 1, "new", "replace").to_str(),
                       count == nullptr || count->is_none() ? -1 : int_arg(a, 2, "count", -1)));
}

// The items' strings joined by `sep`, keeping their request text.
Value join(Renderer& r, const Value& items, const Value& sep, const Value& attribute) {
  TextBuilder out;
  bool first = true;
  for (const Value& item : r.iterate(items)) {
    const Value piece = Renderer::stringify(
        attribute.is_none() || attribute.is_undefined() ? item : get_path(r, item, attribute));
    // Checked and counted before it is appended.
    const size_t added = (first ? 0 : sep.as_string().size()) + piece.as_string().size();
    r.check_size(out.size() + added);
    charge_bytes(added);
    if (!first) out.append(sep);
    first = false;
    out.append(piece);
  }
  return out.take();
}

Value f_join(Renderer& r, const Value& s, CallArgs& a) {
  return join(r, s, Renderer::stringify(arg(a, 0, "d", Value(""))),
              arg(a, 1, "attribute", Value(nullptr)));
}

Value f_items(Renderer&, const Value& s, CallArgs&) {
  if (s.is_undefined()) return Value(List{});
  if (!s.is_dict() || s.as_dict().is_namespace) {
    fail("TypeError", "can only get item pairs from a mapping, not " + s.type_name());
  }
  return Value(s.as_dict().item_pairs());
}

Value f_default(Renderer&, const Value& s, CallArgs& a) {
  const bool boolean = arg(a, 1, "boolean", Value(false)).truthy();
  if (s.is_undefined() || (boolean && !s.truthy())) return arg(a, 0, "default_value", Value(""));
  return s;
}

Value f_first(Renderer& r, const Value& s, CallArgs&) {
  List items = r.iterate(s);
  if (items.empty()) return Undefined{"No first item, sequence was empty."};
  return items.front();
}

Value f_last(Renderer& r, const Value& s, CallArgs&) {
  List items = r.iterate(s);
  if (items.empty()) return Undefined{"No last item, sequence was empty."};
  return items.back();
}

// select / reject / selectattr / rejectattr, as Jinja2's _prepare_select_or_reject: the
// attribute (positional), then the test's name, then the test's own arguments, keyword ones
// included (with no test, an item's truth decides and Jinja passes no argument anywhere).
Value select(Renderer& r, const Value& s, CallArgs& a, bool by_attribute, bool keep) {
  size_t next = 0;
  Value attribute;
  if (by_attribute) {
    if (a.positional.empty()) fail("FilterArgumentError", "Missing parameter for attribute name");
    attribute = a.positional[next++];
  }
  std::string test;
  if (next < a.positional.size()) {
    if (!a.positional[next].is_string()) fail("TypeError", "the test name must be a string");
    test = a.positional[next++].as_string();
  }
  CallArgs test_args;
  test_args.positional.assign(
      a.positional.begin() + static_cast<std::ptrdiff_t>(std::min(next, a.positional.size())),
      a.positional.end());
  test_args.keyword = a.keyword;
  List out;
  for (const Value& item : r.iterate(s)) {
    const Value v = by_attribute ? get_path(r, item, attribute) : item;
    CallArgs args = test_args;
    const bool passed = test.empty() ? v.truthy() : r.apply_test(test, v, args);
    if (passed == keep) out.push_back(item);
  }
  return Value(std::move(out));
}

Value f_select(Renderer& r, const Value& s, CallArgs& a) { return select(r, s, a, false, true); }
Value f_reject(Renderer& r, const Value& s, CallArgs& a) { return select(r, s, a, false, false); }
Value f_selectattr(Renderer& r, const Value& s, CallArgs& a) { return select(r, s, a, true, true); }
Value f_rejectattr(Renderer& r, const Value& s, CallArgs& a) {
  return select(r, s, a, true, false);
}

// Jinja2's map: `attribute=` (with `default=`) when no positional argument is given, else a
// filter's name and that filter's arguments, keyword ones included.
Value f_map(Renderer& r, const Value& s, CallArgs& a) {
  List out;
  if (a.positional.empty()) {
    const Value* attribute = find_arg(a, SIZE_MAX, "attribute");
    if (attribute == nullptr) fail("FilterArgumentError", "map requires a filter argument");
    for (const auto& [k, v] : a.keyword) {
      if (k != "attribute" && k != "default")
        fail("FilterArgumentError", "Unexpected keyword argument '" + k + "'");
    }
    // (make_attrgetter: a default of None is no default)
    const Value fallback = arg(a, SIZE_MAX, "default", Value(nullptr));
    for (const Value& item : r.iterate(s)) {
      Value v = get_path(r, item, *attribute);
      out.push_back(v.is_undefined() && !fallback.is_none() ? fallback : v);
    }
    return Value(std::move(out));
  }
  if (!a.positional[0].is_string()) fail("TypeError", "the filter name must be a string");
  const std::string filter = a.positional[0].as_string();
  for (const Value& item : r.iterate(s)) {
    CallArgs args;
    args.positional.assign(a.positional.begin() + 1, a.positional.end());
    args.keyword = a.keyword;
    out.push_back(r.apply_filter(filter, item, args));
  }
  return Value(std::move(out));
}

Value f_string(Renderer&, const Value& s, CallArgs&) { return Value(s.to_str()); }

// Python's int() of a string (whitespace around it and `_` between digits allowed). An integer
// beyond int64 (Python's would be a big integer) is an OverflowError.
bool parse_int(std::string_view text, int base, int64_t& out) {
  const std::string t = strip(Value(text), Value(nullptr), true, true).as_string();
  std::string digits;
  for (char c : t) {
    if (c != '_') digits += c;
  }
  if (digits.empty()) return false;
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(digits.c_str(), &end, base);
  if (end != digits.c_str() + digits.size()) return false;
  if (errno == ERANGE) fail("OverflowError", "integer result too large");
  if (errno != 0) return false;
  out = v;
  return true;
}

// int(d) for a float: truncated; NaN gives `fallback` (Jinja's int filter catches Python's
// ValueError), infinities and values beyond int64 an OverflowError (Python's int would be big).
Value float_to_int(double d, const Value& fallback) {
  if (std::isnan(d)) return fallback;
  if (std::isinf(d)) fail("OverflowError", "cannot convert float infinity to integer");
  const double whole = std::trunc(d);
  if (whole < -0x1p63 || whole >= 0x1p63) fail("OverflowError", "integer result too large");
  return Value(static_cast<int64_t>(whole));
}

Value f_int(Renderer&, const Value& s, CallArgs& a) {
  const Value fallback = arg(a, 0, "default", Value(0));
  const int base = static_cast<int>(
      arg(a, 1, "base", Value(10)).is_int() ? arg(a, 1, "base", Value(10)).as_int() : 10);
  if (s.is_int()) return s;
  if (s.is_bool()) return Value(int64_t{s.as_bool()});
  if (s.is_float()) return float_to_int(s.as_double(), fallback);
  if (s.is_string()) {
    int64_t v = 0;
    if (parse_int(s.as_string(), base, v)) return Value(v);
    char* end = nullptr;
    const std::string t = strip(s, Value(nullptr), true, true).as_string();
    const double d = std::strtod(t.c_str(), &end);
    // ("inf" goes to `fallback`: Jinja catches the OverflowError of int(float("inf")))
    if (!t.empty() && end == t.c_str() + t.size()) {
      return std::isinf(d) ? fallback : float_to_int(d, fallback);
    }
  }
  return fallback;
}

Value f_float(Renderer&, const Value& s, CallArgs& a) {
  const Value fallback = arg(a, 0, "default", Value(0.0));
  if (s.is_number() || s.is_bool()) return Value(s.as_double());
  if (s.is_string()) {
    const std::string t = strip(s, Value(nullptr), true, true).as_string();
    char* end = nullptr;
    const double d = std::strtod(t.c_str(), &end);
    if (!t.empty() && end == t.c_str() + t.size()) return Value(d);
  }
  return fallback;
}

Value f_list(Renderer& r, const Value& s, CallArgs&) { return Value(r.iterate(s)); }

// Jinja's unique: the first item of each key, in order, through a hash set (a step per item
// and per kBytesPerStep bytes of keys).
Value f_unique(Renderer& r, const Value& s, CallArgs& a) {
  const bool case_sensitive = arg(a, 0, "case_sensitive", Value(false)).truthy();
  const Value attribute = arg(a, 1, "attribute", Value(nullptr));
  List out;
  std::unordered_set<std::string> seen;
  for (const Value& item : r.iterate(s)) {
    Value key = attribute.is_none() ? item : get_path(r, item, attribute);
    charge_steps(1);
    if (key.is_string()) charge_bytes(key.as_string().size());
    if (!case_sensitive && key.is_string()) key = Value(lower(key.as_string()));
    std::string hashed = hash_key(key);
    if (seen.insert(std::move(hashed)).second) out.push_back(item);
  }
  return Value(std::move(out));
}

Value f_abs(Renderer&, const Value& s, CallArgs&) {
  if (s.is_int()) {
    if (s.as_int() == INT64_MIN) fail("OverflowError", "integer result too large");
    return Value(s.as_int() < 0 ? -s.as_int() : s.as_int());
  }
  if (s.is_bool()) return Value(int64_t{s.as_bool()});
  if (s.is_float()) return Value(std::fabs(s.as_double()));
  fail("TypeError", "bad operand type for abs(): '" + s.type_name() + "'");
}

// Python's round(x, ndigits) of a float (CPython's float.__round__): the exact binary value of
// x rounded half to even at 10**-ndigits, then the double nearest that decimal. OverflowError
// when the rounding is beyond the largest double.
double round_float(double x, int64_t ndigits) {
  // ndigits past 323 leave every double as it is; under -308 round every double to zero.
  if (!std::isfinite(x) || ndigits > 323) return x;
  if (ndigits < -308) return std::copysign(0.0, x);
  // glibc prints a double's exact expansion: at most 309 digits before the point, 1074 after.
  char exact[1400];
  const int size = std::snprintf(exact, sizeof exact, "%.1074f", std::fabs(x));
  const std::string_view text(exact, static_cast<size_t>(size));
  const size_t point = text.find('.');
  std::string digits(text.substr(0, point));
  digits.append(text.substr(point + 1));
  // The digits kept: those before the place of 10**-ndigits (none when x is under it).
  const int64_t keep = static_cast<int64_t>(point) + ndigits;
  std::string kept = keep > 0 ? digits.substr(0, static_cast<size_t>(keep)) : std::string();
  if (keep >= 0) {
    const std::string_view rest = std::string_view(digits).substr(static_cast<size_t>(keep));
    const bool beyond_half = rest.find_first_not_of('0', 1) != std::string_view::npos;
    const bool odd = !kept.empty() && (kept.back() - '0') % 2 == 1;
    if (rest[0] > '5' || (rest[0] == '5' && (beyond_half || odd))) {
      size_t i = kept.size();
      while (i > 0 && kept[i - 1] == '9') kept[--i] = '0';
      if (i == 0) {
        kept.insert(kept.begin(), '1');
      } else {
        ++kept[i - 1];
      }
    }
  }
  const std::string decimal =
      (std::signbit(x) ? "-" : "") + (kept.empty() ? "0" : kept) + "e" + std::to_string(-ndigits);
  errno = 0;
  const double rounded = std::strtod(decimal.c_str(), nullptr);
  if (errno == ERANGE && std::fabs(rounded) >= 1) {
    fail("OverflowError", "rounded value too large to represent");
  }
  return rounded;
}

// Python's round(n, ndigits) of an integer: n for ndigits >= 0, else n rounded half to even at
// 10**-ndigits (OverflowError past int64, where Python's integer would grow).
int64_t round_int(int64_t n, int64_t ndigits) {
  if (ndigits >= 0) return n;
  if (ndigits < -19) return 0;  // |n| < 9.3e18, under half of 10**20
  __int128 unit = 1;
  for (int64_t k = 0; k < -ndigits; ++k) unit *= 10;
  const __int128 magnitude = n < 0 ? -static_cast<__int128>(n) : n;
  __int128 units = magnitude / unit;
  const __int128 rest = magnitude % unit;
  if (2 * rest > unit || (2 * rest == unit && units % 2 == 1)) ++units;
  const __int128 rounded = (n < 0 ? -units : units) * unit;
  if (rounded > INT64_MAX || rounded < INT64_MIN) fail("OverflowError", "integer result too large");
  return static_cast<int64_t>(rounded);
}

// Jinja's round: Python's round(value, precision) for 'common' (an integer stays an integer);
// for 'ceil' and 'floor' math.ceil/floor(value * 10**precision) / 10**precision, whose integer
// quotient Python divides exactly (so no -0.0) and whose float product fails on infinity
// (OverflowError) and NaN (ValueError).
Value f_round(Renderer&, const Value& s, CallArgs& a) {
  if (!s.is_number() && !s.is_bool())
    fail("TypeError", "round expects a number, not " + s.type_name());
  const std::string method = arg(a, 1, "method", Value("common")).to_str();
  if (method != "common" && method != "ceil" && method != "floor") {
    fail("FilterArgumentError", "method must be common, ceil or floor");
  }
  // round(x, None) is round(x): an integer, half to even.
  if (const Value* p = find_arg(a, 0, "precision"); p != nullptr && p->is_none()) {
    if (method != "common") {
      fail("TypeError", "unsupported operand type(s) for ** or pow(): 'int' and 'NoneType'");
    }
    if (!s.is_float()) return Value(s.is_bool() ? int64_t{s.as_bool()} : s.as_int());
    const double whole = round_float(s.as_double(), 0);
    if (std::isnan(whole)) fail("ValueError", "cannot convert float NaN to integer");
    return float_to_int(whole, Value());
  }
  const int64_t precision = int_arg(a, 0, "precision", 0);
  if (method == "common") {
    if (s.is_float()) return Value(round_float(s.as_double(), precision));
    return Value(round_int(s.is_bool() ? int64_t{s.as_bool()} : s.as_int(), precision));
  }
  // An integer times the integer 10**precision is whole: the exact quotient is the integer.
  if (!s.is_float() && precision >= 0) return Value(s.as_double());
  // 10**precision as Python makes it a float: the int converted (OverflowError past the doubles),
  // or for a negative precision float pow (0.0 under the smallest double).
  if (precision > 308) fail("OverflowError", "int too large to convert to float");
  const double scale = precision >= 0
                           ? std::strtod(("1e" + std::to_string(precision)).c_str(), nullptr)
                           : std::pow(10.0, static_cast<double>(precision));
  const double v = s.as_double() * scale;
  if (std::isnan(v)) fail("ValueError", "cannot convert float NaN to integer");
  if (std::isinf(v)) fail("OverflowError", "cannot convert float infinity to integer");
  const double whole = method == "ceil" ? std::ceil(v) : std::floor(v);
  if (whole == 0) {
    if (scale == 0) fail("ZeroDivisionError", "float division by zero");
    return Value(0.0);
  }
  if (precision < 0) return Value(whole / scale);
  // int / int: the exact quotient's nearest double, as strtod reads the digits over 10**precision.
  char digits[400];
  std::snprintf(digits, sizeof digits, "%.0fe-%lld", whole, static_cast<long long>(precision));
  return Value(std::strtod(digits, nullptr));
}

List sorted(Renderer& r, List items, bool reverse, bool case_sensitive, const Value& attribute) {
  auto key = [&](const Value& item) {
    Value k = attribute.is_none() || attribute.is_undefined() ? item : get_path(r, item, attribute);
    if (!case_sensitive && k.is_string()) {
      charge_bytes(k.as_string().size());
      k = Value(lower(k.as_string()));
    }
    return k;
  };
  std::vector<std::pair<Value, Value>> keyed;
  for (Value& item : items) keyed.emplace_back(key(item), std::move(item));
  std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& x, const auto& y) {
    charge_steps(1);
    return reverse ? less(y.first, x.first) : less(x.first, y.first);
  });
  List out;
  for (auto& [k, v] : keyed) out.push_back(std::move(v));
  return out;
}

Value f_sort(Renderer& r, const Value& s, CallArgs& a) {
  return Value(sorted(r, r.iterate(s), arg(a, 0, "reverse", Value(false)).truthy(),
                      arg(a, 1, "case_sensitive", Value(false)).truthy(),
                      arg(a, 2, "attribute", Value(nullptr))));
}

Value f_dictsort(Renderer& r, const Value& s, CallArgs& a) {
  Value pairs = f_items(r, s, a);
  const bool by_value = arg(a, 1, "by", Value("key")).to_str() == "value";
  return Value(sorted(r, pairs.as_list(), arg(a, 2, "reverse", Value(false)).truthy(),
                      arg(a, 0, "case_sensitive", Value(false)).truthy(), Value(by_value ? 1 : 0)));
}

Value f_reverse(Renderer& r, const Value& s, CallArgs&) {
  if (s.is_string()) {
    // Each code point's bytes [begin, i) go to the mirrored place.
    const std::string& in = s.as_string();
    std::string out(in.size(), '\0');
    for (size_t i = 0; i < in.size();) {
      const size_t begin = i;
      next_code_point(in, i);
      std::copy(in.begin() + static_cast<std::ptrdiff_t>(begin),
                in.begin() + static_cast<std::ptrdiff_t>(i),
                out.end() - static_cast<std::ptrdiff_t>(i));
    }
    return Value(std::move(out));
  }
  List items = r.iterate(s);
  std::reverse(items.begin(), items.end());
  return Value(std::move(items));
}

Value f_indent(Renderer& r, const Value& s, CallArgs& a) {
  // A string width is the indentation itself; else " " * width.
  const Value width = arg(a, 0, "width", Value(4));
  std::string pad;
  if (width.is_string()) {
    pad = width.as_string();
  } else {
    const int64_t spaces = std::max<int64_t>(int_arg(a, 0, "width", 4), 0);
    r.check_size(static_cast<uint64_t>(spaces));
    pad.assign(static_cast<size_t>(spaces), ' ');
  }
  const bool first = arg(a, 1, "first", Value(false)).truthy();
  const bool blank = arg(a, 2, "blank", Value(false)).truthy();
  const List lines = split(Value(s.to_str() + "\n"), Value("\n"), -1, false);
  std::string out;
  // The text ended with "\n" before the one added, so the last piece is always empty.
  for (size_t i = 0; i + 1 < lines.size(); ++i) {
    const std::string& line = lines[i].as_string();
    if (i > 0) {
      out += '\n';
      if (blank || !line.empty()) out += pad;
    }
    out += line;
    r.check_size(out.size());
  }
  if (first) out = pad + out;
  return Value(std::move(out));
}

// Jinja's len(re.findall(r"\w+", s)): the runs of word characters, counted without building
// them.
Value f_wordcount(Renderer&, const Value& s, CallArgs&) {
  const std::string text = s.to_str();
  int64_t words = 0;
  bool in_word = false;
  for (size_t i = 0; i < text.size();) {
    const bool word = py_word_char(next_code_point(text, i));
    if (word && !in_word) ++words;
    in_word = word;
  }
  return Value(words);
}

Value min_max(Renderer& r, const Value& s, CallArgs& a, bool want_max) {
  const bool case_sensitive = arg(a, 0, "case_sensitive", Value(false)).truthy();
  const Value attribute = arg(a, 1, "attribute", Value(nullptr));
  List items = r.iterate(s);
  if (items.empty()) return Undefined{"No aggregated item, sequence was empty."};
  List order = sorted(r, items, want_max, case_sensitive, attribute);
  return order.front();
}

Value f_min(Renderer& r, const Value& s, CallArgs& a) { return min_max(r, s, a, false); }
Value f_max(Renderer& r, const Value& s, CallArgs& a) { return min_max(r, s, a, true); }

Value f_sum(Renderer& r, const Value& s, CallArgs& a) {
  const Value attribute = arg(a, 0, "attribute", Value(nullptr));
  Value total = arg(a, 1, "start", Value(0));
  for (const Value& item : r.iterate(s)) {
    const Value v = attribute.is_none() ? item : get_path(r, item, attribute);
    if (!(v.is_number() || v.is_bool()) || !(total.is_number() || total.is_bool())) {
      fail("TypeError", "unsupported operand type(s) for +: '" + total.type_name() + "' and '" +
                            v.type_name() + "'");
    }
    if (total.is_float() || v.is_float()) {
      total = Value(total.as_double() + v.as_double());
    } else {
      int64_t out = 0;
      if (__builtin_add_overflow(total.is_bool() ? int64_t{total.as_bool()} : total.as_int(),
                                 v.is_bool() ? int64_t{v.as_bool()} : v.as_int(), &out)) {
        fail("OverflowError", "integer result too large");
      }
      total = Value(out);
    }
  }
  return total;
}

Value f_safe(Renderer&, const Value& s, CallArgs&) { return s; }

// HTML escaping; the result's size is checked and counted before it is built.
Value f_escape(Renderer& r, const Value& s, CallArgs&) {
  const std::string text = s.to_str();
  size_t size = text.size();
  for (const char c : text) {
    if (c == '&' || c == '"' || c == '\'') {
      size += 4;
    } else if (c == '<' || c == '>') {
      size += 3;
    }
  }
  r.check_size(size);
  charge_bytes(size);
  std::string out;
  out.reserve(size);
  for (const char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&#34;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return Value(std::move(out));
}

Value f_format(Renderer& r, const Value& s, CallArgs& a) {
  if (!a.keyword.empty()) fail("FilterArgumentError", "format takes positional arguments only");
  return Value(percent_format(
      r, s.to_str(), a.positional.size() == 1 ? a.positional[0] : Value(List(a.positional))));
}

Value f_attr(Renderer& r, const Value& s, CallArgs& a) {
  return r.get_attr(s, string_arg(a, 0, "name", "attr"));
}

Value f_pprint(Renderer&, const Value& s, CallArgs&) { return Value(s.repr()); }

Value f_center(Renderer& r, const Value& s, CallArgs& a) {
  const std::string text = s.to_str();
  const int64_t width = int_arg(a, 0, "width", 80);
  const auto length = static_cast<int64_t>(utf8_length(text));
  if (width <= length) return Value(text);
  const int64_t total = width - length;
  r.check_size(text.size() + static_cast<uint64_t>(total));
  const int64_t left = total / 2 + (total & width & 1);
  return Value(std::string(static_cast<size_t>(left), ' ') + text +
               std::string(static_cast<size_t>(total - left), ' '));
}

// An int, bool or float as a number Python compares (the UndefinedError of an undefined one;
// the TypeError of `value >= 0` for anything else).
void check_comparable(const Value& v) {
  if (v.is_undefined()) fail("UndefinedError", v.undefined_hint());
  if (!v.is_number() && !v.is_bool()) {
    fail("TypeError", "'>=' not supported between instances of '" + v.type_name() + "' and 'int'");
  }
}

// Python's `a >= b` for numbers checked by check_comparable (false when either is nan).
bool at_least(const Value& a, const Value& b) { return less(b, a) || equals(a, b); }

// An int or bool checked by check_comparable as Python's int of it.
int64_t integer(const Value& v) { return v.is_bool() ? int64_t{v.as_bool()} : v.as_int(); }

// `s + end` as Python adds the two strings truncate joins.
Value concatenate(Value head, const Value& end) {
  if (end.is_undefined()) fail("UndefinedError", end.undefined_hint());
  if (!end.is_string()) {
    fail("TypeError", "can only concatenate str (not \"" + end.type_name() + "\") to str");
  }
  TextBuilder out;
  out.append(head);
  out.append(end);
  return out.take();
}

// Jinja's do_truncate: `s` as it is when its len() is at most length + leeway (leeway none:
// Jinja's default policy, 5); else its first length - len(end) code points, cut back to before
// their last space unless killwords, followed by `end`. Jinja's asserts are its AssertionError.
Value f_truncate(Renderer&, const Value& s, CallArgs& a) {
  const Value length = arg(a, 0, "length", Value(255));
  const bool killwords = arg(a, 1, "killwords", Value(false)).truthy();
  const Value end = arg(a, 2, "end", Value("..."));
  Value leeway = arg(a, 3, "leeway", Value(nullptr));
  if (leeway.is_none()) leeway = Value(5);
  const int64_t end_length = py_len(end);
  check_comparable(length);
  if (!at_least(length, Value(end_length))) {
    fail("AssertionError",
         "expected length >= " + std::to_string(end_length) + ", got " + length.to_str());
  }
  check_comparable(leeway);
  if (!at_least(leeway, Value(0)))
    fail("AssertionError", "expected leeway >= 0, got " + leeway.to_str());
  const int64_t size = py_len(s);
  if (length.is_float() || leeway.is_float()) {
    if (static_cast<double>(size) <= length.as_double() + leeway.as_double()) return s;
  } else if (static_cast<__int128>(size) <=
             static_cast<__int128>(integer(length)) + integer(leeway)) {
    return s;
  }
  if (length.is_float()) {
    fail("TypeError", "slice indices must be integers or None or have an __index__ method");
  }
  // 0 <= keep < size: length >= len(end), and size > length.
  const int64_t keep = integer(length) - end_length;
  if (s.is_dict()) fail("TypeError", "unhashable type: 'slice'");
  if (s.is_list()) {
    if (!killwords) fail("AttributeError", "'list' object has no attribute 'rsplit'");
    if (!end.is_list()) {
      fail("TypeError", "can only concatenate list (not \"" + end.type_name() + "\") to list");
    }
    List out(s.as_list().begin(), s.as_list().begin() + keep);
    out.insert(out.end(), end.as_list().begin(), end.as_list().end());
    return Value(std::move(out));
  }
  const std::string& text = s.as_string();
  size_t cut = 0;
  for (int64_t i = 0; i < keep; ++i) next_code_point(text, cut);
  if (!killwords) {
    // s[:keep].rsplit(" ", 1)[0]
    const size_t space = std::string_view(text).substr(0, cut).rfind(' ');
    if (space != std::string_view::npos) cut = space;
  }
  return concatenate(substring(s, 0, cut), end);
}

// Jinja's do_batch: lists of `linecount` items, the last filled up to linecount with fill_with
// unless that is none (a list where Jinja gives a generator). linecount is compared as Python
// compares it: one it never equals puts every item in one list.
Value f_batch(Renderer& r, const Value& s, CallArgs& a) {
  const Value& linecount = required_arg(a, 0, "linecount", "batch");
  const Value fill = arg(a, 1, "fill_with", Value(nullptr));
  List out;
  List row;
  for (const Value& item : r.iterate(s)) {
    if (equals(Value(static_cast<int64_t>(row.size())), linecount)) {
      out.emplace_back(std::move(row));
      row = List();
    }
    row.push_back(item);
  }
  if (row.empty()) return Value(std::move(out));
  const Value filled(static_cast<int64_t>(row.size()));
  if (!fill.is_none() && less(filled, linecount)) {
    // [fill_with] * (linecount - len(tmp)), checked and counted before it is built.
    if (linecount.is_float())
      fail("TypeError", "can't multiply sequence by non-int of type 'float'");
    const auto missing = static_cast<uint64_t>(linecount.as_int() - filled.as_int());
    check_value_bytes(missing > SIZE_MAX / sizeof(Value) ? SIZE_MAX : missing * sizeof(Value));
    charge_steps(static_cast<int64_t>(missing));
    row.insert(row.end(), static_cast<size_t>(missing), fill);
  }
  out.emplace_back(std::move(row));
  return Value(std::move(out));
}

// Jinja's do_slice: the items in `slices` lists of consecutive items, the first len % slices of
// them one item longer; with fill_with (not none) the shorter ones get it as a last item (a list
// where Jinja gives a generator). slices is an integer as Python's // and range() take it.
Value f_slice(Renderer& r, const Value& s, CallArgs& a) {
  const Value& count = required_arg(a, 0, "slices", "slice");
  const Value fill = arg(a, 1, "fill_with", Value(nullptr));
  const List items = r.iterate(s);
  if (count.is_undefined()) fail("UndefinedError", count.undefined_hint());
  if (count.is_float()) {
    if (count.as_double() == 0) fail("ZeroDivisionError", "float floor division by zero");
    fail("TypeError", "'float' object cannot be interpreted as an integer");
  }
  if (!count.is_int() && !count.is_bool()) {
    fail("TypeError", "unsupported operand type(s) for //: 'int' and '" + count.type_name() + "'");
  }
  const int64_t slices = count.is_bool() ? int64_t{count.as_bool()} : count.as_int();
  if (slices == 0) fail("ZeroDivisionError", "integer division or modulo by zero");
  if (slices < 0) return Value(List());
  // The lists are checked and counted before they are built.
  const auto n = static_cast<uint64_t>(slices);
  check_value_bytes(n > SIZE_MAX / sizeof(Value) ? SIZE_MAX : n * sizeof(Value));
  charge_steps(slices);
  const auto length = static_cast<int64_t>(items.size());
  const int64_t per_slice = length / slices;
  const int64_t with_extra = length % slices;
  int64_t offset = 0;
  List out;
  out.reserve(static_cast<size_t>(slices));
  for (int64_t k = 0; k < slices; ++k) {
    const int64_t begin = offset + k * per_slice;
    if (k < with_extra) ++offset;
    const int64_t end = offset + (k + 1) * per_slice;
    List column(items.begin() + begin, items.begin() + end);
    if (!fill.is_none() && k >= with_extra) column.push_back(fill);
    out.emplace_back(std::move(column));
  }
  return Value(std::move(out));
}

// ---- wordwrap: Python's textwrap.wrap as Jinja's do_wordwrap calls it ----

// textwrap's whitespace: \t \n \v \f \r and space (ASCII only).
bool wrap_space(uint32_t cp) { return cp == ' ' || (cp >= '\t' && cp <= '\r'); }

// The code point of `t` at byte `i`, or UINT32_MAX at the end.
uint32_t code_point_at(std::string_view t, size_t i) {
  return i < t.size() ? next_code_point(t, i) : UINT32_MAX;
}

// The code point `back` code points before byte `i` (1: the one ending at `i`), or UINT32_MAX
// before the start.
uint32_t code_point_before(std::string_view t, size_t i, int back) {
  for (int k = 1; k < back && i > 0; ++k) i = previous_code_point(t, i);
  if (i == 0) return UINT32_MAX;
  return code_point_at(t, previous_code_point(t, i));
}

// textwrap's letter, `[^\d\W]`, and word punctuation, `[\w!"'&.,?]`.
bool wrap_letter(uint32_t cp) { return py_word_char(cp) && !py_decimal(cp); }
bool wrap_word_punct(uint32_t cp) {
  return py_word_char(cp) ||
         (cp < 0x80 &&
          std::string_view("!\"'&.,?").find(static_cast<char>(cp)) != std::string_view::npos);
}

// Whether `-{2,}\w` matches at byte `q` of `t`.
bool dashes_then_word(std::string_view t, size_t q) {
  size_t end = q;
  while (end < t.size() && t[end] == '-') ++end;
  return end - q >= 2 && end < t.size() && py_word_char(code_point_at(t, end));
}

// The end of the chunk of `t` that starts at byte `p`, as textwrap's _split finds it: a run of
// whitespace, else with `hyphens` its wordsep_re (an em-dash after word punctuation, or the
// shortest run of non-whitespace that ends before a hyphen between letters, before whitespace or
// the end, or before an em-dash), else a run of non-whitespace.
size_t wrap_chunk_end(std::string_view t, size_t p, bool hyphens) {
  size_t q = p;
  const bool space = wrap_space(code_point_at(t, p));
  if (space || !hyphens) {
    while (q < t.size()) {
      size_t next = q;
      if (wrap_space(next_code_point(t, next)) != space) break;
      q = next;
    }
    return q;
  }
  // (?<=wp) -{2,} (?=\w)
  if (t[p] == '-' && wrap_word_punct(code_point_before(t, p, 1)) && dashes_then_word(t, p)) {
    while (q < t.size() && t[q] == '-') ++q;
    return q;
  }
  next_code_point(t, q);
  while (true) {
    // -(?: (?<=lt{2}-) | (?<=lt-lt-)) (?= lt -? lt)
    if (q < t.size() && t[q] == '-') {
      const bool behind =
          wrap_letter(code_point_before(t, q, 1)) &&
          (wrap_letter(code_point_before(t, q, 2)) ||
           (code_point_before(t, q, 2) == '-' && wrap_letter(code_point_before(t, q, 3))));
      size_t r = q + 1;
      if (behind && wrap_letter(code_point_at(t, r))) {
        next_code_point(t, r);
        size_t s = r;
        const bool dash = code_point_at(t, r) == '-' && wrap_letter(code_point_at(t, ++s));
        if (dash || wrap_letter(code_point_at(t, r))) return q + 1;
      }
    }
    // (?=ws|\Z)
    if (q >= t.size() || wrap_space(code_point_at(t, q))) return q;
    // (?<=wp) (?=-{2,}\w)
    if (wrap_word_punct(code_point_before(t, q, 1)) && dashes_then_word(t, q)) return q;
    next_code_point(t, q);
  }
}

// Python's chunk.strip() == '' (empty, or Python's whitespace only).
bool blank(std::string_view t) {
  for (size_t i = 0; i < t.size();) {
    if (!py_space(next_code_point(t, i))) return false;
  }
  return true;
}

// A chunk (or what _handle_long_word left of one): bytes [begin, end) of the line, `length`
// code points.
struct WrapChunk {
  size_t begin = 0;
  size_t end = 0;
  int64_t length = 0;
};

// Jinja's do_wordwrap: each of the lines of `s` (str.splitlines) wrapped by textwrap.wrap(line,
// width, expand_tabs=False, replace_whitespace=False, break_long_words, break_on_hyphens),
// every line joined by wrapstring (none: "\n").
Value f_wordwrap(Renderer& r, const Value& s, CallArgs& a) {
  const Value width = arg(a, 0, "width", Value(79));
  const bool break_long_words = arg(a, 1, "break_long_words", Value(true)).truthy();
  Value wrapstring = arg(a, 2, "wrapstring", Value(nullptr));
  const Value break_on_hyphens = arg(a, 3, "break_on_hyphens", Value(true));
  if (wrapstring.is_none()) wrapstring = Value("\n");
  if (wrapstring.is_undefined()) fail("UndefinedError", wrapstring.undefined_hint());
  if (!wrapstring.is_string()) {
    fail("AttributeError", "'" + wrapstring.type_name() + "' object has no attribute 'join'");
  }
  if (s.is_undefined()) fail("UndefinedError", s.undefined_hint());
  if (!s.is_string()) {
    fail("AttributeError", "'" + s.type_name() + "' object has no attribute 'splitlines'");
  }
  // textwrap splits with wordsep_re only when break_on_hyphens is True itself; it breaks long
  // words at hyphens when it is true.
  const bool hyphen_chunks = break_on_hyphens.is_bool() && break_on_hyphens.as_bool();
  const bool hyphen_breaks = break_on_hyphens.truthy();
  TextBuilder out;
  const auto emit = [&](const Value& piece) {
    r.check_size(out.size() + piece.as_string().size());
    charge_bytes(piece.as_string().size());
    out.append(piece);
  };
  bool first_paragraph = true;
  for (const Value& line : split_lines(s, false)) {
    if (!first_paragraph) emit(wrapstring);
    first_paragraph = false;
    // TextWrapper._wrap_chunks' check, for each line wrapped.
    if (width.is_undefined()) fail("UndefinedError", width.undefined_hint());
    if (!width.is_number() && !width.is_bool()) {
      fail("TypeError",
           "'<=' not supported between instances of '" + width.type_name() + "' and 'int'");
    }
    if (width.as_double() <= 0) {
      fail("ValueError", "invalid width " + width.repr() + " (must be > 0)");
    }
    const double limit = width.as_double();
    const std::string_view t = line.as_string();
    // The next chunk, read when needed (none: begin == t.size()).
    WrapChunk chunk;
    size_t read = 0;
    const auto next_chunk = [&] {
      chunk = WrapChunk{read, read, 0};
      if (read >= t.size()) return;
      chunk.end = wrap_chunk_end(t, read, hyphen_chunks);
      chunk.length = static_cast<int64_t>(utf8_length(t.substr(read, chunk.end - read)));
      read = chunk.end;
      charge_steps(1);
    };
    next_chunk();
    const auto more = [&] { return chunk.begin < t.size(); };
    bool first_line = true;
    while (more()) {
      std::vector<WrapChunk> cur_line;
      int64_t cur_len = 0;
      if (!first_line && blank(t.substr(chunk.begin, chunk.end - chunk.begin))) next_chunk();
      while (more() && static_cast<double>(cur_len + chunk.length) <= limit) {
        cur_line.push_back(chunk);
        cur_len += chunk.length;
        next_chunk();
      }
      if (more() && static_cast<double>(chunk.length) > limit) {
        // _handle_long_word
        if (break_long_words) {
          if (width.is_float() && limit >= 1) {
            fail("TypeError", "slice indices must be integers or None or have an __index__ method");
          }
          const int64_t space_left =
              limit < 1 ? 1 : (width.is_bool() ? int64_t{1} : width.as_int()) - cur_len;
          // chunk[:end]: `end` code points, after the last hyphen within space_left when
          // break_on_hyphens and a non-hyphen precedes it.
          int64_t end = space_left;
          size_t end_byte = chunk.begin;
          size_t hyphen_byte = 0;
          bool hyphen = false;
          bool other_seen = false;
          for (int64_t k = 0; k < space_left && end_byte < chunk.end; ++k) {
            const uint32_t cp = next_code_point(t, end_byte);
            if (cp == '-' && chunk.length > space_left && hyphen_breaks) {
              hyphen = k > 0 && other_seen;
              if (hyphen) {
                end = k + 1;
                hyphen_byte = end_byte;
              }
            } else if (cp != '-') {
              other_seen = true;
            }
          }
          // (A later hyphen with only hyphens before it is no break: rfind finds the last one.)
          if (hyphen) end_byte = hyphen_byte;
          if (!hyphen) end = std::min(space_left, chunk.length);
          cur_line.push_back(WrapChunk{chunk.begin, end_byte, end});
          chunk.begin = end_byte;
          chunk.length -= end;
        } else if (cur_line.empty()) {
          cur_line.push_back(chunk);
          next_chunk();
        }
        cur_len = 0;
        for (const WrapChunk& c : cur_line) cur_len += c.length;
      }
      if (!cur_line.empty() &&
          blank(t.substr(cur_line.back().begin, cur_line.back().end - cur_line.back().begin))) {
        cur_len -= cur_line.back().length;
        cur_line.pop_back();
      }
      if (!cur_line.empty()) {
        charge_steps(1);  // a step per line, as per chunk
        if (!first_line) emit(wrapstring);
        first_line = false;
        emit(substring(line, cur_line.front().begin, cur_line.back().end));
      }
    }
  }
  return out.take();
}

// ---- tests ----

bool t_defined(Renderer&, const Value& s, CallArgs&) { return !s.is_undefined(); }
bool t_undefined(Renderer&, const Value& s, CallArgs&) { return s.is_undefined(); }
bool t_none(Renderer&, const Value& s, CallArgs&) { return s.is_none(); }
bool t_boolean(Renderer&, const Value& s, CallArgs&) { return s.is_bool(); }
bool t_false(Renderer&, const Value& s, CallArgs&) { return s.is_bool() && !s.as_bool(); }
bool t_true(Renderer&, const Value& s, CallArgs&) { return s.is_bool() && s.as_bool(); }
bool t_integer(Renderer&, const Value& s, CallArgs&) { return s.is_int(); }
bool t_float(Renderer&, const Value& s, CallArgs&) { return s.is_float(); }
bool t_number(Renderer&, const Value& s, CallArgs&) { return s.is_number() || s.is_bool(); }
bool t_string(Renderer&, const Value& s, CallArgs&) { return s.is_string(); }
bool t_mapping(Renderer&, const Value& s, CallArgs&) {
  return s.is_dict() && !s.as_dict().is_namespace;
}
bool t_iterable(Renderer&, const Value& s, CallArgs&) {
  return s.is_undefined() || s.is_string() || s.is_list() ||
         (s.is_dict() && !s.as_dict().is_namespace);
}
bool t_callable(Renderer&, const Value& s, CallArgs&) {
  return s.is_function() || (s.is_dict() && s.as_dict().find("__call__") != nullptr);
}
bool t_sameas(Renderer&, const Value& s, CallArgs& a) {
  const Value& other = required_arg(a, 0, "other", "sameas");
  if (s.type() != other.type()) return false;
  if (s.is_list()) return s.list_ptr() == other.list_ptr();
  if (s.is_dict()) return &s.as_dict() == &other.as_dict();
  return equals(s, other);
}
bool t_eq(Renderer&, const Value& s, CallArgs& a) {
  return equals(s, required_arg(a, 0, "other", "eq"));
}
bool t_ne(Renderer&, const Value& s, CallArgs& a) {
  return !equals(s, required_arg(a, 0, "other", "ne"));
}
bool t_lt(Renderer&, const Value& s, CallArgs& a) {
  return less(s, required_arg(a, 0, "other", "lt"));
}
bool t_gt(Renderer&, const Value& s, CallArgs& a) {
  return less(required_arg(a, 0, "other", "gt"), s);
}
bool t_le(Renderer&, const Value& s, CallArgs& a) {
  return !less(required_arg(a, 0, "other", "le"), s);
}
bool t_ge(Renderer&, const Value& s, CallArgs& a) {
  return !less(s, required_arg(a, 0, "other", "ge"));
}
bool t_in(Renderer&, const Value& s, CallArgs& a) {
  return contains(required_arg(a, 0, "seq", "in"), s);
}
bool t_sequence(Renderer&, const Value& s, CallArgs&) {
  return s.is_undefined() || s.is_string() || s.is_list() ||
         (s.is_dict() && !s.as_dict().is_namespace);
}

int64_t int_subject(const Value& s, const char* test) {
  if (s.is_int()) return s.as_int();
  if (s.is_bool()) return s.as_bool();
  fail("TypeError",
       std::string("the '") + test + "' test expects an integer, not " + s.type_name());
}
bool t_odd(Renderer&, const Value& s, CallArgs&) { return int_subject(s, "odd") % 2 != 0; }
bool t_even(Renderer&, const Value& s, CallArgs&) { return int_subject(s, "even") % 2 == 0; }
bool t_divisibleby(Renderer&, const Value& s, CallArgs& a) {
  const Value& n = required_arg(a, 0, "num", "divisibleby");
  if (!n.is_int() || n.as_int() == 0)
    fail("ZeroDivisionError", "divisibleby needs a non-zero integer");
  return int_subject(s, "divisibleby") % n.as_int() == 0;
}
bool t_lower(Renderer&, const Value& s, CallArgs&) { return cased(s.to_str(), false); }
bool t_upper(Renderer&, const Value& s, CallArgs&) { return cased(s.to_str(), true); }
bool t_escaped(Renderer&, const Value&, CallArgs&) { return false; }

// ---- methods ----

// The code points [start, end) that Python's str.find, count, startswith and the like search
// when given `start` and `end` (the arguments at `pos` and `pos + 1`): slice indices, None for
// the ends, adjusted as CPython's ADJUST_INDICES (an end past the length is the length, a
// negative index counts from the end and stops at 0, a start past the length stays there).
// False when start > end (those methods then find nothing, not even ""); else `window` is the
// bytes of those code points and `start` their first's index.
bool search_window(const std::string& s, const CallArgs& a, size_t pos, int64_t& start,
                   std::string_view& window) {
  const auto index = [&](size_t at, int64_t fallback) {
    const Value* v = find_arg(a, at, "");
    if (v == nullptr || v->is_none()) return fallback;
    if (v->is_bool()) return int64_t{v->as_bool()};
    if (!v->is_int())
      fail("TypeError", "slice indices must be integers or None or have an __index__ method");
    return v->as_int();
  };
  const auto length = static_cast<int64_t>(utf8_length(s));
  const auto adjust = [length](int64_t i) { return i < 0 ? std::max<int64_t>(i + length, 0) : i; };
  start = adjust(index(pos, 0));
  const int64_t end = std::min(adjust(index(pos + 1, length)), length);
  if (start > end) return false;
  size_t begin_byte = 0;
  size_t end_byte = 0;
  int64_t cp = 0;
  for (size_t i = 0;; ++cp) {
    if (cp == start) begin_byte = i;
    if (cp == end) {
      end_byte = i;
      break;
    }
    next_code_point(s, i);
  }
  window = std::string_view(s).substr(begin_byte, end_byte - begin_byte);
  return true;
}

// Fails with the size limit's error unless `base` + `count` * `unit` bytes fit it (computed
// without overflow).
void check_padded_size(Renderer& r, size_t base, uint64_t count, size_t unit) {
  const unsigned __int128 size = base + static_cast<unsigned __int128>(count) * unit;
  r.check_size(size > SIZE_MAX ? SIZE_MAX : static_cast<size_t>(size));
}

// Python's str.center, ljust and rjust (`name`): `self` padded to `width` code points with
// fillchar (one code point, a space by default), checked against the size limit before it is
// built.
Value pad(Renderer& r, const Value& self, const std::string& name, CallArgs& a) {
  required_arg(a, 0, "width", name);
  const int64_t width = int_arg(a, 0, "width", 0);
  Value fill(" ");
  if (const Value* f = find_arg(a, 1, "fillchar")) {
    if (!f->is_string()) {
      fail("TypeError", "The fill character must be a unicode character, not " + f->type_name());
    }
    if (utf8_length(f->as_string()) != 1) {
      fail("TypeError", "The fill character must be exactly one character long");
    }
    fill = *f;
  }
  const std::string& s = self.as_string();
  const auto length = static_cast<int64_t>(utf8_length(s));
  if (width <= length) return self;
  const int64_t total = width - length;
  const std::string& unit = fill.as_string();
  check_padded_size(r, s.size(), static_cast<uint64_t>(total), unit.size());
  charge_bytes(s.size() + static_cast<size_t>(total) * unit.size());
  // CPython's pad: center puts the odd fill character on the left when width is odd.
  const int64_t left = name == "ljust"   ? 0
                       : name == "rjust" ? total
                                         : total / 2 + (total & width & 1);
  const bool request = fill.spans() != nullptr;
  TextBuilder out;
  for (int64_t i = 0; i < left; ++i) out.append_text(unit, request);
  out.append(self);
  for (int64_t i = left; i < total; ++i) out.append_text(unit, request);
  return out.take();
}

// Python's str.zfill: `self` padded with '0' to `width` code points, after a leading sign.
Value zfill(Renderer& r, const Value& self, CallArgs& a) {
  required_arg(a, 0, "width", "zfill");
  const int64_t width = int_arg(a, 0, "width", 0);
  const std::string& s = self.as_string();
  const auto length = static_cast<int64_t>(utf8_length(s));
  if (width <= length) return self;
  const auto zeros = static_cast<uint64_t>(width - length);
  check_padded_size(r, s.size(), zeros, 1);
  charge_bytes(s.size() + static_cast<size_t>(zeros));
  const size_t sign = !s.empty() && (s[0] == '+' || s[0] == '-') ? 1 : 0;
  TextBuilder out;
  out.append(substring(self, 0, sign));
  out.append_text(std::string(static_cast<size_t>(zeros), '0'));
  out.append(substring(self, sign, s.size()));
  return out.take();
}

// Python's str.partition (or rpartition, `from_right`): the text before the first (last) `sep`,
// `sep`, and the text after it; [self, '', ''] (['', '', self]) when there is none.
Value partition(const Value& self, CallArgs& a, bool from_right) {
  const Value& sep = required_arg(a, 0, "sep", from_right ? "rpartition" : "partition");
  if (!sep.is_string()) fail("TypeError", "must be str, not " + sep.type_name());
  if (sep.as_string().empty()) fail("ValueError", "empty separator");
  const std::string& s = self.as_string();
  const size_t at = from_right ? rfind_text(s, sep.as_string()) : find_text(s, sep.as_string(), 0);
  if (at == std::string::npos) {
    return from_right ? Value(List{Value(""), Value(""), self})
                      : Value(List{self, Value(""), Value("")});
  }
  const size_t after = at + sep.as_string().size();
  return Value(
      List{substring(self, 0, at), substring(self, at, after), substring(self, after, s.size())});
}

Value string_method(Renderer& r, const Value& self, const std::string& name, CallArgs& a) {
  const std::string& s = self.as_string();
  charge_bytes(s.size());  // each method reads the string once (searches count their own)
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    return strip(self, arg(a, 0, "chars", Value(nullptr)), name != "rstrip", name != "lstrip");
  }
  if (name == "split" || name == "rsplit") {
    return Value(split(self, arg(a, 0, "sep", Value(nullptr)), int_arg(a, 1, "maxsplit", -1),
                       name == "rsplit"));
  }
  if (name == "splitlines") return Value(split_lines(self, int_arg(a, 0, "keepends", 0) != 0));
  if (name == "startswith" || name == "endswith") {
    const Value& affix = required_arg(a, 0, "prefix", name);
    int64_t start = 0;
    std::string_view window;
    if (!search_window(s, a, 1, start, window)) return Value(false);
    return Value(prefix_test(Value(window), affix, name == "endswith"));
  }
  if (name == "upper") return same_spans(self, upper(s));
  if (name == "lower") return same_spans(self, lower(s));
  if (name == "title") return same_spans(self, title(s));
  if (name == "capitalize") return same_spans(self, capitalize(s));
  if (name == "replace") {
    return Value(replace(r, s, string_arg(a, 0, "old", "replace"),
                         string_arg(a, 1, "new", "replace"), int_arg(a, 2, "count", -1)));
  }
  if (name == "find" || name == "rfind" || name == "index" || name == "rindex") {
    const std::string& sub = string_arg(a, 0, "sub", name);
    int64_t start = 0;
    std::string_view window;
    const size_t at = !search_window(s, a, 1, start, window) ? std::string::npos
                      : name[0] == 'r'                       ? rfind_text(window, sub)
                                                             : find_text(window, sub, 0);
    if (at == std::string::npos) {
      if (name.find("index") != std::string::npos) fail("ValueError", "substring not found");
      return Value(-1);
    }
    return Value(start + static_cast<int64_t>(utf8_length(window.substr(0, at))));
  }
  if (name == "count") {
    const std::string& sub = string_arg(a, 0, "sub", "count");
    int64_t start = 0;
    std::string_view window;
    if (!search_window(s, a, 1, start, window)) return Value(0);
    if (sub.empty()) return Value(static_cast<int64_t>(utf8_length(window) + 1));
    int64_t n = 0;
    for (size_t at = find_text(window, sub, 0); at != std::string::npos;
         at = find_text(window, sub, at + sub.size())) {
      ++n;
    }
    return Value(n);
  }
  if (name == "join") return join(r, required_arg(a, 0, "iterable", "join"), self, Value(nullptr));
  if (name == "center" || name == "ljust" || name == "rjust") return pad(r, self, name, a);
  if (name == "zfill") return zfill(r, self, a);
  if (name == "partition" || name == "rpartition") return partition(self, a, name[0] == 'r');
  if (name == "isdigit" || name == "isalpha" || name == "isalnum" || name == "isspace" ||
      name == "islower" || name == "isupper") {
    if (s.empty()) return Value(false);
    if (name == "islower" || name == "isupper") return Value(cased(s, name == "isupper"));
    for (size_t i = 0; i < s.size();) {
      const uint32_t cp = next_code_point(s, i);
      const bool ok = name == "isspace"   ? py_space(cp)
                      : cp >= 0x80        ? name != "isdigit"
                      : name == "isdigit" ? std::isdigit(static_cast<int>(cp)) != 0
                      : name == "isalpha" ? std::isalpha(static_cast<int>(cp)) != 0
                                          : std::isalnum(static_cast<int>(cp)) != 0;
      if (!ok) return Value(false);
    }
    return Value(true);
  }
  fail("UndefinedError", "'str object' has no attribute '" + name + "'");
}

Value dict_method(const Value& self, const std::string& name, CallArgs& a) {
  const Dict& d = self.as_dict();
  if (name == "items") return Value(d.item_pairs());
  if (name == "keys") return Value(d.key_list());
  if (name == "values") {
    List out;
    for (const auto& [k, v] : d.items) out.push_back(v);
    return Value(std::move(out));
  }
  if (const Value* v = d.find_key(required_arg(a, 0, "key", "get"))) return *v;
  return arg(a, 1, "default", Value(nullptr));
}

// The str methods templates may call, with their parameters (Python's; positional only but
// split's and splitlines').
const Signature* string_method_signature(const std::string& name) {
  using P = std::vector<std::string_view>;
  const Signature none;
  const Signature chars{P{"chars"}, false};
  const Signature split{P{"sep", "maxsplit"}};
  const Signature prefix{P{"prefix", "start", "end"}, false};
  const Signature sub{P{"sub", "start", "end"}, false};
  const Signature width_fill{P{"width", "fillchar"}, false};
  static const std::unordered_map<std::string, Signature> kMethods = {
      {"strip", chars},
      {"lstrip", chars},
      {"rstrip", chars},
      {"split", split},
      {"rsplit", split},
      {"splitlines", {P{"keepends"}}},
      {"startswith", prefix},
      {"endswith", prefix},
      {"upper", none},
      {"lower", none},
      {"title", none},
      {"capitalize", none},
      {"replace", {P{"old", "new", "count"}, false}},
      {"find", sub},
      {"rfind", sub},
      {"index", sub},
      {"rindex", sub},
      {"count", sub},
      {"join", {P{"iterable"}, false}},
      {"center", width_fill},
      {"ljust", width_fill},
      {"rjust", width_fill},
      {"zfill", {P{"width"}, false}},
      {"partition", {P{"sep"}, false}},
      {"rpartition", {P{"sep"}, false}},
      {"isdigit", none},
      {"isalpha", none},
      {"isalnum", none},
      {"isspace", none},
      {"islower", none},
      {"isupper", none},
  };
  const auto it = kMethods.find(name);
  return it == kMethods.end() ? nullptr : &it->second;
}

// The dict methods templates may call, with their parameters (Python's, positional only).
const Signature* dict_method_signature(const std::string& name) {
  using P = std::vector<std::string_view>;
  static const std::unordered_map<std::string, Signature> kMethods = {
      {"items", {}},
      {"keys", {}},
      {"values", {}},
      {"get", {P{"key", "default"}, false}},
  };
  const auto it = kMethods.find(name);
  return it == kMethods.end() ? nullptr : &it->second;
}

Value make_function(std::string name, std::function<Value(Renderer&, CallArgs&)> call,
                    const Signature* signature, Value self = Value(), bool exact = false) {
  auto f = std::make_shared<Function>();
  f->name = std::move(name);
  f->call = std::move(call);
  f->self = std::move(self);
  f->exact = exact;
  f->signature = signature;
  return Value(std::shared_ptr<const Function>(std::move(f)));
}

// ---- globals ----

Value g_range(Renderer&, CallArgs& a) {
  if (!a.keyword.empty() || a.positional.empty() || a.positional.size() > 3) {
    fail("TypeError", "range expects 1 to 3 integer arguments");
  }
  for (const Value& v : a.positional) {
    if (!v.is_int() && !v.is_bool())
      fail("TypeError", "'" + v.type_name() + "' object cannot be interpreted as an integer");
  }
  auto at = [&](size_t i) {
    return a.positional[i].is_bool() ? int64_t{a.positional[i].as_bool()}
                                     : a.positional[i].as_int();
  };
  const int64_t start = a.positional.size() == 1 ? 0 : at(0);
  const int64_t stop = a.positional.size() == 1 ? at(0) : at(1);
  const int64_t step = a.positional.size() == 3 ? at(2) : 1;
  if (step == 0) fail("ValueError", "range() arg 3 must not be zero");
  // Python's len(range(...)), in unsigned arithmetic: the distance between two int64 values and
  // the magnitude of any step fit in a uint64.
  uint64_t count = 0;
  if (step > 0 ? start < stop : start > stop) {
    const uint64_t distance = step > 0 ? static_cast<uint64_t>(stop) - static_cast<uint64_t>(start)
                                       : static_cast<uint64_t>(start) - static_cast<uint64_t>(stop);
    const uint64_t stride =
        step > 0 ? static_cast<uint64_t>(step) : 0 - static_cast<uint64_t>(step);
    count = (distance - 1) / stride + 1;
  }
  if (count > 100000) {
    fail("OverflowError",
         "Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
  }
  List out;
  out.reserve(count);
  // start + k * step stays between start and stop for k < count, so it never overflows; it is
  // computed in uint64 (wrapping) and converted back.
  for (uint64_t k = 0; k < count; ++k) {
    out.emplace_back(
        static_cast<int64_t>(static_cast<uint64_t>(start) + k * static_cast<uint64_t>(step)));
  }
  return Value(std::move(out));
}

// Python's dict(*mappings, **keywords) into `to`: each positional mapping's items in order, then
// the keyword arguments; `refusal` is the TypeError of a positional argument that is no mapping.
void update_from(Dict& to, const CallArgs& a, const std::string& refusal) {
  for (const Value& p : a.positional) {
    if (!p.is_dict()) fail("TypeError", refusal);
    const Dict& from = p.as_dict();
    for (size_t i = 0; i < from.items.size(); ++i)
      to.set_key(from.key_value(i), from.items[i].second);
  }
  for (const auto& [k, v] : a.keyword) to.set(k, v);
}

Value g_namespace(Renderer& r, CallArgs& a) {
  auto ns = std::make_shared<Dict>();
  ns->is_namespace = true;
  r.adopt_namespace(ns);
  update_from(*ns, a, "namespace() takes mappings and keyword arguments");
  return Value(std::move(ns));
}

Value g_dict(Renderer&, CallArgs& a) {
  Dict d;
  update_from(d, a, "dict() takes a mapping and keyword arguments");
  return Value(std::move(d));
}

Value g_raise_exception(Renderer&, CallArgs& a) {
  const std::string message = arg(a, 0, "message", Value("")).to_str();
  throw JinjaError{"TemplateError", message, true};
}

Value g_strftime_now(Renderer& r, CallArgs& a) {
  const std::string& format = string_arg(a, 0, "format", "strftime_now");
  const std::time_t now = r.now();
  std::tm tm{};
  localtime_r(&now, &tm);
  // The text fits a buffer the size of the format unless conversions expand it (%c, %A: at most
  // 16 times); each buffer is checked against the size limit and counted before it is allocated
  // (one of 16 times the format took 1 GB for a 60 MB one).
  std::string out;
  size_t n = 0;
  for (const size_t capacity : {256 + format.size(), 256 + format.size() * 16}) {
    r.check_size(capacity);
    charge_bytes(capacity);
    out.assign(capacity, '\0');
    n = std::strftime(out.data(), out.size(), format.c_str(), &tm);
    if (n != 0) break;
  }
  if (n == 0 && !format.empty()) fail("ValueError", "strftime_now: the format gives no text");
  out.resize(n);
  return Value(std::move(out));
}

}  // namespace

Value bound_method(const Value& subject, const std::string& name) {
  if (const Signature* signature = string_method_signature(name);
      subject.is_string() && signature != nullptr) {
    static const char* const kExact[] = {"strip",      "lstrip",    "rstrip", "split", "rsplit",
                                         "splitlines", "upper",     "lower",  "title", "capitalize",
                                         "join",       "center",    "ljust",  "rjust", "zfill",
                                         "partition",  "rpartition"};
    const bool exact = std::find(std::begin(kExact), std::end(kExact), name) != std::end(kExact);
    return make_function(
        name,
        [subject, name](Renderer& r, CallArgs& a) { return string_method(r, subject, name, a); },
        signature, subject, exact);
  }
  if (const Signature* signature = dict_method_signature(name);
      subject.is_dict() && !subject.as_dict().is_namespace && signature != nullptr) {
    return make_function(
        name, [subject, name](Renderer&, CallArgs& a) { return dict_method(subject, name, a); },
        signature, subject, /*exact=*/true);
  }
  return Value();
}

Value global_function(const std::string& name) {
  using Fn = Value (*)(Renderer&, CallArgs&);
  using P = std::vector<std::string_view>;
  // range, namespace and dict check their own arguments; raise_exception and strftime_now are
  // Hugging Face's one-parameter Python functions.
  static const std::unordered_map<std::string, std::pair<Fn, Signature>> kGlobals = {
      {"range", {g_range, {P{}, false, true}}},
      {"namespace", {g_namespace, {P{}, true, true}}},
      {"dict", {g_dict, {P{}, true, true}}},
      {"raise_exception", {g_raise_exception, {P{"message"}}}},
      {"strftime_now", {g_strftime_now, {P{"format"}}}},
  };
  const auto it = kGlobals.find(name);
  if (it == kGlobals.end()) return Value();
  return make_function(name, it->second.first, &it->second.second);
}

bool contains(const Value& container, const Value& item) {
  switch (container.type()) {
    case Value::Type::kUndefined:
      return false;
    case Value::Type::kString:
      if (!item.is_string()) {
        fail("TypeError", "'in <string>' requires string as left operand, not " + item.type_name());
      }
      return find_text(container.as_string(), item.as_string(), 0) != std::string::npos;
    case Value::Type::kList: {
      int64_t compared = 0;
      for (const Value& v : container.as_list()) {
        ++compared;
        if (equals(v, item)) {
          charge_steps(compared);
          return true;
        }
      }
      charge_steps(compared);
      return false;
    }
    case Value::Type::kDict:
      if (container.as_dict().is_namespace) break;
      return container.as_dict().find_key(item) != nullptr;
    default:
      break;
  }
  fail("TypeError", "argument of type '" + container.type_name() + "' is not iterable");
}

std::string percent_format(Renderer& r, const std::string& format, const Value& args) {
  const List values = args.is_list() ? args.as_list() : List{args};
  std::string out;
  size_t next = 0;
  for (size_t i = 0; i < format.size(); ++i) {
    if (format[i] != '%') {
      out += format[i];
      continue;
    }
    if (++i >= format.size()) fail("ValueError", "incomplete format");
    const char conv = format[i];
    if (conv == '%') {
      out += '%';
      continue;
    }
    if (next >= values.size()) fail("TypeError", "not enough arguments for format string");
    const Value& v = values[next++];
    switch (conv) {
      case 's':
        out += v.to_str();
        break;
      case 'r':
        out += v.repr();
        break;
      case 'd':
      case 'i':
        if (!v.is_number() && !v.is_bool())
          fail("TypeError", "%d format: a real number is required, not " + v.type_name());
        out += std::to_string(v.is_int() ? v.as_int() : static_cast<int64_t>(v.as_double()));
        break;
      case 'f': {
        if (!v.is_number() && !v.is_bool())
          fail("TypeError", "must be real number, not " + v.type_name());
        char buf[64];
        std::snprintf(buf, sizeof buf, "%f", v.as_double());
        out += buf;
        break;
      }
      default:
        fail("ValueError", std::string("unsupported format character '") + conv + "'");
    }
    r.check_size(out.size());
  }
  if (next < values.size() && args.is_list()) {
    fail("TypeError", "not all arguments converted during string formatting");
  }
  return out;
}

const Filter* find_filter(const std::string& name) {
  // Jinja2 3.1's filters.py (tojson: Hugging Face's), their parameters after the value.
  using P = std::vector<std::string_view>;
  const P none;
  const P case_attribute = {"case_sensitive", "attribute"};
  static const std::unordered_map<std::string, Filter> kFilters = {
      {"tojson", {f_tojson, {P{"ensure_ascii", "indent", "separators", "sort_keys"}}}},
      {"trim", {f_trim, {P{"chars"}}, true}},
      {"length", {f_length, {none}}},
      {"count", {f_length, {none}}},
      {"upper", {f_upper, {none}, true}},
      {"lower", {f_lower, {none}, true}},
      {"capitalize", {f_capitalize, {none}, true}},
      {"title", {f_title, {none}, true}},
      {"replace", {f_replace, {P{"old", "new", "count"}}}},
      {"join", {f_join, {P{"d", "attribute"}}, true}},
      {"items", {f_items, {none}, true}},
      {"default", {f_default, {P{"default_value", "boolean"}}}},
      {"d", {f_default, {P{"default_value", "boolean"}}}},
      {"first", {f_first, {none}, true}},
      {"last", {f_last, {none}, true}},
      {"select", {f_select, {none, true, true}}},
      {"reject", {f_reject, {none, true, true}}},
      {"selectattr", {f_selectattr, {none, true, true}}},
      {"rejectattr", {f_rejectattr, {none, true, true}}},
      {"map", {f_map, {none, true, true}}},
      {"string", {f_string, {none}}},
      {"int", {f_int, {P{"default", "base"}}}},
      {"float", {f_float, {P{"default"}}}},
      {"list", {f_list, {none}, true}},
      {"unique", {f_unique, {case_attribute}}},
      {"abs", {f_abs, {none}}},
      {"round", {f_round, {P{"precision", "method"}}}},
      {"sort", {f_sort, {P{"reverse", "case_sensitive", "attribute"}}}},
      {"dictsort", {f_dictsort, {P{"case_sensitive", "by", "reverse"}}}},
      {"reverse", {f_reverse, {none}}},
      {"indent", {f_indent, {P{"width", "first", "blank"}}}},
      {"wordcount", {f_wordcount, {none}}},
      {"min", {f_min, {case_attribute}}},
      {"max", {f_max, {case_attribute}}},
      {"sum", {f_sum, {P{"attribute", "start"}}}},
      {"safe", {f_safe, {none}}},
      {"escape", {f_escape, {none}}},
      {"e", {f_escape, {none}}},
      {"forceescape", {f_escape, {none}}},
      {"format", {f_format, {none, true, true}}},
      {"attr", {f_attr, {P{"name"}}}},
      {"pprint", {f_pprint, {none}}},
      {"center", {f_center, {P{"width"}}}},
      {"truncate", {f_truncate, {P{"length", "killwords", "end", "leeway"}}, true}},
      {"batch", {f_batch, {P{"linecount", "fill_with"}}, true}},
      {"slice", {f_slice, {P{"slices", "fill_with"}}, true}},
      {"wordwrap",
       {f_wordwrap, {P{"width", "break_long_words", "wrapstring", "break_on_hyphens"}}, true}},
  };
  const auto it = kFilters.find(name);
  return it == kFilters.end() ? nullptr : &it->second;
}

const Test* find_test(const std::string& name) {
  // Jinja2 3.1's tests.py, their parameters after the value (the comparisons are Python's
  // operator functions, positional only).
  using P = std::vector<std::string_view>;
  const Signature none;
  const Signature other{P{"other"}, false};
  static const std::unordered_map<std::string, Test> kTests = {
      {"defined", {t_defined, none}},
      {"undefined", {t_undefined, none}},
      {"none", {t_none, none}},
      {"boolean", {t_boolean, none}},
      {"false", {t_false, none}},
      {"true", {t_true, none}},
      {"integer", {t_integer, none}},
      {"float", {t_float, none}},
      {"number", {t_number, none}},
      {"string", {t_string, none}},
      {"mapping", {t_mapping, none}},
      {"iterable", {t_iterable, none}},
      {"sequence", {t_sequence, none}},
      {"callable", {t_callable, none}},
      {"sameas", {t_sameas, {P{"other"}}}},
      {"eq", {t_eq, other}},
      {"equalto", {t_eq, other}},
      {"==", {t_eq, other}},
      {"ne", {t_ne, other}},
      {"!=", {t_ne, other}},
      {"lt", {t_lt, other}},
      {"lessthan", {t_lt, other}},
      {"<", {t_lt, other}},
      {"gt", {t_gt, other}},
      {"greaterthan", {t_gt, other}},
      {">", {t_gt, other}},
      {"le", {t_le, other}},
      {"<=", {t_le, other}},
      {"ge", {t_ge, other}},
      {">=", {t_ge, other}},
      {"in", {t_in, {P{"seq"}}}},
      {"odd", {t_odd, none}},
      {"even", {t_even, none}},
      {"divisibleby", {t_divisibleby, {P{"num"}}}},
      {"lower", {t_lower, none}},
      {"upper", {t_upper, none}},
      {"escaped", {t_escaped, none}},
  };
  const auto it = kTests.find(name);
  return it == kTests.end() ? nullptr : &it->second;
}

}  // namespace gengyun::chat::jinja
