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

Registry::Registry(std::vector<ModelSpec> specs, ModelOptions options) : options_(options) {
  for (auto& spec : specs)
    if (!contains(spec.name)) specs_.push_back(std::move(spec));
}

bool Registry::contains(std::string_view name) const {
  return std::any_of(specs_.begin(), specs_.end(),
                     [&](const ModelSpec& s) { return s.name == name; });
}

std::vector<std::string> Registry::names() const {
  std::vector<std::string> out;
  for (const auto& s : specs_) out.push_back(s.name);
  return out;
}

Result<std::shared_ptr<LoadedModel>> Registry::get(std::string_view name) {
  const auto spec = std::find_if(specs_.begin(), specs_.end(),
                                 [&](const ModelSpec& s) { return s.name == name; });
  if (spec == specs_.end())
    return make_error("model '" + std::string(name) + "' is not served here");
  std::lock_guard lock(mutex_);
  if (auto it = loaded_.find(name); it != loaded_.end()) return it->second;
  auto model = LoadedModel::load(spec->path, options_);
  if (!model.ok()) return model.error();
  loaded_.emplace(spec->name, model.value());
  return model.value();
}

}  // namespace gengyun::deploy
