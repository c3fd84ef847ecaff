// The Jinja renderer: walks a parsed template over a context of variables and writes the
// output. One Renderer renders one template once; it counts steps and call depth so that a
// template that loops forever or recurses without end stops with an error.
#pragma once

#include <cstdint>
#include <ctime>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "chat/jinja_ast.h"

namespace gengyun::chat::jinja {

/// Bounds on one rendering.
struct RenderLimits {
  int64_t max_steps = 10'000'000;       // statements, loop iterations, calls, builtins' work
  int max_depth = 200;                  // nested macro calls and recursive loops
  // Blocks and expressions being rendered at once, through every macro call (each is a level of
  // the renderer's stack, up to about 1.5 KiB for nested loops: 1000 fit in 1.5 MiB).
  int max_nesting = 1000;
  size_t max_output_bytes = 64u << 20;  // also the largest string an expression may build
  // Lists and dicts built, all together (sizeof(Value) per item plus the bytes of their string
  // items and keys; freed ones still count).
  size_t max_value_bytes = 256u << 20;
  // Strings that expressions yield (copies included: a variable's value is copied) and text the
  // template writes, all together (freed ones still count).
  size_t max_total_string_bytes = 256u << 20;
};

/// The clock behind strftime_now(): seconds since the Unix epoch, read as local time.
using NowFn = std::function<std::time_t()>;

class Renderer {
 public:
  /// `variables` are the template's globals (messages, tools, bos_token, ...).
  Renderer(std::vector<std::pair<std::string, Value>> variables, RenderLimits limits, NowFn now);

  /// Breaks the reference cycles namespaces may have been given (`set ns.me = [ns]`).
  ~Renderer();
  Renderer(const Renderer&) = delete;
  Renderer& operator=(const Renderer&) = delete;

  /// Keeps `ns`, a namespace made during this rendering, to empty it at the end.
  void adopt_namespace(std::shared_ptr<Dict> ns) { namespaces_.push_back(std::move(ns)); }

  /// Renders `body` and returns the output, a string whose spans mark the bytes that come from
  /// request text. Throws JinjaError.
  Value render(const Body& body);

  /// Calls `callee` (a Function) with `args`.
  Value call(const Value& callee, CallArgs& args);
  /// str(v) as a string value: strings as they are; other values printed, as request text when
  /// they carry any.
  static Value stringify(const Value& v);
  /// `subject.name`: an attribute (a string or dict method) before a dict item.
  Value get_attr(const Value& subject, const std::string& name);
  /// `subject[key]`: an item before an attribute.
  Value get_item(const Value& subject, const Value& key);
  /// The items a `for` over `v` visits: list items, dict keys, string characters. Undefined
  /// gives none; other values throw a TypeError.
  List iterate(const Value& v);
  /// Applies the filter named `name` (TemplateRuntimeError if there is none; a TypeError for
  /// arguments its signature refuses).
  Value apply_filter(const std::string& name, const Value& subject, CallArgs& args);
  /// Applies `filter`, called `name` in the template.
  Value apply_filter(const std::string& name, const Filter& filter, const Value& subject,
                     CallArgs& args);
  /// Applies the test named `name` (as apply_filter).
  bool apply_test(const std::string& name, const Value& subject, CallArgs& args);
  /// Applies `test`, called `name` in the template.
  bool apply_test(const std::string& name, const Test& test, const Value& subject, CallArgs& args);
  /// Fails when `size` bytes exceed the output limit (for strings that filters build).
  void check_size(size_t size) const;
  /// Counts one step; fails past the limit.
  void step();
  /// Now, for strftime_now().
  std::time_t now() const { return now_(); }

 private:
  enum class Flow { kNormal, kBreak, kContinue };

  // One level of max_nesting for as long as it lives.
  struct Nest {
    explicit Nest(Renderer& r);
    ~Nest() { --r.nesting_; }
    Renderer& r;
  };

  struct Scope {
    std::vector<std::pair<std::string, Value>> vars;
    Scope* parent = nullptr;
  };

  Flow exec(const Body& body, TextBuilder& out);
  Flow exec_node(const Node& node, TextBuilder& out);
  Flow exec_for(const Node& node, TextBuilder& out);
  void run_loop(const Node& node, const List& items, TextBuilder& out, int depth);
  void exec_set(const Node& node);
  Value eval(const Expr& e);
  Value eval_inner(const Expr& e);
  Value eval_binary(const Expr& e);
  Value eval_compare(const Expr& e);
  Value eval_call(const Expr& e);
  Value eval_slice(const Expr& e);
  CallArgs eval_args(const Expr& e, size_t first);
  Value call_macro(const Node& macro, CallArgs& args, const Value& caller);
  Value call_method(const Value& subject, const std::string& name, CallArgs& args);

  const Value* lookup(std::string_view name) const;
  void assign(const std::string& name, Value value);
  void append(TextBuilder& out, const Value& v);
  /// `result` of a builtin that does not mark request text itself: a string result becomes
  /// request text as a whole when `subject` or any argument carries request text.
  static Value guard(Value result, const Value& subject, const CallArgs& args);

  Scope root_;
  Scope* scope_ = &root_;
  RenderLimits limits_;
  NowFn now_;
  std::vector<std::shared_ptr<Dict>> namespaces_;
  Budget budget_;
  BudgetScope budget_scope_{&budget_};
  int depth_ = 0;
  int nesting_ = 0;
};

}  // namespace gengyun::chat::jinja
