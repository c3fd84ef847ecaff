// The tensor types of a GGUF file with their counts, as `synth` and `quantize` report them.
#pragma once

#include <string>

#include "gguf/gguf.h"

namespace gengyun::cli {

/// "N tensors: TYPE COUNT, TYPE COUNT, ..." for the tensors of `file`: ggml type names (q8_0,
/// q4_K, f32, ...), most frequent first, ties in name order.
std::string tensor_type_counts(const gguf::File& file);

}  // namespace gengyun::cli
