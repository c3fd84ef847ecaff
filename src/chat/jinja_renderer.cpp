#include "chat/jinja_renderer.h"

#include <cmath>
#include <limits>

#include "chat/jinja_builtins.h"

namespace gengyun::chat::jinja {
namespace {

Value attribute_undefined(const Value& subject, const std::string& name) {
  return Undefined{"'" + subject.object_type_repr() + "' has no attribute '" + name + "'"};
}

Value element_undefined(const Value& subject, const Value& key) {
  return Undefined{subject.object_type_repr() + " has no element " + key.repr()};
}

[[noreturn]] void fail_undefined(const Value& v) {
  fail("UndefinedError", v.undefined_hint().empty() ? "value is undefined" : v.undefined_hint());
}

// A slice bound or step as an integer (TypeError for anything but an integer or a bool).
int64_t slice_bound(const Value& v) {
  if (v.is_int()) return v.as_int();
  if (v.is_bool()) return v.as_bool();
  fail("TypeError", "slice indices must be integers or None");
}

bool is_none_bound(const Value& v) { return v.is_none() || v.is_undefined(); }

// Python's slice.indices(): the start, stop and step a slice picks out of `length` items.
void slice_indices(int64_t length, const Value& lo, const Value& hi, const Value& st,
                   int64_t& start, int64_t& stop, int64_t& step) {
  step = is_none_bound(st) ? 1 : slice_bound(st);
  if (step == 0) fail("ValueError", "slice step cannot be zero");
  const int64_t lower = step < 0 ? -1 : 0;
  const int64_t upper = step < 0 ? length - 1 : length;
  auto clamp = [&](const Value& v, int64_t fallback) {
    if (is_none_bound(v)) return fallback;
    int64_t i = slice_bound(v);
    if (i < 0) {
      i += length;
      if (i < lower) i = lower;
    } else if (i > upper) {
      i = upper;
    }
    return i;
  };
  start = clamp(lo, step < 0 ? upper : lower);
  stop = clamp(hi, step < 0 ? lower : upper);
}

uint64_t magnitude(int64_t i) {
  return i < 0 ? 0 - static_cast<uint64_t>(i) : static_cast<uint64_t>(i);
}

// Walks up to `count` code points of UTF-8 `s` from byte `from` (a code point's start),
// forward or `back`, stopping at the string's end or start: returns the byte reached and leaves
// in `count` the code points it could not walk. Adds the bytes passed over to `walked`.
size_t walk_code_points(std::string_view s, size_t from, uint64_t& count, bool back,
                        size_t& walked) {
  size_t i = from;
  for (; count > 0 && (back ? i > 0 : i < s.size()); --count) {
    if (back) {
      i = previous_code_point(s, i);
    } else {
      next_code_point(s, i);
    }
  }
  walked += back ? from - i : i - from;
  return i;
}

// Appends code point [begin, end) of string `s` with its request text.
void append_code_point(TextBuilder& out, const Value& s, size_t begin, size_t end) {
  if (s.spans() == nullptr) {
    out.append_text(std::string_view(s.as_string()).substr(begin, end - begin));
  } else {
    out.append(substring(s, begin, end));
  }
}

// Python's s[lo:hi:st] of string `s` (code points), found by walking code points from the end
// each bound counts from, without a list of them: a step of 1 walks to its bounds only, another
// step measures the string once. The bytes walked count as steps.
Value string_slice(const Value& s, const Value& lo, const Value& hi, const Value& st) {
  const std::string& text = s.as_string();
  size_t walked = 0;
  if (is_none_bound(st) || slice_bound(st) == 1) {
    // A bound >= 0 counts from the start, a negative one back from the end; both clamp.
    const auto place = [&](const Value& bound, size_t none) {
      if (is_none_bound(bound)) return none;
      const int64_t i = slice_bound(bound);
      uint64_t count = magnitude(i);
      return walk_code_points(text, i < 0 ? text.size() : 0, count, i < 0, walked);
    };
    const size_t begin = place(lo, 0);
    const size_t end = place(hi, text.size());
    charge_bytes(walked);
    return begin < end ? substring(s, begin, end) : Value("");
  }
  int64_t start = 0;
  int64_t stop = 0;
  int64_t step = 1;
  slice_indices(static_cast<int64_t>(utf8_length(text)), lo, hi, st, start, stop, step);
  walked += text.size();
  TextBuilder out;
  if (step > 0 ? start < stop : start > stop) {
    uint64_t count = static_cast<uint64_t>(start);
    size_t at = walk_code_points(text, 0, count, false, walked);
    for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
      size_t end = at;
      next_code_point(text, end);
      append_code_point(out, s, at, end);
      uint64_t stride = magnitude(step);
      at = walk_code_points(text, at, stride, step < 0, walked);
      if (stride > 0) break;  // past an end of the string (so past the slice)
    }
  }
  charge_bytes(walked);
  return out.take();
}

// A filter or test reads (at most) every byte of a string subject once: its bytes count.
void charge_subject(const Value& subject) {
  if (subject.is_string()) charge_bytes(subject.as_string().size());
}

bool checked(bool overflow) {
  if (overflow) fail("OverflowError", "integer result too large");
  return true;
}

int64_t int_of(const Value& v) { return v.is_bool() ? int64_t{v.as_bool()} : v.as_int(); }
bool is_numeric(const Value& v) { return v.is_number() || v.is_bool(); }

}  // namespace

Renderer::Renderer(std::vector<std::pair<std::string, Value>> variables, RenderLimits limits,
                   NowFn now)
    : limits_(limits), now_(std::move(now)) {
  root_.vars = std::move(variables);
  budget_.max_steps = limits.max_steps;
  budget_.max_value_bytes = limits.max_value_bytes;
  budget_.max_string_bytes = limits.max_output_bytes;
  budget_.max_total_string_bytes = limits.max_total_string_bytes;
}

Renderer::~Renderer() {
  for (const auto& ns : namespaces_) {
    ns->items.clear();
    ns->keys.clear();
  }
}

Value Renderer::render(const Body& body) {
  TextBuilder out;
  exec(body, out);
  return out.take();
}

void Renderer::step() { charge_steps(1); }

Renderer::Nest::Nest(Renderer& r) : r(r) {
  if (++r.nesting_ > r.limits_.max_nesting) {
    --r.nesting_;
    fail("TemplateRuntimeError", "the template nests deeper than " +
                                     std::to_string(r.limits_.max_nesting) +
                                     " levels of blocks and expressions");
  }
}

void Renderer::check_size(size_t size) const {
  if (size > limits_.max_output_bytes) {
    fail("TemplateRuntimeError",
         "the template built more than " + std::to_string(limits_.max_output_bytes) + " bytes");
  }
}

void Renderer::append(TextBuilder& out, const Value& v) {
  const Value s = stringify(v);
  check_size(out.size() + s.as_string().size());
  out.append(s);
}

Value Renderer::stringify(const Value& v) {
  if (v.is_string()) return v;
  std::string s = v.to_str();
  return carries_request_text(v) ? Value::request_text(std::move(s)) : Value(std::move(s));
}

Value Renderer::guard(Value result, const Value& subject, const CallArgs& args) {
  if (!result.is_string() || result.spans() != nullptr) return result;
  bool carries = carries_request_text(subject);
  for (const Value& a : args.positional) carries = carries || carries_request_text(a);
  for (const auto& [k, a] : args.keyword) carries = carries || carries_request_text(a);
  if (!carries) return result;
  return Value::request_text(result.as_string());
}

const Value* Renderer::lookup(std::string_view name) const {
  for (const Scope* s = scope_; s != nullptr; s = s->parent) {
    for (auto it = s->vars.rbegin(); it != s->vars.rend(); ++it) {
      if (it->first == name) return &it->second;
    }
  }
  return nullptr;
}

void Renderer::assign(const std::string& name, Value value) {
  for (auto& [k, v] : scope_->vars) {
    if (k == name) {
      v = std::move(value);
      return;
    }
  }
  scope_->vars.emplace_back(name, std::move(value));
}

Renderer::Flow Renderer::exec(const Body& body, TextBuilder& out) {
  for (const auto& node : body) {
    step();
    const Flow flow = exec_node(*node, out);
    if (flow != Flow::kNormal) return flow;
  }
  return Flow::kNormal;
}

Renderer::Flow Renderer::exec_node(const Node& node, TextBuilder& out) {
  try {
    const Nest nest(*this);
    switch (node.kind) {
      case Node::Kind::kText:
        check_size(out.size() + node.text.size());
        charge_string(node.text.size());
        out.append_text(node.text);
        return Flow::kNormal;
      case Node::Kind::kOutput:
        append(out, eval(*node.expr));
        return Flow::kNormal;
      case Node::Kind::kIf:
        for (const auto& [cond, body] : node.branches) {
          if (eval(*cond).truthy()) return exec(body, out);
        }
        return exec(node.else_body, out);
      case Node::Kind::kFor:
        return exec_for(node, out);
      case Node::Kind::kSet:
        exec_set(node);
        return Flow::kNormal;
      case Node::Kind::kSetBlock:
      case Node::Kind::kFilterBlock: {
        TextBuilder captured;
        exec(node.body, captured);
        Value v = captured.take();
        for (const auto& f : node.filters) {
          CallArgs args = eval_args(*f, 1);
          v = apply_filter(f->name, *f->filter, v, args);
        }
        if (node.kind == Node::Kind::kSetBlock) {
          assign(node.targets[0], std::move(v));
        } else {
          append(out, v);
        }
        return Flow::kNormal;
      }
      case Node::Kind::kMacro: {
        const Node* macro = &node;
        auto fn = std::make_shared<Function>();
        fn->name = node.name;
        fn->call = [macro](Renderer& r, CallArgs& args) {
          return r.call_macro(*macro, args, Value());
        };
        fn->exact = true;
        assign(node.name, Value(std::shared_ptr<const Function>(std::move(fn))));
        return Flow::kNormal;
      }
      case Node::Kind::kCallBlock: {
        const Expr& call_expr = *node.expr;
        const Value callee = eval(*call_expr.children[0]);
        CallArgs args = eval_args(call_expr, 1);
        const Node* block = &node;
        Scope* site = scope_;
        auto caller = std::make_shared<Function>();
        caller->name = "caller";
        caller->exact = true;
        caller->call = [block, site](Renderer& r, CallArgs& a) {
          Scope* saved = r.scope_;
          Scope scope{{}, site};
          r.scope_ = &scope;
          try {
            Value result = r.call_macro(*block, a, Value());
            r.scope_ = saved;
            return result;
          } catch (...) {
            r.scope_ = saved;
            throw;
          }
        };
        args.keyword.emplace_back("caller",
                                  Value(std::shared_ptr<const Function>(std::move(caller))));
        append(out, call(callee, args));
        return Flow::kNormal;
      }
      case Node::Kind::kBreak:
        return Flow::kBreak;
      case Node::Kind::kContinue:
        return Flow::kContinue;
    }
  } catch (JinjaError& error) {
    if (error.line == 0) {
      error.line = node.line;
      error.column = node.column;
    }
    throw;
  }
  return Flow::kNormal;
}

void Renderer::exec_set(const Node& node) {
  Value v = eval(*node.expr);
  if (!node.attribute.empty()) {
    const Value* target = lookup(node.targets[0]);
    if (target == nullptr || !target->is_dict() || !target->as_dict().is_namespace) {
      fail("TemplateRuntimeError", "cannot assign attribute on non-namespace object");
    }
    target->as_dict().set(node.attribute, std::move(v));
    return;
  }
  if (node.targets.size() == 1) {
    assign(node.targets[0], std::move(v));
    return;
  }
  List items = iterate(v);
  if (items.size() != node.targets.size()) {
    fail("ValueError",
         items.size() > node.targets.size()
             ? "too many values to unpack (expected " + std::to_string(node.targets.size()) + ")"
             : "not enough values to unpack (expected " + std::to_string(node.targets.size()) +
                   ", got " + std::to_string(items.size()) + ")");
  }
  for (size_t i = 0; i < items.size(); ++i) assign(node.targets[i], std::move(items[i]));
}

namespace {

void bind_targets(std::vector<std::pair<std::string, Value>>& vars,
                  const std::vector<std::string>& targets, const Value& item, Renderer& r) {
  if (targets.size() == 1) {
    vars.emplace_back(targets[0], item);
    return;
  }
  List parts = r.iterate(item);
  if (parts.size() != targets.size()) {
    fail("ValueError",
         parts.size() > targets.size()
             ? "too many values to unpack (expected " + std::to_string(targets.size()) + ")"
             : "not enough values to unpack (expected " + std::to_string(targets.size()) +
                   ", got " + std::to_string(parts.size()) + ")");
  }
  for (size_t i = 0; i < parts.size(); ++i) vars.emplace_back(targets[i], std::move(parts[i]));
}

}  // namespace

Renderer::Flow Renderer::exec_for(const Node& node, TextBuilder& out) {
  List items = iterate(eval(*node.expr));
  if (node.condition) {
    List kept;
    for (Value& item : items) {
      step();
      Scope scope{{}, scope_};
      bind_targets(scope.vars, node.targets, item, *this);
      scope_ = &scope;
      bool keep = false;
      try {
        keep = eval(*node.condition).truthy();
      } catch (...) {
        scope_ = scope.parent;
        throw;
      }
      scope_ = scope.parent;
      if (keep) kept.push_back(std::move(item));
    }
    items = std::move(kept);
  }
  if (items.empty()) return exec(node.else_body, out);
  run_loop(node, items, out, 0);
  return Flow::kNormal;
}

void Renderer::run_loop(const Node& node, const List& items, TextBuilder& out, int depth) {
  if (depth > 0 && ++depth_ > limits_.max_depth) {
    --depth_;
    fail("TemplateRuntimeError",
         "recursion deeper than " + std::to_string(limits_.max_depth) + " levels");
  }
  Scope* const outer = scope_;
  const auto n = static_cast<int64_t>(items.size());
  auto items_ptr = std::make_shared<const List>(items);
  try {
    for (int64_t i = 0; i < n; ++i) {
      step();
      auto loop = std::make_shared<Dict>();
      auto& l = loop->items;
      l.reserve(12);
      l.emplace_back("index", Value(i + 1));
      l.emplace_back("index0", Value(i));
      l.emplace_back("revindex", Value(n - i));
      l.emplace_back("revindex0", Value(n - i - 1));
      l.emplace_back("first", Value(i == 0));
      l.emplace_back("last", Value(i == n - 1));
      l.emplace_back("length", Value(n));
      l.emplace_back("depth", Value(int64_t{depth + 1}));
      l.emplace_back("depth0", Value(int64_t{depth}));
      l.emplace_back("previtem",
                     i > 0 ? items[i - 1] : Value(Undefined{"there is no previous item"}));
      l.emplace_back("nextitem",
                     i + 1 < n ? items[i + 1] : Value(Undefined{"there is no next item"}));
      auto cycle = std::make_shared<Function>();
      cycle->name = "cycle";
      cycle->exact = true;
      cycle->call = [i](Renderer&, CallArgs& args) {
        if (args.positional.empty()) fail("TypeError", "no items for cycling given");
        return args.positional[static_cast<size_t>(i) % args.positional.size()];
      };
      l.emplace_back("cycle", Value(std::shared_ptr<const Function>(std::move(cycle))));
      if (node.recursive) {
        const Node* for_node = &node;
        auto recurse = std::make_shared<Function>();
        recurse->name = "loop";
        recurse->exact = true;
        recurse->call = [for_node, depth](Renderer& r, CallArgs& args) {
          if (args.positional.size() != 1) fail("TypeError", "loop() takes one argument");
          TextBuilder inner;
          const List children = r.iterate(args.positional[0]);
          r.run_loop(*for_node, children, inner, depth + 1);
          return inner.take();
        };
        l.emplace_back("__call__", Value(std::shared_ptr<const Function>(std::move(recurse))));
      }
      Scope scope{{}, outer};
      bind_targets(scope.vars, node.targets, items[i], *this);
      scope.vars.emplace_back("loop", Value::transient(std::move(loop)));
      scope_ = &scope;
      const Flow flow = exec(node.body, out);
      scope_ = outer;
      if (flow == Flow::kBreak) break;
    }
  } catch (...) {
    scope_ = outer;
    if (depth > 0) --depth_;
    throw;
  }
  if (depth > 0) --depth_;
}

Value Renderer::call_macro(const Node& macro, CallArgs& args, const Value& caller) {
  if (++depth_ > limits_.max_depth) {
    --depth_;
    fail("TemplateRuntimeError",
         "recursion deeper than " + std::to_string(limits_.max_depth) + " levels");
  }
  Scope* const saved = scope_;
  // A macro sees the template's globals; a call block's body also sees its call site.
  Scope scope{{}, macro.kind == Node::Kind::kCallBlock ? scope_ : &root_};
  if (args.positional.size() > macro.params.size()) {
    --depth_;
    fail("TypeError", "macro '" + macro.name + "' takes not more than " +
                          std::to_string(macro.params.size()) + " argument(s)");
  }
  try {
    std::vector<bool> bound(macro.params.size(), false);
    for (size_t i = 0; i < args.positional.size(); ++i) {
      scope.vars.emplace_back(macro.params[i], args.positional[i]);
      bound[i] = true;
    }
    for (auto& [name, value] : args.keyword) {
      size_t k = 0;
      while (k < macro.params.size() && macro.params[k] != name) ++k;
      if (k == macro.params.size()) {
        if (name == "caller") {
          scope.vars.emplace_back(name, value);
          continue;
        }
        fail("TypeError", "macro '" + macro.name + "' takes no keyword argument '" + name + "'");
      }
      if (bound[k])
        fail("TypeError",
             "macro '" + macro.name + "' got multiple values for argument '" + name + "'");
      scope.vars.emplace_back(name, value);
      bound[k] = true;
    }
    scope_ = &scope;
    for (size_t k = 0; k < macro.params.size(); ++k) {
      if (bound[k]) continue;
      Value v = macro.defaults[k]
                    ? eval(*macro.defaults[k])
                    : Value(Undefined{"parameter '" + macro.params[k] + "' was not provided"});
      scope.vars.emplace_back(macro.params[k], std::move(v));
    }
    if (!caller.is_undefined()) scope.vars.emplace_back("caller", caller);
    TextBuilder out;
    exec(macro.body, out);
    scope_ = saved;
    --depth_;
    return out.take();
  } catch (...) {
    scope_ = saved;
    --depth_;
    throw;
  }
}

Value Renderer::call(const Value& callee, CallArgs& args) {
  step();
  if (callee.is_function()) {
    const Function& fn = callee.as_function();
    if (fn.signature != nullptr) bind_arguments(fn.name, *fn.signature, args);
    Value result = fn.call(*this, args);
    return fn.exact ? result : guard(std::move(result), fn.self, args);
  }
  if (callee.is_dict()) {
    if (const Value* fn = callee.as_dict().find("__call__"); fn != nullptr && fn->is_function()) {
      return call(*fn, args);
    }
  }
  if (callee.is_undefined()) fail_undefined(callee);
  fail("TypeError", "'" + callee.type_name() + "' object is not callable");
}

Value Renderer::get_attr(const Value& subject, const std::string& name) {
  switch (subject.type()) {
    case Value::Type::kUndefined:
      fail_undefined(subject);
    case Value::Type::kDict: {
      const Dict& d = subject.as_dict();
      if (!d.is_namespace) {
        if (Value m = bound_method(subject, name); !m.is_undefined()) return m;
      }
      if (const Value* v = d.find(name)) return *v;
      return attribute_undefined(subject, name);
    }
    case Value::Type::kString:
    case Value::Type::kList:
      if (Value m = bound_method(subject, name); !m.is_undefined()) return m;
      return attribute_undefined(subject, name);
    default:
      return attribute_undefined(subject, name);
  }
}

Value Renderer::get_item(const Value& subject, const Value& key) {
  switch (subject.type()) {
    case Value::Type::kUndefined:
      fail_undefined(subject);
    case Value::Type::kDict:
      if (key.is_string()) {
        if (const Value* v = subject.as_dict().find(key.as_string())) return *v;
        if (!subject.as_dict().is_namespace) {
          if (Value m = bound_method(subject, key.as_string()); !m.is_undefined()) return m;
        }
        return attribute_undefined(subject, key.as_string());
      }
      // Jinja's getitem takes a TypeError of an unhashable key for a missing item.
      if (hashable(key)) {
        if (const Value* v = subject.as_dict().find_key(key)) return *v;
      }
      return element_undefined(subject, key);
    case Value::Type::kList:
    case Value::Type::kString: {
      if (key.is_int() || key.is_bool()) {
        if (subject.is_list()) {
          const List& list = subject.as_list();
          int64_t i = int_of(key);
          if (i < 0) i += static_cast<int64_t>(list.size());
          if (i < 0 || i >= static_cast<int64_t>(list.size()))
            return element_undefined(subject, key);
          return list[static_cast<size_t>(i)];
        }
        // The code point walked to from the end the index counts from (no list of them).
        const std::string& s = subject.as_string();
        const int64_t i = int_of(key);
        uint64_t count = magnitude(i);
        size_t walked = 0;
        const size_t at = walk_code_points(s, i < 0 ? s.size() : 0, count, i < 0, walked);
        charge_bytes(walked);
        if (count > 0 || at == s.size()) return element_undefined(subject, key);
        size_t end = at;
        next_code_point(s, end);
        return substring(subject, at, end);
      }
      if (key.is_string()) return get_attr(subject, key.as_string());
      return element_undefined(subject, key);
    }
    default:
      if (key.is_string()) return attribute_undefined(subject, key.as_string());
      return element_undefined(subject, key);
  }
}

List Renderer::iterate(const Value& v) {
  switch (v.type()) {
    case Value::Type::kUndefined:
      return {};
    case Value::Type::kList:
      charge_steps(static_cast<int64_t>(v.as_list().size()));
      return v.as_list();
    case Value::Type::kDict: {
      if (v.as_dict().is_namespace) break;
      charge_steps(static_cast<int64_t>(v.as_dict().items.size()));
      return v.as_dict().key_list();
    }
    case Value::Type::kString: {
      // A step per byte, and the list of characters checked as lists are, before it is built.
      const std::string& s = v.as_string();
      charge_steps(static_cast<int64_t>(s.size()));
      const size_t length = utf8_length(s);
      check_value_bytes(length * sizeof(Value));
      List chars;
      chars.reserve(length);
      for (size_t i = 0; i < s.size();) {
        const size_t begin = i;
        next_code_point(s, i);
        chars.push_back(substring(v, begin, i));
      }
      return chars;
    }
    default:
      break;
  }
  fail("TypeError", "'" + v.type_name() + "' object is not iterable");
}

Value Renderer::apply_filter(const std::string& name, const Value& subject, CallArgs& args) {
  const Filter* f = find_filter(name);
  if (f == nullptr) fail("TemplateRuntimeError", "no filter named '" + name + "'");
  return apply_filter(name, *f, subject, args);
}

Value Renderer::apply_filter(const std::string& name, const Filter& filter, const Value& subject,
                             CallArgs& args) {
  bind_arguments(name, filter.signature, args);
  charge_subject(subject);
  Value result = filter.call(*this, subject, args);
  return filter.exact ? result : guard(std::move(result), subject, args);
}

bool Renderer::apply_test(const std::string& name, const Value& subject, CallArgs& args) {
  const Test* t = find_test(name);
  if (t == nullptr) fail("TemplateRuntimeError", "no test named '" + name + "'");
  return apply_test(name, *t, subject, args);
}

bool Renderer::apply_test(const std::string& name, const Test& test, const Value& subject,
                          CallArgs& args) {
  bind_arguments(name, test.signature, args);
  charge_subject(subject);
  return test.call(*this, subject, args);
}

CallArgs Renderer::eval_args(const Expr& e, size_t first) {
  CallArgs args;
  for (size_t i = first; i < e.children.size(); ++i) {
    const std::string& name = e.arg_names[i - first];
    if (name.empty()) {
      args.positional.push_back(eval(*e.children[i]));
    } else {
      args.keyword.emplace_back(name, eval(*e.children[i]));
    }
  }
  return args;
}

Value Renderer::eval(const Expr& e) {
  try {
    const Nest nest(*this);
    Value v = eval_inner(e);
    // A string result that nothing else holds was built here: its bytes count (a variable's,
    // an item's or a literal's string is shared, and costs none).
    if (v.is_string() && !v.shares_string()) charge_string(v.as_string().size());
    return v;
  } catch (JinjaError& error) {
    if (error.line == 0) {
      error.line = e.line;
      error.column = e.column;
    }
    throw;
  }
}

Value Renderer::eval_inner(const Expr& e) {
  switch (e.kind) {
    case Expr::Kind::kLiteral:
      return e.literal;
    case Expr::Kind::kName: {
      if (const Value* v = lookup(e.name)) return *v;
      Value g = global_function(e.name);
      if (!g.is_undefined()) return g;
      return Undefined{"'" + e.name + "' is undefined"};
    }
    case Expr::Kind::kList: {
      List list;
      list.reserve(e.children.size());
      for (const auto& c : e.children) list.push_back(eval(*c));
      return Value(std::move(list));
    }
    case Expr::Kind::kDict: {
      // As Python's dict display: every key and value evaluated, then inserted in order.
      List parts;
      parts.reserve(e.children.size());
      for (const auto& c : e.children) parts.push_back(eval(*c));
      Dict d;
      for (size_t i = 0; i + 1 < parts.size(); i += 2) {
        d.request_keys = d.request_keys || parts[i].spans() != nullptr;
        d.set_key(parts[i], std::move(parts[i + 1]));
      }
      return Value(std::move(d));
    }
    case Expr::Kind::kGetAttr:
      return get_attr(eval(*e.children[0]), e.name);
    case Expr::Kind::kGetItem:
      return get_item(eval(*e.children[0]), eval(*e.children[1]));
    case Expr::Kind::kSlice:
      return eval_slice(e);
    case Expr::Kind::kCall: {
      const Value callee = eval(*e.children[0]);
      CallArgs args = eval_args(e, 1);
      return call(callee, args);
    }
    case Expr::Kind::kFilter: {
      const Value subject = eval(*e.children[0]);
      CallArgs args = eval_args(e, 1);
      return apply_filter(e.name, *e.filter, subject, args);
    }
    case Expr::Kind::kTest: {
      const Value subject = eval(*e.children[0]);
      CallArgs args = eval_args(e, 1);
      return Value(apply_test(e.name, *e.test, subject, args) != e.negated);
    }
    case Expr::Kind::kNegate:
    case Expr::Kind::kPlus: {
      const Value v = eval(*e.children[0]);
      if (v.is_undefined()) fail_undefined(v);
      if (!is_numeric(v))
        fail("TypeError", "bad operand type for unary " +
                              std::string(e.kind == Expr::Kind::kNegate ? "-" : "+") + ": '" +
                              v.type_name() + "'");
      if (e.kind == Expr::Kind::kPlus) return v.is_bool() ? Value(int_of(v)) : v;
      if (v.is_float()) return Value(-v.as_double());
      const int64_t i = int_of(v);
      checked(i == std::numeric_limits<int64_t>::min());
      return Value(-i);
    }
    case Expr::Kind::kBinary:
      return eval_binary(e);
    case Expr::Kind::kAnd: {
      Value l = eval(*e.children[0]);
      if (!l.truthy()) return l;
      return eval(*e.children[1]);
    }
    case Expr::Kind::kOr: {
      Value l = eval(*e.children[0]);
      if (l.truthy()) return l;
      return eval(*e.children[1]);
    }
    case Expr::Kind::kNot:
      return Value(!eval(*e.children[0]).truthy());
    case Expr::Kind::kCompare:
      return eval_compare(e);
    case Expr::Kind::kCondition:
      if (eval(*e.children[1]).truthy()) return eval(*e.children[0]);
      if (e.children[2]) return eval(*e.children[2]);
      return Undefined{"the inline if-expression on line " + std::to_string(e.line) +
                       " evaluated to false and no else section was defined."};
  }
  return Value();
}

Value Renderer::eval_slice(const Expr& e) {
  const Value subject = eval(*e.children[0]);
  Value bounds[3];
  for (int k = 0; k < 3; ++k) {
    bounds[k] = e.children[k + 1] ? eval(*e.children[k + 1]) : Value(nullptr);
  }
  if (subject.is_undefined()) fail_undefined(subject);
  if (subject.is_string()) return string_slice(subject, bounds[0], bounds[1], bounds[2]);
  if (!subject.is_list()) {
    fail("TypeError", "'" + subject.type_name() + "' object is not subscriptable");
  }
  const List& from = subject.as_list();
  int64_t start = 0;
  int64_t stop = 0;
  int64_t step_by = 1;
  slice_indices(static_cast<int64_t>(from.size()), bounds[0], bounds[1], bounds[2], start, stop,
                step_by);
  List list;
  for (int64_t i = start; step_by > 0 ? i < stop : i > stop; i += step_by) {
    list.push_back(from[static_cast<size_t>(i)]);
  }
  return Value(std::move(list));
}

Value Renderer::eval_binary(const Expr& e) {
  const Value l = eval(*e.children[0]);
  const Value r = eval(*e.children[1]);
  const std::string& op = e.name;
  if (op == "~" || (op == "+" && l.is_string() && r.is_string())) {
    // (Strings as they are, not copied again: the operands may be 64 MiB each.)
    const Value printed_l = l.is_string() ? Value() : stringify(l);
    const Value printed_r = r.is_string() ? Value() : stringify(r);
    const Value& ls = l.is_string() ? l : printed_l;
    const Value& rs = r.is_string() ? r : printed_r;
    // Checked and counted before it is built.
    check_size(ls.as_string().size() + rs.as_string().size());
    charge_bytes(ls.as_string().size() + rs.as_string().size());
    TextBuilder out;
    out.append(ls);
    out.append(rs);
    return out.take();
  }
  if (l.is_undefined()) fail_undefined(l);
  if (r.is_undefined()) fail_undefined(r);
  const bool numbers = is_numeric(l) && is_numeric(r);
  const bool floats = numbers && (l.is_float() || r.is_float());
  auto unsupported = [&]() -> Value {
    fail("TypeError", "unsupported operand type(s) for " + op + ": '" + l.type_name() + "' and '" +
                          r.type_name() + "'");
  };
  if (op == "+") {
    if (l.is_list() && r.is_list()) {
      check_value_bytes((l.as_list().size() + r.as_list().size()) * sizeof(Value));
      charge_steps(static_cast<int64_t>(l.as_list().size() + r.as_list().size()));
      List list = l.as_list();
      list.insert(list.end(), r.as_list().begin(), r.as_list().end());
      return Value(std::move(list));
    }
    if (l.is_string() || l.is_list()) {
      fail("TypeError", "can only concatenate " + l.type_name() + " (not \"" + r.type_name() +
                            "\") to " + l.type_name());
    }
    if (!numbers) unsupported();
    if (floats) return Value(l.as_double() + r.as_double());
    int64_t out = 0;
    checked(__builtin_add_overflow(int_of(l), int_of(r), &out));
    return Value(out);
  }
  if (op == "*") {
    const bool repeat_left = (l.is_string() || l.is_list()) && (r.is_int() || r.is_bool());
    const bool repeat_right = (r.is_string() || r.is_list()) && (l.is_int() || l.is_bool());
    if (repeat_left || repeat_right) {
      const Value& seq = repeat_left ? l : r;
      const int64_t times = std::max<int64_t>(0, int_of(repeat_left ? r : l));
      // An empty sequence repeated is empty, however many times.
      const size_t size = seq.is_string() ? seq.as_string().size() : seq.as_list().size();
      if (size == 0) return seq.is_string() ? Value("") : Value(List{});
      if (static_cast<uint64_t>(times) > limits_.max_output_bytes / size) {
        check_size(limits_.max_output_bytes + 1);
      }
      const size_t total = size * static_cast<size_t>(times);
      // Checked and counted before it is built.
      if (seq.is_string()) {
        charge_bytes(total);
        if (seq.spans() == nullptr) {
          std::string s;
          s.reserve(total);
          for (int64_t i = 0; i < times; ++i) s.append(seq.as_string());
          return Value(std::move(s));
        }
        // Request text: a span per repetition (one for all when the spans join end to start).
        const Spans& spans = *seq.spans();
        const size_t joined = spans.front().first == 0 && spans.back().second == size ? 1 : 0;
        charge_steps(static_cast<int64_t>((spans.size() - joined) * static_cast<size_t>(times)));
        TextBuilder s;
        for (int64_t i = 0; i < times; ++i) s.append(seq);
        return s.take();
      }
      check_value_bytes(total * sizeof(Value));
      charge_steps(static_cast<int64_t>(total));
      List list;
      list.reserve(total);
      for (int64_t i = 0; i < times; ++i)
        list.insert(list.end(), seq.as_list().begin(), seq.as_list().end());
      return Value(std::move(list));
    }
    if (!numbers) unsupported();
    if (floats) return Value(l.as_double() * r.as_double());
    int64_t out = 0;
    checked(__builtin_mul_overflow(int_of(l), int_of(r), &out));
    return Value(out);
  }
  if (op == "%" && l.is_string()) {
    CallArgs args;
    args.positional.push_back(r);
    return guard(Value(percent_format(*this, l.as_string(), r)), l, args);
  }
  if (!numbers) unsupported();
  if (op == "-") {
    if (floats) return Value(l.as_double() - r.as_double());
    int64_t out = 0;
    checked(__builtin_sub_overflow(int_of(l), int_of(r), &out));
    return Value(out);
  }
  if (op == "/") {
    if (r.as_double() == 0) fail("ZeroDivisionError", "division by zero");
    return Value(l.as_double() / r.as_double());
  }
  if (op == "//" || op == "%") {
    if (r.as_double() == 0) {
      fail("ZeroDivisionError",
           op == "//" ? "integer division or modulo by zero" : "modulo by zero");
    }
    if (floats) {
      const double a = l.as_double();
      const double b = r.as_double();
      const double q = std::floor(a / b);
      if (op == "//") return Value(q);
      double m = std::fmod(a, b);
      if (m != 0 && ((m < 0) != (b < 0))) m += b;
      return Value(m);
    }
    const int64_t a = int_of(l);
    const int64_t b = int_of(r);
    // Any integer modulo -1 is 0, as in Python; only the quotient of INT64_MIN // -1 overflows.
    if (b == -1 && op == "%") return Value(int64_t{0});
    checked(a == std::numeric_limits<int64_t>::min() && b == -1);
    int64_t q = a / b;
    int64_t m = a % b;
    if (m != 0 && ((m < 0) != (b < 0))) {
      --q;
      m += b;
    }
    return Value(op == "//" ? q : m);
  }
  if (op == "**") {
    if (floats || int_of(r) < 0) return Value(std::pow(l.as_double(), r.as_double()));
    // By squaring: a step per bit of the exponent (1 ** 9223372036854775807 ends at once). A
    // square that overflows while bits remain means the result would too.
    int64_t result = 1;
    int64_t base = int_of(l);
    for (int64_t exp = int_of(r); exp > 0; exp >>= 1) {
      if (exp & 1) checked(__builtin_mul_overflow(result, base, &result));
      if (exp > 1) checked(__builtin_mul_overflow(base, base, &base));
    }
    return Value(result);
  }
  return unsupported();
}

Value Renderer::eval_compare(const Expr& e) {
  Value left = eval(*e.children[0]);
  for (size_t i = 0; i < e.ops.size(); ++i) {
    Value right = eval(*e.children[i + 1]);
    const std::string& op = e.ops[i];
    bool result = false;
    if (op == "==") {
      result = equals(left, right);
    } else if (op == "!=") {
      result = !equals(left, right);
    } else if (op == "<") {
      result = less(left, right);
    } else if (op == ">") {
      result = less(right, left);
    } else if (op == "<=") {
      result = less(left, right) || equals(left, right);
    } else if (op == ">=") {
      result = less(right, left) || equals(left, right);
    } else {
      result = contains(right, left) == (op == "in");
    }
    if (!result) return Value(false);
    left = std::move(right);
  }
  return Value(true);
}

}  // namespace gengyun::chat::jinja
