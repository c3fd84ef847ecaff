#include "tokenizer/pre_tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <span>
#include <utility>

#include "tokenizer/utf8.h"

namespace gengyun::tokenizer {
namespace {

// The expressions exactly as llama.cpp writes them (llm_tokenizer_bpe); \s and \S are rewritten
// by expand_whitespace() below.
const char* const kQwen2[] = {
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)",
};
const char* const kLlama3[] = {
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)",
};
const char* const kGpt2[] = {
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S))",
};
const char* const kDefault[] = {
    R"([\p{P}\$\+<=>\^~\|]+)",
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S))",
    R"(\p{N}+)",
    R"([0-9][0-9][0-9])",
};

// Unicode White_Space: what llama.cpp's tables (generated with Python's `regex` \s) call
// whitespace. PCRE2's own \s would also take U+180E.
constexpr std::string_view kWhitespaceSet =
    R"(\t\n\x0B\f\r \x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000})";

/// Rewrites \s as [kWhitespaceSet] (or the bare set inside a class) and \S as [^kWhitespaceSet].
std::string expand_whitespace(std::string_view pattern) {
  std::string out;
  bool in_class = false;
  for (size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      const char next = pattern[++i];
      if (next == 's') {
        out += in_class ? std::string(kWhitespaceSet) : "[" + std::string(kWhitespaceSet) + "]";
      } else if (next == 'S' && !in_class) {
        out += "[^" + std::string(kWhitespaceSet) + "]";
      } else {
        out += c;
        out += next;
      }
      continue;
    }
    if (c == '[') in_class = true;
    if (c == ']') in_class = false;
    out += c;
  }
  return out;
}

}  // namespace

struct PreTokenizer::Pattern {
  pcre2_code* code = nullptr;
  ~Pattern() { pcre2_code_free(code); }
};

PreTokenizer::~PreTokenizer() = default;

Result<std::unique_ptr<PreTokenizer>> PreTokenizer::create(PreTokenizerType type) {
  std::span<const char* const> sources;
  switch (type) {
    case PreTokenizerType::Qwen2:
      sources = kQwen2;
      break;
    case PreTokenizerType::Llama3:
      sources = kLlama3;
      break;
    case PreTokenizerType::Gpt2:
      sources = kGpt2;
      break;
    case PreTokenizerType::Default:
      sources = kDefault;
      break;
  }
  std::unique_ptr<PreTokenizer> pre(new PreTokenizer());
  for (const char* source : sources) {
    const std::string pattern = expand_whitespace(source);
    int error_code = 0;
    PCRE2_SIZE error_offset = 0;
    auto compiled = std::make_unique<Pattern>();
    compiled->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                   PCRE2_UTF | PCRE2_UCP, &error_code, &error_offset, nullptr);
    if (!compiled->code) {
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(error_code, message, sizeof message);
      return make_error("pre-tokenizer expression '" + pattern + "' does not compile at offset " +
                        std::to_string(error_offset) + ": " +
                        reinterpret_cast<const char*>(message));
    }
    pcre2_jit_compile(compiled->code, PCRE2_JIT_COMPLETE);  // falls back to the interpreter
    pre->patterns_.push_back(std::move(compiled));
  }
  return pre;
}

std::vector<std::string> PreTokenizer::split(std::string_view text) const {
  const std::vector<uint32_t> cps = decode_codepoints_lenient(text);

  // The subject PCRE2 sees: the code points re-encoded, with those strict UTF-8 cannot carry
  // (surrogates, values past U+10FFFF) written as U+FFFD, which falls in the same classes.
  // first_byte[i] is where code point i starts in it; cp_at_byte maps back.
  std::string subject;
  subject.reserve(text.size() + 8);
  std::vector<size_t> first_byte(cps.size() + 1);
  for (size_t i = 0; i < cps.size(); ++i) {
    first_byte[i] = subject.size();
    const uint32_t cp = cps[i];
    append_utf8(subject, (cp >= 0xD800 && cp <= 0xDFFF) ? kReplacementCharacter : cp);
  }
  first_byte[cps.size()] = subject.size();
  std::vector<uint32_t> cp_at_byte(subject.size() + 1);
  for (size_t i = 0; i <= cps.size(); ++i) cp_at_byte[first_byte[i]] = static_cast<uint32_t>(i);

  // Words as [begin, end) code point ranges.
  std::vector<std::pair<size_t, size_t>> words = {{0, cps.size()}};
  if (cps.empty()) words.clear();
  // Room for the whole-match offsets only: the expressions' groups are not used.
  const std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> match(
      pcre2_match_data_create(1, nullptr), &pcre2_match_data_free);
  for (const auto& pattern : patterns_) {
    std::vector<std::pair<size_t, size_t>> next;
    next.reserve(words.size() * 2);
    for (const auto& [begin, end] : words) {
      const auto* seg = reinterpret_cast<PCRE2_SPTR>(subject.data() + first_byte[begin]);
      const size_t seg_len = first_byte[end] - first_byte[begin];
      const auto to_cp = [&](size_t byte_in_seg) {
        return cp_at_byte[first_byte[begin] + byte_in_seg];
      };
      size_t pos = 0;      // bytes into the segment
      size_t emitted = 0;  // bytes of the segment already assigned to words
      while (pos < seg_len) {
        const int rc =
            pcre2_match(pattern->code, seg, seg_len, pos, PCRE2_NO_UTF_CHECK, match.get(), nullptr);
        // No further match (or a failure such as a matching limit): the rest is one word.
        if (rc < 0) break;
        const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(match.get());
        if (ov[1] == ov[0]) break;  // none of the expressions matches empty; never loop on one
        if (ov[0] > emitted) next.emplace_back(to_cp(emitted), to_cp(ov[0]));
        next.emplace_back(to_cp(ov[0]), to_cp(ov[1]));
        emitted = pos = ov[1];
      }
      if (emitted < seg_len) next.emplace_back(to_cp(emitted), to_cp(seg_len));
    }
    words = std::move(next);
  }

  std::vector<std::string> out;
  out.reserve(words.size());
  for (const auto& [begin, end] : words) {
    std::string word;
    for (size_t i = begin; i < end; ++i) append_utf8(word, cps[i]);
    out.push_back(std::move(word));
  }
  return out;
}

}  // namespace gengyun::tokenizer
