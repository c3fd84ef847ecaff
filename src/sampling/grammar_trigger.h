// Lazy grammars (llama.cpp's grammar triggers): a grammar whose free-text part is left
// unmasked, applied only from the point where the output reaches a trigger word (a tool call's
// tag). The trigger and the byte scanner that finds it in the output; the matcher
// (GrammarMatcher, token_mask.h) switches from free sampling to masks there.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace gengyun::sampling {

/// Where a grammar starts to constrain the output. Before the word the output is free (no
/// mask: any token, control tokens included); where it first ends, the grammar reads `lead`,
/// then the word, then the bytes that follow it, and holds the output from there. Valid only
/// for grammars whose state after lead + word is the state after any free text + word
/// (compile_tool_calls' grammars with text, whose text cannot hold the word).
struct GrammarTrigger {
  std::string word = {};  ///< non-empty
  /// The word counts only as the first bytes of the answer after whitespace; an answer that
  /// begins otherwise is free to its end (a family whose calls are the whole answer).
  bool at_start = false;
  /// Reasoning, in which the word is not looked for: the output may begin with `skip_open`
  /// (or begins inside when starts_skipping); it lasts up to the first `skip_close`, and the
  /// answer begins after it. Off when skip_close is empty.
  std::string skip_open = {}, skip_close = {};
  bool starts_skipping = false;
  std::string lead = {};  ///< what the grammar reads before the word
};

/// Follows an output byte by byte to the first end of a trigger's word. A small value (copy it
/// to try bytes ahead); the trigger must outlive it. Cost: O(1) per byte but for a mismatch
/// inside a partial match, O(length of the word or skip_close squared) at most.
class TriggerScanner {
 public:
  explicit TriggerScanner(const GrammarTrigger& trigger);

  /// Reads one byte of the output; true when the trigger's word ends at it (once: the scanner
  /// has then fired and reads no more).
  bool step(uint8_t byte);
  /// The word was found.
  bool fired() const { return answer_ == Answer::Fired; }

 private:
  enum class Reasoning : uint8_t { None, MayOpen, Inside };
  enum class Answer : uint8_t { Leading, Searching, Never, Fired };

  /// The answer's state machine after `byte` (reasoning aside).
  void step_answer(uint8_t byte);
  void start_answer();

  const GrammarTrigger* trigger_;
  Reasoning reasoning_ = Reasoning::None;
  Answer answer_ = Answer::Searching;
  uint32_t open_matched_ = 0;   ///< MayOpen: bytes of skip_open read so far
  uint32_t close_matched_ = 0;  ///< Inside: the longest prefix of skip_close the output ends with
  uint32_t word_matched_ = 0;   ///< Searching: the same for the word
};

/// After `k` bytes of `d` matched, the number matched once `byte` is read: the longest prefix
/// of `d` that d[0, k) + byte ends with (Knuth-Morris-Pratt's automaton, computed directly).
uint32_t match_step(std::string_view d, uint32_t k, uint8_t byte);

}  // namespace gengyun::sampling
