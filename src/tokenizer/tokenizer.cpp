#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <cstdlib>

#include "tokenizer/bpe.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/normalize.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/special_tokens.h"
#include "tokenizer/spm.h"

namespace gengyun {
namespace {

using tokenizer::VocabType;

constexpr std::string_view kSpmSpace = "\xE2\x96\x81";  // U+2581, SentencePiece's space

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  std::string out;
  out.reserve(s.size());
  size_t pos = 0;
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, pos)) {
    out.append(s, pos, at - pos);
    out += to;
    pos = at + from.size();
  }
  out.append(s, pos);
  s = std::move(out);
}

/// The piece of `id` with special tokens rendered (llama.cpp's token_to_piece, special = true).
std::string render_piece(const tokenizer::Vocab& v, int32_t id) {
  const uint32_t attr = v.attr[id];
  const std::string& text = v.text[id];
  if (attr & (tokenizer::kAttrControl | tokenizer::kAttrUnknown | tokenizer::kAttrUserDefined))
    return text;
  if (attr & tokenizer::kAttrNormal) {
    if (v.type == VocabType::Bpe) return tokenizer::byte_level_decode(text);
    std::string piece = text;
    replace_all(piece, kSpmSpace, " ");
    return piece;
  }
  if (attr & tokenizer::kAttrByte) {
    // "<0xXX>"
    const std::string hex = text.size() >= 5 ? text.substr(3, 2) : std::string();
    return std::string(1, static_cast<char>(std::strtol(hex.c_str(), nullptr, 16)));
  }
  return {};
}

}  // namespace

Tokenizer::Tokenizer() = default;
Tokenizer::~Tokenizer() = default;

Result<std::unique_ptr<Tokenizer>> Tokenizer::load(const gguf::File& file) {
  auto vocab = tokenizer::load_vocab(file);
  if (!vocab) return vocab.error();
  std::unique_ptr<Tokenizer> t(new Tokenizer());
  t->vocab_ = std::move(vocab.value());
  if (t->vocab_.type == VocabType::Bpe) {
    auto pre = tokenizer::PreTokenizer::create(t->vocab_.pre);
    if (!pre) return pre.error();
    t->pre_ = std::move(pre.value());
  }
  t->pieces_.reserve(t->vocab_.text.size());
  for (int32_t id = 0; id < t->vocab_.n_tokens(); ++id)
    t->pieces_.push_back(render_piece(t->vocab_, id));
  return t;
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool parse_special,
                                       std::span<const std::pair<size_t, size_t>> literal) const {
  std::vector<int32_t> out;
  const auto fragments = tokenizer::split_special_tokens(vocab_, text, parse_special, literal);
  if (vocab_.type == VocabType::Spm) {
    bool after_special = true;  // the start of the input counts as following a special token
    for (const auto& f : fragments) {
      if (f.token != -1) {
        out.push_back(f.token);
        after_special = true;
        continue;
      }
      std::string run = vocab_.add_space_prefix && after_special ? " " : "";
      run += text.substr(f.offset, f.length);
      replace_all(run, " ", kSpmSpace);
      tokenizer::spm_encode(vocab_, run, out);
      after_special = false;
    }
    return out;
  }
  for (const auto& f : fragments) {
    if (f.token != -1) {
      out.push_back(f.token);
      continue;
    }
    std::string_view run = text.substr(f.offset, f.length);
    std::string normalized;
    if (vocab_.nfc) {
      normalized = tokenizer::nfc(run);
      run = normalized;
    }
    for (const std::string& word : pre_->split(run)) tokenizer::bpe_encode_word(vocab_, word, out);
  }
  return out;
}

std::string Tokenizer::token_to_piece(int32_t id, bool render_special) const {
  if (id < 0 || id >= vocab_.n_tokens()) return {};
  if (!render_special && (vocab_.attr[id] & (tokenizer::kAttrControl | tokenizer::kAttrUnknown)))
    return {};
  return pieces_[id];
}

std::string Tokenizer::decode(std::span<const int32_t> ids) const {
  constexpr uint32_t kSpecial =
      tokenizer::kAttrControl | tokenizer::kAttrUnknown | tokenizer::kAttrUserDefined;
  const bool strip_space = vocab_.type == VocabType::Spm && vocab_.add_space_prefix;
  std::string out;
  bool after_special = true;  // as in encode(): the start counts as following a special token
  for (const int32_t id : ids) {
    if (id < 0 || id >= vocab_.n_tokens()) continue;
    std::string_view piece = pieces_[id];
    if (vocab_.attr[id] & kSpecial) {
      after_special = true;
    } else {
      if (strip_space && after_special && piece.starts_with(' ')) piece.remove_prefix(1);
      after_special = false;
    }
    out += piece;
  }
  return out;
}

int32_t Tokenizer::n_vocab() const { return vocab_.n_tokens(); }

std::optional<int32_t> Tokenizer::bos() const {
  if (vocab_.bos == -1) return std::nullopt;
  return vocab_.bos;
}

std::optional<int32_t> Tokenizer::eos() const {
  if (vocab_.eos == -1) return std::nullopt;
  return vocab_.eos;
}

bool Tokenizer::add_bos() const { return vocab_.add_bos; }

bool Tokenizer::add_eos() const { return vocab_.add_eos; }

bool Tokenizer::is_eog(int32_t id) const {
  return std::binary_search(vocab_.eog.begin(), vocab_.eog.end(), id);
}

std::optional<int32_t> Tokenizer::find_token(std::string_view text) const {
  return vocab_.find(text);
}

bool Tokenizer::is_spm() const { return vocab_.type == VocabType::Spm; }

}  // namespace gengyun
