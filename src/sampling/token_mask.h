// Token masks for constrained decoding: which tokens of a model's vocabulary a grammar allows
// next, and the per-request matcher that follows the tokens chosen.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sampling/grammar.h"

namespace gengyun::sampling {

/// A set of token ids [0, n_vocab) as a bit set (bit i of word i / 64).
class TokenMask {
 public:
  explicit TokenMask(int32_t n_vocab = 0)
      : n_(n_vocab), words_((static_cast<size_t>(n_vocab) + 63) / 64, 0) {}
  int32_t size() const { return n_; }
  /// Whether `id` is in the set (false outside [0, size())).
  bool test(int32_t id) const {
    return id >= 0 && id < n_ && (words_[static_cast<size_t>(id) >> 6] >> (id & 63) & 1);
  }
  /// Adds `id` (in [0, size())).
  void set(int32_t id) { words_[static_cast<size_t>(id) >> 6] |= uint64_t{1} << (id & 63); }
  /// Empties the set.
  void clear() { std::fill(words_.begin(), words_.end(), 0); }
  /// this |= other (same size).
  void merge(const TokenMask& other) {
    for (size_t i = 0; i < words_.size(); ++i) words_[i] |= other.words_[i];
  }
  /// Tokens in the set.
  int32_t count() const;
  /// The bit words; bits at and past size() in the last word are 0.
  std::span<const uint64_t> words() const { return words_; }

 private:
  int32_t n_;
  std::vector<uint64_t> words_;
};

/// A byte trie of token strings in depth-first order: node i's subtree is [i, end), its first
/// child (if any) is i + 1, its next sibling `end`. Node 0 is the root (no byte).
struct TokenTrie {
  struct Node {
    uint32_t end = 0;
    uint32_t tokens_begin = 0, tokens_end = 0;  ///< into `tokens`: ids whose string ends here
    uint8_t byte = 0;
  };
  std::vector<Node> nodes;
  std::vector<int32_t> tokens;

  /// Builds the trie of (id, bytes) pairs; an id may appear once. Empty strings sit at the root.
  static TokenTrie build(std::vector<std::pair<std::string, int32_t>> entries);
};

/// A vocabulary prepared for grammar masks, built once per model and shared read-only by every
/// request (thread-safe). Holds the trie of all token strings and, for each state of the JSON
/// string lexer, the tokens that stay inside a string (as a mask) and the tokens that close it
/// (a trie of what follows the closing quote). Cost: n_vocab x 14 lexer runs over the token
/// bytes and 15 trie builds (sorting the strings); memory ~14 x n_vocab / 8 bytes of masks plus
/// the tries (a few MB for Qwen's 151k tokens). Timing: bench/grammar_bench.cpp.
class VocabIndex {
 public:
  /// `token_bytes[id]`: the bytes token id stands for ("" for control tokens, which are never
  /// allowed); `eog`: the ids that end a generation, allowed exactly when the grammar's input
  /// is complete (whatever their bytes).
  VocabIndex(std::vector<std::string> token_bytes, std::vector<int32_t> eog);

  int32_t n_vocab() const { return static_cast<int32_t>(bytes_.size()); }
  /// The bytes of token `id` (in [0, n_vocab())).
  const std::string& bytes(int32_t id) const { return bytes_[static_cast<size_t>(id)]; }
  /// Whether `id` ends a generation (false outside the vocabulary).
  bool is_eog(int32_t id) const { return eog_mask_.test(id); }
  /// The end-of-generation ids inside the vocabulary, ascending, without repeats.
  const std::vector<int32_t>& eog() const { return eog_; }
  /// The trie of every token with bytes that does not end a generation.
  const TokenTrie& trie() const { return trie_; }
  /// Tokens that, read from lexer state s inside a JSON string, neither close nor break it.
  const TokenMask& inside_string(uint8_t s) const { return inside_[s]; }
  /// Tokens that close the string from lexer state s validly, keyed by what follows the quote.
  const TokenTrie& closing_string(uint8_t s) const { return closing_[s]; }
  /// Bytes of the longest token.
  size_t max_token_bytes() const { return max_bytes_; }

 private:
  std::vector<std::string> bytes_;
  std::vector<int32_t> eog_;
  TokenMask eog_mask_;
  TokenTrie trie_;
  std::array<TokenMask, string_lexer::kCount> inside_;
  std::array<TokenTrie, string_lexer::kCount> closing_;
  size_t max_bytes_ = 0;
};

/// One generation's position in a grammar, token by token. Not thread-safe; one per request.
/// A lazy grammar (Grammar::trigger()) starts awaiting its trigger: the output is free until
/// its word, and held to the grammar from there (docs/structured_output.md, "Lazy grammars").
class GrammarMatcher {
 public:
  /// Both must stay alive as long as the matcher (shared ownership).
  GrammarMatcher(std::shared_ptr<const Grammar> grammar, std::shared_ptr<const VocabIndex> vocab);

  /// Whether the output has not reached the trigger of a lazy grammar yet (false for a grammar
  /// without one). Then every token is allowed, control and end-of-generation tokens included,
  /// but one whose bytes reach the trigger and go on with bytes the grammar refuses after it:
  /// a caller samples without a mask and, only when accept() refuses the token, fills the mask
  /// and samples again.
  bool awaiting_trigger() const { return scanner_.has_value(); }

  /// Sets `mask` (size n_vocab) to the tokens allowed next: those whose bytes continue the
  /// grammar's input, and the end-of-generation tokens when the input is complete. Cost: a
  /// copy of a precomputed mask plus a walk of the trie pruned at the first byte that the
  /// grammar refuses (docs/structured_output.md has the measurements). Awaiting the trigger:
  /// the tokens allowed then (above), by one pass over every token's bytes.
  void fill_mask(TokenMask& mask);

  /// Advances by token `id`. Returns false, leaving the state as it was, when the grammar does
  /// not allow it (or it is an end-of-generation token before the input is complete).
  bool accept(int32_t id);

  /// The input so far is a complete sentence (end-of-generation tokens are allowed); always
  /// while awaiting the trigger.
  bool complete() const { return awaiting_trigger() || Grammar::complete(state_); }
  /// No byte can follow: the input is complete and nothing may be appended.
  bool finished() const;

  /// The recognizer steps (one byte from one trie node) the last fill_mask took: its cost
  /// apart from the precomputed masks it copied, independent of the machine.
  int64_t last_mask_steps() const { return mask_steps_; }

 private:
  /// Marks the tokens of `trie`'s subtrees under node `node` reachable from `state`.
  void walk(const TokenTrie& trie, uint32_t node, const GrammarState& state, size_t depth,
            TokenMask& mask);
  /// Awaiting the trigger: whether the token bytes `text` are allowed after `scanner`, which
  /// they advance. When they reach the trigger, `fired` is set and state_ is left alone; the
  /// grammar's state after them is then in `after`.
  bool read_free(std::string_view text, TriggerScanner& scanner, bool& fired, GrammarState& after);

  std::shared_ptr<const Grammar> grammar_;
  std::shared_ptr<const VocabIndex> vocab_;
  GrammarState state_;
  std::vector<GrammarState> scratch_;  ///< one state per trie depth
  GrammarState rest_, closed_, next_;
  std::optional<TriggerScanner> scanner_;  ///< while awaiting the trigger
  GrammarState at_word_;                   ///< the state after the trigger's lead and word
  int64_t mask_steps_ = 0;
};

}  // namespace gengyun::sampling
