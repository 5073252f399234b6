#pragma once
// How a Qwen2 decoder is split over the ranks of a tensor-parallel group,
// Megatron-style, straight from the Hugging Face weights:
// - column-parallel q/k/v/gate/up: a rank keeps the output rows of its
//   attention heads and of its slice of the MLP;
// - row-parallel o/down: the matching input columns, and the partial outputs
//   are summed by an all-reduce (twice per layer);
// - attention is split by KV group: with tp <= num_key_value_heads each rank
//   owns whole groups; with more ranks than KV heads each KV head is
//   replicated on tp / kv ranks that split its query heads (0.5B: 2 KV heads,
//   7 query heads each; tp 4 gives 4, 3, 4, 3 query heads);
// - lm_head vocab-parallel (each rank computes its rows of the logits, then
//   an all-gather), the embedding table replicated (a row gather is cheap);
// - ranks share nothing else: each owns its slice of the paged KV cache.
// Slices need not be equal (4864 MLP rows over 3 ranks, 151936 vocab rows).

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/model/llava_weights.h"
#include "engine/model/model_config.h"

namespace ovserve::engine {

struct RankShard {
  int64_t head_begin = 0, head_end = 0;          // query heads
  int64_t kv_head_begin = 0, kv_head_end = 0;    // KV heads (replicated when tp > kv)
  int64_t inter_begin = 0, inter_end = 0;        // MLP intermediate rows
  int64_t vocab_begin = 0, vocab_end = 0;        // lm_head rows
};

// One shard per rank, or an error naming why `tp` cannot split `config`
// (tp must divide num_key_value_heads or be a multiple of it, and a KV
// group's query heads must cover its ranks).
absl::StatusOr<std::vector<RankShard>> PlanTensorParallel(const TextConfig& config, int tp);

// The config a rank's Qwen2Model runs with: its head and MLP counts (the
// vocabulary stays whole: it is the width of the gathered logits).
TextConfig ShardTextConfig(const TextConfig& config, const RankShard& shard);

// A rank's weights: views into `full` for the row slices (column-parallel
// layers, lm_head), copies of the column slices of o_proj/down_proj (in
// their dtype) kept in `storage`. Host memory (the CPU backend).
struct ShardStorage {
  std::vector<std::vector<char>> buffers;
};
Qwen2Weights ShardQwen2Weights(const Qwen2Weights& full, const TextConfig& config,
                               const RankShard& shard, ShardStorage* storage);

}  // namespace ovserve::engine
