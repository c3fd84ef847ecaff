// The model registry: which model names a server offers, and loading each on first use.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "deploy/lora_spec.h"
#include "gengyun/engine.h"
#include "gengyun/result.h"

namespace gengyun::deploy {

/// A served model: the name clients put in `model`, and its GGUF file.
struct ModelSpec {
  std::string name;
  std::string path;
};

/// Parses "NAME=PATH" (the `--model` flag). Errors: no '=', empty name or path.
Result<ModelSpec> parse_model_spec(std::string_view text);

/// Parses every `--model` flag. Errors: those of parse_model_spec, a name given twice.
Result<std::vector<ModelSpec>> parse_model_specs(const std::vector<std::string>& texts);

/// Names -> models, loaded on demand and kept loaded. Thread-safe.
class Registry {
 public:
  /// Errors at construction are not possible; duplicate names keep the first spec. `loras`:
  /// LoRA derivatives of the models of `specs` (parse_lora_specs), listed after them; a
  /// derivative shares its base's weights and engine (LoadedModel::load_adapter).
  Registry(std::vector<ModelSpec> specs, ModelOptions options, std::vector<LoraSpec> loras = {});

  bool contains(std::string_view name) const;
  /// Model names in the order given.
  std::vector<std::string> names() const;

  /// The loaded model, loading it on first use (concurrent callers wait for one load); a LoRA
  /// derivative loads its base first. Errors: unknown name ("model 'x' is not served here"),
  /// the model's (or the adapter's) load error.
  Result<std::shared_ptr<LoadedModel>> get(std::string_view name);

 private:
  /// get() with mutex_ held.
  Result<std::shared_ptr<LoadedModel>> get_locked(std::string_view name);

  std::vector<ModelSpec> specs_;
  std::vector<LoraSpec> loras_;
  ModelOptions options_;
  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<LoadedModel>, std::less<>> loaded_;
};

}  // namespace gengyun::deploy
