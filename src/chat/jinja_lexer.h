// The Jinja lexer: template source to tokens, with Jinja2's whitespace rules as Hugging Face
// configures them (trim_blocks and lstrip_blocks on, `-` and `+` markers, no trailing newline
// kept, "\r\n" and "\r" read as "\n").
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace gengyun::chat::jinja {

struct Token {
  enum class Kind {
    kText,        // literal template text (whitespace rules applied)
    kVarBegin,    // {{
    kVarEnd,      // }}
    kBlockBegin,  // {%
    kBlockEnd,    // %}
    kName,
    kString,  // value: the literal's text with escapes decoded
    kInteger,
    kFloat,
    kOperator,  // value: the operator, e.g. "==", "(", "|"
    kEnd,
  };
  Kind kind;
  std::string value;
  int line;
  int column;
};

/// The tokens of `source`, ending with kEnd. Throws JinjaError (TemplateSyntaxError, with
/// line and column) on an unterminated tag, comment or string, an unknown character or
/// unbalanced brackets.
std::vector<Token> tokenize(std::string_view source);

}  // namespace gengyun::chat::jinja
