#include "sampling/grammar.h"

#include <algorithm>
#include <bit>
#include <cctype>
#include <string>

namespace gengyun::sampling {

namespace string_lexer {

uint8_t step(uint8_t state, uint8_t b) {
  const auto in = [b](int lo, int hi) { return b >= lo && b <= hi; };
  switch (state) {
    case kNormal:
      if (b == '"') return kClosed;
      if (b == '\\') return kEscape;
      if (b < 0x20) return kReject;
      if (b < 0x80) return kNormal;
      if (in(0xC2, 0xDF)) return kCont1;
      if (b == 0xE0) return kAfterE0;
      if (b == 0xED) return kAfterED;
      if (in(0xE1, 0xEF)) return kCont2;
      if (b == 0xF0) return kAfterF0;
      if (in(0xF1, 0xF3)) return kCont3;
      if (b == 0xF4) return kAfterF4;
      return kReject;
    case kEscape:
      if (b == 'u') return kHex1;
      if (b == '"' || b == '\\' || b == '/' || b == 'b' || b == 'f' || b == 'n' || b == 'r' ||
          b == 't')
        return kNormal;
      return kReject;
    case kHex1:
      if (b == 'd' || b == 'D') return kHex2Low;
      return std::isxdigit(b) ? kHex2 : kReject;
    case kHex2Low:
      return in('0', '7') ? kHex3 : kReject;
    case kHex2:
      return std::isxdigit(b) ? kHex3 : kReject;
    case kHex3:
      return std::isxdigit(b) ? kHex4 : kReject;
    case kHex4:
      return std::isxdigit(b) ? kNormal : kReject;
    case kCont1:
      return in(0x80, 0xBF) ? kNormal : kReject;
    case kCont2:
      return in(0x80, 0xBF) ? kCont1 : kReject;
    case kCont3:
      return in(0x80, 0xBF) ? kCont2 : kReject;
    case kAfterE0:
      return in(0xA0, 0xBF) ? kCont1 : kReject;
    case kAfterED:
      return in(0x80, 0x9F) ? kCont1 : kReject;
    case kAfterF0:
      return in(0x90, 0xBF) ? kCont2 : kReject;
    case kAfterF4:
      return in(0x80, 0x8F) ? kCont2 : kReject;
    default:
      return kReject;
  }
}

}  // namespace string_lexer

namespace {
constexpr uint32_t kMaxElements = 1u << 27;
constexpr uint32_t frame_of(uint32_t position, uint8_t lexer = 0) { return position << 4 | lexer; }
constexpr uint32_t position_of(uint32_t frame) { return frame >> 4; }
}  // namespace

uint32_t Grammar::add_rule() {
  rules_.emplace_back();
  return static_cast<uint32_t>(rules_.size() - 1);
}

void Grammar::add_alternative(uint32_t rule, const Sequence& sequence) {
  rules_[rule].push_back(static_cast<uint32_t>(elements_.size()));
  elements_.insert(elements_.end(), sequence.begin(), sequence.end());
  elements_.push_back({GrammarElement::Kind::End, 0});
}

GrammarElement Grammar::bytes(const ByteSet& set) {
  const auto it = std::find(byte_sets_.begin(), byte_sets_.end(), set);
  if (it != byte_sets_.end())
    return {GrammarElement::Kind::Bytes, static_cast<uint32_t>(it - byte_sets_.begin())};
  byte_sets_.push_back(set);
  return {GrammarElement::Kind::Bytes, static_cast<uint32_t>(byte_sets_.size() - 1)};
}

GrammarElement Grammar::byte(uint8_t b) {
  ByteSet set;
  set.set(b);
  return bytes(set);
}

void Grammar::append_literal(Sequence& sequence, std::string_view text) {
  for (char c : text) sequence.push_back(byte(static_cast<uint8_t>(c)));
}

Result<void> Grammar::finish(uint32_t root) {
  if (elements_.size() >= kMaxElements)
    return make_error("the grammar has " + std::to_string(elements_.size()) +
                      " elements; at most " + std::to_string(kMaxElements) + " are supported");
  if (root >= rules_.size()) return make_error("the grammar has no rule " + std::to_string(root));
  for (size_t r = 0; r < rules_.size(); ++r)
    if (rules_[r].empty())
      return make_error("grammar rule " + std::to_string(r) + " has no alternative");
  for (const GrammarElement& e : elements_)
    if (e.kind == GrammarElement::Kind::Rule && e.arg >= rules_.size())
      return make_error("a grammar element refers to rule " + std::to_string(e.arg) +
                        ", which does not exist");

  // Nullable rules (fixpoint), then the rules each rule can enter before consuming a byte.
  std::vector<char> nullable(rules_.size(), 0);
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t r = 0; r < rules_.size(); ++r) {
      if (nullable[r]) continue;
      for (uint32_t start : rules_[r]) {
        bool all = true;
        for (uint32_t p = start; elements_[p].kind != GrammarElement::Kind::End; ++p) {
          const GrammarElement& e = elements_[p];
          if (e.kind != GrammarElement::Kind::Rule || !nullable[e.arg]) {
            all = false;
            break;
          }
        }
        if (all) {
          nullable[r] = 1;
          changed = true;
          break;
        }
      }
    }
  }
  std::vector<std::vector<uint32_t>> left(rules_.size());
  for (size_t r = 0; r < rules_.size(); ++r) {
    for (uint32_t start : rules_[r]) {
      for (uint32_t p = start; elements_[p].kind == GrammarElement::Kind::Rule; ++p) {
        left[r].push_back(elements_[p].arg);
        if (!nullable[elements_[p].arg]) break;
      }
    }
  }
  // Depth-first search for a cycle in `left` (0 unvisited, 1 on the path, 2 done).
  std::vector<uint8_t> mark(rules_.size(), 0);
  std::vector<std::pair<uint32_t, size_t>> path;
  for (uint32_t r0 = 0; r0 < rules_.size(); ++r0) {
    if (mark[r0]) continue;
    path.push_back({r0, 0});
    mark[r0] = 1;
    while (!path.empty()) {
      auto& [r, next] = path.back();
      if (next == left[r].size()) {
        mark[r] = 2;
        path.pop_back();
        continue;
      }
      const uint32_t child = left[r][next++];
      if (mark[child] == 1)
        return make_error(
            "the grammar is left-recursive: a rule can reach itself without consuming input "
            "(in a JSON schema: a $ref or anyOf that refers back to itself without an object or "
            "array in between)");
      if (mark[child] == 0) {
        mark[child] = 1;
        path.push_back({child, 0});
      }
    }
  }

  for (uint8_t s = 0; s < string_lexer::kCount; ++s)
    for (int b = 0; b < 256; ++b)
      if (string_lexer::step(s, static_cast<uint8_t>(b)) != string_lexer::kReject)
        lexer_bytes_[s].set(static_cast<size_t>(b));
  root_ = root;
  finished_ = true;
  return {};
}

namespace {

uint64_t hash_of(std::span<const uint32_t> stack) {
  uint64_t h = 0xcbf29ce484222325ull ^ stack.size();
  for (const uint32_t frame : stack) h = (h ^ frame) * 0x9e3779b97f4a7c15ull;
  return h ^ (h >> 29);
}

bool same(std::span<const uint32_t> a, std::span<const uint32_t> b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
}

/// The slot of GrammarState::index where `stack` is, or the empty slot where it would go.
size_t slot_of(const GrammarState& state, std::span<const uint32_t> stack) {
  const size_t mask = state.index.size() - 1;
  size_t slot = hash_of(stack) & mask;
  while (state.index[slot] != 0 && !same(state.stack(state.index[slot] - 1), stack))
    slot = (slot + 1) & mask;
  return slot;
}

}  // namespace

void Grammar::push_unique(const std::vector<uint32_t>& stack, GrammarState& out) {
  const size_t n = out.n_stacks();
  if (n < kIndexedStacks) {
    for (size_t i = 0; i < n; ++i)
      if (same(out.stack(i), stack)) return;
  } else {
    // At most half full: a table of a power of two slots, rebuilt as the stacks grow.
    if (out.index.size() < 2 * (n + 1)) {
      out.index.assign(std::bit_ceil(4 * (n + 1)), 0);
      out.indexed = 0;
    }
    for (; out.indexed < n; ++out.indexed)
      out.index[slot_of(out, out.stack(out.indexed))] = static_cast<uint32_t>(out.indexed + 1);
    const size_t slot = slot_of(out, stack);
    if (out.index[slot] != 0) return;
    out.index[slot] = static_cast<uint32_t>(n + 1);
    out.indexed = n + 1;
  }
  out.frames.insert(out.frames.end(), stack.begin(), stack.end());
  out.ends.push_back(static_cast<uint32_t>(out.frames.size()));
}

void Grammar::expand(std::vector<uint32_t>& work, GrammarState& out) const {
  if (work.empty()) {
    push_unique(work, out);
    return;
  }
  const uint32_t top = work.back();
  const uint32_t pos = position_of(top);
  const GrammarElement& e = elements_[pos];
  switch (e.kind) {
    case GrammarElement::Kind::Bytes:
    case GrammarElement::Kind::String:
      push_unique(work, out);
      return;
    case GrammarElement::Kind::End:
      work.pop_back();
      expand(work, out);
      work.push_back(top);
      return;
    case GrammarElement::Kind::Rule: {
      work.pop_back();
      // A reference in tail position returns straight to the caller (no frame), so right
      // recursion runs in constant stack depth.
      const bool keep = elements_[pos + 1].kind != GrammarElement::Kind::End;
      if (keep) work.push_back(frame_of(pos + 1));
      for (uint32_t start : rules_[e.arg]) {
        work.push_back(frame_of(start));
        expand(work, out);
        work.pop_back();
      }
      if (keep) work.pop_back();
      work.push_back(top);
      return;
    }
  }
}

GrammarState Grammar::initial() const {
  GrammarState out;
  std::vector<uint32_t> work;
  for (uint32_t start : rules_[root_]) {
    work.assign(1, frame_of(start));
    expand(work, out);
  }
  return out;
}

void Grammar::advance(const GrammarState& in, uint8_t byte, GrammarState& out) const {
  out.clear();
  thread_local std::vector<uint32_t> work;
  for (size_t i = 0; i < in.n_stacks(); ++i) {
    const std::span<const uint32_t> stack = in.stack(i);
    if (stack.empty()) continue;
    const uint32_t top = stack.back();
    const GrammarElement& e = elements_[position_of(top)];
    if (e.kind == GrammarElement::Kind::Bytes) {
      if (!byte_sets_[e.arg].test(byte)) continue;
      work.assign(stack.begin(), stack.end());
      work.back() = frame_of(position_of(top) + 1);
      expand(work, out);
    } else if (e.kind == GrammarElement::Kind::String) {
      const uint8_t next = string_lexer::step(lexer_of(top), byte);
      if (next == string_lexer::kReject) continue;
      work.assign(stack.begin(), stack.end());
      if (next == string_lexer::kClosed) {
        work.back() = frame_of(position_of(top) + 1);
        expand(work, out);
      } else {
        work.back() = frame_of(position_of(top), next);
        push_unique(work, out);
      }
    }
  }
}

void Grammar::close_string(std::span<const uint32_t> stack, GrammarState& out) const {
  out.clear();
  std::vector<uint32_t> work(stack.begin(), stack.end());
  work.back() = frame_of(position_of(work.back()) + 1);
  expand(work, out);
}

bool Grammar::complete(const GrammarState& state) {
  for (size_t i = 0; i < state.n_stacks(); ++i)
    if (state.stack(i).empty()) return true;
  return false;
}

ByteSet Grammar::next_bytes(std::span<const uint32_t> stack) const {
  const uint32_t top = stack.back();
  const GrammarElement& e = elements_[position_of(top)];
  if (e.kind == GrammarElement::Kind::Bytes) return byte_sets_[e.arg];
  if (e.kind == GrammarElement::Kind::String) return lexer_bytes_[lexer_of(top)];
  return {};
}

bool Grammar::accepts(std::string_view text) const {
  GrammarState state = initial();
  GrammarState next;
  for (char c : text) {
    advance(state, static_cast<uint8_t>(c), next);
    if (next.empty()) return false;
    std::swap(state, next);
  }
  return complete(state);
}

}  // namespace gengyun::sampling
