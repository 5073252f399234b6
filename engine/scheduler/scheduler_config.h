#pragma once
// SchedulerConfig: the knobs of continuous batching. A plain value copied into
// the Scheduler at construction (Scheduler::ValidateConfig checks it); units
// are tokens, KV blocks and requests as named.

#include <cstdint>

#include "engine/kv_cache/block_hash.h"

namespace ovserve::engine {

struct SchedulerConfig {
  int block_size = 16;     // tokens per KV block (> 0)
  int32_t num_blocks = 0;  // KV blocks in the cache (> 0)
  // Token budget of one step, shared by decodes (1 token each) and prefill
  // chunks; a longer prompt is prefilled in chunks over several steps (> 0).
  int64_t max_batched_tokens = 8192;
  int64_t max_running_requests = 256;  // sequences holding KV blocks at once (> 0)
  // Admission leaves this many blocks free, so running sequences can keep
  // decoding without preempting each other right after an admission.
  // [0, num_blocks).
  int64_t watermark_blocks = 0;
  bool enable_prefix_caching = true;  // reuse KV of full blocks with equal hashes
  BlockHashAlgorithm block_hash = BlockHashAlgorithm::kXxh3;  // of prefix-cache blocks
};

}  // namespace ovserve::engine
