#include "tokenizer/bpe.h"

#include <queue>
#include <string>

#include "tokenizer/byte_level.h"
#include "tokenizer/utf8.h"

namespace gengyun::tokenizer {
namespace {

/// A piece of the word: bytes [start, start + n) of the encoded word, in a linked list.
struct Piece {
  int prev;
  int next;
  size_t start;
  size_t n;  ///< 0 once merged into its left neighbour
};

struct Candidate {
  int left;
  int right;
  int32_t rank;
  size_t size;  ///< left.n + right.n when proposed; a later change of either makes it stale
};

struct LaterCandidate {
  bool operator()(const Candidate& a, const Candidate& b) const {
    return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
  }
};

}  // namespace

void bpe_encode_word(const Vocab& vocab, std::string_view word, std::vector<int32_t>& out) {
  const std::string encoded = byte_level_encode(word);
  if (encoded.empty()) return;
  if (vocab.ignore_merges) {
    if (const auto id = vocab.find(encoded)) {
      out.push_back(*id);
      return;
    }
  }

  std::vector<Piece> pieces;
  for (size_t offset = 0; offset < encoded.size();) {
    const size_t n = std::min(utf8_sequence_length(encoded[offset]), encoded.size() - offset);
    const int index = static_cast<int>(pieces.size());
    pieces.push_back({index - 1, offset + n == encoded.size() ? -1 : index + 1, offset, n});
    offset += n;
  }
  const auto text = [&](const Piece& p) { return std::string_view(encoded).substr(p.start, p.n); };

  std::priority_queue<Candidate, std::vector<Candidate>, LaterCandidate> queue;
  std::string key;
  const auto propose = [&](int left, int right) {
    if (left == -1 || right == -1) return;
    key.assign(text(pieces[left]));
    key += ' ';
    key += text(pieces[right]);
    const auto it = vocab.merge_rank.find(key);
    if (it == vocab.merge_rank.end()) return;
    queue.push({left, right, it->second, pieces[left].n + pieces[right].n});
  };
  for (int i = 1; i < static_cast<int>(pieces.size()); ++i) propose(i - 1, i);

  while (!queue.empty()) {
    const Candidate c = queue.top();
    queue.pop();
    Piece& left = pieces[c.left];
    Piece& right = pieces[c.right];
    if (left.n == 0 || right.n == 0 || left.n + right.n != c.size) continue;
    left.n += right.n;
    right.n = 0;
    left.next = right.next;
    if (right.next != -1) pieces[right.next].prev = c.left;
    propose(left.prev, c.left);
    propose(c.left, left.next);
  }

  for (int i = 0; i != -1; i = pieces[i].next) {
    const std::string_view piece = text(pieces[i]);
    if (const auto id = vocab.find(piece)) {
      out.push_back(*id);
      continue;
    }
    for (char byte : piece)
      if (const auto id = vocab.find(std::string_view(&byte, 1))) out.push_back(*id);
  }
}

}  // namespace gengyun::tokenizer
