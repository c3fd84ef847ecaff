// Text <-> token ids for GGUF vocabularies, matching llama.cpp token for token
// (llama-vocab.cpp): byte-level BPE (tokenizer.ggml.model "gpt2": Qwen, Llama 3, GPT-2) and
// SentencePiece BPE with byte fallback (tokenizer.ggml.model "llama": Llama 2 and relatives).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gengyun/result.h"
#include "gguf/gguf.h"
#include "tokenizer/vocab.h"

namespace gengyun {

namespace tokenizer {
class PreTokenizer;
}

/// A loaded vocabulary. Immutable after load(); every method is safe to call from many threads.
class Tokenizer {
 public:
  /// Builds the tokenizer from GGUF metadata tokenizer.ggml.* (model "gpt2" = byte-level BPE
  /// with tokenizer.ggml.pre "qwen2" | "deepseek-r1-qwen" | "llama-bpe" | "llama3" | "gpt-2" |
  /// "default"; model "llama" = SentencePiece BPE with byte fallback). Needs no tensors, so it
  /// works on vocab-only files. Errors: missing or ill-typed keys, unknown model or
  /// pre-tokenizer, token_type/scores counts differing from the token count, duplicate tokens,
  /// malformed merges. Cost: hashing every token and merge (~0.5 s for Qwen's 151k).
  static Result<std::unique_ptr<Tokenizer>> load(const gguf::File& file);
  ~Tokenizer();

  /// Token ids of `text`; never adds BOS (the caller adds bos() when add_bos()). Cost: about
  /// 2 MB of text per second and core. Special tokens
  /// of type CONTROL (e.g. <|im_start|>) are recognised in the text only when `parse_special`;
  /// USER_DEFINED ones (e.g. Qwen's <think>) always are, as in llama.cpp. SentencePiece
  /// vocabularies with add_space_prefix (the default) prepend a space to the text and to each
  /// text run after a special token. Invalid UTF-8 is tokenized as U+FFFD by the byte-level
  /// BPE (as llama.cpp) and as byte tokens by SentencePiece. With tokenizer.ggml.pre "qwen2"
  /// the text between special tokens is put in NFC first, as Hugging Face's Qwen tokenizer
  /// does (llama.cpp does not).
  /// CONTROL and UNKNOWN tokens that overlap a range of `literal` (sorted, disjoint [begin, end)
  /// byte ranges of `text`: what a client wrote) stay text; the text between the special tokens
  /// is tokenized as a whole, so that a prompt without such forgeries gives the same tokens as
  /// without `literal`.
  std::vector<int32_t> encode(std::string_view text, bool parse_special,
                              std::span<const std::pair<size_t, size_t>> literal = {}) const;

  /// The bytes token `id` stands for (not necessarily complete UTF-8). CONTROL and UNKNOWN
  /// tokens give "" unless `render_special`, then their text. SentencePiece pieces keep their
  /// leading space ("▁Once" gives " Once"); removing the space after BOS is the caller's choice.
  /// An id outside [0, n_vocab()) gives "".
  std::string token_to_piece(int32_t id, bool render_special = false) const;

  /// The text that encode(text, /*parse_special=*/true) turns into `ids` (a caller that adds
  /// bos() to its input leaves it out of `ids`): every token's bytes, the text of CONTROL,
  /// UNKNOWN and USER_DEFINED tokens included; SentencePiece vocabularies with add_space_prefix
  /// leave out the space that encode() prepends to the text and to each text run after one of
  /// those tokens (the first piece of such a run loses one leading space). Bytes, not
  /// necessarily whole UTF-8 (a byte token can end them inside a character). Ids outside
  /// [0, n_vocab()) give "".
  std::string decode(std::span<const int32_t> ids) const;

  int32_t n_vocab() const;
  /// tokenizer.ggml.bos_token_id / eos_token_id; when absent (or outside the vocabulary),
  /// llama.cpp's defaults if inside it: 1 / 2 for SentencePiece, 11 / 11 for byte-level BPE.
  std::optional<int32_t> bos() const;
  std::optional<int32_t> eos() const;
  /// tokenizer.ggml.add_bos_token; when absent, llama.cpp's default: true for SentencePiece and
  /// for the llama3 pre-tokenizer, false for other byte-level BPE vocabularies.
  bool add_bos() const;
  /// tokenizer.ggml.add_eos_token (false when absent): the caller appends eos() to an input,
  /// as embedding models such as Qwen3-Embedding expect.
  bool add_eos() const;
  /// Whether generating `id` ends the generation, as llama.cpp decides: EOS, EOT and EOM, the
  /// FIM pad/repo/file-separator tokens, and any token whose text is one of llama.cpp's list
  /// (<|im_end|>, <|endoftext|>, <|eot_id|>, <|eom_id|>, </s>, <end_of_turn>, ...).
  bool is_eog(int32_t id) const;
  /// The id of the token whose text is exactly `text`.
  std::optional<int32_t> find_token(std::string_view text) const;
  bool is_spm() const;

 private:
  Tokenizer();
  tokenizer::Vocab vocab_;
  std::unique_ptr<tokenizer::PreTokenizer> pre_;  ///< byte-level BPE only
  std::vector<std::string> pieces_;               ///< [n_vocab] token_to_piece(id, true)
};

/// Incremental detokenizer for streaming generated tokens. Not thread-safe; one per stream.
class StreamDecoder {
 public:
  /// `tokenizer` must outlive the decoder. `prefix`: bytes decoded before the first token's (the
  /// unfinished character a prompt's text ends with, which the first tokens complete); push()
  /// gives them with the first token's text, or flush() as U+FFFD where they never form a
  /// character.
  explicit StreamDecoder(const Tokenizer& tokenizer, std::string prefix = {});

  /// Adds the piece of `id` (CONTROL tokens render as "") and returns the text that is now
  /// complete: valid UTF-8 only. A multi-byte character split across tokens is held back until
  /// its last byte arrives; bytes that can never form a character are returned as U+FFFD
  /// (one per maximal ill-formed subpart, like Python's errors="replace").
  std::string push(int32_t id);

  /// Returns what is held back (an unfinished character becomes one U+FFFD) and resets.
  std::string flush();

 private:
  std::string take(bool final);
  const Tokenizer& tokenizer_;
  std::string pending_;
};

}  // namespace gengyun
