// A copy of a test model whose output norm's weights are NaN, as a corrupt file's could be:
// for the tests of what a model answers when its activations are NaN (generation, embeddings).
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "gguf/gguf.h"
#include "gguf/gguf_writer.h"
#include "testdata.h"

namespace gengyun::testing {

/// Writes testdata/models/`model` with `output_norm.weight` (F32) all NaN to a file of the
/// temporary folder named after `name` and the process; returns its path ("" after a test
/// failure). The caller removes it.
inline std::string write_nan_norm_copy(const std::string& model, const std::string& name) {
  auto source = gguf::File::open(testdata_path("models/" + model));
  if (!source.ok()) {
    ADD_FAILURE() << source.error().message;
    return "";
  }
  gguf::Writer writer;
  for (const auto& [key, value] : source->metadata()) writer.set(key, value);
  std::vector<float> nan_norm;
  for (const gguf::TensorInfo& t : source->tensors()) {
    std::span<const uint8_t> data = {t.data, t.n_bytes};
    if (t.name == "output_norm.weight") {
      nan_norm.assign(t.n_bytes / sizeof(float), std::numeric_limits<float>::quiet_NaN());
      data = {reinterpret_cast<const uint8_t*>(nan_norm.data()), t.n_bytes};
    }
    if (auto added = writer.add_tensor(t.name, t.type, t.ne, data); !added.ok()) {
      ADD_FAILURE() << added.error().message;
      return "";
    }
  }
  if (nan_norm.empty()) {
    ADD_FAILURE() << model << " has no output_norm.weight";
    return "";
  }
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("gengyun-" + name + "-" + std::to_string(getpid()) + ".gguf"))
                               .string();
  if (auto written = writer.write(path); !written.ok()) {
    ADD_FAILURE() << written.error().message;
    return "";
  }
  return path;
}

}  // namespace gengyun::testing
