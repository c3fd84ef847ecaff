#include "engine/model_instance.h"

#include <algorithm>
#include <new>
#include <random>

#include "sampling/sampler.h"
#include "sampling/sampling_params.h"
#include "sampling/stop_matcher.h"
#include "util/clock.h"

namespace gengyun {

std::string_view finish_reason_name(FinishReason reason) {
  switch (reason) {
    case FinishReason::Stop: return "stop";
    case FinishReason::Length: return "length";
    case FinishReason::Cancelled: return "cancelled";
  }
  return "stop";
}

Result<std::shared_ptr<LoadedModel>> LoadedModel::load(const std::string& path,
                                                       const ModelOptions& options) {
  auto instance = engine::ModelInstance::load(path, options);
  if (!instance.ok()) return instance.error();
  return std::shared_ptr<LoadedModel>(std::move(instance.value()));
}

namespace engine {
namespace {

constexpr int kDefaultMaxContext = 4096;

}  // namespace

Result<std::shared_ptr<ModelInstance>> ModelInstance::load(const std::string& path,
                                                           const ModelOptions& options) {
  const int64_t start = monotonic_us();
  auto file = gguf::File::open(path);
  if (!file.ok()) return file.error();
  std::shared_ptr<ModelInstance> instance(new ModelInstance());
  instance->path_ = path;
  instance->file_ = std::make_shared<const gguf::File>(std::move(file.value()));

  auto tokenizer = Tokenizer::load(*instance->file_);
  if (!tokenizer.ok()) return make_error(path + ": " + tokenizer.error().message);
  instance->tokenizer_ = std::move(tokenizer.value());

  if (instance->file_->tensors().empty())
    return make_error(path + ": the file holds a vocabulary but no weights (a vocab-only GGUF "
                             "works with `gengyun tokenize`, not for generation)");
  auto model = model::Model::load(instance->file_);
  if (!model.ok()) {
    const std::string& message = model.error().message;
    return make_error(message.starts_with(path) ? message : path + ": " + message);
  }
  instance->model_ = std::move(model.value());
  if (instance->model_->hparams().n_vocab != instance->tokenizer_->n_vocab())
    return make_error(path + ": token_embd.weight has " +
                      std::to_string(instance->model_->hparams().n_vocab) +
                      " rows but the vocabulary has " +
                      std::to_string(instance->tokenizer_->n_vocab()) + " tokens");

  const int n_threads = options.n_threads > 0 ? options.n_threads : kernels::physical_core_count();
  if (n_threads > kernels::kMaxThreads)
    return make_error(std::to_string(n_threads) + " threads requested; at most " +
                      std::to_string(kernels::kMaxThreads) + " are allowed");
  const int n_ctx_train = instance->model_->hparams().n_ctx_train;
  int n_ctx = options.n_ctx;
  if (n_ctx <= 0) n_ctx = std::min(n_ctx_train, kDefaultMaxContext);
  if (n_ctx > n_ctx_train)
    return make_error(path + ": a context of " + std::to_string(n_ctx) +
                      " tokens is longer than the model's training context (" +
                      std::to_string(n_ctx_train) + " tokens)");
  instance->pool_ = std::make_unique<kernels::ThreadPool>(n_threads);
  try {
    instance->context_ = std::make_unique<model::Context>(*instance->model_, n_ctx,
                                                          *instance->pool_, options.kv_cache_type);
  } catch (const std::bad_alloc&) {
    return make_error(path + ": not enough memory for the KV cache of a " + std::to_string(n_ctx) +
                      "-token context; choose a shorter one (--ctx)");
  }

  const std::string chat_template =
      instance->file_->get_string("tokenizer.chat_template").value_or("");
  instance->chat_format_ = chat::detect_chat_format(chat_template, instance->tokenizer_->is_spm());
  instance->load_us_ = monotonic_us() - start;
  return instance;
}

std::vector<int32_t> ModelInstance::tokenize(std::string_view text, bool add_bos,
                                             bool parse_special) const {
  std::vector<int32_t> tokens;
  if (add_bos && tokenizer_->add_bos() && tokenizer_->bos()) tokens.push_back(*tokenizer_->bos());
  const auto body = tokenizer_->encode(text, parse_special);
  tokens.insert(tokens.end(), body.begin(), body.end());
  return tokens;
}

std::string ModelInstance::render_chat(std::span<const ChatMessage> messages) const {
  std::vector<chat::Message> converted;
  converted.reserve(messages.size());
  for (const auto& m : messages) converted.push_back({m.role, m.content});
  const auto piece = [&](std::optional<int32_t> id) {
    return id ? tokenizer_->token_to_piece(*id, /*render_special=*/true) : std::string();
  };
  return chat::render_chat(chat_format_, converted, piece(tokenizer_->bos()),
                           piece(tokenizer_->eos()));
}

Result<GenerationResult> ModelInstance::generate(std::span<const int32_t> prompt,
                                                 const GenerationParams& params,
                                                 const TextCallback& on_text) {
  if (prompt.empty()) return make_error("the prompt is empty");
  if (static_cast<int64_t>(prompt.size()) + 1 > n_ctx())
    return make_error("the prompt has " + std::to_string(prompt.size()) +
                      " tokens but the context holds " + std::to_string(n_ctx()) +
                      " (prompt + at least one generated token)");
  for (int32_t id : prompt)
    if (id < 0 || id >= n_vocab())
      return make_error("token id " + std::to_string(id) + " is outside the vocabulary (0.." +
                        std::to_string(n_vocab() - 1) + ")");

  sampling::SamplingParams sp;
  sp.temperature = params.temperature;
  sp.top_k = params.top_k;
  sp.top_p = params.top_p;
  sp.min_p = params.min_p;
  sp.repeat_penalty = params.repeat_penalty;
  sp.presence_penalty = params.presence_penalty;
  sp.frequency_penalty = params.frequency_penalty;
  sp.penalty_last_n = params.penalty_last_n;
  if (auto valid = sampling::validate(sp); !valid.ok()) return valid.error();

  std::lock_guard lock(generate_mutex_);
  GenerationResult result;
  result.prompt_tokens = static_cast<int>(prompt.size());

  sp.seed = params.seed ? *params.seed : std::random_device{}();
  sampling::Sampler sampler(sp);
  sampling::StopMatcher stop(params.stop);
  StreamDecoder decoder(*tokenizer_);

  std::vector<int32_t> history(prompt.begin(), prompt.end());
  std::vector<float> logits;
  context_->clear();
  const int64_t prefill_start = monotonic_us();
  if (auto r = context_->eval(prompt, /*all_logits=*/false, logits); !r.ok()) return r.error();
  const int64_t decode_start = monotonic_us();
  result.prefill_us = decode_start - prefill_start;

  const auto emit = [&](const std::string& text) {
    if (text.empty()) return true;
    result.text += text;
    return on_text(text);
  };
  const int max_tokens = params.max_tokens < 0 ? n_ctx() : params.max_tokens;
  result.finish_reason = FinishReason::Length;
  while (result.completion_tokens < max_tokens) {
    const int32_t token = sampler.sample(logits, history);
    history.push_back(token);
    ++result.completion_tokens;
    if (tokenizer_->is_eog(token)) {
      result.finish_reason = FinishReason::Stop;
      break;
    }
    if (!emit(stop.push(decoder.push(token)))) {
      result.finish_reason = FinishReason::Cancelled;
      break;
    }
    if (stop.stopped()) {
      result.finish_reason = FinishReason::Stop;
      break;
    }
    if (result.completion_tokens >= max_tokens || context_->n_past() >= n_ctx()) break;
    const int32_t next[1] = {token};
    if (auto r = context_->eval(next, /*all_logits=*/false, logits); !r.ok()) return r.error();
  }
  if (result.finish_reason != FinishReason::Cancelled && !stop.stopped()) {
    if (!emit(stop.push(decoder.flush()) + stop.flush())) result.finish_reason = FinishReason::Cancelled;
  }
  result.decode_us = monotonic_us() - decode_start;
  return result;
}

}  // namespace engine
}  // namespace gengyun
