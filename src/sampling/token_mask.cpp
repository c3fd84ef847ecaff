#include "sampling/token_mask.h"

#include <algorithm>
#include <bit>
#include <utility>

namespace gengyun::sampling {

int32_t TokenMask::count() const {
  int32_t n = 0;
  for (uint64_t w : words_) n += std::popcount(w);
  return n;
}

TokenTrie TokenTrie::build(std::vector<std::pair<std::string, int32_t>> entries) {
  std::sort(entries.begin(), entries.end());
  TokenTrie trie;
  trie.nodes.push_back({});
  std::vector<uint32_t> path = {0};  // path[d]: the node of depth d on the current string
  const std::string* previous = nullptr;
  for (const auto& [text, id] : entries) {
    size_t common = 0;
    if (previous) {
      const size_t limit = std::min(previous->size(), text.size());
      while (common < limit && (*previous)[common] == text[common]) ++common;
    }
    while (path.size() > common + 1) {
      trie.nodes[path.back()].end = static_cast<uint32_t>(trie.nodes.size());
      path.pop_back();
    }
    for (size_t d = common; d < text.size(); ++d) {
      Node node;
      node.byte = static_cast<uint8_t>(text[d]);
      node.tokens_begin = node.tokens_end = 0;
      path.push_back(static_cast<uint32_t>(trie.nodes.size()));
      trie.nodes.push_back(node);
    }
    Node& last = trie.nodes[path.back()];
    if (last.tokens_begin == last.tokens_end)
      last.tokens_begin = last.tokens_end = static_cast<uint32_t>(trie.tokens.size());
    trie.tokens.push_back(id);
    ++last.tokens_end;
    previous = &text;
  }
  while (!path.empty()) {
    trie.nodes[path.back()].end = static_cast<uint32_t>(trie.nodes.size());
    path.pop_back();
  }
  return trie;
}

VocabIndex::VocabIndex(std::vector<std::string> token_bytes, std::vector<int32_t> eog)
    : bytes_(std::move(token_bytes)), eog_mask_(static_cast<int32_t>(bytes_.size())) {
  const int32_t n = n_vocab();
  for (int32_t id : eog)
    if (id >= 0 && id < n && !eog_mask_.test(id)) {
      eog_mask_.set(id);
      eog_.push_back(id);
    }
  std::sort(eog_.begin(), eog_.end());

  std::array<std::array<uint8_t, 256>, string_lexer::kCount> step{};
  for (uint8_t s = 0; s < string_lexer::kCount; ++s)
    for (int b = 0; b < 256; ++b) step[s][b] = string_lexer::step(s, static_cast<uint8_t>(b));

  std::vector<std::pair<std::string, int32_t>> all;
  std::array<std::vector<std::pair<std::string, int32_t>>, string_lexer::kCount> closing;
  for (uint8_t s = 0; s < string_lexer::kCount; ++s) inside_[s] = TokenMask(n);
  for (int32_t id = 0; id < n; ++id) {
    const std::string& text = bytes_[static_cast<size_t>(id)];
    if (text.empty() || eog_mask_.test(id)) continue;
    max_bytes_ = std::max(max_bytes_, text.size());
    all.push_back({text, id});
    for (uint8_t s = 0; s < string_lexer::kCount; ++s) {
      uint8_t state = s;
      size_t i = 0;
      for (; i < text.size(); ++i) {
        state = step[state][static_cast<uint8_t>(text[i])];
        if (state >= string_lexer::kCount) break;
      }
      if (state == string_lexer::kClosed) {
        closing[s].push_back({text.substr(i + 1), id});
      } else if (state < string_lexer::kCount) {
        inside_[s].set(id);
      }
    }
  }
  trie_ = TokenTrie::build(std::move(all));
  for (uint8_t s = 0; s < string_lexer::kCount; ++s)
    closing_[s] = TokenTrie::build(std::move(closing[s]));
}

GrammarMatcher::GrammarMatcher(std::shared_ptr<const Grammar> grammar,
                               std::shared_ptr<const VocabIndex> vocab)
    : grammar_(std::move(grammar)),
      vocab_(std::move(vocab)),
      state_(grammar_->initial()),
      scratch_(vocab_->max_token_bytes() + 2) {
  if (!grammar_->trigger()) return;
  const GrammarTrigger& trigger = *grammar_->trigger();
  scanner_.emplace(trigger);
  at_word_ = state_;
  for (const std::string* part : {&trigger.lead, &trigger.word}) {
    for (const char c : *part) {
      grammar_->advance(at_word_, static_cast<uint8_t>(c), next_);
      std::swap(at_word_, next_);
    }
  }
}

bool GrammarMatcher::read_free(std::string_view text, TriggerScanner& scanner, bool& fired,
                               GrammarState& after) {
  fired = false;
  size_t i = 0;
  while (i < text.size() && !scanner.step(static_cast<uint8_t>(text[i]))) ++i;
  if (i == text.size()) return true;
  fired = true;
  after = at_word_;
  for (++i; i < text.size() && !after.empty(); ++i) {
    grammar_->advance(after, static_cast<uint8_t>(text[i]), next_);
    std::swap(after, next_);
  }
  return !after.empty();
}

bool GrammarMatcher::finished() const {
  if (awaiting_trigger()) return false;
  for (size_t i = 0; i < state_.n_stacks(); ++i)
    if (!state_.stack(i).empty()) return false;
  return true;
}

void GrammarMatcher::walk(const TokenTrie& trie, uint32_t node, const GrammarState& state,
                          size_t depth, TokenMask& mask) {
  ByteSet allowed;
  for (size_t i = 0; i < state.n_stacks(); ++i) {
    const std::span<const uint32_t> stack = state.stack(i);
    if (!stack.empty()) allowed |= grammar_->next_bytes(stack);
  }
  GrammarState& next = scratch_[depth + 1];
  const uint32_t end = trie.nodes[node].end;
  for (uint32_t child = node + 1; child < end; child = trie.nodes[child].end) {
    const TokenTrie::Node& c = trie.nodes[child];
    if (!allowed.test(c.byte)) continue;
    grammar_->advance(state, c.byte, next);
    ++mask_steps_;
    if (next.empty()) continue;
    for (uint32_t t = c.tokens_begin; t < c.tokens_end; ++t) mask.set(trie.tokens[t]);
    if (c.end > child + 1) walk(trie, child, next, depth + 1, mask);
  }
}

void GrammarMatcher::fill_mask(TokenMask& mask) {
  mask.clear();
  mask_steps_ = 0;
  if (awaiting_trigger()) {
    bool fired = false;
    for (int32_t id = 0; id < vocab_->n_vocab(); ++id) {
      TriggerScanner scanner = *scanner_;
      if (vocab_->is_eog(id) || read_free(vocab_->bytes(id), scanner, fired, rest_)) mask.set(id);
    }
    return;
  }
  rest_.clear();
  for (size_t i = 0; i < state_.n_stacks(); ++i) {
    const std::span<const uint32_t> stack = state_.stack(i);
    if (stack.empty()) {
      for (int32_t id : vocab_->eog()) mask.set(id);
      continue;
    }
    if (grammar_->element_of(stack.back()).kind != GrammarElement::Kind::String) {
      rest_.frames.insert(rest_.frames.end(), stack.begin(), stack.end());
      rest_.ends.push_back(static_cast<uint32_t>(rest_.frames.size()));
      continue;
    }
    // Inside a string: the tokens that stay inside come from the table; those that close it
    // are walked from the state after the quote.
    const uint8_t lexer = Grammar::lexer_of(stack.back());
    mask.merge(vocab_->inside_string(lexer));
    const TokenTrie& closing = vocab_->closing_string(lexer);
    grammar_->close_string(stack, closed_);
    const TokenTrie::Node& root = closing.nodes[0];
    for (uint32_t t = root.tokens_begin; t < root.tokens_end; ++t) mask.set(closing.tokens[t]);
    walk(closing, 0, closed_, 0, mask);
  }
  if (!rest_.empty()) walk(vocab_->trie(), 0, rest_, 0, mask);
}

bool GrammarMatcher::accept(int32_t id) {
  if (id < 0 || id >= vocab_->n_vocab()) return false;
  if (vocab_->is_eog(id)) return complete();
  if (awaiting_trigger()) {
    TriggerScanner scanner = *scanner_;
    bool fired = false;
    GrammarState after;
    if (!read_free(vocab_->bytes(id), scanner, fired, after)) return false;
    if (!fired) {
      *scanner_ = scanner;
      return true;
    }
    state_ = std::move(after);
    scanner_.reset();
    return true;
  }
  const std::string& text = vocab_->bytes(id);
  if (text.empty()) return false;
  GrammarState current = state_;
  for (char c : text) {
    grammar_->advance(current, static_cast<uint8_t>(c), next_);
    if (next_.empty()) return false;
    std::swap(current, next_);
  }
  state_ = std::move(current);
  return true;
}

}  // namespace gengyun::sampling
