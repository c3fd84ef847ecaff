// Helpers of the model tests: loading the reference models and rebuilding a GGUF image with
// changes (for the load-error tests).
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "gguf/gguf.h"
#include "gguf/gguf_writer.h"
#include "model/model.h"
#include "testdata.h"

namespace gengyun::model::testing {

inline std::shared_ptr<const gguf::File> open_model_file(const std::string& name) {
  Result<gguf::File> file = gguf::File::open(::gengyun::testing::testdata_path("models/" + name));
  if (!file) {
    ADD_FAILURE() << file.error().message;
    return nullptr;
  }
  return std::make_shared<const gguf::File>(std::move(file).value());
}

/// Loads models/<name> (e.g. "qwen2-tiny-f32.gguf"); fails the test and returns nullptr on error.
inline std::unique_ptr<Model> load_model(const std::string& name) {
  std::shared_ptr<const gguf::File> file = open_model_file(name);
  if (!file) return nullptr;
  Result<std::unique_ptr<Model>> model = Model::load(file);
  if (!model) {
    ADD_FAILURE() << model.error().message;
    return nullptr;
  }
  return std::move(model).value();
}

/// A GGUF image in memory and the File parsed from it (which points into the image).
struct RebuiltFile {
  std::shared_ptr<std::vector<uint8_t>> bytes;
  std::shared_ptr<const gguf::File> file;
};

/// Copies every metadata key and tensor of `source`, lets `edit` change the metadata (through
/// the writer) and the tensor list (drop, reshape, retype: data must stay alive until rebuild
/// returns), and parses the serialized image.
inline RebuiltFile rebuild(
    const gguf::File& source,
    const std::function<void(gguf::Writer&, std::vector<gguf::TensorInfo>&)>& edit) {
  gguf::Writer writer;
  for (const auto& [key, value] : source.metadata()) writer.set(key, value);
  std::vector<gguf::TensorInfo> tensors = source.tensors();
  edit(writer, tensors);
  for (const gguf::TensorInfo& t : tensors) {
    Result<void> added = writer.add_tensor(t.name, t.type, t.ne, {t.data, t.n_bytes});
    EXPECT_TRUE(added.ok()) << added.error().message;
  }
  Result<std::vector<uint8_t>> image = writer.serialize();
  if (!image) {
    ADD_FAILURE() << image.error().message;
    return {};
  }
  RebuiltFile rebuilt;
  rebuilt.bytes = std::make_shared<std::vector<uint8_t>>(std::move(image).value());
  Result<gguf::File> file = gguf::File::parse(*rebuilt.bytes, "rebuilt.gguf");
  if (!file) {
    ADD_FAILURE() << file.error().message;
    return {};
  }
  rebuilt.file = std::make_shared<const gguf::File>(std::move(file).value());
  return rebuilt;
}

}  // namespace gengyun::model::testing
