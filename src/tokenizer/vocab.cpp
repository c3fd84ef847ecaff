#include "tokenizer/vocab.h"

#include <algorithm>
#include <span>

namespace gengyun::tokenizer {
namespace {

constexpr std::string_view kModelKey = "tokenizer.ggml.model";
constexpr std::string_view kPreKey = "tokenizer.ggml.pre";
constexpr std::string_view kTokensKey = "tokenizer.ggml.tokens";
constexpr std::string_view kScoresKey = "tokenizer.ggml.scores";
constexpr std::string_view kTokenTypeKey = "tokenizer.ggml.token_type";
constexpr std::string_view kMergesKey = "tokenizer.ggml.merges";
constexpr std::string_view kAddBosKey = "tokenizer.ggml.add_bos_token";
constexpr std::string_view kAddEosKey = "tokenizer.ggml.add_eos_token";
constexpr std::string_view kAddSpacePrefixKey = "tokenizer.ggml.add_space_prefix";

std::string quoted(std::string_view key) { return "'" + std::string(key) + "'"; }

Result<std::optional<std::string>> optional_string(const gguf::File& file, std::string_view key) {
  const gguf::Value* v = file.find(key);
  if (!v) return std::optional<std::string>();
  const std::string* s = v->as_string();
  if (!s) return make_error("metadata key " + quoted(key) + " must be a string");
  return std::optional<std::string>(*s);
}

Result<std::optional<bool>> optional_bool(const gguf::File& file, std::string_view key) {
  const gguf::Value* v = file.find(key);
  if (!v) return std::optional<bool>();
  const auto b = v->as_bool();
  if (!b) return make_error("metadata key " + quoted(key) + " must be a bool");
  return std::optional<bool>(*b);
}

/// The array under `key` (nullptr when absent); an error when it is not an array.
Result<const gguf::Array*> optional_array(const gguf::File& file, std::string_view key) {
  const gguf::Value* v = file.find(key);
  if (!v) return static_cast<const gguf::Array*>(nullptr);
  const gguf::Array* a = v->as_array();
  if (!a) return make_error("metadata key " + quoted(key) + " must be an array");
  return a;
}

Result<std::vector<std::string>> string_array(const gguf::Array& array, std::string_view key) {
  std::vector<std::string> out;
  out.reserve(array.items.size());
  for (size_t i = 0; i < array.items.size(); ++i) {
    const std::string* s = array.items[i].as_string();
    if (!s) return make_error("metadata key " + quoted(key) + " must be an array of strings");
    out.push_back(*s);
  }
  return out;
}

/// Overwrites `id` with the integer under `key` when present and inside [0, n_tokens).
Result<void> read_token_id(const gguf::File& file, std::string_view key, int32_t n_tokens,
                           int32_t& id) {
  const gguf::Value* v = file.find(key);
  if (!v) return {};
  const auto value = v->as_int();
  if (!value) {
    if (v->type == gguf::ValueType::UINT64) return {};  // beyond int64: out of range
    return make_error("metadata key " + quoted(key) + " must be an integer");
  }
  if (*value >= 0 && *value < n_tokens) id = static_cast<int32_t>(*value);
  return {};
}

uint32_t attr_from_token_type(int64_t type) {
  switch (type) {
    case 1:
      return kAttrNormal;
    case 2:
      return kAttrUnknown;
    case 3:
      return kAttrControl;
    case 4:
      return kAttrUserDefined;
    case 5:
      return kAttrUnused;
    case 6:
      return kAttrByte;
    default:
      return kAttrUndefined;
  }
}

Result<PreTokenizerType> pre_tokenizer_type(const std::optional<std::string>& name, Vocab& v) {
  if (!name || *name == "default") return PreTokenizerType::Default;
  if (*name == "gpt-2" || *name == "gpt2") return PreTokenizerType::Gpt2;
  if (*name == "llama3" || *name == "llama-v3" || *name == "llama-bpe") {
    v.ignore_merges = true;
    v.add_bos = true;
    return PreTokenizerType::Llama3;
  }
  if (*name == "qwen2" || *name == "deepseek-r1-qwen") {
    v.nfc = *name == "qwen2";
    return PreTokenizerType::Qwen2;
  }
  return make_error("unknown pre-tokenizer " + quoted(*name) + " in " + quoted(kPreKey) +
                    " (supported: qwen2, deepseek-r1-qwen, llama-bpe, llama3, gpt-2, default)");
}

bool is_one_of(std::string_view s, std::span<const std::string_view> list) {
  return std::find(list.begin(), list.end(), s) != list.end();
}

// Token texts llama.cpp recognises when the file names no such token (llama-vocab.cpp).
// clang-format off
constexpr std::string_view kEotTexts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>",
    "<EOT>", "_<EOT>", "[EOT]", "<｜end▁of▁sentence｜>", "<end_of_utterance>"};
constexpr std::string_view kEomTexts[] = {"<|eom_id|>"};
constexpr std::string_view kFimPreTexts[] = {
    "<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>",
    "<PRE>", "▁<PRE>", "<|code_prefix|>", "<|prefix|>"};
constexpr std::string_view kFimSufTexts[] = {
    "<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>",
    "<SUF>", "▁<SUF>", "<|code_suffix|>", "<|suffix|>"};
constexpr std::string_view kFimMidTexts[] = {
    "<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>",
    "<MID>", "▁<MID>", "<|code_middle|>", "<|middle|>"};
constexpr std::string_view kFimPadTexts[] = {
    "<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"};
constexpr std::string_view kFimRepTexts[] = {
    "<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"};
constexpr std::string_view kFimSepTexts[] = {"<|file_sep|>"};
constexpr std::string_view kEogTexts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
    "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]",
    "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
    "<｜end▁of▁sentence｜>", "[e~["};
// clang-format on

struct SpecialIds {
  int32_t fim_pre = -1, fim_suf = -1, fim_mid = -1, fim_pad = -1, fim_rep = -1, fim_sep = -1;
};

Result<void> read_special_ids(const gguf::File& file, Vocab& v, SpecialIds& fim) {
  const int32_t n = v.n_tokens();
  for (int32_t* id : {&v.bos, &v.eos, &v.unk})
    if (*id >= n) *id = -1;
  const std::pair<std::string_view, int32_t*> keys[] = {
      {"tokenizer.ggml.bos_token_id", &v.bos},
      {"tokenizer.ggml.eos_token_id", &v.eos},
      {"tokenizer.ggml.eot_token_id", &v.eot},
      {"tokenizer.ggml.eom_token_id", &v.eom},
      {"tokenizer.ggml.unknown_token_id", &v.unk},
      {"tokenizer.ggml.fim_pre_token_id", &fim.fim_pre},
      {"tokenizer.ggml.fim_suf_token_id", &fim.fim_suf},
      {"tokenizer.ggml.fim_mid_token_id", &fim.fim_mid},
      {"tokenizer.ggml.fim_pad_token_id", &fim.fim_pad},
      {"tokenizer.ggml.fim_rep_token_id", &fim.fim_rep},
      {"tokenizer.ggml.fim_sep_token_id", &fim.fim_sep},
      {"tokenizer.ggml.prefix_token_id", &fim.fim_pre},
      {"tokenizer.ggml.suffix_token_id", &fim.fim_suf},
      {"tokenizer.ggml.middle_token_id", &fim.fim_mid},
  };
  for (const auto& [key, id] : keys)
    if (auto r = read_token_id(file, key, n, *id); !r) return r.error();
  return {};
}

/// llama.cpp's text-based detection: a special token the file does not name is found by its
/// text and forced to CONTROL; then the end-of-generation set is assembled.
void detect_special_tokens(Vocab& v, SpecialIds& fim) {
  const auto detect = [&](int32_t& slot, std::span<const std::string_view> texts, int32_t id) {
    if (slot == -1 && is_one_of(v.text[id], texts)) {
      slot = id;
      v.attr[id] |= kAttrControl;
    }
  };
  for (int32_t id = 0; id < v.n_tokens(); ++id) {
    detect(v.eot, kEotTexts, id);
    detect(v.eom, kEomTexts, id);
    detect(fim.fim_pre, kFimPreTexts, id);
    detect(fim.fim_suf, kFimSufTexts, id);
    detect(fim.fim_mid, kFimMidTexts, id);
    detect(fim.fim_pad, kFimPadTexts, id);
    detect(fim.fim_rep, kFimRepTexts, id);
    detect(fim.fim_sep, kFimSepTexts, id);
  }

  std::vector<int32_t> eog;
  for (int32_t id : {fim.fim_pad, fim.fim_rep, fim.fim_sep})
    if (id != -1) eog.push_back(id);
  for (int32_t id = 0; id < v.n_tokens(); ++id) {
    if (is_one_of(v.text[id], kEogTexts)) {
      eog.push_back(id);
      v.attr[id] |= kAttrControl;
    }
  }
  for (int32_t id : {v.eos, v.eot, v.eom})
    if (id != -1) eog.push_back(id);
  std::sort(eog.begin(), eog.end());
  eog.erase(std::unique(eog.begin(), eog.end()), eog.end());
  v.eog = std::move(eog);
}

void collect_special_tokens(Vocab& v) {
  for (int32_t id = 0; id < v.n_tokens(); ++id)
    if (v.attr[id] & (kAttrControl | kAttrUserDefined | kAttrUnknown))
      v.special_tokens.push_back(id);
  std::stable_sort(v.special_tokens.begin(), v.special_tokens.end(),
                   [&](int32_t a, int32_t b) { return v.text[a].size() > v.text[b].size(); });
}

void build_byte_tokens(Vocab& v) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (int b = 0; b < 256; ++b) {
    const char name[] = {'<', '0', 'x', kHex[b >> 4], kHex[b & 15], '>'};
    auto id = v.find(std::string_view(name, sizeof name));
    if (!id) id = v.find(std::string(1, static_cast<char>(b)));
    v.byte_token[b] = id.value_or(-1);
  }
}

Result<void> read_merges(const gguf::File& file, Vocab& v) {
  auto array = optional_array(file, kMergesKey);
  if (!array) return array.error();
  if (!array.value()) return make_error("byte-level BPE vocabulary without " + quoted(kMergesKey));
  auto merges = string_array(*array.value(), kMergesKey);
  if (!merges) return merges.error();
  v.merge_rank.reserve(merges->size());
  for (size_t i = 0; i < merges->size(); ++i) {
    std::string& line = merges.value()[i];
    if (line.find(' ', 1) == std::string::npos)
      return make_error(quoted(kMergesKey) + " line " + std::to_string(i) + " ('" + line +
                        "') is not two tokens separated by a space");
    v.merge_rank.emplace(std::move(line), static_cast<int32_t>(i));
  }
  return {};
}

Result<void> read_tokens(const gguf::File& file, Vocab& v) {
  auto tokens_array = optional_array(file, kTokensKey);
  if (!tokens_array) return tokens_array.error();
  if (!tokens_array.value())
    return make_error("missing " + quoted(kTokensKey) + ": the file holds no vocabulary");
  auto tokens = string_array(*tokens_array.value(), kTokensKey);
  if (!tokens) return tokens.error();
  const size_t n = tokens->size();
  if (n == 0) return make_error(quoted(kTokensKey) + " is empty");
  if (n > static_cast<size_t>(INT32_MAX))
    return make_error(quoted(kTokensKey) + " holds too many tokens (" + std::to_string(n) + ")");

  auto scores = optional_array(file, kScoresKey);
  if (!scores) return scores.error();
  auto types = optional_array(file, kTokenTypeKey);
  if (!types) return types.error();
  for (const auto& [key, array] :
       {std::pair{kScoresKey, scores.value()}, std::pair{kTokenTypeKey, types.value()}}) {
    if (array && array->items.size() != n)
      return make_error(quoted(key) + " has " + std::to_string(array->items.size()) +
                        " entries but " + quoted(kTokensKey) + " has " + std::to_string(n));
  }

  v.text = std::move(tokens.value());
  v.score.assign(n, 0.0f);
  v.attr.assign(n, kAttrNormal);
  v.token_to_id.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    if (v.text[i].empty()) v.text[i] = "[EMPTY_" + std::to_string(i) + "]";
    const auto [it, inserted] = v.token_to_id.emplace(v.text[i], static_cast<int32_t>(i));
    if (!inserted)
      return make_error("duplicate token in " + quoted(kTokensKey) + ": '" + v.text[i] +
                        "' has ids " + std::to_string(it->second) + " and " + std::to_string(i));
    if (scores.value()) {
      const auto s = scores.value()->items[i].as_double();
      if (!s) return make_error(quoted(kScoresKey) + " must be an array of numbers");
      v.score[i] = static_cast<float>(*s);
    }
    if (types.value()) {
      const auto t = types.value()->items[i].as_int();
      if (!t) return make_error(quoted(kTokenTypeKey) + " must be an array of integers");
      v.attr[i] = attr_from_token_type(*t);
    }
  }
  return {};
}

}  // namespace

Result<Vocab> load_vocab(const gguf::File& file) {
  Vocab v;
  auto model = optional_string(file, kModelKey);
  if (!model) return model.error();
  if (!model.value())
    return make_error("missing " + quoted(kModelKey) + ": the file holds no tokenizer");
  auto pre = optional_string(file, kPreKey);
  if (!pre) return pre.error();

  if (*model.value() == "llama") {
    v.type = VocabType::Spm;
    v.bos = 1;
    v.eos = 2;
    v.unk = 0;
    v.add_bos = true;
    v.add_space_prefix = true;
  } else if (*model.value() == "gpt2") {
    v.type = VocabType::Bpe;
    v.bos = 11;
    v.eos = 11;
    auto pre_type = pre_tokenizer_type(pre.value(), v);
    if (!pre_type) return pre_type.error();
    v.pre = pre_type.value();
  } else {
    return make_error("unknown tokenizer model '" + *model.value() + "' in " + quoted(kModelKey) +
                      " (supported: llama, gpt2)");
  }
  auto space_prefix = optional_bool(file, kAddSpacePrefixKey);
  if (!space_prefix) return space_prefix.error();
  if (space_prefix.value()) v.add_space_prefix = *space_prefix.value();

  if (auto r = read_tokens(file, v); !r) return r.error();
  if (v.type == VocabType::Bpe) {
    if (auto r = read_merges(file, v); !r) return r.error();
  }

  SpecialIds fim;
  if (auto r = read_special_ids(file, v, fim); !r) return r.error();
  auto add_bos = optional_bool(file, kAddBosKey);
  if (!add_bos) return add_bos.error();
  if (add_bos.value()) v.add_bos = *add_bos.value();
  if (v.add_bos && v.bos == -1)
    return make_error(quoted(kAddBosKey) + " is true but the vocabulary has no BOS token");
  auto add_eos = optional_bool(file, kAddEosKey);
  if (!add_eos) return add_eos.error();
  if (add_eos.value()) v.add_eos = *add_eos.value();
  if (v.add_eos && v.eos == -1)
    return make_error(quoted(kAddEosKey) + " is true but the vocabulary has no EOS token");

  detect_special_tokens(v, fim);
  collect_special_tokens(v);
  build_byte_tokens(v);
  return v;
}

}  // namespace gengyun::tokenizer
