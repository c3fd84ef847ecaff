#include "engine/adapter_model.h"

namespace gengyun::engine {

AdapterModel::AdapterModel(std::shared_ptr<ModelInstance> base,
                           std::shared_ptr<const model::LoraAdapter> adapter, std::string cache_key,
                           int64_t load_us)
    : base_(std::move(base)),
      adapter_(std::move(adapter)),
      cache_key_(std::move(cache_key)),
      load_us_(load_us) {}

Result<std::shared_ptr<LoadedModel>> AdapterModel::load_adapter(const std::string& path, float) {
  return make_error(path + ": LoRA adapters do not stack; load it on the base model " +
                    base_->path() + " instead of on the adapter " + adapter_->path());
}

}  // namespace gengyun::engine
