#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace gengyun {

StreamDecoder::StreamDecoder(const Tokenizer& tokenizer, std::string prefix)
    : tokenizer_(tokenizer), pending_(std::move(prefix)) {}

std::string StreamDecoder::push(int32_t id) {
  pending_ += tokenizer_.token_to_piece(id);
  return take(/*final=*/false);
}

std::string StreamDecoder::flush() { return take(/*final=*/true); }

std::string StreamDecoder::take(bool final) {
  static constexpr std::string_view kReplacement = "\xEF\xBF\xBD";
  using Kind = tokenizer::Utf8Sequence::Kind;
  std::string out;
  size_t pos = 0;
  while (pos < pending_.size()) {
    const auto seq = tokenizer::next_utf8_sequence(pending_, pos);
    if (seq.kind == Kind::Incomplete && !final) break;
    if (seq.kind == Kind::Valid) {
      out.append(pending_, pos, seq.length);
    } else {
      out += kReplacement;
    }
    pos += seq.length;
  }
  pending_.erase(0, pos);
  return out;
}

}  // namespace gengyun
