// One request's sequence as the scheduler and the KV-cache manager see it: its tokens, how
// many of them are in the KV cache, and its blocks.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/prefix_hash.h"
#include "model/lora.h"

namespace gengyun::engine {

enum class SequenceStatus { Waiting, Running, Finished };

/// Tokens are the prompt followed by the tokens sampled so far; positions [0, n_computed) are
/// in the KV cache, in the blocks of block_table (block i holds positions
/// [i * block_size, (i + 1) * block_size)). Owned by the engine; the scheduler and the KV-cache
/// manager keep pointers.
struct Sequence {
  uint64_t id = 0;   ///< arrival order
  int priority = 0;  ///< lower first
  std::vector<int32_t> tokens;
  int n_prompt = 0;
  int n_computed = 0;
  /// Prompt tokens taken from the prefix cache at the sequence's (latest) admission.
  int n_cached_prompt = 0;
  /// Highest n_computed reached within the prompt: the prompt tokens billed.
  int n_prompt_processed = 0;
  std::string cache_key;  ///< the prefix cache's extra keys: model, LoRA adapter, cache salt
  /// The LoRA adapter its rows get (nullptr: the base model); kept alive while it runs.
  std::shared_ptr<const model::LoraAdapter> adapter;
  std::vector<int32_t> block_table;
  std::vector<BlockHash> block_hashes;  ///< of the full blocks of `tokens`, computed lazily
  /// Leading blocks of block_table already offered to the prefix cache.
  int n_blocks_cached = 0;
  SequenceStatus status = SequenceStatus::Waiting;
  int n_preemptions = 0;

  int n_tokens() const { return static_cast<int>(tokens.size()); }
  /// Tokens still to be computed before the next sample.
  int n_uncomputed() const { return n_tokens() - n_computed; }
};

}  // namespace gengyun::engine
