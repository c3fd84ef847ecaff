// Splitting special tokens out of a text before it is tokenized, as llama.cpp's
// tokenizer_st_partition.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "tokenizer/vocab.h"

namespace gengyun::tokenizer {

/// A run of text to tokenize ([offset, offset + length) of the input), or one special token.
struct Fragment {
  int32_t token = -1;  ///< -1 for text
  size_t offset = 0;
  size_t length = 0;
};

/// Byte ranges [begin, end) of a text, sorted and disjoint.
using TextSpans = std::span<const std::pair<size_t, size_t>>;

/// Cuts every occurrence of the vocabulary's special tokens out of `text`, longest token first
/// (each token cuts only the text that longer ones left). USER_DEFINED tokens are always cut;
/// CONTROL and UNKNOWN ones only when `parse_special`, and never where they overlap a range of
/// `literal` (text a client sent, which must not become control tokens). Empty text gives no
/// fragment. Cost: O(number of special tokens × text length).
std::vector<Fragment> split_special_tokens(const Vocab& vocab, std::string_view text,
                                           bool parse_special, TextSpans literal = {});

}  // namespace gengyun::tokenizer
