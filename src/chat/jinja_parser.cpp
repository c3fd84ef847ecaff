#include "chat/jinja_parser.h"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <initializer_list>
#include <memory>
#include <optional>

#include "chat/jinja_lexer.h"

namespace gengyun::chat::jinja {
namespace {

using K = Token::Kind;

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : t_(std::move(tokens)) {}

  Body run() {
    std::string end;
    Body body = parse_body({}, end);
    return body;
  }

 private:
  // Guards recursion: one per nested expression or block.
  struct Depth {
    explicit Depth(Parser& p) : p(p) {
      if (++p.depth_ > kMaxParseDepth) p.error(p.cur(), "template nests too deeply");
    }
    ~Depth() { --p.depth_; }
    Parser& p;
  };

  const Token& cur() const { return t_[i_]; }
  const Token& peek(size_t k = 1) const { return t_[std::min(i_ + k, t_.size() - 1)]; }
  const Token& next() { return t_[i_ < t_.size() - 1 ? i_++ : i_]; }

  [[noreturn]] void error(const Token& at, std::string message,
                          std::string kind = "TemplateSyntaxError") const {
    throw JinjaError{std::move(kind), std::move(message), false, at.line, at.column};
  }

  static std::string describe(const Token& t) {
    switch (t.kind) {
      case K::kText:
        return "template data";
      case K::kVarBegin:
        return "'{{'";
      case K::kVarEnd:
        return "'}}'";
      case K::kBlockBegin:
        return "'{%'";
      case K::kBlockEnd:
        return "'%}'";
      case K::kEnd:
        return "end of template";
      case K::kString:
        return "string";
      default:
        return "'" + t.value + "'";
    }
  }

  bool is_op(std::string_view op) const { return cur().kind == K::kOperator && cur().value == op; }
  bool is_name(std::string_view name) const {
    return cur().kind == K::kName && cur().value == name;
  }

  void expect_op(std::string_view op) {
    if (!is_op(op)) error(cur(), "expected '" + std::string(op) + "', got " + describe(cur()));
    next();
  }
  void expect(K kind, std::string_view what) {
    if (cur().kind != kind)
      error(cur(), "expected " + std::string(what) + ", got " + describe(cur()));
    next();
  }
  std::string expect_name() {
    if (cur().kind != K::kName) error(cur(), "expected a name, got " + describe(cur()));
    return next().value;
  }

  // Appends `child` (may be null) to `parent`'s children, refusing a tree taller than
  // kMaxParseDepth: rendering and freeing an expression recurse once per level, and a chain
  // (`a ~ b ~ ...`, `x.a.b...`, `x|f|g...`, `f()()...`) is built here without recursing.
  void add(Expr& parent, ExprPtr child) {
    if (child) {
      parent.height = std::max(parent.height, child->height + 1);
      if (parent.height > kMaxParseDepth) error(cur(), "template nests too deeply");
    }
    parent.children.push_back(std::move(child));
  }

  ExprPtr make(Expr::Kind kind, const Token& at) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->line = at.line;
    e->column = at.column;
    return e;
  }
  std::unique_ptr<Node> make_node(Node::Kind kind, const Token& at) {
    auto n = std::make_unique<Node>();
    n->kind = kind;
    n->line = at.line;
    n->column = at.column;
    return n;
  }

  // Statements until a block tag whose keyword is in `ends` (its keyword is consumed and
  // returned in `end`); with no `ends`, until the end of the template.
  Body parse_body(std::initializer_list<std::string_view> ends, std::string& end) {
    Depth depth(*this);
    Body body;
    while (true) {
      const Token& t = cur();
      if (t.kind == K::kEnd) {
        if (ends.size() == 0) return body;
        std::string wanted;
        for (std::string_view e : ends)
          wanted += (wanted.empty() ? "'" : " or '") + std::string(e) + "'";
        error(t, "unexpected end of template; looking for the tags " + wanted);
      }
      if (t.kind == K::kText) {
        auto n = make_node(Node::Kind::kText, t);
        n->text = next().value;
        body.push_back(std::move(n));
      } else if (t.kind == K::kVarBegin) {
        auto n = make_node(Node::Kind::kOutput, t);
        next();
        n->expr = parse_expression();
        expect(K::kVarEnd, "'}}'");
        body.push_back(std::move(n));
      } else if (t.kind == K::kBlockBegin) {
        const Token& keyword = peek();
        if (keyword.kind != K::kName)
          error(keyword, "expected a tag name, got " + describe(keyword));
        for (std::string_view e : ends) {
          if (keyword.value == e) {
            next();
            end = next().value;
            return body;
          }
        }
        next();
        if (auto n = parse_statement()) body.push_back(std::move(n));
      } else {
        error(t, "unexpected " + describe(t));
      }
    }
  }

  void end_tag() { expect(K::kBlockEnd, "'%}'"); }

  // One {% ... %} statement; the keyword is the current token. Null for tags that render
  // nothing of their own ({% generation %}).
  std::unique_ptr<Node> parse_statement() {
    const Token& kw = cur();
    const std::string keyword = next().value;
    if (keyword == "if") return parse_if(kw);
    if (keyword == "for") return parse_for(kw);
    if (keyword == "set") return parse_set(kw);
    if (keyword == "macro") return parse_macro(kw);
    if (keyword == "call") return parse_call_block(kw);
    if (keyword == "filter") return parse_filter_block(kw);
    if (keyword == "break" || keyword == "continue") {
      if (loop_depth_ == 0) error(kw, "'" + keyword + "' outside of a loop");
      end_tag();
      return make_node(keyword == "break" ? Node::Kind::kBreak : Node::Kind::kContinue, kw);
    }
    if (keyword == "generation" || keyword == "endgeneration") {
      end_tag();  // Hugging Face's assistant-mask markers render their body unchanged
      return nullptr;
    }
    error(kw, "encountered unknown tag '" + keyword + "'");
  }

  std::unique_ptr<Node> parse_if(const Token& kw) {
    auto n = make_node(Node::Kind::kIf, kw);
    ExprPtr cond = parse_expression();
    end_tag();
    while (true) {
      std::string end;
      Body body = parse_body({"elif", "else", "endif"}, end);
      n->branches.emplace_back(std::move(cond), std::move(body));
      if (end == "elif") {
        cond = parse_expression();
        end_tag();
        continue;
      }
      if (end == "else") {
        end_tag();
        n->else_body = parse_body({"endif"}, end);
      }
      end_tag();
      return n;
    }
  }

  std::vector<std::string> parse_targets() {
    std::vector<std::string> names;
    const bool paren = is_op("(");
    if (paren) next();
    names.push_back(expect_name());
    while (is_op(",")) {
      next();
      names.push_back(expect_name());
    }
    if (paren) expect_op(")");
    return names;
  }

  std::unique_ptr<Node> parse_for(const Token& kw) {
    auto n = make_node(Node::Kind::kFor, kw);
    n->targets = parse_targets();
    if (!is_name("in")) error(cur(), "expected 'in', got " + describe(cur()));
    next();
    n->expr = parse_expression(false);
    if (is_name("if")) {
      next();
      n->condition = parse_expression();
    }
    if (is_name("recursive")) {
      next();
      n->recursive = true;
    }
    end_tag();
    std::string end;
    ++loop_depth_;
    n->body = parse_body({"else", "endfor"}, end);
    --loop_depth_;
    if (end == "else") {
      end_tag();
      n->else_body = parse_body({"endfor"}, end);
    }
    end_tag();
    return n;
  }

  std::unique_ptr<Node> parse_set(const Token& kw) {
    auto n = make_node(Node::Kind::kSet, kw);
    n->targets.push_back(expect_name());
    if (is_op(".")) {
      next();
      n->attribute = expect_name();
    } else {
      while (is_op(",")) {
        next();
        n->targets.push_back(expect_name());
      }
    }
    if (is_op("=")) {
      next();
      n->expr = parse_expression();
      if (n->targets.size() > 1 || is_op(",")) {
        // `set a, b = x, y`: the right side as a tuple
        auto tuple = make(Expr::Kind::kList, kw);
        add(*tuple, std::move(n->expr));
        while (is_op(",")) {
          next();
          add(*tuple, parse_expression());
        }
        n->expr = tuple->children.size() == 1 ? std::move(tuple->children[0]) : std::move(tuple);
      }
      end_tag();
      return n;
    }
    if (n->targets.size() != 1 || !n->attribute.empty()) error(cur(), "expected '='");
    n->kind = Node::Kind::kSetBlock;
    parse_filter_chain(n->filters);
    end_tag();
    std::string end;
    n->body = parse_body({"endset"}, end);
    end_tag();
    return n;
  }

  void parse_params(std::unique_ptr<Node>& n) {
    expect_op("(");
    while (!is_op(")")) {
      if (!n->params.empty()) expect_op(",");
      if (is_op(")")) break;
      const Token at = cur();
      n->params.push_back(expect_name());
      // Python's refusal of the function Jinja2 compiles (its message names the mangled l_1_a).
      if (std::count(n->params.begin(), n->params.end(), n->params.back()) > 1)
        error(at, "duplicate argument '" + n->params.back() + "' in function definition",
              "SyntaxError");
      if (is_op("=")) {
        next();
        n->defaults.push_back(parse_expression());
      } else {
        n->defaults.push_back(nullptr);
      }
    }
    next();
  }

  std::unique_ptr<Node> parse_macro(const Token& kw) {
    auto n = make_node(Node::Kind::kMacro, kw);
    n->name = expect_name();
    parse_params(n);
    end_tag();
    std::string end;
    const int loops = loop_depth_;
    loop_depth_ = 0;
    n->body = parse_body({"endmacro"}, end);
    loop_depth_ = loops;
    end_tag();
    return n;
  }

  std::unique_ptr<Node> parse_call_block(const Token& kw) {
    auto n = make_node(Node::Kind::kCallBlock, kw);
    if (is_op("(")) parse_params(n);
    n->expr = parse_expression();
    if (n->expr->kind != Expr::Kind::kCall) error(kw, "expected a call after 'call'");
    end_tag();
    std::string end;
    const int loops = loop_depth_;
    loop_depth_ = 0;
    n->body = parse_body({"endcall"}, end);
    loop_depth_ = loops;
    end_tag();
    return n;
  }

  std::unique_ptr<Node> parse_filter_block(const Token& kw) {
    auto n = make_node(Node::Kind::kFilterBlock, kw);
    parse_filter_chain(n->filters, false);
    end_tag();
    std::string end;
    n->body = parse_body({"endfilter"}, end);
    end_tag();
    return n;
  }

  // `| f(args) | g` (the first `|` optional when `leading_pipe` is false), as kFilter nodes
  // with a null subject.
  void parse_filter_chain(std::vector<ExprPtr>& filters, bool leading_pipe = true) {
    bool first = true;
    while (is_op("|") || (first && !leading_pipe)) {
      if (is_op("|")) next();
      first = false;
      filters.push_back(parse_filter(nullptr));
    }
  }

  // ---- expressions, loosest first ----

  ExprPtr parse_expression(bool with_condition = true) {
    Depth depth(*this);
    if (!with_condition) return parse_or();
    const Token& at = cur();
    ExprPtr e = parse_or();
    while (is_name("if")) {
      next();
      auto c = make(Expr::Kind::kCondition, at);
      add(*c, std::move(e));
      add(*c, parse_or());
      if (is_name("else")) {
        next();
        add(*c, parse_expression());
      } else {
        add(*c, nullptr);
      }
      e = std::move(c);
    }
    return e;
  }

  ExprPtr binary(Expr::Kind kind, const Token& at, ExprPtr left, ExprPtr right,
                 std::string op = "") {
    auto e = make(kind, at);
    e->name = std::move(op);
    add(*e, std::move(left));
    add(*e, std::move(right));
    return e;
  }

  ExprPtr parse_or() {
    ExprPtr e = parse_and();
    while (is_name("or")) {
      const Token& at = next();
      e = binary(Expr::Kind::kOr, at, std::move(e), parse_and());
    }
    return e;
  }

  ExprPtr parse_and() {
    ExprPtr e = parse_not();
    while (is_name("and")) {
      const Token& at = next();
      e = binary(Expr::Kind::kAnd, at, std::move(e), parse_not());
    }
    return e;
  }

  ExprPtr parse_not() {
    if (is_name("not")) {
      Depth depth(*this);
      const Token& at = next();
      auto e = make(Expr::Kind::kNot, at);
      add(*e, parse_not());
      return e;
    }
    return parse_compare();
  }

  ExprPtr parse_compare() {
    const Token& at = cur();
    ExprPtr first = parse_math1();
    ExprPtr cmp;
    while (true) {
      std::string op;
      if (cur().kind == K::kOperator &&
          (cur().value == "==" || cur().value == "!=" || cur().value == "<" ||
           cur().value == "<=" || cur().value == ">" || cur().value == ">=")) {
        op = next().value;
      } else if (is_name("in")) {
        next();
        op = "in";
      } else if (is_name("not") && peek().kind == K::kName && peek().value == "in") {
        next();
        next();
        op = "notin";
      } else {
        break;
      }
      if (!cmp) {
        cmp = make(Expr::Kind::kCompare, at);
        add(*cmp, std::move(first));
      }
      cmp->ops.push_back(op);
      add(*cmp, parse_math1());
    }
    return cmp ? std::move(cmp) : std::move(first);
  }

  ExprPtr parse_math1() {
    ExprPtr e = parse_concat();
    while (is_op("+") || is_op("-")) {
      const Token& at = next();
      e = binary(Expr::Kind::kBinary, at, std::move(e), parse_concat(), at.value);
    }
    return e;
  }

  ExprPtr parse_concat() {
    ExprPtr e = parse_math2();
    while (is_op("~")) {
      const Token& at = next();
      e = binary(Expr::Kind::kBinary, at, std::move(e), parse_math2(), "~");
    }
    return e;
  }

  ExprPtr parse_math2() {
    ExprPtr e = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      const Token& at = next();
      e = binary(Expr::Kind::kBinary, at, std::move(e), parse_pow(), at.value);
    }
    return e;
  }

  ExprPtr parse_pow() {
    ExprPtr e = parse_unary();
    while (is_op("**")) {
      const Token& at = next();
      e = binary(Expr::Kind::kBinary, at, std::move(e), parse_unary(), "**");
    }
    return e;
  }

  ExprPtr parse_unary(bool with_filter = true) {
    Depth depth(*this);
    ExprPtr e;
    if (is_op("-") || is_op("+")) {
      const Token& at = next();
      e = make(at.value == "-" ? Expr::Kind::kNegate : Expr::Kind::kPlus, at);
      add(*e, parse_unary(false));
    } else {
      e = parse_primary();
    }
    e = parse_postfix(std::move(e));
    if (with_filter) e = parse_filter_expr(std::move(e));
    return e;
  }

  ExprPtr parse_primary() {
    const Token& t = cur();
    switch (t.kind) {
      case K::kName: {
        next();
        if (t.value == "true" || t.value == "True") return literal(t, Value(true));
        if (t.value == "false" || t.value == "False") return literal(t, Value(false));
        if (t.value == "none" || t.value == "None") return literal(t, Value(nullptr));
        auto e = make(Expr::Kind::kName, t);
        e->name = t.value;
        return e;
      }
      case K::kString: {
        std::string s = next().value;
        while (cur().kind == K::kString) s += next().value;
        return literal(t, Value(std::move(s)));
      }
      case K::kInteger: {
        next();
        int64_t v = 0;
        const auto r = std::from_chars(t.value.data(), t.value.data() + t.value.size(), v);
        if (r.ec != std::errc()) error(t, "integer literal " + t.value + " is too large");
        return literal(t, Value(v));
      }
      case K::kFloat:
        next();
        return literal(t, Value(std::strtod(t.value.c_str(), nullptr)));
      case K::kOperator:
        if (t.value == "(") {
          next();
          if (is_op(")")) {
            next();
            return make(Expr::Kind::kList, t);
          }
          ExprPtr e = parse_expression();
          if (is_op(",")) {
            auto tuple = make(Expr::Kind::kList, t);
            add(*tuple, std::move(e));
            while (is_op(",")) {
              next();
              if (is_op(")")) break;
              add(*tuple, parse_expression());
            }
            e = std::move(tuple);
          }
          expect_op(")");
          return e;
        }
        if (t.value == "[") {
          next();
          auto e = make(Expr::Kind::kList, t);
          while (!is_op("]")) {
            if (!e->children.empty()) expect_op(",");
            if (is_op("]")) break;
            add(*e, parse_expression());
          }
          next();
          return e;
        }
        if (t.value == "{") {
          next();
          auto e = make(Expr::Kind::kDict, t);
          while (!is_op("}")) {
            if (!e->children.empty()) expect_op(",");
            if (is_op("}")) break;
            add(*e, parse_expression());
            expect_op(":");
            add(*e, parse_expression());
          }
          next();
          return e;
        }
        break;
      default:
        break;
    }
    error(t, "unexpected " + describe(t));
  }

  ExprPtr literal(const Token& at, Value v) {
    auto e = make(Expr::Kind::kLiteral, at);
    e->literal = std::move(v);
    return e;
  }

  ExprPtr parse_postfix(ExprPtr e) {
    while (true) {
      if (is_op(".")) {
        const Token& at = next();
        if (cur().kind == K::kName) {
          auto a = make(Expr::Kind::kGetAttr, at);
          a->name = next().value;
          add(*a, std::move(e));
          e = std::move(a);
        } else if (cur().kind == K::kInteger) {
          auto a = make(Expr::Kind::kGetItem, at);
          add(*a, std::move(e));
          add(*a, parse_primary());
          e = std::move(a);
        } else {
          error(cur(), "expected a name after '.', got " + describe(cur()));
        }
      } else if (is_op("[")) {
        e = parse_subscript(std::move(e));
      } else if (is_op("(")) {
        e = parse_call(std::move(e));
      } else {
        return e;
      }
    }
  }

  ExprPtr parse_subscript(ExprPtr subject) {
    const Token& at = next();
    ExprPtr bounds[3];
    bool slice = false;
    for (int k = 0; k < 3; ++k) {
      if (!is_op(":") && !is_op("]")) bounds[k] = parse_expression();
      if (k < 2 && is_op(":")) {
        next();
        slice = true;
      } else {
        break;
      }
    }
    expect_op("]");
    auto e = make(slice ? Expr::Kind::kSlice : Expr::Kind::kGetItem, at);
    add(*e, std::move(subject));
    if (!slice) {
      if (!bounds[0]) error(at, "expected an index inside '[]'");
      add(*e, std::move(bounds[0]));
    } else {
      for (auto& b : bounds) add(*e, std::move(b));
    }
    return e;
  }

  // `(args)` into e->children (after the subject) and e->arg_names; the name token of the first
  // keyword argument given a second time, if any.
  std::optional<Token> parse_args(Expr& e) {
    expect_op("(");
    bool keyword_seen = false;
    std::optional<Token> repeated;
    while (!is_op(")")) {
      if (!e.arg_names.empty()) expect_op(",");
      if (is_op(")")) break;
      if (cur().kind == K::kName && peek().kind == K::kOperator && peek().value == "=") {
        const Token& name = next();
        if (!repeated &&
            std::find(e.arg_names.begin(), e.arg_names.end(), name.value) != e.arg_names.end()) {
          repeated = name;
        }
        e.arg_names.push_back(name.value);
        next();
        keyword_seen = true;
      } else {
        if (keyword_seen) error(cur(), "positional argument after a keyword argument");
        e.arg_names.emplace_back();
      }
      add(e, parse_expression());
    }
    next();
    return repeated;
  }

  [[noreturn]] void repeated_keyword(const Token& at) const {
    error(at, "keyword argument repeated: " + at.value, "SyntaxError");
  }

  ExprPtr parse_call(ExprPtr callee) {
    auto e = make(Expr::Kind::kCall, cur());
    add(*e, std::move(callee));
    if (const std::optional<Token> repeated = parse_args(*e)) repeated_keyword(*repeated);
    return e;
  }

  ExprPtr parse_filter(ExprPtr subject) {
    const Token& at = cur();
    auto e = make(Expr::Kind::kFilter, at);
    e->name = expect_name();
    while (is_op(".")) {
      next();
      e->name += "." + expect_name();
    }
    e->filter = find_filter(e->name);
    if (e->filter == nullptr)
      error(at, "no filter named '" + e->name + "'", "TemplateAssertionError");
    add(*e, std::move(subject));
    if (is_op("(")) {
      if (const std::optional<Token> repeated = parse_args(*e)) repeated_keyword(*repeated);
    }
    return e;
  }

  ExprPtr parse_filter_expr(ExprPtr e) {
    while (true) {
      if (is_op("|")) {
        next();
        e = parse_filter(std::move(e));
      } else if (is_name("is")) {
        e = parse_test(std::move(e));
      } else if (is_op("(")) {
        e = parse_call(std::move(e));
      } else {
        return e;
      }
    }
  }

  ExprPtr parse_test(ExprPtr subject) {
    next();  // is
    const Token& at = cur();
    auto e = make(Expr::Kind::kTest, at);
    if (is_name("not")) {
      next();
      e->negated = true;
    }
    const Token& name_at = cur();
    e->name = expect_name();
    while (is_op(".")) {
      next();
      e->name += "." + expect_name();
    }
    e->test = find_test(e->name);
    if (e->test == nullptr)
      error(name_at, "no test named '" + e->name + "'", "TemplateAssertionError");
    add(*e, std::move(subject));
    if (is_op("(")) {
      if (const std::optional<Token> repeated = parse_args(*e)) repeated_keyword(*repeated);
    } else if ((cur().kind == K::kName || cur().kind == K::kString || cur().kind == K::kInteger ||
                cur().kind == K::kFloat || is_op("(") || is_op("[") || is_op("{")) &&
               !is_name("else") && !is_name("or") && !is_name("and")) {
      if (is_name("is")) error(cur(), "you cannot chain multiple tests with is");
      e->arg_names.emplace_back();
      add(*e, parse_postfix(parse_primary()));
    }
    return e;
  }

  std::vector<Token> t_;
  size_t i_ = 0;
  int depth_ = 0;
  int loop_depth_ = 0;
};

}  // namespace

Body parse(std::string_view source) { return Parser(tokenize(source)).run(); }

}  // namespace gengyun::chat::jinja
