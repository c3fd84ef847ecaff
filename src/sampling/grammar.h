// A context-free grammar over bytes and its recognizer: the automaton that constrained decoding
// (docs/structured_output.md) walks byte by byte. Rules are alternatives of sequences of
// elements: a set of bytes, a reference to a rule, or the body of a JSON string (its characters
// and the closing quote, recognized by a small lexer instead of rules, so that masks inside
// strings can use per-vocabulary tables). The recognizer's state is a set of stacks of grammar
// positions, as in llama.cpp's GBNF sampler (read for the idea, not the code).
#pragma once

#include <array>
#include <bitset>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "gengyun/result.h"
#include "sampling/grammar_trigger.h"

namespace gengyun::sampling {

using ByteSet = std::bitset<256>;

/// The lexer of a JSON string body (after the opening quote): states between bytes. Normal is
/// between characters; the others are inside an escape or a UTF-8 sequence. It accepts exactly
/// the string bodies that RFC 8259 allows and strict parsers take: UTF-8 without overlongs or
/// surrogates, no raw control characters, and \u escapes that are not surrogates (D800-DFFF).
namespace string_lexer {
enum State : uint8_t {
  kNormal,
  kEscape,   ///< after a backslash
  kHex1,     ///< after \u
  kHex2Low,  ///< after \uD: the next digit must be 0-7 (no surrogates)
  kHex2,
  kHex3,
  kHex4,
  kCont1,  ///< one UTF-8 continuation byte (80-BF) to go
  kCont2,
  kCont3,
  kAfterE0,  ///< after E0: A0-BF, then one more
  kAfterED,  ///< after ED: 80-9F, then one more
  kAfterF0,  ///< after F0: 90-BF, then two more
  kAfterF4,  ///< after F4: 80-8F, then two more
  kCount,
  kClosed = 0xFE,  ///< the byte was the closing quote
  kReject = 0xFF,  ///< the byte cannot follow
};

/// The lexer's next state after `byte` in `state` (< kCount): a state, kClosed or kReject.
uint8_t step(uint8_t state, uint8_t byte);
}  // namespace string_lexer

/// One element of a rule's alternative.
struct GrammarElement {
  enum class Kind : uint8_t {
    End,     ///< end of the alternative
    Bytes,   ///< one byte of the set Grammar::byte_set(arg)
    Rule,    ///< the rule `arg`
    String,  ///< a JSON string body and its closing quote (string_lexer)
  };
  Kind kind = Kind::End;
  uint32_t arg = 0;
};

/// A set of stacks of grammar positions: the recognizer's state. Each stack's last entry is the
/// terminal (Bytes or String element) to match next, the ones below it where to continue when
/// the rule above ends; an empty stack means the input so far is a complete sentence.
struct GrammarState {
  std::vector<uint32_t> frames;  ///< the stacks, one after another; frame = position << 4 | lexer
  std::vector<uint32_t> ends;    ///< the end offset in `frames` of each stack

  size_t n_stacks() const { return ends.size(); }
  std::span<const uint32_t> stack(size_t i) const {
    const uint32_t begin = i == 0 ? 0 : ends[i - 1];
    return {frames.data() + begin, ends[i] - begin};
  }
  bool empty() const { return ends.empty(); }
  void clear() {
    frames.clear();
    ends.clear();
    index.clear();
    indexed = 0;
  }

  /// Grammar::push_unique's index of the stacks by their hash, kept from
  /// Grammar::kIndexedStacks stacks on (below, a linear search is cheaper): open addressing,
  /// 0 an empty slot, else a stack's number + 1. The first `indexed` stacks are in it (stacks
  /// appended otherwise are indexed when push_unique next runs).
  std::vector<uint32_t> index;
  size_t indexed = 0;
};

/// A grammar under construction and, after finish(), its recognizer. Immutable after finish();
/// the recognizer's methods are then safe to call from many threads.
class Grammar {
 public:
  using Sequence = std::vector<GrammarElement>;

  /// A new rule without alternatives; returns its id.
  uint32_t add_rule();
  /// Appends the alternative `sequence` (End is appended) to `rule`.
  void add_alternative(uint32_t rule, const Sequence& sequence);

  /// Elements for sequences.
  GrammarElement bytes(const ByteSet& set);
  GrammarElement byte(uint8_t b);
  static GrammarElement rule(uint32_t id) { return {GrammarElement::Kind::Rule, id}; }
  static GrammarElement string_body() { return {GrammarElement::Kind::String, 0}; }
  /// Appends the bytes of `text` to `sequence`, one element each.
  void append_literal(Sequence& sequence, std::string_view text);

  /// Fixes `root` as the start rule. Errors: a rule without alternatives, a rule reference out
  /// of range, left recursion (a rule that can reach itself without consuming a byte, which
  /// would expand forever), more than 2^27 elements.
  Result<void> finish(uint32_t root);

  /// Makes the grammar lazy (before finish()): GrammarMatcher leaves the output free up to the
  /// trigger's word and holds it to the grammar from there (grammar_trigger.h). The sentences
  /// stay those accepts() takes: a matcher without laziness would allow exactly those.
  void set_trigger(GrammarTrigger trigger) { trigger_ = std::move(trigger); }
  /// The trigger of a lazy grammar; nullopt for one applied from the first byte.
  const std::optional<GrammarTrigger>& trigger() const { return trigger_; }
  /// The state before any byte.
  GrammarState initial() const;
  /// `out` = the state after `byte` from `in` (no stacks: the byte is not allowed).
  /// Cost: O(stacks x depth) plus the expansion of the rules entered.
  void advance(const GrammarState& in, uint8_t byte, GrammarState& out) const;
  /// Whether `state` holds a complete sentence (an empty stack).
  static bool complete(const GrammarState& state);
  /// The bytes that can follow the stack `stack` (non-empty) of a state.
  ByteSet next_bytes(std::span<const uint32_t> stack) const;
  /// Whether `text` is a complete sentence of the grammar.
  bool accepts(std::string_view text) const;

  /// For the token masks: the element a frame points to and its lexer state.
  const GrammarElement& element_of(uint32_t frame) const { return elements_[frame >> 4]; }
  static uint8_t lexer_of(uint32_t frame) { return static_cast<uint8_t>(frame & 15); }
  /// The stacks `stack` becomes once its top String element has seen its closing quote.
  void close_string(std::span<const uint32_t> stack, GrammarState& out) const;
  const ByteSet& byte_set(uint32_t i) const { return byte_sets_[i]; }
  size_t n_rules() const { return rules_.size(); }

  /// From how many stacks on push_unique finds a duplicate by GrammarState::index instead of a
  /// linear search (which made a step over S stacks cost S^2: QA 2026-12-07, a schema of 5,000
  /// anyOf objects at a second per token).
  static constexpr size_t kIndexedStacks = 16;

 private:
  /// Pushes onto `out` the stacks `work` expands to (its top made a terminal); `work` is
  /// restored before returning.
  void expand(std::vector<uint32_t>& work, GrammarState& out) const;
  /// Appends `stack` to `out` unless `out` holds it already.
  static void push_unique(const std::vector<uint32_t>& stack, GrammarState& out);

  std::vector<GrammarElement> elements_;
  std::vector<std::vector<uint32_t>> rules_;  ///< each rule's alternatives: start positions
  std::vector<ByteSet> byte_sets_;
  std::array<ByteSet, string_lexer::kCount> lexer_bytes_{};  ///< bytes each lexer state takes
  uint32_t root_ = 0;
  bool finished_ = false;
  std::optional<GrammarTrigger> trigger_;
};

}  // namespace gengyun::sampling
