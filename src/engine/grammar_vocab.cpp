#include "engine/grammar_vocab.h"

#include <string>
#include <vector>

namespace gengyun::engine {

std::shared_ptr<const sampling::VocabIndex> make_vocab_index(const Tokenizer& tokenizer) {
  const int32_t n = tokenizer.n_vocab();
  std::vector<std::string> bytes(static_cast<size_t>(n));
  std::vector<int32_t> eog;
  for (int32_t id = 0; id < n; ++id) {
    bytes[static_cast<size_t>(id)] = tokenizer.token_to_piece(id, false);
    if (tokenizer.is_eog(id)) eog.push_back(id);
  }
  return std::make_shared<const sampling::VocabIndex>(std::move(bytes), std::move(eog));
}

}  // namespace gengyun::engine
