#include "convert/synth_vocab.h"

#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace gengyun::convert {
namespace {

constexpr std::string_view kTokensKey = "tokenizer.ggml.tokens";
constexpr std::string_view kTokenTypeKey = "tokenizer.ggml.token_type";
constexpr std::string_view kScoresKey = "tokenizer.ggml.scores";
constexpr std::string_view kMergesKey = "tokenizer.ggml.merges";
constexpr int64_t kTokenTypeNormal = 1;

bool is_token_id_key(std::string_view key) {
  return key.starts_with("tokenizer.ggml.") && key.ends_with("_token_id");
}

/// The array under `key` checked to hold items of type `elem` (and `n` of them when given);
/// nullptr when the key is absent.
Result<const gguf::Array*> checked_array(const gguf::File& file, std::string_view key,
                                         gguf::ValueType elem, std::optional<size_t> n) {
  const gguf::Value* v = file.find(key);
  if (!v) return static_cast<const gguf::Array*>(nullptr);
  const gguf::Array* a = v->as_array();
  if (!a || a->elem_type != elem)
    return make_error(file.name() + ": '" + std::string(key) + "' is not an array of " +
                      std::string(gguf::value_type_name(elem)));
  if (n && a->items.size() != *n)
    return make_error(file.name() + ": '" + std::string(key) + "' has " + std::to_string(a->items.size()) +
                      " items but there are " + std::to_string(*n) + " tokens");
  return a;
}

/// The tokens fitted to the model: for each new id, the old id it comes from, or nullopt for a
/// padding token.
Result<std::vector<std::optional<size_t>>> fit_ids(const gguf::File& vocab, const gguf::Array* types,
                                                   size_t n_tokens, int64_t n_vocab) {
  std::vector<std::optional<size_t>> source;
  source.reserve(n_vocab);
  if (static_cast<int64_t>(n_tokens) <= n_vocab) {
    for (size_t i = 0; i < n_tokens; ++i) source.emplace_back(i);
    while (static_cast<int64_t>(source.size()) < n_vocab) source.emplace_back();
    return source;
  }
  if (!types)
    return make_error(vocab.name() + ": cannot shrink the vocabulary to " + std::to_string(n_vocab) +
                      " tokens without '" + std::string(kTokenTypeKey) + "'");
  int64_t n_special = 0;
  for (const gguf::Value& t : types->items) n_special += t.as_int() != kTokenTypeNormal;
  if (n_special > n_vocab)
    return make_error(vocab.name() + ": " + std::to_string(n_special) + " non-normal tokens do not fit in " +
                      std::to_string(n_vocab) + " tokens");
  int64_t normal_left = n_vocab - n_special;
  for (size_t i = 0; i < n_tokens; ++i) {
    const bool normal = types->items[i].as_int() == kTokenTypeNormal;
    if (!normal || normal_left > 0) {
      source.emplace_back(i);
      normal_left -= normal;
    }
  }
  return source;
}

gguf::Value array_value(gguf::ValueType elem, std::vector<gguf::Value> items) {
  return gguf::Value{gguf::ValueType::ARRAY, gguf::Array{elem, std::move(items)}};
}

}  // namespace

Result<void> copy_fitted_tokenizer(const gguf::File& vocab, int64_t n_vocab, gguf::Writer& out) {
  const gguf::Value* tokens_value = vocab.find(kTokensKey);
  const gguf::Array* tokens = tokens_value ? tokens_value->as_array() : nullptr;
  if (!tokens || tokens->elem_type != gguf::ValueType::STRING)
    return make_error(vocab.name() + ": no '" + std::string(kTokensKey) + "' array of strings (not a vocabulary GGUF?)");
  const size_t n_tokens = tokens->items.size();
  auto types = checked_array(vocab, kTokenTypeKey, gguf::ValueType::INT32, n_tokens);
  if (!types) return types.error();
  auto scores = checked_array(vocab, kScoresKey, gguf::ValueType::FLOAT32, n_tokens);
  if (!scores) return scores.error();
  auto merges = checked_array(vocab, kMergesKey, gguf::ValueType::STRING, std::nullopt);
  if (!merges) return merges.error();

  auto source = fit_ids(vocab, types.value(), n_tokens, n_vocab);
  if (!source) return source.error();
  std::vector<int64_t> new_id(n_tokens, -1);
  for (size_t id = 0; id < source->size(); ++id)
    if (const auto old = source.value()[id]) new_id[*old] = static_cast<int64_t>(id);

  for (const auto& [key, value] : vocab.metadata()) {
    if (!key.starts_with("tokenizer.")) continue;
    if (key == kTokensKey || key == kTokenTypeKey || key == kScoresKey) {
      const gguf::Array& in = *value.as_array();
      std::vector<gguf::Value> items;
      items.reserve(source->size());
      for (size_t id = 0; id < source->size(); ++id) {
        if (const auto old = source.value()[id]) {
          items.push_back(in.items[*old]);
        } else if (key == kTokensKey) {
          items.push_back({gguf::ValueType::STRING, "[PAD" + std::to_string(id) + "]"});
        } else if (key == kTokenTypeKey) {
          items.push_back({gguf::ValueType::INT32, int64_t{kTokenTypeUnused}});
        } else {
          items.push_back({gguf::ValueType::FLOAT32, 0.0});
        }
      }
      out.set(key, array_value(in.elem_type, std::move(items)));
    } else if (key == kMergesKey && static_cast<int64_t>(n_tokens) > n_vocab) {
      std::unordered_set<std::string_view> kept;
      for (size_t old = 0; old < n_tokens; ++old)
        if (new_id[old] >= 0) kept.insert(*tokens->items[old].as_string());
      std::vector<gguf::Value> items;
      std::string joined;
      for (const gguf::Value& merge : value.as_array()->items) {
        const std::string& line = *merge.as_string();
        const size_t space = line.find(' ');
        if (space == std::string::npos) continue;
        const std::string_view left = std::string_view(line).substr(0, space);
        const std::string_view right = std::string_view(line).substr(space + 1);
        joined.assign(left).append(right);
        if (kept.contains(left) && kept.contains(right) && kept.contains(joined)) items.push_back(merge);
      }
      out.set(key, array_value(gguf::ValueType::STRING, std::move(items)));
    } else if (is_token_id_key(key) && static_cast<int64_t>(n_tokens) > n_vocab) {
      const std::optional<int64_t> id = value.as_int();
      if (!id || *id < 0 || *id >= static_cast<int64_t>(n_tokens) || new_id[*id] < 0) continue;
      gguf::Value renumbered = value;
      if (std::holds_alternative<uint64_t>(renumbered.data))
        renumbered.data = static_cast<uint64_t>(new_id[*id]);
      else
        renumbered.data = new_id[*id];
      out.set(key, std::move(renumbered));
    } else {
      out.set(key, value);
    }
  }
  return {};
}

}  // namespace gengyun::convert
