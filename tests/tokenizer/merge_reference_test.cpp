// The priority-queue merges of bpe.cpp and spm.cpp against the obvious quadratic algorithm
// (repeatedly merge the best adjacent pair, leftmost on ties) on random texts, and encode()
// robustness on random bytes.
#include <gtest/gtest.h>

#include <limits>
#include <random>

#include "tokenizer/bpe.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/spm.h"
#include "tokenizer/utf8.h"
#include "tokenizer/vocab.h"
#include "tokenizer_test_util.h"

namespace gengyun::tokenizer {
namespace {

const Vocab* shared_vocab(const std::string& relative_path) {
  static std::map<std::string, std::unique_ptr<Vocab>> cache;
  auto& slot = cache[relative_path];
  if (!slot) {
    auto file = gguf::File::open(testing::testdata_path(relative_path));
    if (!file.ok()) return nullptr;
    auto vocab = load_vocab(file.value());
    if (!vocab.ok()) return nullptr;
    slot = std::make_unique<Vocab>(std::move(vocab.value()));
  }
  return slot.get();
}

std::vector<std::string> utf8_chars(const std::string& s) {
  std::vector<std::string> out;
  for (size_t i = 0; i < s.size();) {
    const size_t n = std::min(utf8_sequence_length(s[i]), s.size() - i);
    out.push_back(s.substr(i, n));
    i += n;
  }
  return out;
}

std::vector<int32_t> naive_bpe(const Vocab& v, const std::string& word) {
  std::vector<std::string> parts = utf8_chars(byte_level_encode(word));
  for (;;) {
    int best_rank = std::numeric_limits<int>::max();
    size_t best = 0;
    for (size_t i = 0; i + 1 < parts.size(); ++i) {
      const auto it = v.merge_rank.find(parts[i] + " " + parts[i + 1]);
      if (it != v.merge_rank.end() && it->second < best_rank) {
        best_rank = it->second;
        best = i;
      }
    }
    if (best_rank == std::numeric_limits<int>::max()) break;
    parts[best] += parts[best + 1];
    parts.erase(parts.begin() + best + 1);
  }
  std::vector<int32_t> ids;
  for (const auto& p : parts) {
    if (auto id = v.find(p)) {
      ids.push_back(*id);
      continue;
    }
    for (char c : p)
      if (auto id = v.find(std::string(1, c))) ids.push_back(*id);
  }
  return ids;
}

std::vector<int32_t> naive_spm(const Vocab& v, const std::string& text) {
  std::vector<std::string> parts = utf8_chars(text);
  for (;;) {
    float best_score = -std::numeric_limits<float>::infinity();
    size_t best = parts.size();
    for (size_t i = 0; i + 1 < parts.size(); ++i) {
      const auto id = v.find(parts[i] + parts[i + 1]);
      if (id && (best == parts.size() || v.score[*id] > best_score)) {
        best_score = v.score[*id];
        best = i;
      }
    }
    if (best == parts.size()) break;
    parts[best] += parts[best + 1];
    parts.erase(parts.begin() + best + 1);
  }
  std::vector<int32_t> ids;
  for (const auto& p : parts) {
    if (auto id = v.find(p)) {
      ids.push_back(*id);
      continue;
    }
    for (char c : p) ids.push_back(v.byte_token[static_cast<uint8_t>(c)]);
  }
  return ids;
}

/// Random text from pieces that exercise merges: common English fragments, spaces, digits,
/// CJK, emoji, SentencePiece's space mark, and (when `invalid_bytes`) ill-formed UTF-8.
std::string random_text(std::mt19937& rng, bool invalid_bytes) {
  static const std::vector<std::string> kPieces = {
      "a",     "e",  "t",  "h",           "in", "the", "ing", "er",           "re", " ",
      "  ",    "\n", "\t", "1",           "23", ",",   ".",   "'s",           "'",  "é",
      "ü",     "你", "好", "世界",        "😀",  "Ω",   "▁",   "\u2581\u2581", "x",  "Hello",
      "world", "-",  "==", "\xE2\x80\x8B"};
  static const std::vector<std::string> kInvalid = {"\xFF", "\xE4\xBD", "\x80", "\xC0\xAF"};
  std::uniform_int_distribution<size_t> length(1, 24);
  std::uniform_int_distribution<size_t> piece(0, kPieces.size() - 1);
  std::uniform_int_distribution<size_t> invalid(0, kInvalid.size() - 1);
  std::uniform_int_distribution<int> percent(0, 99);
  std::string s;
  for (size_t i = length(rng); i > 0; --i)
    s += invalid_bytes && percent(rng) < 10 ? kInvalid[invalid(rng)] : kPieces[piece(rng)];
  return s;
}

TEST(MergeReference, ByteLevelBpeMatchesNaiveMerging) {
  REQUIRE_TESTDATA();
  const Vocab* v = shared_vocab("tokenizer/qwen-vocab.gguf");
  ASSERT_NE(v, nullptr);
  std::mt19937 rng(1234);
  for (int i = 0; i < 1500; ++i) {
    const std::string word = random_text(rng, /*invalid_bytes=*/true);
    std::vector<int32_t> ids;
    bpe_encode_word(*v, word, ids);
    ASSERT_EQ(testing::ids_to_string(ids), testing::ids_to_string(naive_bpe(*v, word))) << word;
  }
}

TEST(MergeReference, SentencePieceMatchesNaiveMerging) {
  REQUIRE_TESTDATA();
  const Vocab* v = shared_vocab("tokenizer/llama-spm-vocab.gguf");
  ASSERT_NE(v, nullptr);
  std::mt19937 rng(99);
  for (int i = 0; i < 1500; ++i) {
    const std::string text = random_text(rng, /*invalid_bytes=*/true);
    std::vector<int32_t> ids;
    spm_encode(*v, text, ids);
    ASSERT_EQ(testing::ids_to_string(ids), testing::ids_to_string(naive_spm(*v, text))) << text;
  }
}

TEST(MergeReference, EncodeRandomTextRoundTripsAndStaysInRange) {
  REQUIRE_TESTDATA();
  const Tokenizer* qwen = testing::shared_tokenizer("tokenizer/qwen-vocab.gguf");
  const Tokenizer* spm = testing::shared_tokenizer("tokenizer/llama-spm-vocab.gguf");
  ASSERT_NE(qwen, nullptr);
  ASSERT_NE(spm, nullptr);
  std::mt19937 rng(7);
  for (int i = 0; i < 500; ++i) {
    const std::string valid = random_text(rng, false);
    EXPECT_EQ(testing::decode_all(*qwen, qwen->encode(valid, false), false), valid);
    // SentencePiece: one leading space, and U+2581 reads back as a space.
    std::string spaced = " " + valid;
    for (size_t at; (at = spaced.find("\u2581")) != std::string::npos;) spaced.replace(at, 3, " ");
    EXPECT_EQ(testing::decode_all(*spm, spm->encode(valid, false), false), spaced);

    const std::string any = random_text(rng, true);
    for (const Tokenizer* t : {qwen, spm}) {
      for (bool special : {false, true}) {
        for (int32_t id : t->encode(any, special)) ASSERT_TRUE(id >= 0 && id < t->n_vocab());
      }
    }
  }
}

}  // namespace
}  // namespace gengyun::tokenizer
