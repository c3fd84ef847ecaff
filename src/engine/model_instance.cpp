#include "engine/model_instance.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <new>

#include "engine/adapter_model.h"
#include "model/lora.h"
#include "model/weights.h"
#include "util/clock.h"
#include "util/ordered_json.h"

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

constexpr int kMinEmbeddingWaiting = 2048;

/// MemAvailable of /proc/meminfo in bytes, or 0 when it cannot be read.
int64_t available_memory_bytes() {
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  int64_t kib = 0;
  std::string unit;
  while (meminfo >> key >> kib >> unit)
    if (key == "MemAvailable:") return kib * 1024;
  return 0;
}

}  // namespace

ModelInstance::~ModelInstance() { engine_.reset(); }

Result<std::shared_ptr<ModelInstance>> ModelInstance::load(const std::string& path,
                                                           const ModelOptions& options) {
  const int64_t start = monotonic_us();
  gguf::ReadProgress progress;
  if (options.load_progress)
    progress = [&options](uint64_t read, uint64_t total) {
      options.load_progress(static_cast<int64_t>(read), static_cast<int64_t>(total));
    };
  auto file = gguf::File::open(
      path, options.mmap ? gguf::FileMemory::kMapped : gguf::FileMemory::kAnonymous, progress);
  if (!file.ok()) return file.error();
  if (Result<void> model = model::check_not_an_adapter(file.value()); !model)
    return make_error(path + ": is " + model.error().message);
  if (!options.mmap) {
    // The copy is ours: rearrange the matrices whose decode is faster in another layout.
    if (Result<int> arranged = model::arrange_weights(file.value()); !arranged)
      return arranged.error();
  }
  std::shared_ptr<ModelInstance> instance(new ModelInstance());
  instance->path_ = path;
  instance->memory_ = options.mmap ? gguf::FileMemory::kMapped : gguf::FileMemory::kAnonymous;
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
  const model::HParams& hp = instance->model_->hparams();
  if (hp.n_vocab != instance->tokenizer_->n_vocab())
    return make_error(path + ": token_embd.weight has " + std::to_string(hp.n_vocab) +
                      " rows but the vocabulary has " +
                      std::to_string(instance->tokenizer_->n_vocab()) + " tokens");

  const int n_threads = options.n_threads > 0 ? options.n_threads : kernels::physical_core_count();
  if (n_threads > kernels::kMaxThreads)
    return make_error(std::to_string(n_threads) + " threads requested; at most " +
                      std::to_string(kernels::kMaxThreads) + " are allowed");
  if (options.n_ctx > hp.n_ctx_train)
    return make_error(path + ": a context of " + std::to_string(options.n_ctx) +
                      " tokens is longer than the model's training context (" +
                      std::to_string(hp.n_ctx_train) + " tokens)");
  if (options.max_batch_tokens < 1 || options.max_seqs < 1 || options.max_waiting < 0)
    return make_error("max batch tokens and max sequences must be at least 1, max waiting at "
                      "least 0");

  const KvCacheType kv_type = options.kv_cache_type;
  constexpr int kBlock = model::KvCache::kBlockSize;
  const int64_t block_bytes = static_cast<int64_t>(
      model::KvCache::block_bytes(hp.n_layer, hp.n_head_kv, hp.head_dim, kv_type));
  const int wanted_ctx = options.n_ctx > 0 ? options.n_ctx : hp.n_ctx_train;
  const int64_t blocks_per_seq = (wanted_ctx + kBlock - 1) / kBlock;
  int64_t n_blocks = 0;
  const int64_t available = available_memory_bytes();
  if (options.kv_cache_bytes > 0) {
    if (available > 0 && options.kv_cache_bytes > available)
      return make_error(path + ": a KV cache of " + std::to_string(options.kv_cache_bytes >> 20) +
                        " MiB is more than the available memory (" +
                        std::to_string(available >> 20) + " MiB); give it less");
    n_blocks = options.kv_cache_bytes / block_bytes;
    if (n_blocks < 1)
      return make_error(path + ": a KV cache of " + std::to_string(options.kv_cache_bytes) +
                        " bytes holds no block of " + std::to_string(kBlock) + " positions (" +
                        std::to_string(block_bytes) + " bytes); give it more memory");
    if (options.n_ctx > 0 && n_blocks < blocks_per_seq)
      return make_error(path + ": a KV cache of " + std::to_string(options.kv_cache_bytes >> 20) +
                        " MiB holds " + std::to_string(n_blocks * kBlock) +
                        " positions, fewer than one sequence of the asked context of " +
                        std::to_string(options.n_ctx) + " tokens (" +
                        std::to_string((blocks_per_seq * block_bytes) >> 20) +
                        " MiB); give it more memory or ask for a shorter context");
  } else {
    const int64_t share = available / 4 / block_bytes;
    n_blocks = std::clamp<int64_t>(share, blocks_per_seq, blocks_per_seq * options.max_seqs);
  }
  n_blocks = std::min<int64_t>(n_blocks, INT32_MAX / kBlock);
  instance->n_ctx_ = static_cast<int>(std::min<int64_t>(wanted_ctx, n_blocks * kBlock));

  instance->pool_ = std::make_unique<kernels::ThreadPool>(n_threads);
  try {
    instance->kv_ = std::make_unique<model::KvCache>(hp.n_layer, static_cast<int>(n_blocks),
                                                     hp.n_head_kv, hp.head_dim, kv_type);
    instance->runner_ = std::make_unique<PagedModelRunner>(
        *instance->model_, *instance->kv_, *instance->pool_, options.max_batch_tokens);
  } catch (const std::bad_alloc&) {
    return make_error(path + ": not enough memory for a KV cache of " +
                      std::to_string((n_blocks * block_bytes) >> 20) + " MiB and steps of " +
                      std::to_string(options.max_batch_tokens) +
                      " tokens; give them less (--kv-cache-mb, --max-batch-tokens)");
  }

  EngineConfig config;
  config.scheduler.max_batch_tokens = options.max_batch_tokens;
  config.scheduler.max_seqs = options.max_seqs;
  config.n_ctx = instance->n_ctx_;
  config.n_blocks = static_cast<int>(n_blocks);
  config.block_size = kBlock;
  // Each input of an embeddings request is a request of the engine: an embedding model's queue
  // holds one request of OpenAI's 2048 inputs.
  config.max_waiting = hp.pooling == model::PoolingType::None
                           ? options.max_waiting
                           : std::max(options.max_waiting, kMinEmbeddingWaiting);
  // Pooling reads the hidden states of rows a prefix-cache hit would skip (mean, cls).
  config.prefix_cache = options.prefix_cache && hp.pooling == model::PoolingType::None;
  config.pooling = hp.pooling;
  config.n_embd = hp.n_embd;
  config.cache_key = path;
  config.stall_timeout_us = options.stall_timeout_us;
  instance->engine_ = std::make_shared<EngineCore>(config, *instance->runner_,
                                                   *instance->tokenizer_, *instance->pool_);
  instance->engine_->start();

  const std::string chat_template =
      instance->file_->get_string("tokenizer.chat_template").value_or("");
  instance->chat_format_ = chat::detect_chat_format(chat_template, instance->tokenizer_->is_spm());
  if (!chat_template.empty()) {
    auto parsed = chat::ChatTemplate::parse(chat_template);
    if (parsed.ok()) {
      instance->chat_template_ = std::move(parsed.value());
      instance->chat_syntax_ = chat::template_syntax(chat_template);
    } else {
      spdlog::warn("{}: tokenizer.chat_template: {}; chats use the built-in format instead", path,
                   parsed.error().message);
    }
  }
  instance->load_us_ = monotonic_us() - start;
  return instance;
}

Result<std::shared_ptr<LoadedModel>> ModelInstance::load_adapter(const std::string& path,
                                                                 float scale) {
  const int64_t start = monotonic_us();
  Result<std::unique_ptr<model::LoraAdapter>> adapter =
      model::LoraAdapter::load(*model_, path, scale, memory_);
  if (!adapter) return adapter.error();
  // A number per adapter loaded in this process: blocks computed under an adapter serve only
  // requests of that same load, never a later adapter read from the same path.
  static std::atomic<uint64_t> next_adapter{0};
  std::string key = "lora#" + std::to_string(next_adapter++);
  return std::shared_ptr<LoadedModel>(std::make_shared<AdapterModel>(
      shared_from_this(), std::move(adapter).value(), std::move(key), monotonic_us() - start));
}

std::vector<int32_t> ModelInstance::tokenize(std::string_view text, bool add_bos,
                                             bool parse_special) const {
  std::vector<int32_t> tokens;
  if (add_bos && tokenizer_->add_bos() && tokenizer_->bos()) tokens.push_back(*tokenizer_->bos());
  const auto body = tokenizer_->encode(text, parse_special);
  tokens.insert(tokens.end(), body.begin(), body.end());
  return tokens;
}

std::string ModelInstance::detokenize(std::span<const int32_t> tokens) const {
  if (!tokens.empty() && tokenizer_->add_bos() && tokens.front() == tokenizer_->bos())
    tokens = tokens.subspan(1);
  return tokenizer_->decode(tokens);
}

std::vector<int32_t> ModelInstance::embedding_input(std::span<const int32_t> tokens) const {
  std::vector<int32_t> input;
  if (tokenizer_->add_bos() && tokenizer_->bos()) input.push_back(*tokenizer_->bos());
  input.insert(input.end(), tokens.begin(), tokens.end());
  if (tokenizer_->add_eos() && tokenizer_->eos()) input.push_back(*tokenizer_->eos());
  return input;
}

namespace {

// `text` parsed as JSON of `kind` (object or array); an empty text gives nullopt.
Result<std::optional<nlohmann::ordered_json>> parse_json_text(const std::string& text,
                                                             bool want_object, const char* what) {
  if (text.empty()) return std::optional<nlohmann::ordered_json>();
  auto json = parse_ordered_json(text);
  if (json.is_discarded() || (want_object ? !json.is_object() : !json.is_array())) {
    return make_error(std::string(what) + " must be a JSON " + (want_object ? "object" : "array"));
  }
  return std::optional<nlohmann::ordered_json>(std::move(json));
}

}  // namespace

Result<chat::RenderedPrompt> ModelInstance::render_prompt(std::span<const ChatMessage> messages,
                                                          const ChatOptions& options) const {
  const auto piece = [&](std::optional<int32_t> id) {
    return id ? tokenizer_->token_to_piece(*id, /*render_special=*/true) : std::string();
  };
  if (chat_template_) {
    nlohmann::ordered_json vars = {{"messages", nlohmann::ordered_json::array()},
                                   {"tools", nullptr},
                                   {"documents", nullptr},
                                   {"add_generation_prompt", true}};
    for (const auto& m : messages) {
      nlohmann::ordered_json message = {{"role", m.role}, {"content", m.content}};
      auto extra = parse_json_text(m.extra_json, true, "a message's extra_json");
      if (!extra.ok()) return extra.error();
      if (extra.value()) {
        for (const auto& [key, value] : extra.value()->items()) message[key] = value;
      }
      vars["messages"].push_back(std::move(message));
    }
    auto tools = parse_json_text(options.tools_json, false, "tools_json");
    if (!tools.ok()) return tools.error();
    if (tools.value()) vars["tools"] = std::move(*tools.value());
    if (tokenizer_->bos()) vars["bos_token"] = piece(tokenizer_->bos());
    if (tokenizer_->eos()) vars["eos_token"] = piece(tokenizer_->eos());
    std::vector<std::string> request = {"messages", "tools"};
    auto kwargs = parse_json_text(options.template_kwargs_json, true, "template_kwargs_json");
    if (!kwargs.ok()) return kwargs.error();
    if (kwargs.value()) {
      for (const auto& [key, value] : kwargs.value()->items()) {
        if (key == "messages" || key == "tools" || key == "documents") continue;
        vars[key] = value;
        request.push_back(key);
      }
    }
    return chat_template_->render_marked(vars, request);
  }
  std::vector<chat::Message> converted;
  converted.reserve(messages.size());
  for (const auto& m : messages) converted.push_back({m.role, m.content});
  chat::RenderedPrompt out;
  out.text = chat::render_chat(chat_format_, converted, piece(tokenizer_->bos()),
                               piece(tokenizer_->eos()), &out.request_spans);
  return out;
}

Result<std::string> ModelInstance::render_chat(std::span<const ChatMessage> messages,
                                               const ChatOptions& options) const {
  auto prompt = render_prompt(messages, options);
  if (!prompt.ok()) return prompt.error();
  return std::move(prompt.value().text);
}

Result<ChatPrompt> ModelInstance::chat_prompt(std::span<const ChatMessage> messages,
                                              const ChatOptions& options) const {
  auto prompt = render_prompt(messages, options);
  if (!prompt.ok()) return prompt.error();
  ChatPrompt out;
  // With the model's own template BOS is the template's (HF: add_special_tokens=False).
  if (!chat_template_ && tokenizer_->add_bos() && tokenizer_->bos()) {
    out.tokens.push_back(*tokenizer_->bos());
  }
  const auto body =
      tokenizer_->encode(prompt->text, /*parse_special=*/true, prompt->request_spans);
  out.tokens.insert(out.tokens.end(), body.begin(), body.end());
  out.own_template = chat_template_.has_value();
  out.syntax = chat_syntax_;
  out.syntax.starts_in_reasoning =
      chat_syntax_.reasoning && chat::ends_in_reasoning(prompt->text, prompt->request_spans);
  out.syntax.reasoning_closed =
      chat_syntax_.reasoning && chat::ends_after_reasoning(prompt->text, prompt->request_spans);
  return out;
}

}  // namespace engine

Result<GenerationResult> LoadedModel::generate(std::span<const int32_t> prompt,
                                               const GenerationParams& params,
                                               const TextCallback& on_text) {
  EngineRequest request;
  request.prompt.assign(prompt.begin(), prompt.end());
  request.params = params;
  Submission submission = submit(std::move(request));
  if (!submission.handle) return make_error(submission.message);
  GenerationResult result;
  bool cancelled = false;
  while (true) {
    std::optional<GenerationEvent> event = submission.handle->next(1'000'000);
    if (!event) continue;
    if (!cancelled && !event->text.empty()) {
      result.text += event->text;
      if (!on_text(event->text)) {
        cancelled = true;
        submission.handle->cancel();
      }
    }
    if (!event->finished) continue;
    result.prompt_tokens = event->usage.prompt_tokens;
    result.cached_prompt_tokens = event->usage.cached_prompt_tokens;
    result.completion_tokens = event->usage.completion_tokens;
    // A callback that returned false cancelled the generation, even if the engine had already
    // generated to the end in the meantime (the tokens generated are counted all the same).
    result.finish_reason = cancelled ? FinishReason::Cancelled : event->finish_reason;
    if (!event->error.empty() && event->finish_reason == FinishReason::Cancelled && !cancelled)
      return make_error(event->error);
    const RequestTimes& t = event->times;
    const int64_t first = t.first_token_us != 0 ? t.first_token_us : t.finished_us;
    result.prefill_us = first - t.submitted_us;
    result.decode_us = t.finished_us - first;
    return result;
  }
}

}  // namespace gengyun
