#include "tokenizer/special_tokens.h"

#include <algorithm>

namespace gengyun::tokenizer {

namespace {

// Whether [begin, end) overlaps one of the sorted, disjoint `spans`.
bool overlaps(TextSpans spans, size_t begin, size_t end) {
  auto it = std::upper_bound(spans.begin(), spans.end(), begin,
                             [](size_t at, const auto& span) { return at < span.second; });
  return it != spans.end() && it->first < end;
}

}  // namespace

std::vector<Fragment> split_special_tokens(const Vocab& vocab, std::string_view text,
                                           bool parse_special, TextSpans literal) {
  std::vector<Fragment> fragments;
  if (text.empty()) return fragments;
  fragments.push_back({-1, 0, text.size()});
  std::vector<Fragment> next;
  for (const int32_t id : vocab.special_tokens) {
    const bool control = (vocab.attr[id] & (kAttrControl | kAttrUnknown)) != 0;
    if (!parse_special && control) continue;
    const std::string_view special = vocab.text[id];
    next.clear();
    for (const Fragment& f : fragments) {
      if (f.token != -1) {
        next.push_back(f);
        continue;
      }
      const std::string_view part = text.substr(f.offset, f.length);
      size_t cursor = 0;
      size_t from = 0;
      for (size_t at = part.find(special); at != std::string_view::npos;
           at = part.find(special, from)) {
        if (control && overlaps(literal, f.offset + at, f.offset + at + special.size())) {
          from = at + 1;
          continue;
        }
        if (at > cursor) next.push_back({-1, f.offset + cursor, at - cursor});
        next.push_back({id, 0, 0});
        cursor = from = at + special.size();
      }
      if (cursor < part.size()) next.push_back({-1, f.offset + cursor, part.size() - cursor});
    }
    fragments.swap(next);
  }
  return fragments;
}

}  // namespace gengyun::tokenizer
