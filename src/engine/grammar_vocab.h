// A model's vocabulary as constrained decoding sees it (sampling/token_mask.h): the bytes each
// token stands for and the tokens that end a generation.
#pragma once

#include <memory>

#include "sampling/token_mask.h"
#include "tokenizer/tokenizer.h"

namespace gengyun::engine {

/// The VocabIndex of `tokenizer`: token bytes as token_to_piece gives them without specials
/// (control tokens are "": a grammar never allows them; SentencePiece pieces keep their leading
/// space, byte tokens are their byte), end-of-generation ids as is_eog decides. Cost: that of
/// VocabIndex (sampling/token_mask.h); build once per model.
std::shared_ptr<const sampling::VocabIndex> make_vocab_index(const Tokenizer& tokenizer);

}  // namespace gengyun::engine
