#include "tokenizer/special_tokens.h"

namespace gengyun::tokenizer {

std::vector<Fragment> split_special_tokens(const Vocab& vocab, std::string_view text,
                                           bool parse_special) {
  std::vector<Fragment> fragments;
  if (text.empty()) return fragments;
  fragments.push_back({-1, 0, text.size()});
  std::vector<Fragment> next;
  for (const int32_t id : vocab.special_tokens) {
    if (!parse_special && (vocab.attr[id] & (kAttrControl | kAttrUnknown))) continue;
    const std::string_view special = vocab.text[id];
    next.clear();
    for (const Fragment& f : fragments) {
      if (f.token != -1) {
        next.push_back(f);
        continue;
      }
      const std::string_view part = text.substr(f.offset, f.length);
      size_t cursor = 0;
      for (size_t at = part.find(special); at != std::string_view::npos;
           at = part.find(special, cursor)) {
        if (at > cursor) next.push_back({-1, f.offset + cursor, at - cursor});
        next.push_back({id, 0, 0});
        cursor = at + special.size();
      }
      if (cursor < part.size()) next.push_back({-1, f.offset + cursor, part.size() - cursor});
    }
    fragments.swap(next);
  }
  return fragments;
}

}  // namespace gengyun::tokenizer
