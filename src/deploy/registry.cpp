#include "deploy/registry.h"

#include <algorithm>

namespace gengyun::deploy {

Result<ModelSpec> parse_model_spec(std::string_view text) {
  const size_t eq = text.find('=');
  if (eq == std::string_view::npos)
    return make_error("--model expects NAME=PATH, got '" + std::string(text) + "'");
  ModelSpec spec{std::string(text.substr(0, eq)), std::string(text.substr(eq + 1))};
  if (spec.name.empty() || spec.path.empty())
    return make_error("--model expects NAME=PATH with both parts non-empty, got '" +
                      std::string(text) + "'");
  return spec;
}

Result<std::vector<ModelSpec>> parse_model_specs(const std::vector<std::string>& texts) {
  std::vector<ModelSpec> specs;
  for (const auto& text : texts) {
    auto spec = parse_model_spec(text);
    if (!spec.ok()) return spec.error();
    for (const auto& earlier : specs)
      if (earlier.name == spec->name)
        return make_error("--model: the name '" + spec->name + "' is given twice ('" +
                          earlier.path + "' and '" + spec->path + "')");
    specs.push_back(std::move(spec.value()));
  }
  return specs;
}

Registry::Registry(std::vector<ModelSpec> specs, ModelOptions options, std::vector<LoraSpec> loras)
    : options_(options) {
  for (auto& spec : specs)
    if (!contains(spec.name)) specs_.push_back(std::move(spec));
  for (auto& lora : loras)
    if (!contains(lora.name)) loras_.push_back(std::move(lora));
}

bool Registry::contains(std::string_view name) const {
  return std::any_of(specs_.begin(), specs_.end(),
                     [&](const ModelSpec& s) { return s.name == name; }) ||
         std::any_of(loras_.begin(), loras_.end(),
                     [&](const LoraSpec& s) { return s.name == name; });
}

std::vector<std::string> Registry::names() const {
  std::vector<std::string> out;
  for (const auto& s : specs_) out.push_back(s.name);
  for (const auto& s : loras_) out.push_back(s.name);
  return out;
}

Result<std::shared_ptr<LoadedModel>> Registry::get(std::string_view name) {
  std::lock_guard lock(mutex_);
  return get_locked(name);
}

Result<std::shared_ptr<LoadedModel>> Registry::get_locked(std::string_view name) {
  if (auto it = loaded_.find(name); it != loaded_.end()) return it->second;
  const auto lora = std::find_if(loras_.begin(), loras_.end(),
                                 [&](const LoraSpec& s) { return s.name == name; });
  if (lora != loras_.end()) {
    auto base = get_locked(lora->base);
    if (!base.ok()) return base.error();
    auto adapted = base.value()->load_adapter(lora->adapter.path, lora->adapter.scale);
    if (!adapted.ok()) return adapted.error();
    loaded_.emplace(lora->name, adapted.value());
    return adapted.value();
  }
  const auto spec = std::find_if(specs_.begin(), specs_.end(),
                                 [&](const ModelSpec& s) { return s.name == name; });
  if (spec == specs_.end())
    return make_error("model '" + std::string(name) + "' is not served here");
  auto model = LoadedModel::load(spec->path, options_);
  if (!model.ok()) return model.error();
  loaded_.emplace(spec->name, model.value());
  return model.value();
}

}  // namespace gengyun::deploy
