#include "chat/jinja_value.h"

#include <utf8proc.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>

namespace gengyun::chat::jinja {

void fail(std::string kind, std::string message) {
  throw JinjaError{std::move(kind), std::move(message)};
}

void bind_arguments(std::string_view function, const Signature& signature, const CallArgs& args) {
  if (signature.variadic) return;
  const std::string name = std::string(function) + "()";
  const size_t given = args.positional.size() + args.keyword.size();
  const size_t most = signature.params.size();
  if (args.positional.size() > most) {
    if (most == 0)
      fail("TypeError", name + " takes no arguments (" + std::to_string(given) + " given)");
    fail("TypeError", name + " takes at most " + std::to_string(most) +
                          (most == 1 ? " argument (" : " arguments (") + std::to_string(given) +
                          " given)");
  }
  for (const auto& keyword : args.keyword) {
    const std::string& key = keyword.first;
    if (!signature.keywords) fail("TypeError", name + " takes no keyword arguments");
    const auto it = std::find(signature.params.begin(), signature.params.end(), key);
    if (it == signature.params.end()) {
      fail("TypeError", name + " got an unexpected keyword argument '" + key + "'");
    }
    // (A keyword given twice is the parser's SyntaxError, as Jinja2's.)
    if (static_cast<size_t>(it - signature.params.begin()) < args.positional.size()) {
      fail("TypeError", name + " got multiple values for argument '" + key + "'");
    }
  }
}

bool Dict::string_key(size_t i) const { return keys.empty() || keys[i].is_string(); }

size_t Dict::slot(std::string_view key, bool string) {
  return std::hash<std::string_view>{}(key)*2 + (string ? 1 : 0);
}

size_t Dict::position(std::string_view key, bool string) const {
  if (!items.empty() && index_.size() == items.size()) {
    charge_steps(1);
    const auto [begin, end] = index_.equal_range(slot(key, string));
    for (auto it = begin; it != end; ++it) {
      if (items[it->second].first == key && string_key(it->second) == string) return it->second;
    }
    return items.size();
  }
  for (size_t i = 0; i < items.size(); ++i) {
    if (items[i].first == key && string_key(i) == string) {
      charge_steps(static_cast<int64_t>(i + 1));
      return i;
    }
  }
  charge_steps(static_cast<int64_t>(items.size()));
  return items.size();
}

void Dict::append(std::string key, bool string, Value value) {
  if (index_.size() != items.size()) {
    index_.clear();
    index_.reserve(items.size() + 1);
    for (size_t i = 0; i < items.size(); ++i)
      index_.emplace(slot(items[i].first, string_key(i)), i);
  }
  index_.emplace(slot(key, string), items.size());
  items.emplace_back(std::move(key), std::move(value));
}

const Value* Dict::lookup(std::string_view key, bool string) const {
  const size_t i = position(key, string);
  return i < items.size() ? &items[i].second : nullptr;
}

const Value* Dict::find(std::string_view key) const { return lookup(key, true); }

const Value* Dict::find_key(const Value& key) const {
  if (key.is_string()) return find(key.as_string());
  const std::string hashed = hash_key(key);
  if (keys.empty()) return nullptr;
  return lookup(hashed, false);
}

void Dict::set(std::string_view key, Value value) {
  const size_t at = position(key, true);
  if (at < items.size()) {
    items[at].second = std::move(value);
    return;
  }
  append(std::string(key), true, std::move(value));
  if (!keys.empty()) keys.push_back(key_value(items.size() - 1));  // the new string key
}

void Dict::set_key(const Value& key, Value value) {
  if (key.is_string()) {
    set(key.as_string(), std::move(value));
    return;
  }
  std::string hashed = hash_key(key);
  const size_t at = position(hashed, false);
  if (at < items.size()) {
    items[at].second = std::move(value);
    return;
  }
  if (keys.empty()) {
    keys.reserve(items.size() + 1);
    for (size_t i = 0; i < items.size(); ++i) keys.push_back(key_value(i));
  }
  append(std::move(hashed), false, std::move(value));
  keys.push_back(key);
}

Value Dict::key_value(size_t i) const {
  if (i < keys.size()) return keys[i];
  return request_keys ? Value::request_text(items[i].first) : Value(items[i].first);
}

List Dict::key_list() const {
  List out;
  out.reserve(items.size());
  for (size_t i = 0; i < items.size(); ++i) out.push_back(key_value(i));
  return out;
}

List Dict::item_pairs() const {
  List out;
  out.reserve(items.size());
  for (size_t i = 0; i < items.size(); ++i) out.emplace_back(List{key_value(i), items[i].second});
  return out;
}

Value Value::request_text(std::string s) {
  const size_t n = s.size();
  return with_spans(std::move(s), {{0, n}});
}

Value Value::with_spans(std::string s, Spans spans) {
  Value v(std::move(s));
  Spans merged;
  for (const auto& [b, e] : spans) {
    if (b >= e) continue;
    if (!merged.empty() && merged.back().second >= b) {
      merged.back().second = std::max(merged.back().second, e);
    } else {
      merged.emplace_back(b, e);
    }
  }
  if (!merged.empty()) v.spans_ = std::make_shared<const Spans>(std::move(merged));
  return v;
}

namespace {

thread_local Budget* current_budget = nullptr;

[[noreturn]] void value_bytes_exceeded(const Budget& b) {
  fail("TemplateRuntimeError", "the template built lists and dicts of more than " +
                                   std::to_string(b.max_value_bytes) + " bytes");
}

// Counts a new list or dict of `items` items, `string_bytes` of them in strings.
void charge_value_bytes(size_t items, size_t string_bytes) {
  Budget* b = current_budget;
  if (b == nullptr) return;
  b->value_bytes += items * sizeof(Value) + string_bytes;
  if (b->value_bytes > b->max_value_bytes) value_bytes_exceeded(*b);
}

}  // namespace

BudgetScope::BudgetScope(Budget* budget) : saved_(current_budget) { current_budget = budget; }

BudgetScope::~BudgetScope() { current_budget = saved_; }

void charge_steps(int64_t n) {
  Budget* b = current_budget;
  if (b == nullptr) return;
  b->steps += n;
  if (b->steps > b->max_steps) {
    fail("TemplateRuntimeError",
         "the template ran more than " + std::to_string(b->max_steps) + " steps");
  }
}

void charge_bytes(size_t bytes) { charge_steps(static_cast<int64_t>(bytes / kBytesPerStep)); }

void charge_string(size_t bytes) {
  charge_bytes(bytes);
  Budget* b = current_budget;
  if (b == nullptr) return;
  b->string_bytes += bytes;
  if (b->string_bytes > b->max_total_string_bytes) {
    fail("TemplateRuntimeError", "the template built strings of more than " +
                                     std::to_string(b->max_total_string_bytes) + " bytes in all");
  }
}

void check_string_size(size_t size) {
  const Budget* b = current_budget;
  if (b != nullptr && size > b->max_string_bytes) {
    fail("TemplateRuntimeError",
         "the template built more than " + std::to_string(b->max_string_bytes) + " bytes");
  }
}

void check_value_bytes(size_t bytes) {
  const Budget* b = current_budget;
  if (b != nullptr && (bytes > b->max_value_bytes || b->value_bytes > b->max_value_bytes - bytes))
    value_bytes_exceeded(*b);
}

bool carries_request_text(const Value& v) {
  switch (v.type()) {
    case Value::Type::kString:
      return v.spans() != nullptr;
    case Value::Type::kList:
      charge_steps(static_cast<int64_t>(v.as_list().size()));
      for (const Value& item : v.as_list()) {
        if (carries_request_text(item)) return true;
      }
      return false;
    case Value::Type::kDict:
      if (v.as_dict().is_namespace) return false;  // printed as <Namespace>, never walked
      if (v.as_dict().request_keys) return true;
      charge_steps(static_cast<int64_t>(v.as_dict().items.size()));
      for (const auto& [k, item] : v.as_dict().items) {
        if (carries_request_text(item)) return true;
      }
      return false;
    case Value::Type::kFunction:
      return carries_request_text(v.as_function().self);
    default:
      return false;
  }
}

Value substring(const Value& s, size_t begin, size_t end) {
  std::string text = s.as_string().substr(begin, end - begin);
  if (s.spans() == nullptr) return Value(std::move(text));
  // The spans are sorted and disjoint: those that meet [begin, end) follow the first ending
  // past begin.
  const Spans& all = *s.spans();
  Spans spans;
  for (auto at = std::partition_point(all.begin(), all.end(),
                                      [&](const auto& span) { return span.second <= begin; });
       at != all.end() && at->first < end; ++at) {
    spans.emplace_back(std::max(at->first, begin) - begin, std::min(at->second, end) - begin);
  }
  return Value::with_spans(std::move(text), std::move(spans));
}

void TextBuilder::append_text(std::string_view text, bool request) {
  if (request && !text.empty()) {
    if (!spans_.empty() && spans_.back().second == text_.size()) {
      spans_.back().second += text.size();
    } else {
      spans_.emplace_back(text_.size(), text_.size() + text.size());
    }
  }
  text_.append(text);
}

void TextBuilder::append(const Value& s) {
  const size_t base = text_.size();
  text_.append(s.as_string());
  if (s.spans() == nullptr) return;
  for (const auto& [b, e] : *s.spans()) {
    if (!spans_.empty() && spans_.back().second == base + b) {
      spans_.back().second = base + e;
    } else {
      spans_.emplace_back(base + b, base + e);
    }
  }
}

Value TextBuilder::take() {
  Value v = Value::with_spans(std::move(text_), std::move(spans_));
  text_.clear();
  spans_.clear();
  return v;
}

Value Value::transient(std::shared_ptr<Dict> d) {
  Value v;
  v.v_ = std::move(d);
  v.set_depth(false);
  return v;
}

void Value::set_depth(bool charge) {
  uint32_t deepest = 0;
  size_t string_bytes = 0;
  // A string item that another value holds too (a copy from a list or variable) costs no bytes.
  const auto string_size = [](const Value& v) {
    return v.is_string() && !v.shares_string() ? v.as_string().size() : 0;
  };
  if (is_list()) {
    for (const Value& item : as_list()) {
      deepest = std::max(deepest, item.depth_);
      string_bytes += string_size(item);
    }
    charge_steps(static_cast<int64_t>(as_list().size()));
    if (charge) charge_value_bytes(as_list().size(), string_bytes);
  } else if (is_dict() && !as_dict().is_namespace) {
    for (const auto& [k, item] : as_dict().items) {
      deepest = std::max(deepest, item.depth_);
      string_bytes += k.size() + string_size(item);
    }
    charge_steps(static_cast<int64_t>(as_dict().items.size()));
    if (charge) charge_value_bytes(as_dict().items.size(), string_bytes);
  }
  depth_ = deepest + 1;
  if (depth_ > kMaxValueDepth) {
    fail("TemplateRuntimeError",
         "a list or dict nests deeper than " + std::to_string(kMaxValueDepth) + " levels");
  }
}

Value Value::from_json(const nlohmann::ordered_json& json, bool request, uint32_t depth) {
  if (depth >= kMaxValueDepth) {
    fail("TemplateRuntimeError",
         "a variable nests deeper than " + std::to_string(kMaxValueDepth) + " levels");
  }
  switch (json.type()) {
    case nlohmann::ordered_json::value_t::null:
      return Value(nullptr);
    case nlohmann::ordered_json::value_t::boolean:
      return Value(json.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer:
      return Value(json.get<int64_t>());
    case nlohmann::ordered_json::value_t::number_unsigned: {
      const uint64_t u = json.get<uint64_t>();
      if (u <= static_cast<uint64_t>(INT64_MAX)) return Value(static_cast<int64_t>(u));
      return Value(static_cast<double>(u));
    }
    case nlohmann::ordered_json::value_t::number_float:
      return Value(json.get<double>());
    case nlohmann::ordered_json::value_t::string:
      return request ? request_text(json.get<std::string>()) : Value(json.get<std::string>());
    case nlohmann::ordered_json::value_t::array: {
      List list;
      list.reserve(json.size());
      for (const auto& item : json) list.push_back(from_json(item, request, depth + 1));
      return Value(std::move(list));
    }
    case nlohmann::ordered_json::value_t::object: {
      Dict dict;
      dict.request_keys = request;
      dict.items.reserve(json.size());
      for (const auto& [key, item] : json.items()) {
        dict.items.emplace_back(key, from_json(item, request, depth + 1));
      }
      return Value(std::move(dict));
    }
    default:
      return Value(nullptr);  // binary and discarded values do not come from parsed JSON text
  }
}

double Value::as_double() const {
  switch (type()) {
    case Type::kInt:
      return static_cast<double>(as_int());
    case Type::kFloat:
      return std::get<double>(v_);
    case Type::kBool:
      return as_bool() ? 1.0 : 0.0;
    default:
      fail("TypeError", "'" + type_name() + "' object is not a number");
  }
}

bool Value::truthy() const {
  switch (type()) {
    case Type::kUndefined:
    case Type::kNone:
      return false;
    case Type::kBool:
      return as_bool();
    case Type::kInt:
      return as_int() != 0;
    case Type::kFloat:
      return std::get<double>(v_) != 0.0;
    case Type::kString:
      return !as_string().empty();
    case Type::kList:
      return !as_list().empty();
    case Type::kDict:
      return as_dict().is_namespace || !as_dict().items.empty();
    case Type::kFunction:
      return true;
  }
  return false;
}

std::string Value::to_str() const {
  switch (type()) {
    case Type::kUndefined:
      return "";
    case Type::kString:
      return as_string();
    default:
      return repr();
  }
}

std::string Value::repr() const {
  std::string out;
  repr_into(out);
  return out;
}

void Value::repr_into(std::string& out) const {
  switch (type()) {
    case Type::kUndefined:
      out += "Undefined";
      return;
    case Type::kNone:
      out += "None";
      return;
    case Type::kBool:
      out += as_bool() ? "True" : "False";
      return;
    case Type::kInt:
      out += std::to_string(as_int());
      return;
    case Type::kFloat:
      out += float_repr(std::get<double>(v_));
      return;
    case Type::kString:
      out += string_repr(as_string());
      check_string_size(out.size());
      return;
    case Type::kList: {
      charge_steps(static_cast<int64_t>(as_list().size()));
      out += '[';
      bool first = true;
      for (const Value& v : as_list()) {
        if (!first) out += ", ";
        first = false;
        v.repr_into(out);
        check_string_size(out.size());
      }
      out += ']';
      return;
    }
    case Type::kDict: {
      if (as_dict().is_namespace) {
        out += "<Namespace>";
        return;
      }
      charge_steps(static_cast<int64_t>(as_dict().items.size()));
      out += '{';
      const Dict& d = as_dict();
      for (size_t i = 0; i < d.items.size(); ++i) {
        if (i > 0) out += ", ";
        if (d.string_key(i)) {
          out += string_repr(d.items[i].first);
        } else {
          d.keys[i].repr_into(out);
        }
        out += ": ";
        d.items[i].second.repr_into(out);
        check_string_size(out.size());
      }
      out += '}';
      return;
    }
    case Type::kFunction:
      out += "<function " + as_function().name + ">";
      return;
  }
}

std::string Value::type_name() const {
  switch (type()) {
    case Type::kUndefined:
      return "Undefined";
    case Type::kNone:
      return "NoneType";
    case Type::kBool:
      return "bool";
    case Type::kInt:
      return "int";
    case Type::kFloat:
      return "float";
    case Type::kString:
      return "str";
    case Type::kList:
      return "list";
    case Type::kDict:
      return as_dict().is_namespace ? "Namespace" : "dict";
    case Type::kFunction:
      return "function";
  }
  return "";
}

std::string Value::object_type_repr() const {
  if (is_none()) return "None";
  return type_name() + " object";
}

std::string hash_key(const Value& v) {
  const auto bits = [](char tag, const auto& x) {
    std::string key(1 + sizeof x, tag);
    std::memcpy(key.data() + 1, &x, sizeof x);
    return key;
  };
  switch (v.type()) {
    case Value::Type::kUndefined:
      return "u";
    case Value::Type::kNone:
      return "n";
    case Value::Type::kBool:
      return bits('i', int64_t{v.as_bool()});
    case Value::Type::kInt:
      return bits('i', v.as_int());
    case Value::Type::kFloat: {
      const double d = v.as_double();
      // A whole float in int64's range equals that int; -0.0 equals 0.
      if (d == std::trunc(d) && d >= -0x1p63 && d < 0x1p63) {
        return bits('i', static_cast<int64_t>(d));
      }
      return bits('f', d);  // (a NaN equals nothing, itself included; none are in templates)
    }
    case Value::Type::kString:
      return "s" + v.as_string();
    case Value::Type::kFunction:
      return bits('p', &v.as_function());
    case Value::Type::kDict:
      if (v.as_dict().is_namespace) return bits('p', &v.as_dict());
      break;
    default:
      break;
  }
  fail("TypeError", "unhashable type: '" + v.type_name() + "'");
}

bool hashable(const Value& v) { return !v.is_list() && (!v.is_dict() || v.as_dict().is_namespace); }

bool equals(const Value& a, const Value& b) {
  using T = Value::Type;
  const bool a_num = a.is_number() || a.is_bool();
  const bool b_num = b.is_number() || b.is_bool();
  if (a_num && b_num) {
    if (a.is_float() || b.is_float()) return a.as_double() == b.as_double();
    const int64_t x = a.is_bool() ? a.as_bool() : a.as_int();
    const int64_t y = b.is_bool() ? b.as_bool() : b.as_int();
    return x == y;
  }
  if (a.type() != b.type()) return false;
  switch (a.type()) {
    case T::kUndefined:
    case T::kNone:
      return true;
    case T::kString:
      if (a.as_string().size() != b.as_string().size()) return false;
      charge_bytes(a.as_string().size());
      return a.as_string() == b.as_string();
    case T::kList: {
      const List& x = a.as_list();
      const List& y = b.as_list();
      if (&x == &y) return true;  // Python compares items by identity first
      if (x.size() != y.size()) return false;
      charge_steps(static_cast<int64_t>(x.size()));
      for (size_t i = 0; i < x.size(); ++i) {
        if (!equals(x[i], y[i])) return false;
      }
      return true;
    }
    case T::kDict: {
      const Dict& x = a.as_dict();
      const Dict& y = b.as_dict();
      if (x.is_namespace || y.is_namespace || &x == &y) return &x == &y;
      if (x.items.size() != y.items.size()) return false;
      charge_steps(static_cast<int64_t>(x.items.size()));
      for (size_t i = 0; i < x.items.size(); ++i) {
        const Value* w = x.string_key(i) ? y.find(x.items[i].first) : y.find_key(x.keys[i]);
        if (w == nullptr || !equals(x.items[i].second, *w)) return false;
      }
      return true;
    }
    case T::kFunction:
      return &a.as_function() == &b.as_function();
    default:
      return false;
  }
}

bool less(const Value& a, const Value& b) {
  const bool a_num = a.is_number() || a.is_bool();
  const bool b_num = b.is_number() || b.is_bool();
  if (a_num && b_num) {
    if (a.is_float() || b.is_float()) return a.as_double() < b.as_double();
    const int64_t x = a.is_bool() ? a.as_bool() : a.as_int();
    const int64_t y = b.is_bool() ? b.as_bool() : b.as_int();
    return x < y;
  }
  if (a.is_string() && b.is_string()) {
    charge_bytes(std::min(a.as_string().size(), b.as_string().size()));
    return a.as_string() < b.as_string();
  }
  if (a.is_list() && b.is_list()) {
    const List& x = a.as_list();
    const List& y = b.as_list();
    charge_steps(static_cast<int64_t>(std::min(x.size(), y.size())));
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (!equals(x[i], y[i])) return less(x[i], y[i]);
    }
    return x.size() < y.size();
  }
  if (a.is_undefined() || b.is_undefined()) {
    fail("UndefinedError", a.is_undefined() ? a.undefined_hint() : b.undefined_hint());
  }
  fail("TypeError", "'<' not supported between instances of '" + a.type_name() + "' and '" +
                        b.type_name() + "'");
}

std::string float_repr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d < 0 ? "-inf" : "inf";
  if (d == 0) return std::signbit(d) ? "-0.0" : "0.0";
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  const std::string s(buf, r.ptr);  // "-1.2345e+02": shortest round-trip digits
  const size_t e = s.find('e');
  std::string mantissa = s.substr(0, e);
  const int exponent = std::stoi(s.substr(e + 1));
  std::string sign;
  if (mantissa[0] == '-') {
    sign = "-";
    mantissa.erase(0, 1);
  }
  std::string digits;
  for (char c : mantissa) {
    if (c != '.') digits += c;
  }
  if (exponent < -4 || exponent >= 16) {
    std::string out = sign + digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    char exp[16];
    std::snprintf(exp, sizeof exp, "e%c%02d", exponent < 0 ? '-' : '+', std::abs(exponent));
    return out + exp;
  }
  if (exponent < 0) return sign + "0." + std::string(-exponent - 1, '0') + digits;
  const size_t int_digits = static_cast<size_t>(exponent) + 1;
  if (digits.size() <= int_digits) {
    return sign + digits + std::string(int_digits - digits.size(), '0') + ".0";
  }
  return sign + digits.substr(0, int_digits) + "." + digits.substr(int_digits);
}

// Decodes the code point at s[i], advancing i; an invalid byte decodes as itself.
uint32_t next_code_point(std::string_view s, size_t& i) {
  const auto c = static_cast<unsigned char>(s[i]);
  int n = 0;
  uint32_t cp = c;
  if (c >= 0xF0 && c < 0xF8) {
    n = 3;
    cp = c & 0x07;
  } else if (c >= 0xE0) {
    n = 2;
    cp = c & 0x0F;
  } else if (c >= 0xC0) {
    n = 1;
    cp = c & 0x1F;
  }
  if (c >= 0xF8) {
    n = 0;
    cp = c;
  }
  for (int k = 1; k <= n; ++k) {
    if (i + k >= s.size() || (static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) {
      n = 0;
      cp = c;
      break;
    }
    cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  }
  i += 1 + n;
  return cp;
}

namespace {

void append_hex(std::string& out, const char* prefix, uint32_t v, int width) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%s%0*x", prefix, width, v);
  out += buf;
}

// Python's str.isprintable() of one non-ASCII code point: false for Unicode's Other (Cc, Cf,
// Cs, Co, Cn) and Separator (Zs, Zl, Zp) categories, as utf8proc's Unicode version gives them.
bool printable(uint32_t cp) {
  if (cp > 0x10FFFF) return false;
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(cp))) {
    case UTF8PROC_CATEGORY_CC:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_CS:
    case UTF8PROC_CATEGORY_CO:
    case UTF8PROC_CATEGORY_CN:
    case UTF8PROC_CATEGORY_ZS:
    case UTF8PROC_CATEGORY_ZL:
    case UTF8PROC_CATEGORY_ZP:
      return false;
    default:
      return true;
  }
}

}  // namespace

std::string string_repr(std::string_view s) {
  const bool has_single = s.find('\'') != std::string_view::npos;
  const bool has_double = s.find('"') != std::string_view::npos;
  const char quote = has_single && !has_double ? '"' : '\'';
  std::string out(1, quote);
  size_t i = 0;
  while (i < s.size()) {
    const size_t start = i;
    const uint32_t cp = next_code_point(s, i);
    if (cp == static_cast<uint32_t>(quote) || cp == '\\') {
      out += '\\';
      out += static_cast<char>(cp);
    } else if (cp == '\n') {
      out += "\\n";
    } else if (cp == '\r') {
      out += "\\r";
    } else if (cp == '\t') {
      out += "\\t";
    } else if (cp < 0x20 || cp == 0x7F) {
      append_hex(out, "\\x", cp, 2);
    } else if (cp >= 0x80 && !printable(cp)) {
      if (cp <= 0xFF) {
        append_hex(out, "\\x", cp, 2);
      } else if (cp <= 0xFFFF) {
        append_hex(out, "\\u", cp, 4);
      } else {
        append_hex(out, "\\U", cp, 8);
      }
    } else {
      out.append(s.substr(start, i - start));
    }
  }
  out += quote;
  return out;
}

size_t previous_code_point(std::string_view s, size_t i) {
  // Every byte but a continuation byte begins a code point: the nearest one within a code
  // point's reach begins this one when it decodes to exactly `i`; else s[i - 1] is a lone byte.
  size_t lead = i - 1;
  while (lead > 0 && i - lead < 4 && (static_cast<unsigned char>(s[lead]) & 0xC0) == 0x80) --lead;
  size_t end = lead;
  next_code_point(s, end);
  return end == i ? lead : i - 1;
}

size_t utf8_length(std::string_view s) {
  size_t n = 0;
  size_t i = 0;
  while (i < s.size()) {
    next_code_point(s, i);
    ++n;
  }
  return n;
}

namespace {

void json_string(std::string& out, std::string_view s, bool ensure_ascii) {
  out += '"';
  size_t i = 0;
  while (i < s.size()) {
    const size_t start = i;
    const uint32_t cp = next_code_point(s, i);
    switch (cp) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (cp < 0x20 || (ensure_ascii && cp >= 0x7F)) {
          if (cp >= 0x10000) {
            const uint32_t v = cp - 0x10000;
            append_hex(out, "\\u", 0xD800 + (v >> 10), 4);
            append_hex(out, "\\u", 0xDC00 + (v & 0x3FF), 4);
          } else {
            append_hex(out, "\\u", cp, 4);
          }
        } else {
          out.append(s.substr(start, i - start));
        }
    }
  }
  out += '"';
}

// json.dumps's float: NaN and the infinities as JavaScript names them, others as Python's repr.
std::string json_float(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d < 0 ? "-Infinity" : "Infinity";
  return float_repr(d);
}

void json_value(std::string& out, const Value& v, const JsonOptions& o, int depth);

// Writes items[i]'s key of `d` as json.dumps writes a key: a string as it is, an int, float,
// bool or None as the string of its JSON ("512", "2.5", "true", "null"); other keys are
// json.dumps's TypeError.
void json_key(std::string& out, const Dict& d, size_t i, const JsonOptions& o) {
  if (d.string_key(i)) {
    json_string(out, d.items[i].first, o.ensure_ascii);
    return;
  }
  const Value& key = d.keys[i];
  if (!key.is_none() && !key.is_bool() && !key.is_number())
    fail("TypeError", "keys must be str, int, float, bool or None, not " + key.type_name());
  out += '"';
  json_value(out, key, o, 0);
  out += '"';
}

void json_value(std::string& out, const Value& v, const JsonOptions& o, int depth) {
  const std::string item_sep = !o.item_separator.empty() ? o.item_separator
                               : o.indent >= 0           ? ","
                                                         : ", ";
  auto newline = [&](int level) {
    out += '\n';
    out.append(static_cast<size_t>(o.indent) * level, ' ');
  };
  switch (v.type()) {
    case Value::Type::kNone:
      out += "null";
      return;
    case Value::Type::kBool:
      out += v.as_bool() ? "true" : "false";
      return;
    case Value::Type::kInt:
      out += std::to_string(v.as_int());
      return;
    case Value::Type::kFloat:
      out += json_float(v.as_double());
      return;
    case Value::Type::kString:
      json_string(out, v.as_string(), o.ensure_ascii);
      check_string_size(out.size());
      return;
    case Value::Type::kList: {
      const List& list = v.as_list();
      if (list.empty()) {
        out += "[]";
        return;
      }
      charge_steps(static_cast<int64_t>(list.size()));
      out += '[';
      for (size_t i = 0; i < list.size(); ++i) {
        if (i) out += item_sep;
        if (o.indent >= 0) newline(depth + 1);
        json_value(out, list[i], o, depth + 1);
        check_string_size(out.size());
      }
      if (o.indent >= 0) newline(depth);
      out += ']';
      return;
    }
    case Value::Type::kDict: {
      const Dict& d = v.as_dict();
      if (!d.is_namespace) {
        if (d.items.empty()) {
          out += "{}";
          return;
        }
        std::vector<size_t> order(d.items.size());
        for (size_t i = 0; i < order.size(); ++i) order[i] = i;
        if (o.sort_keys) {
          // Python sorts the key objects: a key of another type than its neighbour's is
          // less()'s TypeError.
          std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
            return d.keys.empty() ? d.items[a].first < d.items[b].first
                                  : less(d.keys[a], d.keys[b]);
          });
        }
        charge_steps(static_cast<int64_t>(order.size()));
        out += '{';
        for (size_t i = 0; i < order.size(); ++i) {
          if (i) out += item_sep;
          if (o.indent >= 0) newline(depth + 1);
          json_key(out, d, order[i], o);
          out += o.key_separator;
          json_value(out, d.items[order[i]].second, o, depth + 1);
          check_string_size(out.size());
        }
        if (o.indent >= 0) newline(depth);
        out += '}';
        return;
      }
      break;
    }
    default:
      break;
  }
  fail("TypeError", "Object of type " + v.type_name() + " is not JSON serializable");
}

}  // namespace

std::string to_json(const Value& value, const JsonOptions& options) {
  std::string out;
  json_value(out, value, options, 0);
  return out;
}

}  // namespace gengyun::chat::jinja
