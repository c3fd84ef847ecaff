#include "tokenizer/spm.h"

#include <queue>

#include "tokenizer/utf8.h"

namespace gengyun::tokenizer {
namespace {

/// A piece of the text: bytes [start, start + n), in a linked list.
struct Piece {
  int prev;
  int next;
  size_t start;
  size_t n;  ///< 0 once merged into its left neighbour
};

struct Candidate {
  int left;
  int right;
  float score;
  size_t size;  ///< left.n + right.n when proposed; a later change of either makes it stale
};

struct WorseCandidate {
  bool operator()(const Candidate& a, const Candidate& b) const {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  }
};

}  // namespace

void spm_encode(const Vocab& vocab, std::string_view text, std::vector<int32_t>& out) {
  if (text.empty()) return;
  std::vector<Piece> pieces;
  for (size_t offset = 0; offset < text.size();) {
    const size_t n = std::min(utf8_sequence_length(text[offset]), text.size() - offset);
    const int index = static_cast<int>(pieces.size());
    pieces.push_back({index - 1, offset + n == text.size() ? -1 : index + 1, offset, n});
    offset += n;
  }

  std::priority_queue<Candidate, std::vector<Candidate>, WorseCandidate> queue;
  const auto propose = [&](int left, int right) {
    if (left == -1 || right == -1) return;
    const size_t size = pieces[left].n + pieces[right].n;
    const auto id = vocab.find(text.substr(pieces[left].start, size));
    if (!id) return;
    queue.push({left, right, vocab.score[*id], size});
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
    const std::string_view piece = text.substr(pieces[i].start, pieces[i].n);
    if (const auto id = vocab.find(piece)) {
      out.push_back(*id);
      continue;
    }
    for (char byte : piece) {
      const int32_t id = vocab.byte_token[static_cast<uint8_t>(byte)];
      if (id != -1) {
        out.push_back(id);
      } else if (vocab.unk != -1) {
        out.push_back(vocab.unk);
      }
    }
  }
}

}  // namespace gengyun::tokenizer
