#include "model/hparams.h"

#include <cmath>
#include <cstdint>
#include <optional>

namespace gengyun::model {
namespace {

// Sizes above this are not a real model's; they would only make us allocate absurd buffers.
constexpr int64_t kMaxDim = int64_t{1} << 20;
constexpr int64_t kMaxContext = int64_t{1} << 30;

class KeyReader {
 public:
  KeyReader(const gguf::File& file, const std::string& arch) : file_(file), arch_(arch) {}

  /// `<arch>.<suffix>` as an int in [1, max], or `fallback` when absent and a fallback exists.
  std::optional<int> size(const std::string& suffix, int64_t max,
                          std::optional<int> fallback = std::nullopt) {
    const std::string key = arch_ + "." + suffix;
    const gguf::Value* value = file_.find(key);
    if (value == nullptr) {
      if (!fallback) fail("missing key '" + key + "'");
      return fallback;
    }
    const std::optional<int64_t> v = value->as_int();
    if (!v) {
      fail("key '" + key + "' is not an integer");
      return std::nullopt;
    }
    if (*v < 1 || *v > max) {
      fail("key '" + key + "' = " + std::to_string(*v) + " is out of range [1, " +
           std::to_string(max) + "]");
      return std::nullopt;
    }
    return static_cast<int>(*v);
  }

  /// `<arch>.<suffix>` as a positive finite float, or `fallback` when absent and one exists.
  std::optional<float> positive(const std::string& suffix,
                                std::optional<float> fallback = std::nullopt) {
    const std::string key = arch_ + "." + suffix;
    const gguf::Value* value = file_.find(key);
    if (value == nullptr) {
      if (!fallback) fail("missing key '" + key + "'");
      return fallback;
    }
    const std::optional<double> v = value->as_double();
    if (!v) {
      fail("key '" + key + "' is not a number");
      return std::nullopt;
    }
    if (!std::isfinite(*v) || *v <= 0) {
      fail("key '" + key + "' = " + std::to_string(*v) + " must be a positive number");
      return std::nullopt;
    }
    return static_cast<float>(*v);
  }

  void fail(std::string message) {
    if (!error_) error_ = Error{file_.name() + ": " + std::move(message)};
  }
  const std::optional<Error>& error() const { return error_; }

 private:
  const gguf::File& file_;
  const std::string& arch_;
  std::optional<Error> error_;
};

}  // namespace

Result<HParams> read_hparams(const gguf::File& file, const std::string& arch,
                             RopeType rope_type) {
  KeyReader keys(file, arch);
  HParams hp;
  hp.arch = arch;
  hp.rope_type = rope_type;
  hp.n_ctx_train = keys.size("context_length", kMaxContext).value_or(0);
  hp.n_embd = keys.size("embedding_length", kMaxDim).value_or(0);
  hp.n_layer = keys.size("block_count", kMaxDim).value_or(0);
  hp.n_ff = keys.size("feed_forward_length", kMaxDim).value_or(0);
  hp.n_head = keys.size("attention.head_count", kMaxDim).value_or(0);
  hp.n_head_kv = keys.size("attention.head_count_kv", kMaxDim, hp.n_head).value_or(0);
  hp.rms_eps = keys.positive("attention.layer_norm_rms_epsilon").value_or(0);
  hp.rope_freq_base = keys.positive("rope.freq_base", 10000.0f).value_or(0);
  if (keys.error()) return *keys.error();
  const auto invalid = [&keys](std::string message) -> Error {
    keys.fail(std::move(message));
    return *keys.error();
  };

  if (hp.n_head % hp.n_head_kv != 0) {
    return invalid("attention.head_count (" + std::to_string(hp.n_head) +
                   ") is not a multiple of attention.head_count_kv (" +
                   std::to_string(hp.n_head_kv) + ")");
  }
  if (file.find(arch + ".attention.key_length") == nullptr && hp.n_embd % hp.n_head != 0) {
    return invalid("embedding_length (" + std::to_string(hp.n_embd) +
                   ") is not a multiple of attention.head_count (" + std::to_string(hp.n_head) +
                   ") and attention.key_length is absent");
  }
  hp.head_dim = keys.size("attention.key_length", kMaxDim, hp.n_embd / hp.n_head).value_or(0);
  if (keys.error()) return *keys.error();
  if (hp.head_dim % 2 != 0) {
    return invalid("head dimension " + std::to_string(hp.head_dim) + " is odd; RoPE needs pairs");
  }
  const int value_length = keys.size("attention.value_length", kMaxDim, hp.head_dim).value_or(0);
  const int rope_dims = keys.size("rope.dimension_count", kMaxDim, hp.head_dim).value_or(0);
  if (keys.error()) return *keys.error();
  if (value_length != hp.head_dim) {
    return invalid("attention.value_length (" + std::to_string(value_length) +
                   ") differs from attention.key_length (" + std::to_string(hp.head_dim) +
                   "); only equal key and value head sizes are supported");
  }
  if (rope_dims != hp.head_dim) {
    return invalid("rope.dimension_count (" + std::to_string(rope_dims) +
                   ") differs from the head dimension (" + std::to_string(hp.head_dim) +
                   "); partial RoPE is not supported for architecture '" + arch + "'");
  }
  if (const gguf::Value* pooling = file.find(arch + ".pooling_type"); pooling != nullptr) {
    const std::optional<int64_t> v = pooling->as_int();
    if (!v || *v < 0 || *v > 3)
      return invalid("pooling_type must be 0 (none), 1 (mean), 2 (cls) or 3 (last)" +
                     (v ? ", not " + std::to_string(*v) : std::string{}));
    hp.pooling = static_cast<PoolingType>(*v);
  }
  if (file.find(arch + ".expert_count") != nullptr) {
    // A mixture of experts (llama.cpp's LLM_KV_EXPERT_*): all three keys or none.
    hp.n_expert = keys.size("expert_count", kMaxDim).value_or(0);
    hp.n_expert_used = keys.size("expert_used_count", kMaxDim).value_or(0);
    hp.n_ff_exp = keys.size("expert_feed_forward_length", kMaxDim).value_or(0);
    if (keys.error()) return *keys.error();
    if (hp.n_expert_used > hp.n_expert) {
      return invalid("expert_used_count (" + std::to_string(hp.n_expert_used) +
                     ") exceeds expert_count (" + std::to_string(hp.n_expert) + ")");
    }
  }
  return hp;
}

}  // namespace gengyun::model
