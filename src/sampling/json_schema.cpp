#include "sampling/json_schema.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "util/ordered_json.h"

namespace gengyun::sampling {

namespace {

using Json = nlohmann::ordered_json;
using Seq = Grammar::Sequence;

/// A compile error, caught at the top and returned as an Error.
struct SchemaError {
  std::string message;
};

const std::set<std::string, std::less<>> kAnnotations = {
    "title",    "description", "default",  "examples",  "$schema", "$id",
    "$comment", "deprecated",  "readOnly", "writeOnly", "$defs",   "definitions"};
const std::set<std::string, std::less<>> kKeywords = {
    "type",  "enum",       "const",    "anyOf",
    "$ref",  "properties", "required", "additionalProperties",
    "items", "minItems",   "maxItems", "format"};
const std::set<std::string, std::less<>> kFormats = {"date", "time", "date-time", "uuid"};
const std::vector<std::string> kTypes = {"string", "integer", "number", "boolean",
                                         "null",   "object",  "array"};

ByteSet range(char lo, char hi) {
  ByteSet s;
  for (int c = lo; c <= hi; ++c) s.set(static_cast<size_t>(c));
  return s;
}

ByteSet chars(std::string_view text) {
  ByteSet s;
  for (char c : text) s.set(static_cast<uint8_t>(c));
  return s;
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

bool matches_type(const Json& value, const std::string& type) {
  if (type == "string") return value.is_string();
  if (type == "integer")
    return value.is_number_integer() ||
           (value.is_number_float() &&
            value.get<double>() == static_cast<double>(static_cast<int64_t>(value.get<double>())));
  if (type == "number") return value.is_number();
  if (type == "boolean") return value.is_boolean();
  if (type == "null") return value.is_null();
  if (type == "object") return value.is_object();
  return value.is_array();
}

class SchemaCompiler {
 public:
  SchemaCompiler(const Json& root, std::string_view where) : root_(&root), where_(where) {}

  std::shared_ptr<const Grammar> compile() {
    const uint32_t top = value(*root_, where_);
    if (Result<void> done = g_.finish(top); !done) fail(where_, done.error().message);
    return std::make_shared<const Grammar>(std::move(g_));
  }

  std::shared_ptr<const Grammar> compile_tool_calls(const ToolCallGrammarSpec& spec) {
    if (spec.tools.empty()) fail("tools", "no tool to call");
    // One call: {"name": "<name>", "<key>": <arguments>}, an alternative per tool.
    const uint32_t call = g_.add_rule();
    for (const ToolSchema& tool : spec.tools) {
      root_ = &tool.parameters;
      where_ = tool.where;
      refs_.clear();
      const bool any = tool.parameters.is_null() ||
                       (tool.parameters.is_object() && tool.parameters.empty());
      const uint32_t arguments = any ? any_object() : value(*root_, where_);
      Seq seq;
      g_.append_literal(seq, spec.call_open + spec.padding +
                                 "{\"name\": " + Json(tool.name).dump() + ", " +
                                 Json(spec.arguments_key).dump() + ": ");
      seq.push_back(Grammar::rule(arguments));
      g_.append_literal(seq, "}" + spec.padding + spec.call_close);
      g_.add_alternative(call, seq);
    }
    // The calls: list_open call (separator call){0, max_calls - 1} list_close.
    uint32_t more = rule_of({});
    if (spec.max_calls <= 0) {
      more = g_.add_rule();
      g_.add_alternative(more, {});
      Seq seq;
      g_.append_literal(seq, spec.separator);
      seq.insert(seq.end(), {Grammar::rule(call), Grammar::rule(more)});
      g_.add_alternative(more, seq);
    } else {
      for (int i = 1; i < spec.max_calls; ++i) {
        const uint32_t next = g_.add_rule();
        g_.add_alternative(next, {});
        Seq seq;
        g_.append_literal(seq, spec.separator);
        seq.insert(seq.end(), {Grammar::rule(call), Grammar::rule(more)});
        g_.add_alternative(next, seq);
        more = next;
      }
    }
    Seq calls_seq;
    g_.append_literal(calls_seq, spec.list_open);
    calls_seq.insert(calls_seq.end(), {Grammar::rule(call), Grammar::rule(more)});
    g_.append_literal(calls_seq, spec.list_close);
    const uint32_t calls = rule_of(calls_seq);

    uint32_t answer = calls;
    if (spec.text == ToolCallGrammarSpec::Text::Before) {
      if (spec.call_open.empty()) fail("tools", "text before calls needs a call_open tag");
      answer = g_.add_rule();
      const uint32_t end = g_.add_rule();
      g_.add_alternative(end, {});
      g_.add_alternative(end, {Grammar::rule(calls)});
      g_.add_alternative(answer, {Grammar::rule(text_without(spec.call_open)), Grammar::rule(end)});
    } else if (spec.text == ToolCallGrammarSpec::Text::Instead) {
      ByteSet first;
      first.set();
      for (const char c : std::string_view(" \t\n\r")) first.reset(static_cast<uint8_t>(c));
      for (const char c : spec.avoid_first) first.reset(static_cast<uint8_t>(c));
      ByteSet all;
      all.set();
      const uint32_t any = g_.add_rule();
      g_.add_alternative(any, {});
      g_.add_alternative(any, {g_.bytes(all), Grammar::rule(any)});
      answer = g_.add_rule();
      g_.add_alternative(answer, {});
      g_.add_alternative(answer, {g_.bytes(first), Grammar::rule(any)});
      g_.add_alternative(answer, {Grammar::rule(calls)});
    }
    uint32_t top = answer;
    if (!spec.reasoning_close.empty()) {
      Seq reasoning;
      if (!spec.reasoning_required) g_.append_literal(reasoning, spec.reasoning_open);
      reasoning.push_back(Grammar::rule(text_until(spec.reasoning_close)));
      reasoning.push_back(Grammar::rule(at_most(chars(" \t\n\r"), 8)));
      top = g_.add_rule();
      reasoning.push_back(Grammar::rule(answer));
      g_.add_alternative(top, reasoning);
      if (!spec.reasoning_required) g_.add_alternative(top, {Grammar::rule(answer)});
    }
    if (spec.text != ToolCallGrammarSpec::Text::None) {
      // Lazy: free up to where the answer commits to a call. The text's automaton never holds
      // call_open (Before) and text never begins as calls do (Instead), so the state after the
      // word is the same whatever free text came first.
      GrammarTrigger trigger;
      trigger.at_start = spec.text == ToolCallGrammarSpec::Text::Instead;
      trigger.word = trigger.at_start
                         ? (spec.list_open + spec.call_open + spec.padding + "{").substr(0, 1)
                         : spec.call_open;
      trigger.skip_open = spec.reasoning_open;
      trigger.skip_close = spec.reasoning_close;
      trigger.starts_skipping = spec.reasoning_required;
      if (spec.reasoning_required) trigger.lead = spec.reasoning_close;
      g_.set_trigger(std::move(trigger));
    }
    if (Result<void> done = g_.finish(top); !done) fail("tools", done.error().message);
    return std::make_shared<const Grammar>(std::move(g_));
  }

  std::shared_ptr<const Grammar> compile_any_object() {
    const uint32_t top = any_object();
    if (Result<void> done = g_.finish(top); !done) fail(where_, done.error().message);
    return std::make_shared<const Grammar>(std::move(g_));
  }

 private:
  [[noreturn]] static void fail(const std::string& path, const std::string& what) {
    throw SchemaError{path + ": " + what};
  }

  /// A rule with the single alternative `seq`.
  uint32_t rule_of(const Seq& seq) {
    const uint32_t r = g_.add_rule();
    g_.add_alternative(r, seq);
    return r;
  }

  uint32_t literal(std::string_view text) {
    Seq seq;
    g_.append_literal(seq, text);
    return rule_of(seq);
  }

  /// R_k ::= "" | set R_{k-1}; R_0 ::= "": at most k bytes of `set`.
  uint32_t at_most(const ByteSet& set, int k) {
    uint32_t r = rule_of({});
    for (int i = 0; i < k; ++i) {
      const uint32_t next = g_.add_rule();
      g_.add_alternative(next, {});
      g_.add_alternative(next, {g_.bytes(set), Grammar::rule(r)});
      r = next;
    }
    return r;
  }

  /// The text automaton of `d` (non-empty): states[s] is the rule after s bytes of a partial
  /// match; its alternatives follow each byte to the state it leads to (the longest prefix of
  /// `d` the text then ends with). `until`: the text ends with the first whole `d`; else the
  /// text holds no `d` and may end in any state. Each alternative consumes a byte first.
  uint32_t text_automaton(std::string_view d, bool until) {
    const size_t n = d.size();
    std::vector<uint32_t> states(n);
    for (uint32_t& r : states) r = g_.add_rule();
    for (size_t s = 0; s < n; ++s) {
      std::map<size_t, ByteSet> targets;
      for (int b = 0; b < 256; ++b) {
        std::string seen(d.substr(0, s));
        seen.push_back(static_cast<char>(b));
        size_t k = std::min(seen.size(), n);
        while (k > 0 && seen.compare(seen.size() - k, k, d.substr(0, k)) != 0) --k;
        targets[k].set(static_cast<size_t>(b));
      }
      if (!until) g_.add_alternative(states[s], {});
      for (const auto& [t, set] : targets) {
        if (t == n) {
          if (until) g_.add_alternative(states[s], {g_.bytes(set)});
        } else {
          g_.add_alternative(states[s], {g_.bytes(set), Grammar::rule(states[t])});
        }
      }
    }
    return states[0];
  }
  uint32_t text_without(std::string_view d) { return text_automaton(d, false); }
  uint32_t text_until(std::string_view d) { return text_automaton(d, true); }

  GrammarElement ws() {
    if (!ws_) {
      ws_ = g_.add_rule();
      g_.add_alternative(*ws_, {});
      g_.add_alternative(*ws_, {g_.byte(' ')});
      g_.add_alternative(*ws_, {g_.byte('\n'), Grammar::rule(at_most(chars(" \t"), kMaxIndent))});
    }
    return Grammar::rule(*ws_);
  }

  uint32_t string_rule() {
    if (!string_) string_ = rule_of({g_.byte('"'), Grammar::string_body()});
    return *string_;
  }

  uint32_t integer_part() {
    if (!integer_part_) {
      integer_part_ = g_.add_rule();
      g_.add_alternative(*integer_part_, {g_.byte('0')});
      g_.add_alternative(*integer_part_,
                         {g_.bytes(range('1', '9')),
                          Grammar::rule(at_most(range('0', '9'), kMaxIntegerDigits - 1))});
    }
    return *integer_part_;
  }

  uint32_t integer() {
    if (!integer_) {
      const uint32_t sign = at_most(chars("-"), 1);
      integer_ = rule_of({Grammar::rule(sign), Grammar::rule(integer_part())});
    }
    return *integer_;
  }

  uint32_t number() {
    if (!number_) {
      const ByteSet digit = range('0', '9');
      const uint32_t fraction = g_.add_rule();
      g_.add_alternative(fraction, {});
      g_.add_alternative(fraction, {g_.byte('.'), g_.bytes(digit),
                                    Grammar::rule(at_most(digit, kMaxFractionDigits - 1))});
      const uint32_t exponent = g_.add_rule();
      g_.add_alternative(exponent, {});
      g_.add_alternative(exponent, {g_.bytes(chars("eE")), Grammar::rule(at_most(chars("+-"), 1)),
                                    g_.bytes(digit), Grammar::rule(at_most(digit, 1))});
      number_ =
          rule_of({Grammar::rule(integer()), Grammar::rule(fraction), Grammar::rule(exponent)});
    }
    return *number_;
  }

  uint32_t boolean() {
    if (!boolean_) {
      boolean_ = g_.add_rule();
      for (std::string_view v : {"true", "false"}) {
        Seq seq;
        g_.append_literal(seq, v);
        g_.add_alternative(*boolean_, seq);
      }
    }
    return *boolean_;
  }

  /// "[" ws ( item ws ( "," ws item ws ){min-1..max-1} )? "]", max < 0: unbounded.
  uint32_t array_of(uint32_t item, int min, int max) {
    const Seq one = {Grammar::rule(item), ws()};
    Seq more = {g_.byte(','), ws(), Grammar::rule(item), ws()};
    // The optional tail: up to (max - min) more items, or any number.
    uint32_t tail;
    if (max < 0) {
      tail = g_.add_rule();
      g_.add_alternative(tail, {});
      Seq rec = more;
      rec.push_back(Grammar::rule(tail));
      g_.add_alternative(tail, rec);
    } else {
      tail = rule_of({});
      for (int i = min == 0 ? 1 : min; i < max; ++i) {
        const uint32_t next = g_.add_rule();
        g_.add_alternative(next, {});
        Seq rec = more;
        rec.push_back(Grammar::rule(tail));
        g_.add_alternative(next, rec);
        tail = next;
      }
    }
    Seq body;
    if (min > 0) {
      body = one;
      for (int i = 1; i < min; ++i) body.insert(body.end(), more.begin(), more.end());
      body.push_back(Grammar::rule(tail));
    }
    const uint32_t items = g_.add_rule();
    if (min == 0) {
      g_.add_alternative(items, {});
      if (max != 0) {
        Seq first = one;
        first.push_back(Grammar::rule(tail));
        g_.add_alternative(items, first);
      }
    } else {
      g_.add_alternative(items, body);
    }
    return rule_of({g_.byte('['), ws(), Grammar::rule(items), g_.byte(']')});
  }

  /// The literals [begin, end) of the sorted `literals`, which share their first `depth` bytes,
  /// from byte `depth` on, as a trie of rules: one alternative per distinct next byte, so the
  /// recognizer keeps one stack per distinct prefix instead of one per literal (large enums).
  /// Recursion depth: the branching points along one literal.
  uint32_t one_of(const std::vector<std::string>& literals, size_t begin, size_t end,
                  size_t depth) {
    const uint32_t r = g_.add_rule();
    size_t i = begin;
    if (literals[i].size() == depth) {
      g_.add_alternative(r, {});
      ++i;
    }
    while (i < end) {
      size_t j = i;
      while (j < end && literals[j][depth] == literals[i][depth]) ++j;
      // The bytes the group [i, j) shares (those of its first and last, as it is sorted) go in
      // one alternative, so recursion happens only where literals branch.
      const std::string& first = literals[i];
      const std::string& last = literals[j - 1];
      size_t shared = depth + 1;
      while (shared < first.size() && shared < last.size() && first[shared] == last[shared])
        ++shared;
      Seq seq;
      g_.append_literal(seq, std::string_view(first).substr(depth, shared - depth));
      seq.push_back(Grammar::rule(one_of(literals, i, j, shared)));
      g_.add_alternative(r, seq);
      i = j;
    }
    return r;
  }

  /// Any JSON value whose objects and arrays nest at most `levels` deep (0: scalars only).
  uint32_t any_value(int levels = kMaxFreeDepth) {
    std::optional<uint32_t>& slot = any_value_[static_cast<size_t>(levels)];
    if (!slot) {
      const uint32_t r = g_.add_rule();
      slot = r;
      if (levels > 0) {
        g_.add_alternative(r, {Grammar::rule(any_object(levels))});
        g_.add_alternative(r, {Grammar::rule(array_of(any_value(levels - 1), 0, -1))});
      }
      g_.add_alternative(r, {Grammar::rule(string_rule())});
      g_.add_alternative(r, {Grammar::rule(number())});
      g_.add_alternative(r, {Grammar::rule(boolean())});
      g_.add_alternative(r, {Grammar::rule(literal("null"))});
    }
    return *slot;
  }

  /// Any JSON object, itself one level of `levels` (>= 1) of nesting.
  uint32_t any_object(int levels = kMaxFreeDepth) {
    std::optional<uint32_t>& slot = any_object_[static_cast<size_t>(levels)];
    if (!slot) {
      const uint32_t r = g_.add_rule();
      slot = r;
      const uint32_t member = rule_of({Grammar::rule(string_rule()), ws(), g_.byte(':'), ws(),
                                       Grammar::rule(any_value(levels - 1)), ws()});
      const uint32_t more = g_.add_rule();
      g_.add_alternative(more, {});
      g_.add_alternative(more, {g_.byte(','), ws(), Grammar::rule(member), Grammar::rule(more)});
      const uint32_t members = g_.add_rule();
      g_.add_alternative(members, {});
      g_.add_alternative(members, {Grammar::rule(member), Grammar::rule(more)});
      g_.add_alternative(r, {g_.byte('{'), ws(), Grammar::rule(members), g_.byte('}')});
    }
    return *slot;
  }

  uint32_t format(const std::string& name) {
    const ByteSet d = range('0', '9');
    const auto two = [&](char first_lo, char first_hi, char second_hi) {
      // A two-digit field from first_lo.. to first_hi second_hi (e.g. 00..23).
      const uint32_t r = g_.add_rule();
      if (first_hi > first_lo)
        g_.add_alternative(
            r, {g_.bytes(range(first_lo, static_cast<char>(first_hi - 1))), g_.bytes(d)});
      g_.add_alternative(
          r, {g_.byte(static_cast<uint8_t>(first_hi)), g_.bytes(range('0', second_hi))});
      return Grammar::rule(r);
    };
    const auto date = [&]() {
      const uint32_t month = g_.add_rule();
      g_.add_alternative(month, {g_.byte('0'), g_.bytes(range('1', '9'))});
      g_.add_alternative(month, {g_.byte('1'), g_.bytes(range('0', '2'))});
      const uint32_t day = g_.add_rule();
      g_.add_alternative(day, {g_.byte('0'), g_.bytes(range('1', '9'))});
      g_.add_alternative(day, {g_.bytes(range('1', '2')), g_.bytes(d)});
      g_.add_alternative(day, {g_.byte('3'), g_.bytes(range('0', '1'))});
      return rule_of({g_.bytes(d), g_.bytes(d), g_.bytes(d), g_.bytes(d), g_.byte('-'),
                      Grammar::rule(month), g_.byte('-'), Grammar::rule(day)});
    };
    const auto time = [&]() {
      const uint32_t fraction = g_.add_rule();
      g_.add_alternative(fraction, {});
      g_.add_alternative(fraction, {g_.byte('.'), g_.bytes(d), Grammar::rule(at_most(d, 5))});
      const uint32_t offset = g_.add_rule();
      g_.add_alternative(offset, {g_.byte('Z')});
      g_.add_alternative(offset, {g_.bytes(chars("+-")), two('0', '2', '3'), g_.byte(':'),
                                  g_.bytes(range('0', '5')), g_.bytes(d)});
      return rule_of({two('0', '2', '3'), g_.byte(':'), g_.bytes(range('0', '5')), g_.bytes(d),
                      g_.byte(':'), g_.bytes(range('0', '5')), g_.bytes(d), Grammar::rule(fraction),
                      Grammar::rule(offset)});
    };
    Seq body = {g_.byte('"')};
    if (name == "date") {
      body.push_back(Grammar::rule(date()));
    } else if (name == "time") {
      body.push_back(Grammar::rule(time()));
    } else if (name == "date-time") {
      body.push_back(Grammar::rule(date()));
      body.push_back(g_.byte('T'));
      body.push_back(Grammar::rule(time()));
    } else {  // uuid
      const ByteSet hex = range('0', '9') | range('a', 'f') | range('A', 'F');
      for (int group : {8, 4, 4, 4, 12}) {
        if (body.size() > 1) body.push_back(g_.byte('-'));
        for (int i = 0; i < group; ++i) body.push_back(g_.bytes(hex));
      }
    }
    body.push_back(g_.byte('"'));
    return rule_of(body);
  }

  static int bound(const Json& schema, const char* key, const std::string& path, int fallback) {
    if (!schema.contains(key)) return fallback;
    const Json& v = schema[key];
    if (!v.is_number_integer() || v.get<int64_t>() < 0)
      fail(path, std::string(key) + " must be a non-negative integer (got " + v.dump() + ")");
    if (v.get<int64_t>() > kMaxItemsBound)
      fail(path, std::string(key) + " " + v.dump() + " is above the supported " +
                     std::to_string(kMaxItemsBound));
    return static_cast<int>(v.get<int64_t>());
  }

  uint32_t object(const Json& schema, const std::string& path) {
    bool additional = true;
    if (schema.contains("additionalProperties")) {
      const Json& a = schema["additionalProperties"];
      if (!a.is_boolean())
        fail(path, "additionalProperties as a schema is not supported (only true or false)");
      additional = a.get<bool>();
    }
    std::vector<std::pair<std::string, const Json*>> props;
    if (schema.contains("properties")) {
      const Json& p = schema["properties"];
      if (!p.is_object()) fail(path, "properties must be an object (got " + p.dump() + ")");
      for (auto it = p.begin(); it != p.end(); ++it) props.push_back({it.key(), &it.value()});
    }
    std::set<std::string> required;
    if (schema.contains("required")) {
      const Json& r = schema["required"];
      if (!r.is_array()) fail(path, "required must be an array of property names");
      std::set<std::string_view> listed;
      for (const auto& prop : props) listed.insert(prop.first);
      for (const Json& name : r) {
        if (!name.is_string()) fail(path, "required must be an array of property names");
        const std::string n = name.get<std::string>();
        if (!listed.contains(n)) fail(path, "required property \"" + n + "\" is not in properties");
        required.insert(n);
      }
    }
    if (props.empty()) {
      if (additional) return any_object();
      return rule_of({g_.byte('{'), ws(), g_.byte('}')});
    }
    // rest[i][emitted]: the members from property i on, after `emitted` members; listed
    // properties in the schema's order, each optional one present or not.
    const size_t n = props.size();
    std::vector<std::array<uint32_t, 2>> rest(n + 1);
    rest[n] = {rule_of({}), rule_of({})};
    for (size_t i = n; i-- > 0;) {
      const auto& [name, sub] = props[i];
      const uint32_t val = value(*sub, path + "/properties/" + name);
      Seq member;
      g_.append_literal(member, Json(name).dump());
      member.insert(member.end(), {ws(), g_.byte(':'), ws(), Grammar::rule(val), ws()});
      for (int emitted = 0; emitted < 2; ++emitted) {
        const uint32_t r = g_.add_rule();
        Seq present;
        if (emitted) present = {g_.byte(','), ws()};
        present.insert(present.end(), member.begin(), member.end());
        present.push_back(Grammar::rule(rest[i + 1][1]));
        g_.add_alternative(r, present);
        if (!required.contains(name)) g_.add_alternative(r, {Grammar::rule(rest[i + 1][emitted])});
        rest[i][emitted] = r;
      }
    }
    return rule_of({g_.byte('{'), ws(), Grammar::rule(rest[0][0]), g_.byte('}')});
  }

  uint32_t array(const Json& schema, const std::string& path) {
    const int min = bound(schema, "minItems", path, 0);
    const int max = bound(schema, "maxItems", path, -1);
    if (max >= 0 && min > max)
      fail(path, "minItems " + std::to_string(min) + " is above maxItems " + std::to_string(max));
    if (!schema.contains("items")) return array_of(any_value(), min, max);
    const Json& items = schema["items"];
    if (items.is_array())
      fail(path, "items as an array (a tuple) is not supported; use one schema for all items");
    if (items.is_boolean() && !items.get<bool>()) {
      if (min > 0) fail(path, "items false allows no item but minItems is " + std::to_string(min));
      return array_of(any_value(), 0, 0);
    }
    return array_of(value(items, path + "/items"), min, max);
  }

  uint32_t typed(const std::string& type, const Json& schema, const std::string& path) {
    if (type == "string") {
      if (!schema.contains("format")) return string_rule();
      const Json& f = schema["format"];
      if (!f.is_string() || !kFormats.contains(f.get<std::string>()))
        fail(path, "unsupported format " + f.dump() + " (supported: date, time, date-time, uuid)");
      return format(f.get<std::string>());
    }
    if (type == "integer") return integer();
    if (type == "number") return number();
    if (type == "boolean") return boolean();
    if (type == "null") return literal("null");
    if (type == "object") return object(schema, path);
    return array(schema, path);
  }

  std::vector<std::string> types_of(const Json& schema, const std::string& path) {
    std::vector<std::string> types;
    if (!schema.contains("type")) return types;
    const Json& t = schema["type"];
    const auto add = [&](const Json& name) {
      if (!name.is_string() ||
          std::find(kTypes.begin(), kTypes.end(), name.get<std::string>()) == kTypes.end())
        fail(path, "unknown type " + name.dump() + " (types: " + join(kTypes) + ")");
      types.push_back(name.get<std::string>());
    };
    if (t.is_array()) {
      if (t.empty()) fail(path, "type is an empty list");
      for (const Json& name : t) add(name);
    } else {
      add(t);
    }
    return types;
  }

  uint32_t reference(const std::string& ref, const std::string& path) {
    if (const auto it = refs_.find(ref); it != refs_.end()) return it->second;
    if (!ref.starts_with("#") ||
        !(ref == "#" || ref.starts_with("#/$defs/") || ref.starts_with("#/definitions/")))
      fail(path, "$ref \"" + ref +
                     "\" is not supported (only \"#\", \"#/$defs/...\" and "
                     "\"#/definitions/...\")");
    const Json* target = nullptr;
    try {
      target = &root_->at(Json::json_pointer(ref.substr(1)));
    } catch (const Json::exception&) {
      fail(path, "$ref \"" + ref + "\" does not resolve to a schema in this document");
    }
    const uint32_t r = g_.add_rule();
    refs_.emplace(ref, r);
    g_.add_alternative(r, {Grammar::rule(value(*target, where_ + ref.substr(1)))});
    return r;
  }

  uint32_t value(const Json& schema, const std::string& path) {
    if (depth_ >= kMaxSchemaDepth)
      fail(path, "the schema nests deeper than " + std::to_string(kMaxSchemaDepth) + " levels");
    ++depth_;
    const uint32_t r = value_at_depth(schema, path);
    --depth_;
    return r;
  }

  uint32_t value_at_depth(const Json& schema, const std::string& path) {
    if (schema.is_boolean()) {
      if (!schema.get<bool>()) fail(path, "the schema false allows no value");
      return any_value();
    }
    if (!schema.is_object())
      fail(path, "a schema must be an object or a boolean (got " + schema.dump() + ")");
    std::vector<std::string> unsupported, constraining;
    for (auto it = schema.begin(); it != schema.end(); ++it) {
      if (kAnnotations.contains(it.key())) continue;
      if (kKeywords.contains(it.key())) {
        constraining.push_back(it.key());
      } else {
        unsupported.push_back(it.key());
      }
    }
    if (!unsupported.empty())
      fail(path, std::string("unsupported keyword") + (unsupported.size() > 1 ? "s " : " ") +
                     join(unsupported) + " (supported: " +
                     join(std::vector<std::string>(kKeywords.begin(), kKeywords.end())) +
                     ", and annotations)");
    const auto alone = [&](const char* key) {
      if (constraining.size() > 1)
        fail(path, std::string(key) + " beside other keywords (" + join(constraining) +
                       ") is not supported; put them inside each alternative");
    };
    if (schema.contains("$ref")) {
      alone("$ref");
      if (!schema["$ref"].is_string()) fail(path, "$ref must be a string");
      return reference(schema["$ref"].get<std::string>(), path);
    }
    if (schema.contains("anyOf")) {
      alone("anyOf");
      const Json& alts = schema["anyOf"];
      if (!alts.is_array() || alts.empty())
        fail(path, "anyOf must be a non-empty array of schemas");
      const uint32_t r = g_.add_rule();
      for (size_t i = 0; i < alts.size(); ++i)
        g_.add_alternative(r,
                           {Grammar::rule(value(alts[i], path + "/anyOf/" + std::to_string(i)))});
      return r;
    }
    const std::vector<std::string> types = types_of(schema, path);
    if (schema.contains("const") || schema.contains("enum")) {
      std::vector<const Json*> values;
      if (schema.contains("const")) {
        values.push_back(&schema["const"]);
      } else {
        const Json& e = schema["enum"];
        if (!e.is_array() || e.empty()) fail(path, "enum must be a non-empty array");
        for (const Json& v : e) values.push_back(&v);
      }
      std::vector<std::string> literals;
      for (const Json* v : values) {
        if (!types.empty() && std::none_of(types.begin(), types.end(), [&](const std::string& t) {
              return matches_type(*v, t);
            }))
          fail(path,
               "the value " + v->dump() + " does not match the type " + schema["type"].dump());
        literals.push_back(v->dump());
      }
      std::sort(literals.begin(), literals.end());
      literals.erase(std::unique(literals.begin(), literals.end()), literals.end());
      return one_of(literals, 0, literals.size(), 0);
    }
    std::vector<std::string> inferred = types;
    if (inferred.empty()) {
      const bool object_keys = schema.contains("properties") || schema.contains("required") ||
                               schema.contains("additionalProperties");
      const bool array_keys =
          schema.contains("items") || schema.contains("minItems") || schema.contains("maxItems");
      if (object_keys) inferred.push_back("object");
      if (array_keys) inferred.push_back("array");
      if (schema.contains("format")) inferred.push_back("string");
      if (inferred.empty()) return any_value();
    }
    if (inferred.size() == 1) return typed(inferred[0], schema, path);
    const uint32_t r = g_.add_rule();
    for (const std::string& t : inferred)
      g_.add_alternative(r, {Grammar::rule(typed(t, schema, path))});
    return r;
  }

  const Json* root_;  ///< the document $refs resolve in
  std::string where_;
  Grammar g_;
  std::map<std::string, uint32_t> refs_;
  int depth_ = 0;  ///< schemas being compiled, one inside the other
  std::optional<uint32_t> ws_, string_, integer_part_, integer_, number_, boolean_;
  std::array<std::optional<uint32_t>, kMaxFreeDepth + 1> any_value_, any_object_;  ///< by depth
};

}  // namespace

Result<std::shared_ptr<const Grammar>> compile_json_schema(const nlohmann::ordered_json& schema,
                                                           std::string_view where) {
  try {
    return SchemaCompiler(schema, where).compile();
  } catch (const SchemaError& e) {
    return make_error(e.message);
  }
}

Result<std::shared_ptr<const Grammar>> compile_json_schema_text(std::string_view schema_text) {
  const Json schema = parse_ordered_json(schema_text);
  if (schema.is_discarded()) return make_error("the schema is not valid JSON");
  return compile_json_schema(schema);
}

Result<std::shared_ptr<const Grammar>> compile_tool_calls(const ToolCallGrammarSpec& spec) {
  try {
    const Json none;
    return SchemaCompiler(none, "tools").compile_tool_calls(spec);
  } catch (const SchemaError& e) {
    return make_error(e.message);
  }
}

std::shared_ptr<const Grammar> json_object_grammar() {
  static const std::shared_ptr<const Grammar> grammar = [] {
    const Json none;
    return SchemaCompiler(none, "json_object").compile_any_object();
  }();
  return grammar;
}

Result<std::shared_ptr<const Grammar>> compile_response_format(
    const nlohmann::ordered_json& response_format) {
  if (!response_format.is_object() || !response_format.contains("type") ||
      !response_format["type"].is_string())
    return make_error("response_format must be an object with a string field type");
  const std::string type = response_format["type"].get<std::string>();
  if (type == "text") return std::shared_ptr<const Grammar>();
  if (type == "json_object") return json_object_grammar();
  if (type != "json_schema")
    return make_error(
        "response_format.type must be \"text\", \"json_object\" or \"json_schema\" (got \"" + type +
        "\")");
  if (!response_format.contains("json_schema") || !response_format["json_schema"].is_object())
    return make_error("response_format.json_schema must be an object when type is json_schema");
  const Json& spec = response_format["json_schema"];
  if (spec.contains("name") && !spec["name"].is_string())
    return make_error("response_format.json_schema.name must be a string");
  if (spec.contains("strict") && !spec["strict"].is_boolean() && !spec["strict"].is_null())
    return make_error("response_format.json_schema.strict must be a boolean");
  if (!spec.contains("schema"))
    return compile_json_schema(Json::object(), "response_format.json_schema.schema");
  return compile_json_schema(spec["schema"], "response_format.json_schema.schema");
}

}  // namespace gengyun::sampling
