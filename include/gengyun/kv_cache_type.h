// The element type of a KV cache, shared by the embedding seam (ModelOptions) and the model
// layer (model::KvCache). Includes nothing, so that any layer may include it.
#pragma once

namespace gengyun {

/// Element type of a KV cache. F16 halves its memory (values rounded to nearest even, as
/// llama.cpp's default cache); F32 keeps them exact, for debugging.
enum class KvCacheType { F16, F32 };

}  // namespace gengyun
