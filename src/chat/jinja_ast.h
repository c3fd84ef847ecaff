// The syntax tree of a parsed template: expressions and statements, each with the line and
// column where it starts. Built once per template by the parser and only read by the renderer.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "chat/jinja_value.h"

namespace gengyun::chat::jinja {

/// A filter: `subject | name(args)`.
using FilterFn = Value (*)(Renderer& r, const Value& subject, CallArgs& args);
/// A test: `subject is name(args)`.
using TestFn = bool (*)(Renderer& r, const Value& subject, CallArgs& args);

/// A builtin filter: its function and the parameters it takes after its subject.
struct Filter {
  FilterFn call;
  Signature signature;
  bool exact = false;  // marks request text in its result itself (else the renderer marks a
                       // string result wholly when its subject or arguments carry request text)
};

/// A builtin test: its function and the parameters it takes after its subject.
struct Test {
  TestFn call;
  Signature signature;
};

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
  enum class Kind {
    kLiteral,    // literal
    kName,       // name
    kList,       // children: items
    kDict,       // children: key, value, key, value, ...
    kGetAttr,    // children[0].name
    kGetItem,    // children[0][children[1]]
    kSlice,      // children[0][children[1]:children[2]:children[3]] (each bound may be null)
    kCall,       // children[0](children[1..]); arg_names per argument ("" = positional)
    kFilter,     // children[0] | name(children[1..]); children[0] null inside {% filter %}
    kTest,       // children[0] is [not] name(children[1..])
    kNegate,     // -children[0]
    kPlus,       // +children[0]
    kBinary,     // children[0] op children[1]: + - * / // % ** ~
    kAnd,        // children[0] and children[1]
    kOr,         // children[0] or children[1]
    kNot,        // not children[0]
    kCompare,    // children[0] ops[0] children[1] ops[1] ... (== != < <= > >= in notin)
    kCondition,  // children[0] if children[1] else children[2] (children[2] may be null)
  };
  Kind kind;
  int line = 0;
  int column = 0;
  Value literal;
  std::string name;  // kName, kGetAttr, kFilter, kTest; the operator of kBinary
  std::vector<ExprPtr> children;
  std::vector<std::string> arg_names;  // kCall, kFilter, kTest
  std::vector<std::string> ops;        // kCompare
  const Filter* filter = nullptr;
  const Test* test = nullptr;
  bool negated = false;  // kTest: `is not`
  int height = 1;        // levels of this tree (1 for a leaf); the parser bounds it
};

struct Node;
using Body = std::vector<std::unique_ptr<Node>>;

struct Node {
  enum class Kind {
    kText,         // text
    kOutput,       // {{ expr }}
    kIf,           // branches, else_body
    kFor,          // for targets in expr [if condition] [recursive]: body, else_body
    kSet,          // set targets = expr, or set targets[0].attribute = expr
    kSetBlock,     // {% set targets[0] %}body{% endset %}, then filters
    kMacro,        // macro name(params = defaults): body
    kCallBlock,    // {% call(params) expr %}body{% endcall %}
    kFilterBlock,  // {% filter filters %}body{% endfilter %}
    kBreak,
    kContinue,
  };
  Kind kind;
  int line = 0;
  int column = 0;
  std::string text;
  ExprPtr expr;
  ExprPtr condition;
  std::vector<std::pair<ExprPtr, Body>> branches;
  Body body;
  Body else_body;
  std::vector<std::string> targets;
  std::string attribute;
  bool recursive = false;
  std::string name;
  std::vector<std::string> params;
  std::vector<ExprPtr> defaults;  // one per param, null when the param has none
  std::vector<ExprPtr> filters;   // kSetBlock, kFilterBlock: kFilter nodes with a null subject
};

/// The filter named `name`, or nullptr.
const Filter* find_filter(const std::string& name);
/// The test named `name`, or nullptr.
const Test* find_test(const std::string& name);

}  // namespace gengyun::chat::jinja
