// The Jinja parser: tokens to the syntax tree, with Jinja2's operator precedence (filters and
// tests bind tighter than arithmetic; `not x is y` is `not (x is y)`).
#pragma once

#include <string_view>

#include "chat/jinja_ast.h"

namespace gengyun::chat::jinja {

/// The most nested expressions or blocks the parser accepts, and the most levels an expression's
/// tree may have (a chain of N operators, attributes, subscripts, calls or filters is N levels):
/// deeper input is refused, not recursed into.
inline constexpr int kMaxParseDepth = 200;

/// The syntax tree of template `source`. Throws JinjaError (TemplateSyntaxError or
/// TemplateAssertionError for an unknown filter or test, with line and column).
Body parse(std::string_view source);

}  // namespace gengyun::chat::jinja
