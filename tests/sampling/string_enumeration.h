// Every string over a small alphabet, for tests that check a grammar or a scanner against a
// direct search over all short inputs.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace gengyun::testing {

/// Calls `visit` with every string of 0..max_pieces pieces from `pieces` (the empty string
/// first; each string before those it begins).
inline void for_each_string(const std::vector<std::string>& pieces, int max_pieces,
                            const std::function<void(const std::string&)>& visit) {
  std::string s;
  std::function<void(int)> rec = [&](int left) {
    visit(s);
    if (left == 0) return;
    for (const std::string& p : pieces) {
      s += p;
      rec(left - 1);
      s.resize(s.size() - p.size());
    }
  };
  rec(max_pieces);
}

/// Calls `visit` with every string of length 0..max_len over the characters of `alphabet`, in
/// the order above.
inline void for_each_string(std::string_view alphabet, int max_len,
                            const std::function<void(const std::string&)>& visit) {
  std::vector<std::string> pieces;
  for (const char c : alphabet) pieces.emplace_back(1, c);
  for_each_string(pieces, max_len, visit);
}

}  // namespace gengyun::testing
