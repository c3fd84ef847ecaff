// Giving a synthetic model the tokenizer of a real vocabulary GGUF whose token count differs
// from the model's embedding rows.
#pragma once

#include <cstdint>

#include "gengyun/result.h"
#include "gguf/gguf.h"
#include "gguf/gguf_writer.h"

namespace gengyun::convert {

/// GGUF token_type of a token that never occurs in text (llama.cpp's LLAMA_TOKEN_TYPE_UNUSED).
inline constexpr int32_t kTokenTypeUnused = 5;

/// Copies every `tokenizer.*` key of `vocab` into `out`, fitted to exactly n_vocab tokens:
/// - more rows than tokens: tokens, token_type (and scores, when present) are padded with
///   "[PAD<id>]" entries of type UNUSED (score 0), as llama.cpp's converter pads Qwen's
///   vocabularies to their embedding size;
/// - fewer rows than tokens: every token that is not NORMAL (type != 1: control, user-defined,
///   byte, ...) is kept, the NORMAL tokens with the highest ids are dropped until n_vocab
///   remain, and the kept tokens are renumbered in their original order. Merges are kept only
///   when both halves and their concatenation are kept tokens; `tokenizer.ggml.*_token_id`
///   keys are renumbered, or dropped when their token was dropped.
/// Errors: tokenizer.ggml.tokens missing or not an array of strings, token_type/scores of
/// another length or element type, merges not strings, and (when shrinking) more non-NORMAL
/// tokens than n_vocab or no token_type array to tell them apart.
Result<void> copy_fitted_tokenizer(const gguf::File& vocab, int64_t n_vocab, gguf::Writer& out);

}  // namespace gengyun::convert
