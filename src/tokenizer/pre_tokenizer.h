// Pre-tokenization for byte-level BPE: splitting text into the words that BPE merges within,
// with the regular expressions llama.cpp uses for each tokenizer.ggml.pre (llama-vocab.cpp,
// llm_tokenizer_bpe), run by PCRE2 in UTF + UCP mode.
//
// As in llama.cpp (unicode.cpp, unicode_regex_split): the text is first decoded to code points
// with its lenient decoder (an undecodable byte becomes U+FFFD), \s means exactly the Unicode
// White_Space characters, text between two matches is a word of its own, and the expressions of
// a list are applied in turn, each splitting the words of the previous one.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "gengyun/result.h"
#include "tokenizer/vocab.h"

namespace gengyun::tokenizer {

class PreTokenizer {
 public:
  /// Compiles the expressions of `type` (JIT-compiled when PCRE2 supports it). Errors: a
  /// pattern PCRE2 rejects (a build without Unicode support).
  static Result<std::unique_ptr<PreTokenizer>> create(PreTokenizerType type);
  ~PreTokenizer();
  PreTokenizer(const PreTokenizer&) = delete;
  PreTokenizer& operator=(const PreTokenizer&) = delete;

  /// The words of `text` in order, as UTF-8 re-encoded from the decoded code points (so their
  /// concatenation equals `text` when `text` is valid UTF-8). Thread-safe; cost linear in the
  /// text for these expressions.
  std::vector<std::string> split(std::string_view text) const;

 private:
  struct Pattern;
  PreTokenizer() = default;
  std::vector<std::unique_ptr<Pattern>> patterns_;
};

}  // namespace gengyun::tokenizer
