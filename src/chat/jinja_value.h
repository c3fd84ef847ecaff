// Values of the Jinja engine, with Python's semantics as Jinja2 (in Hugging Face's immutable
// sandbox) gives them: undefined, none, booleans, 64-bit integers, floats, UTF-8 strings, lists
// and insertion-ordered dicts (immutable once built, so copies share them), namespaces (the one
// mutable object), and callables (macros, bound methods, global functions).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

namespace gengyun::chat::jinja {

class Value;
class Renderer;
struct Function;

/// The error every failing template operation throws inside the engine; ChatTemplate turns it
/// into an Error. `kind` is Jinja2's exception class name ("UndefinedError", "TypeError", ...);
/// `raised` marks a raise_exception() from the template itself, whose message is kept exactly.
struct JinjaError {
  std::string kind;
  std::string message;
  bool raised = false;
  int line = 0;  // 1-based; 0 until the innermost node that failed sets it
  int column = 0;
};

/// Throws JinjaError{kind, message}.
[[noreturn]] void fail(std::string kind, std::string message);

using List = std::vector<Value>;

/// What the rendering running on this thread has spent and may spend: the walks of values
/// (printing, comparing, serializing, looking for request text, the builtins) count a step per
/// item they visit and per kBytesPerStep bytes of strings they scan or build, and every list and
/// dict built counts a step per item and its bytes. The Renderer installs one for its lifetime
/// (BudgetScope); outside a rendering nothing is counted.
struct Budget {
  int64_t steps = 0;
  int64_t max_steps = 0;
  size_t value_bytes = 0;  // lists and dicts built so far: sizeof(Value) per item, plus the bytes
                           // of their keys and of the string items no other value holds
  size_t max_value_bytes = 0;
  size_t max_string_bytes = 0;  // the largest string a rendering may build
  size_t string_bytes = 0;      // strings built and text written so far
  size_t max_total_string_bytes = 0;
};

/// Installs `budget` as this thread's for its lifetime, then restores the previous one.
class BudgetScope {
 public:
  explicit BudgetScope(Budget* budget);
  ~BudgetScope();
  BudgetScope(const BudgetScope&) = delete;
  BudgetScope& operator=(const BudgetScope&) = delete;

 private:
  Budget* saved_;
};

/// Counts `n` steps; past max_steps a TemplateRuntimeError "the template ran more than N steps".
void charge_steps(int64_t n);
/// Bytes of strings scanned, compared or built that count as one step (a step per item is what
/// walking a list costs; a string's bytes are cheaper).
inline constexpr size_t kBytesPerStep = 64;
/// Counts the steps of scanning, comparing or building `bytes` bytes of strings
/// (bytes / kBytesPerStep).
void charge_bytes(size_t bytes);
/// Counts a string of `bytes` bytes that an expression yielded or the template's text wrote: its
/// steps (as charge_bytes) and its bytes against max_total_string_bytes, past which a
/// TemplateRuntimeError "the template built strings of more than N bytes in all".
void charge_string(size_t bytes);
/// A TemplateRuntimeError "the template built more than N bytes" when a string of `size` bytes
/// exceeds max_string_bytes.
void check_string_size(size_t size);
/// A TemplateRuntimeError when `bytes` more of lists and dicts would exceed max_value_bytes
/// (counts nothing: for checking before building a large list).
void check_value_bytes(size_t bytes);

/// The deepest lists and dicts may nest in a rendering (JSON input nests at most 64 deep).
inline constexpr uint32_t kMaxValueDepth = 512;

/// Byte ranges [begin, end) of a string that came from the request (message contents, tool
/// schemas): sorted, disjoint, none empty. The tokenizer parses no control token inside them.
using Spans = std::vector<std::pair<size_t, size_t>>;

/// An insertion-ordered mapping with Python's dict keys: any hashable value (strings, the keys
/// of JSON objects, or the ints, floats, bools, None, undefined and callables of templates' dict
/// literals), 1, 1.0 and True one key, as hash_key() tells them. A dict whose items all came
/// through set / set_key (dict literals, namespaces, dict()) is hashed: a lookup or set is a
/// step. One whose items were appended to `items` directly (JSON objects, loop objects) is
/// searched linearly, a step per key compared (set and set_key hash it first).
struct Dict {
  /// Each key with its value: a string key as it is, another key as its hash_key().
  std::vector<std::pair<std::string, Value>> items;
  /// The key objects when some key is not a string (keys[i] is items[i]'s), else empty.
  std::vector<Value> keys;
  bool is_namespace = false;  // namespace(): the only object `set obj.attr = ...` may change
  bool request_keys = false;  // the string keys are request text (a JSON object of the request)

  /// Whether items[i]'s key is a string (items[i].first).
  bool string_key(size_t i) const;
  /// items[i]'s key as a value: the key object (an int stays an int), a string key request
  /// text when request_keys.
  Value key_value(size_t i) const;
  /// The keys as values (key_value), in order: what iterating the dict and keys() give.
  List key_list() const;
  /// The [key, value] pairs, in order: what items() and |items give.
  List item_pairs() const;

  /// The value under string key `key`, or nullptr.
  const Value* find(std::string_view key) const;
  /// The value under `key` by Python's equality (512, 512.0 and 'x' as dict[key] finds them), or
  /// nullptr; TypeError "unhashable type: 'list'" for a list or dict key.
  const Value* find_key(const Value& key) const;
  /// Sets string key `key` to `value`, appending it when new (a step when the dict is hashed,
  /// else one per key).
  void set(std::string_view key, Value value);
  /// Sets `key` to `value` as a dict literal does: an equal key keeps its first object and takes
  /// the new value, a new one is appended; TypeError for an unhashable key.
  void set_key(const Value& key, Value value);

 private:
  // The slot of the key held as `key` in index_.
  static size_t slot(std::string_view key, bool string);
  // The position of the key held as `key` (a string key when `string`, else a hash_key()), or
  // items.size(), charging a step per key the search compared (one when hashed).
  size_t position(std::string_view key, bool string) const;
  // Appends the key held as `key` with `value`, hashing the dict first when it is not.
  void append(std::string key, bool string, Value value);

  // slot() of each item's key to its position; the dict is hashed while it holds one entry
  // per item (items appended directly, or cleared, make it stale until the next append()).
  std::unordered_multimap<size_t, size_t> index_;
  // The value under the key held as `key`, or nullptr, counting a step per key compared.
  const Value* lookup(std::string_view key, bool string) const;
};

/// Positional and keyword arguments of a call.
struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;
};

/// The parameters a builtin takes after its subject (a filter's or test's value, a method's
/// object), in order, as Jinja2 3.1's filters and tests and Python's str and dict methods
/// declare them.
struct Signature {
  std::vector<std::string_view> params;
  bool keywords = true;   // false: positional only, as most of Python's str methods
  bool variadic = false;  // *args / **kwargs: the builtin checks its arguments itself
};

/// Binds `args` to `signature` by Python's rules, throwing its TypeError for a call it would
/// refuse: "F() takes at most N arguments (M given)", "F() takes no arguments (M given)",
/// "F() got an unexpected keyword argument 'k'", "F() got multiple values for argument 'k'",
/// "F() takes no keyword arguments". A variadic signature takes anything.
void bind_arguments(std::string_view function, const Signature& signature, const CallArgs& args);

/// Marks an undefined value; `hint` is the message an operation on it fails with
/// ("'x' is undefined", "'dict object' has no attribute 'content'").
struct Undefined {
  std::string hint;
};

/// A Jinja value. Copying is cheap: strings, lists, dicts and functions are shared (strings are
/// immutable, so a copy of a variable's string costs no bytes).
class Value {
 public:
  enum class Type { kUndefined, kNone, kBool, kInt, kFloat, kString, kList, kDict, kFunction };

  Value() : v_(Undefined{}) {}
  Value(Undefined u) : v_(std::move(u)) {}
  Value(std::nullptr_t) : v_(nullptr) {}
  Value(bool b) : v_(b) {}
  Value(int i) : v_(int64_t{i}) {}
  Value(int64_t i) : v_(i) {}
  Value(double d) : v_(d) {}
  Value(std::string s) : v_(std::make_shared<const std::string>(std::move(s))) {}
  Value(std::string_view s) : Value(std::string(s)) {}
  Value(const char* s) : Value(std::string(s)) {}
  /// Lists and dicts nest at most kMaxValueDepth deep; deeper ones throw a JinjaError (so that
  /// printing, comparing and freeing them never exhausts the stack).
  Value(List l) : v_(std::make_shared<List>(std::move(l))) { set_depth(); }
  Value(std::shared_ptr<const List> l) : v_(std::move(l)) { set_depth(); }
  Value(Dict d) : v_(std::make_shared<Dict>(std::move(d))) { set_depth(); }
  /// (A namespace counts as depth 1 whatever it holds: nothing walks into one.)
  Value(std::shared_ptr<Dict> d) : v_(std::move(d)) { set_depth(); }
  Value(std::shared_ptr<const Function> f) : v_(std::move(f)) {}

  /// A value from JSON (objects keep their key order); with `request`, its strings and object
  /// keys are marked as request text. Throws a JinjaError for JSON nested deeper than
  /// kMaxValueDepth.
  static Value from_json(const nlohmann::ordered_json& json, bool request = false,
                         uint32_t depth = 0);
  /// A dict that lives for one iteration of a loop (its `loop` object): its depth is checked,
  /// but its bytes do not count against max_value_bytes, which bounds what a rendering builds in
  /// all (one is alive per loop level; QA: Command R7B's template walks every message once per
  /// tool message, and 320 000 `loop` objects counted 200 MB).
  static Value transient(std::shared_ptr<Dict> d);
  /// A string all of whose bytes are request text.
  static Value request_text(std::string s);
  /// A string whose request text is `spans` (normalized here: merged, empty ones dropped).
  static Value with_spans(std::string s, Spans spans);

  Type type() const { return static_cast<Type>(v_.index()); }
  bool is_undefined() const { return type() == Type::kUndefined; }
  bool is_none() const { return type() == Type::kNone; }
  bool is_bool() const { return type() == Type::kBool; }
  bool is_int() const { return type() == Type::kInt; }
  bool is_float() const { return type() == Type::kFloat; }
  /// int or float (not bool, as Jinja's `number` test counts it).
  bool is_number() const { return is_int() || is_float(); }
  bool is_string() const { return type() == Type::kString; }
  bool is_list() const { return type() == Type::kList; }
  bool is_dict() const { return type() == Type::kDict; }
  bool is_function() const { return type() == Type::kFunction; }

  bool as_bool() const { return std::get<bool>(v_); }
  int64_t as_int() const { return std::get<int64_t>(v_); }
  /// The number as a double (int, float or bool).
  double as_double() const;
  const std::string& as_string() const { return *std::get<5>(v_); }
  /// Whether a string's bytes are held by another value too (a variable, a list, the template's
  /// literal): false for a string an operation has just built.
  bool shares_string() const { return std::get<5>(v_).use_count() > 1; }
  const List& as_list() const { return *std::get<6>(v_); }
  const std::shared_ptr<const List>& list_ptr() const { return std::get<6>(v_); }
  Dict& as_dict() const { return *std::get<7>(v_); }
  const Function& as_function() const { return *std::get<8>(v_); }
  const std::string& undefined_hint() const { return std::get<0>(v_).hint; }
  /// A string's request-text spans; nullptr when none of it is request text.
  const Spans* spans() const { return spans_.get(); }

  /// Python truthiness (undefined is false).
  bool truthy() const;
  /// str(value) as Jinja prints it: strings as they are, None as "None", lists and dicts as
  /// Python's repr, undefined as "".
  std::string to_str() const;
  /// Python's repr(value) ("Undefined" for undefined, as Jinja's Undefined.__repr__).
  std::string repr() const;
  /// Python's type name for messages: "str", "int", "list", "dict", "NoneType", ...
  std::string type_name() const;
  /// Jinja's object_type_repr: "dict object", "None", "str object".
  std::string object_type_repr() const;

 private:
  std::variant<Undefined, std::nullptr_t, bool, int64_t, double, std::shared_ptr<const std::string>,
               std::shared_ptr<const List>, std::shared_ptr<Dict>, std::shared_ptr<const Function>>
      v_;
  // Sets depth_ (failing past kMaxValueDepth) and, when `charge`, counts a new list or dict
  // against the budget.
  void set_depth(bool charge = true);
  // Appends repr() to `out`, counting steps and checking its size against the budget.
  void repr_into(std::string& out) const;

  std::shared_ptr<const Spans> spans_;
  uint32_t depth_ = 0;  // of a list or dict: 1 + the deepest item's
};

/// Something a template can call: a macro, a bound string/dict method, a global function.
struct Function {
  std::string name;
  std::function<Value(Renderer&, CallArgs&)> call;
  Value self;          // a bound method's subject
  bool exact = false;  // marks request text in its result itself (else the renderer marks a
                       // string result wholly when any input carries request text)
  const Signature* signature = nullptr;  // a builtin's, checked before `call`; macros bind
                                         // their own
};

/// Whether `v` holds request text anywhere (a string's spans, request keys, deeply).
bool carries_request_text(const Value& v);

/// Bytes [begin, end) of string `s`, with its request-text spans.
Value substring(const Value& s, size_t begin, size_t end);

/// Builds a string from pieces, recording which bytes are request text.
class TextBuilder {
 public:
  /// Appends `text`, all of it request text when `request`.
  void append_text(std::string_view text, bool request = false);
  /// Appends string value `s` with its spans.
  void append(const Value& s);
  size_t size() const { return text_.size(); }
  const std::string& text() const { return text_; }
  const Spans& spans() const { return spans_; }
  /// The string built, with its spans; the builder is left empty.
  Value take();

 private:
  std::string text_;
  Spans spans_;
};

/// A string equal exactly for values Python's hash and == hold equal (1, 1.0 and True; equal
/// strings; a callable or namespace only itself), as sets and dict keys compare them; lists and
/// dicts are unhashable: TypeError "unhashable type: 'list'".
std::string hash_key(const Value& v);
/// Whether hash_key(v) takes `v` (it is no list and no dict but a namespace).
bool hashable(const Value& v);

/// Python's == (1 == 1.0 == True; lists and dicts compared deeply; undefined equals undefined).
bool equals(const Value& a, const Value& b);
/// Python's <, for numbers, strings and lists; other pairs throw a TypeError.
bool less(const Value& a, const Value& b);

/// Python's repr of a float: shortest round-trip digits, "1.0", "1e-05", "1e+16".
std::string float_repr(double d);
/// Python's repr of a string (quotes chosen as Python chooses them).
std::string string_repr(std::string_view s);

/// Options of json.dumps that templates use through `tojson`.
struct JsonOptions {
  int indent = -1;  // < 0: on one line
  bool ensure_ascii = false;
  bool sort_keys = false;
  std::string item_separator;  // empty: ", " on one line, "," when indented
  std::string key_separator = ": ";
};

/// json.dumps(value) as Hugging Face's `tojson` filter calls it: non-ASCII kept (unless
/// ensure_ascii), key order kept (unless sort_keys), floats as Python's repr. Undefined and
/// callables throw a TypeError.
std::string to_json(const Value& value, const JsonOptions& options);

/// The number of Unicode code points of UTF-8 `s` (Python's len()).
size_t utf8_length(std::string_view s);
/// Decodes the code point of UTF-8 `s` at byte `i` (< s.size()) and moves `i` past it; an
/// invalid byte decodes as itself, alone. Walking a string with it allocates nothing.
uint32_t next_code_point(std::string_view s, size_t& i);
/// The byte where the code point of UTF-8 `s` that ends at byte `i` begins, as next_code_point
/// decodes `s` (0 < i <= s.size(), `i` the end of one of its code points). Reads at most 4 bytes.
size_t previous_code_point(std::string_view s, size_t i);

}  // namespace gengyun::chat::jinja
