// A vocabulary as read from GGUF metadata (tokenizer.ggml.*), with the special-token
// decisions llama.cpp takes at load time (llama-vocab.cpp, llama_vocab::impl::load): default
// BOS/EOS ids, token attributes corrected by token text, and the end-of-generation set.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "gengyun/result.h"
#include "gguf/gguf.h"

namespace gengyun::tokenizer {

/// Token attributes (llama.cpp's llama_token_attr bits; GGUF token_type values map onto them:
/// 1 NORMAL, 2 UNKNOWN, 3 CONTROL, 4 USER_DEFINED, 5 UNUSED, 6 BYTE, others UNDEFINED).
enum TokenAttr : uint32_t {
  kAttrUndefined = 0,
  kAttrUnknown = 1u << 0,
  kAttrUnused = 1u << 1,
  kAttrNormal = 1u << 2,
  kAttrControl = 1u << 3,
  kAttrUserDefined = 1u << 4,
  kAttrByte = 1u << 5,
};

enum class VocabType {
  Spm,  ///< tokenizer.ggml.model "llama": SentencePiece BPE over scores, byte fallback
  Bpe,  ///< tokenizer.ggml.model "gpt2": byte-level BPE over ranked merges
};

enum class PreTokenizerType {
  Default,  ///< tokenizer.ggml.pre "default" or absent (llama.cpp's LLAMA_VOCAB_PRE_TYPE_DEFAULT)
  Gpt2,     ///< "gpt-2" / "gpt2"
  Llama3,   ///< "llama-bpe" / "llama3" / "llama-v3"
  Qwen2,    ///< "qwen2" / "deepseek-r1-qwen"
};

/// Hash for string keys that also accepts string_view lookups without a copy.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using TokenIndex = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

struct Vocab {
  VocabType type = VocabType::Spm;
  PreTokenizerType pre = PreTokenizerType::Default;

  std::vector<std::string> text;  ///< [n_tokens] token text as stored in the file
  std::vector<float> score;       ///< [n_tokens] SentencePiece scores (0 when absent)
  std::vector<uint32_t> attr;     ///< [n_tokens] TokenAttr bits
  TokenIndex token_to_id;

  /// Byte-level BPE merges: key "left right" (the merge line as stored) -> rank (line index).
  TokenIndex merge_rank;

  /// -1 when the vocabulary has none.
  int32_t bos = -1, eos = -1, eot = -1, eom = -1, unk = -1;
  bool add_bos = false;
  bool add_eos = false;  ///< tokenizer.ggml.add_eos_token (embedding models: EOS ends the input)
  bool add_space_prefix =
      false;  ///< SPM: prepend ' ' to text that starts the input or follows a special token
  bool ignore_merges = false;  ///< BPE (llama3): a pre-token that is itself a token is not merged
  /// BPE (tokenizer.ggml.pre "qwen2"): text between special tokens is put in NFC before it is
  /// split, as Qwen2's tokenizer.json normalizer does (docs/chat.md)
  bool nfc = false;

  /// Tokens split out of the text before tokenizing (CONTROL, USER_DEFINED, UNKNOWN), longest
  /// text first (ties by id).
  std::vector<int32_t> special_tokens;
  /// End-of-generation tokens, ascending.
  std::vector<int32_t> eog;
  /// SPM byte fallback: the token for each byte ("<0xXX>", else the one-byte token), -1 if none.
  std::array<int32_t, 256> byte_token{};

  int32_t n_tokens() const { return static_cast<int32_t>(text.size()); }
  std::optional<int32_t> find(std::string_view s) const {
    const auto it = token_to_id.find(s);
    if (it == token_to_id.end()) return std::nullopt;
    return it->second;
  }
};

/// Reads tokenizer.ggml.{model, pre, tokens, token_type, scores, merges, *_token_id,
/// add_bos_token, add_eos_token, add_space_prefix}. Errors: missing tokens or model key, keys of the wrong
/// type, unknown model or pre-tokenizer, token_type/scores counts differing from the token
/// count, duplicate tokens, a merge line without a space, a BPE vocabulary without merges.
/// Special-token ids outside the vocabulary are ignored (the default is kept), as llama.cpp does.
Result<Vocab> load_vocab(const gguf::File& file);

}  // namespace gengyun::tokenizer
