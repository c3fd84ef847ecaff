// The deployment config file (`gengyun serve --config gengyun.yaml`): defaults for every model
// and settings per model id. docs/deploy.md shows a whole file.
//
//   keep_alive: 5m            # how long an idle model stays loaded (Ollama's forms; -1 forever)
//   rescan_interval: 2s       # how often --models DIR is looked at again (0: never)
//   models:
//     qwen2.5-0.5b-instruct:  # a model id (a --models file name, a --model NAME) or a new one
//       path: q.gguf          # serve this file under the id (relative to the config's folder)
//       aliases: [qwen, default]
//       keep_alive: 1h
//       pin: true             # loaded at start and never unloaded
//       defaults: {temperature: 0.7, top_p: 0.9, max_tokens: 512}
//       loras: {chat: {adapter: chat.gguf, scale: 0.5}}  # LoRA derivatives of this model
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "gengyun/result.h"

namespace gengyun::deploy {

/// A LoRA derivative of a model (`loras:` of a model): Registry::create serves it as a model of
/// its own sharing its base's weights and engine, as `serve --lora` (docs/deploy.md).
struct LoraConfig {
  std::string name;          ///< the derivative's model id
  std::string adapter_path;  ///< a LoRA GGUF (llama.cpp's layout)
  float scale = 1.0f;        ///< checked as `--lora`'s (lora_scale)
};

/// Settings of one model id.
struct ModelConfig {
  std::string path;  ///< "" unless the config itself adds the model
  std::vector<std::string> aliases;
  std::optional<int64_t> keep_alive_us;  ///< kKeepForever for never
  bool pin = false;
  /// Request fields a request that lacks them gets (OpenAI names: temperature, top_p, top_k,
  /// min_p, max_tokens, presence_penalty, frequency_penalty, repeat_penalty, seed, stop), each
  /// checked as the API checks the request field (NaN, an empty stop string: refused), so that
  /// no default makes a request fail.
  nlohmann::json defaults = nlohmann::json::object();
  std::vector<LoraConfig> loras;
};

/// A whole config file.
struct Config {
  /// The file it was read from, as given to load_config; "" for parse_config's. The registry's
  /// errors about an entry then name it, as the config's own errors do ("--config PATH:
  /// models.ID.aliases: ...": Registry::create, load_pinned).
  std::string path;
  int64_t keep_alive_us = 5 * 60 * 1'000'000LL;  ///< Ollama's default: 5 minutes
  int64_t rescan_interval_us = 2'000'000;        ///< 0: no rescans but POST /admin/models/rescan
  std::map<std::string, ModelConfig, std::less<>> models;
};

/// Parses YAML text; `base_dir` resolves relative model and adapter paths. Errors name the
/// key: YAML syntax (with line and column), an unknown key, a value of the wrong type or out
/// of range, a name or path that YAML reads as a number, a boolean or null (`yes:`), a tag the
/// config does not read (`!custom`) or whose type the text is not (`!!bool 1`), an alias given
/// twice or equal to another model's id, a bad duration, several YAML documents (`---`).
Result<Config> parse_config(const std::string& yaml_text, const std::string& base_dir);

/// The most bytes a config file may hold: 1 MiB, some thousands of models' entries.
inline constexpr size_t kMaxConfigBytes = size_t{1} << 20;

/// Reads and parses the file at `path` (kept as Config::path). Errors: unreadable file or a
/// folder, a file over kMaxConfigBytes ("PATH: more than 1 MiB; ..."), those of parse_config
/// (each prefixed with the path).
Result<Config> load_config(const std::string& path);

}  // namespace gengyun::deploy
