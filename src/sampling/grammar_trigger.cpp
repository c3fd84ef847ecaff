#include "sampling/grammar_trigger.h"

#include <algorithm>

namespace gengyun::sampling {

uint32_t match_step(std::string_view d, uint32_t k, uint8_t byte) {
  if (k < d.size() && static_cast<uint8_t>(d[k]) == byte) return k + 1;
  // The longest n <= k with d[0, n - 1) a suffix of d[0, k) and d[n - 1] == byte.
  for (uint32_t n = std::min<uint32_t>(k, static_cast<uint32_t>(d.size())); n > 0; --n)
    if (static_cast<uint8_t>(d[n - 1]) == byte &&
        d.substr(0, n - 1) == d.substr(k - (n - 1), n - 1))
      return n;
  return 0;
}

TriggerScanner::TriggerScanner(const GrammarTrigger& trigger) : trigger_(&trigger) {
  if (!trigger.skip_close.empty()) {
    if (trigger.starts_skipping) {
      reasoning_ = Reasoning::Inside;
    } else if (!trigger.skip_open.empty()) {
      reasoning_ = Reasoning::MayOpen;
    }
  }
  start_answer();
}

void TriggerScanner::start_answer() {
  answer_ = trigger_->at_start ? Answer::Leading : Answer::Searching;
  word_matched_ = 0;
}

void TriggerScanner::step_answer(uint8_t byte) {
  const std::string_view word = trigger_->word;
  switch (answer_) {
    case Answer::Leading:
      if (word_matched_ == 0 && (byte == ' ' || byte == '\t' || byte == '\n' || byte == '\r'))
        return;
      if (word_matched_ < word.size() && static_cast<uint8_t>(word[word_matched_]) == byte) {
        if (++word_matched_ == word.size()) answer_ = Answer::Fired;
        return;
      }
      answer_ = Answer::Never;
      return;
    case Answer::Searching:
      word_matched_ = match_step(word, word_matched_, byte);
      if (word_matched_ == word.size()) answer_ = Answer::Fired;
      return;
    case Answer::Never:
    case Answer::Fired:
      return;
  }
}

bool TriggerScanner::step(uint8_t byte) {
  if (fired()) return false;
  if (reasoning_ == Reasoning::Inside) {
    close_matched_ = match_step(trigger_->skip_close, close_matched_, byte);
    if (close_matched_ == trigger_->skip_close.size()) {
      reasoning_ = Reasoning::None;
      start_answer();
    }
    return false;
  }
  // Until the output has left skip_open's prefixes it may be reasoning or the answer: both are
  // followed, and the word found first wins.
  step_answer(byte);
  if (fired()) return true;
  if (reasoning_ == Reasoning::MayOpen) {
    const std::string_view open = trigger_->skip_open;
    if (static_cast<uint8_t>(open[open_matched_]) != byte) {
      reasoning_ = Reasoning::None;
    } else if (++open_matched_ == open.size()) {
      reasoning_ = Reasoning::Inside;
      close_matched_ = 0;
    }
  }
  return false;
}

}  // namespace gengyun::sampling
