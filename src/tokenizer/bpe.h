// Byte-level BPE (GPT-2 style, used by Qwen and Llama 3 vocabularies), as llama.cpp's
// llm_tokenizer_bpe_session.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "tokenizer/vocab.h"

namespace gengyun::tokenizer {

/// Appends the token ids of one pre-tokenized word (raw UTF-8) to `out`. The word is written in
/// the byte-level alphabet, split into characters, and adjacent pieces are merged by the merge
/// of lowest rank, leftmost first on ties, until no merge applies. With vocab.ignore_merges a
/// word that is itself a token is emitted whole. A final piece that is not a token falls back
/// to the tokens of its single bytes (a byte without one is dropped, as llama.cpp does).
/// Cost: O(n log n) in the word's length, plus hashing.
void bpe_encode_word(const Vocab& vocab, std::string_view word, std::vector<int32_t>& out);

}  // namespace gengyun::tokenizer
