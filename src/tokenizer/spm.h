// SentencePiece BPE (Llama 2 style vocabularies), as llama.cpp's llm_tokenizer_spm_session.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "tokenizer/vocab.h"

namespace gengyun::tokenizer {

/// Appends the token ids of `text` to `out`. `text` must already have its spaces written as
/// U+2581 (and the leading one added when the vocabulary asks for it). The text is split into
/// UTF-8 characters and adjacent pieces whose concatenation is a token are merged, highest
/// token score first, leftmost first on ties, until none is. A final piece that is not a token
/// becomes the byte tokens of its bytes (vocab.byte_token; the unknown token for a byte without
/// one, dropped when there is no unknown token either). Cost: O(n log n) in the text's length.
void spm_encode(const Vocab& vocab, std::string_view text, std::vector<int32_t>& out);

}  // namespace gengyun::tokenizer
