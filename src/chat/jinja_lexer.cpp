#include "chat/jinja_lexer.h"

#include <algorithm>
#include <cctype>

#include "chat/jinja_value.h"

namespace gengyun::chat::jinja {
namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

std::string_view rstrip(std::string_view s) {
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// Appends the code point `cp` to `out` as UTF-8.
void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

class Lexer {
 public:
  explicit Lexer(std::string source) : src_(std::move(source)) {
    line_starts_.push_back(0);
    for (size_t i = 0; i < src_.size(); ++i) {
      if (src_[i] == '\n') line_starts_.push_back(i + 1);
    }
  }

  std::vector<Token> run() {
    bool line_starting = true;
    while (pos_ < src_.size()) {
      const size_t tag = find_tag(pos_);
      std::string_view text(src_.data() + pos_,
                            (tag == std::string::npos ? src_.size() : tag) - pos_);
      if (tag == std::string::npos) {
        push_text(text, pos_);
        break;
      }
      const char kind = src_[tag + 1];
      const char sign = tag + 2 < src_.size() && (src_[tag + 2] == '-' || src_[tag + 2] == '+')
                            ? src_[tag + 2]
                            : '\0';
      if (sign == '-') {
        text = rstrip(text);
      } else if (sign != '+' && kind != '{') {
        const size_t nl = text.rfind('\n');
        const size_t l_pos = nl == std::string_view::npos ? 0 : nl + 1;
        if ((l_pos > 0 || line_starting) && l_pos < text.size() &&
            std::all_of(text.begin() + l_pos, text.end(), [](char c) { return is_space(c); })) {
          text = text.substr(0, l_pos);
        }
      }
      push_text(text, pos_);
      pos_ = tag + 2 + (sign ? 1 : 0);
      if (kind == '#') {
        comment(tag);
      } else if (kind == '%' && raw_block(tag)) {
        // raw_block consumed the whole {% raw %}...{% endraw %}
      } else {
        tag_tokens(kind == '{', tag);
      }
      line_starting = pos_ > 0 && src_[pos_ - 1] == '\n';
    }
    tokens_.push_back({Token::Kind::kEnd, "", line_of(src_.size()), column_of(src_.size())});
    return std::move(tokens_);
  }

 private:
  int line_of(size_t pos) const {
    return static_cast<int>(std::upper_bound(line_starts_.begin(), line_starts_.end(), pos) -
                            line_starts_.begin());
  }
  int column_of(size_t pos) const {
    return static_cast<int>(pos - line_starts_[line_of(pos) - 1]) + 1;
  }

  [[noreturn]] void error(size_t pos, std::string message) const {
    throw JinjaError{"TemplateSyntaxError", std::move(message), false, line_of(pos),
                     column_of(pos)};
  }

  size_t find_tag(size_t from) const {
    size_t i = from;
    while ((i = src_.find('{', i)) != std::string::npos) {
      if (i + 1 < src_.size() && (src_[i + 1] == '{' || src_[i + 1] == '%' || src_[i + 1] == '#')) {
        return i;
      }
      ++i;
    }
    return std::string::npos;
  }

  void push_text(std::string_view text, size_t at) {
    if (!text.empty())
      tokens_.push_back({Token::Kind::kText, std::string(text), line_of(at), column_of(at)});
  }

  void push(Token::Kind kind, std::string value, size_t at) {
    tokens_.push_back({kind, std::move(value), line_of(at), column_of(at)});
  }

  // After a block or comment end: `-` strips the following whitespace, `+` keeps it, and
  // otherwise trim_blocks drops one newline.
  void after_end(char marker) {
    if (marker == '-') {
      while (pos_ < src_.size() && is_space(src_[pos_])) ++pos_;
    } else if (marker != '+' && pos_ < src_.size() && src_[pos_] == '\n') {
      ++pos_;
    }
  }

  void comment(size_t tag) {
    const size_t end = src_.find("#}", pos_);
    if (end == std::string::npos) error(tag, "missing end of comment tag");
    const char marker = end > pos_ ? src_[end - 1] : '\0';
    pos_ = end + 2;
    after_end(marker);
  }

  // {% raw %}...{% endraw %}: the text in between, untouched. False when the tag is not raw.
  bool raw_block(size_t tag) {
    size_t i = pos_;
    while (i < src_.size() && is_space(src_[i])) ++i;
    if (src_.compare(i, 3, "raw") != 0) return false;
    i += 3;
    while (i < src_.size() && is_space(src_[i])) ++i;
    char marker = '\0';
    if (i < src_.size() && src_[i] == '-') marker = src_[i++];
    if (src_.compare(i, 2, "%}") != 0) return false;
    pos_ = i + 2;
    if (marker == '-') after_end('-');
    size_t search = pos_;
    while (true) {
      const size_t open = src_.find("{%", search);
      if (open == std::string::npos) error(tag, "missing end of raw directive");
      size_t j = open + 2;
      const char sign = j < src_.size() && (src_[j] == '-' || src_[j] == '+') ? src_[j++] : '\0';
      while (j < src_.size() && is_space(src_[j])) ++j;
      if (src_.compare(j, 6, "endraw") != 0) {
        search = open + 2;
        continue;
      }
      j += 6;
      while (j < src_.size() && is_space(src_[j])) ++j;
      char end_marker = '\0';
      if (j < src_.size() && (src_[j] == '-' || src_[j] == '+')) end_marker = src_[j++];
      if (src_.compare(j, 2, "%}") != 0) error(open, "missing end of raw directive");
      std::string_view text(src_.data() + pos_, open - pos_);
      if (sign == '-') text = rstrip(text);
      push_text(text, pos_);
      pos_ = j + 2;
      after_end(end_marker);
      return true;
    }
  }

  // The tokens inside {{ ... }} or {% ... %}, up to and including the end tag.
  void tag_tokens(bool variable, size_t tag) {
    push(variable ? Token::Kind::kVarBegin : Token::Kind::kBlockBegin, "", tag);
    std::string brackets;
    while (true) {
      while (pos_ < src_.size() && is_space(src_[pos_])) ++pos_;
      if (pos_ >= src_.size()) {
        error(tag, variable ? "unexpected end of template, expected '}}'"
                            : "unexpected end of template, expected '%}'");
      }
      const char c = src_[pos_];
      if (brackets.empty()) {
        const std::string_view close = variable ? "}}" : "%}";
        char marker = '\0';
        size_t at = pos_;
        if ((c == '-' || (c == '+' && !variable)) && src_.compare(pos_ + 1, 2, close) == 0) {
          marker = c;
          ++at;
        }
        if (src_.compare(at, 2, close) == 0) {
          push(variable ? Token::Kind::kVarEnd : Token::Kind::kBlockEnd, "", pos_);
          pos_ = at + 2;
          if (variable) {
            if (marker == '-') after_end('-');
          } else {
            after_end(marker);
          }
          return;
        }
      }
      if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
        const size_t start = pos_;
        while (pos_ < src_.size() &&
               (std::isalnum(static_cast<unsigned char>(src_[pos_])) || src_[pos_] == '_')) {
          ++pos_;
        }
        push(Token::Kind::kName, src_.substr(start, pos_ - start), start);
      } else if (std::isdigit(static_cast<unsigned char>(c))) {
        number();
      } else if (c == '\'' || c == '"') {
        string_literal();
      } else {
        operator_token(brackets);
      }
    }
  }

  void number() {
    const size_t start = pos_;
    auto digits = [&] {
      while (pos_ < src_.size() &&
             (std::isdigit(static_cast<unsigned char>(src_[pos_])) || src_[pos_] == '_')) {
        ++pos_;
      }
    };
    digits();
    bool is_float = false;
    if (pos_ + 1 < src_.size() && src_[pos_] == '.' &&
        std::isdigit(static_cast<unsigned char>(src_[pos_ + 1]))) {
      is_float = true;
      ++pos_;
      digits();
    }
    if (pos_ < src_.size() && (src_[pos_] == 'e' || src_[pos_] == 'E')) {
      size_t j = pos_ + 1;
      if (j < src_.size() && (src_[j] == '+' || src_[j] == '-')) ++j;
      if (j < src_.size() && std::isdigit(static_cast<unsigned char>(src_[j]))) {
        is_float = true;
        pos_ = j;
        digits();
      }
    }
    std::string text;
    for (size_t i = start; i < pos_; ++i) {
      if (src_[i] != '_') text += src_[i];
    }
    push(is_float ? Token::Kind::kFloat : Token::Kind::kInteger, text, start);
  }

  // A quoted literal, decoded as Python's unicode-escape does (unknown escapes stay as typed).
  void string_literal() {
    const size_t start = pos_;
    const char quote = src_[pos_++];
    std::string value;
    while (true) {
      if (pos_ >= src_.size()) error(start, "unexpected end of string");
      const char c = src_[pos_++];
      if (c == quote) break;
      if (c != '\\') {
        value += c;
        continue;
      }
      if (pos_ >= src_.size()) error(start, "unexpected end of string");
      const char e = src_[pos_++];
      auto hex = [&](int n) {
        uint32_t v = 0;
        for (int k = 0; k < n; ++k) {
          if (pos_ >= src_.size() || !std::isxdigit(static_cast<unsigned char>(src_[pos_]))) {
            error(start, "truncated \\x, \\u or \\U escape in a string");
          }
          const char h = src_[pos_++];
          v = v * 16 + static_cast<uint32_t>(std::isdigit(static_cast<unsigned char>(h))
                                                 ? h - '0'
                                                 : std::tolower(h) - 'a' + 10);
        }
        return v;
      };
      switch (e) {
        case 'n':
          value += '\n';
          break;
        case 't':
          value += '\t';
          break;
        case 'r':
          value += '\r';
          break;
        case 'a':
          value += '\a';
          break;
        case 'b':
          value += '\b';
          break;
        case 'f':
          value += '\f';
          break;
        case 'v':
          value += '\v';
          break;
        case '\\':
          value += '\\';
          break;
        case '\'':
          value += '\'';
          break;
        case '"':
          value += '"';
          break;
        case '\n':
          break;
        case 'x':
          append_utf8(value, hex(2));
          break;
        case 'u':
          append_utf8(value, hex(4));
          break;
        case 'U':
          append_utf8(value, hex(8));
          break;
        default:
          if (e >= '0' && e <= '7') {
            uint32_t v = static_cast<uint32_t>(e - '0');
            for (int k = 0; k < 2 && pos_ < src_.size() && src_[pos_] >= '0' && src_[pos_] <= '7';
                 ++k) {
              v = v * 8 + static_cast<uint32_t>(src_[pos_++] - '0');
            }
            append_utf8(value, v);
          } else {
            value += '\\';
            value += e;
          }
      }
    }
    push(Token::Kind::kString, std::move(value), start);
  }

  void operator_token(std::string& brackets) {
    static constexpr std::string_view kTwo[] = {"//", "**", "==", "!=", "<=", ">="};
    for (std::string_view op : kTwo) {
      if (src_.compare(pos_, 2, op) == 0) {
        push(Token::Kind::kOperator, std::string(op), pos_);
        pos_ += 2;
        return;
      }
    }
    const char c = src_[pos_];
    static constexpr std::string_view kOne = "+-/*%~[](){}<>=.:|,;";
    if (kOne.find(c) == std::string_view::npos) {
      // The whole character, not its UTF-8 lead byte alone.
      size_t length = 1;
      if (static_cast<unsigned char>(c) >= 0xC0) {
        while (length < 4 && pos_ + length < src_.size() &&
               (static_cast<unsigned char>(src_[pos_ + length]) & 0xC0) == 0x80)
          ++length;
      }
      error(pos_, "unexpected char '" + src_.substr(pos_, length) + "'");
    }
    if (c == '(' || c == '[' || c == '{') {
      brackets += c;
    } else if (c == ')' || c == ']' || c == '}') {
      const char open = c == ')' ? '(' : c == ']' ? '[' : '{';
      if (brackets.empty() || brackets.back() != open) {
        error(pos_, std::string("unexpected '") + c + "'");
      }
      brackets.pop_back();
    }
    push(Token::Kind::kOperator, std::string(1, c), pos_);
    ++pos_;
  }

  std::string src_;
  std::vector<size_t> line_starts_;
  size_t pos_ = 0;
  std::vector<Token> tokens_;
};

// "\r\n" and "\r" as "\n", and one trailing newline dropped (Jinja2's keep_trailing_newline
// off).
std::string normalize_newlines(std::string_view source) {
  std::string out;
  out.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      out += '\n';
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      out += source[i];
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

}  // namespace

std::vector<Token> tokenize(std::string_view source) {
  return Lexer(normalize_newlines(source)).run();
}

}  // namespace gengyun::chat::jinja
