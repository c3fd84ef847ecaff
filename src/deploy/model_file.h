// What the registry knows of a GGUF file without loading it: its metadata, read through a
// mapping of the file (only the header's pages are touched, never the weights).
#pragma once

#include <cstdint>
#include <string>

#include "gengyun/kv_cache_type.h"

namespace gengyun::deploy {

/// The facts /v1/models shows for one file, and why it cannot be served when it cannot.
struct ModelFile {
  std::string path;
  int64_t size_bytes = 0;    ///< of the file (0 when it cannot be read)
  /// general.architecture ("" when absent); an unsupported one as gguf::printable_text shows
  /// it (escaped, cut at 64 bytes).
  std::string architecture;
  std::string quantization;  ///< "Q4_K_M", "Q8_0", "F16", ... ("" when unknown)
  int context_length = 0;    ///< <arch>.context_length (training context)
  int n_layer = 0;
  int n_head_kv = 0;
  int head_dim = 0;
  /// An embedding model (<arch>.pooling_type set): it serves /v1/embeddings, not text.
  bool embedding = false;
  /// Empty when the file can be served; else why not: the GGUF reader's error (corrupt,
  /// truncated, not GGUF), "a vocab-only GGUF", "unsupported architecture", hyper-parameters
  /// out of range.
  std::string error;
};

/// Reads `path`'s GGUF header and checks what a load would check first (the architecture is
/// one of model::find_architecture's, its hyper-parameters read, it has weights). Never fails: a file that cannot be served comes back with `error` set.
ModelFile inspect_model_file(const std::string& path);

/// The name of llama.cpp's general.file_type value (enum llama_ftype, llama.h) as Ollama shows
/// it ("Q4_K_M", "F16"); "" for values it does not name.
std::string file_type_name(int64_t file_type);

/// Bytes of the KV cache of `n_tokens` positions of `file` (model::KvCache's layout, rounded
/// up to whole blocks).
int64_t kv_cache_bytes_for(const ModelFile& file, int64_t n_tokens, KvCacheType type);
/// Positions a KV cache of `bytes` holds for `file` (whole blocks, as model_instance sizes its
/// pool); 0 when the file's shape is unknown (a file that cannot be served).
int64_t kv_cache_positions_for(const ModelFile& file, int64_t bytes, KvCacheType type);

}  // namespace gengyun::deploy
