#pragma once
// How the decode attention kernel splits long contexts over key ranges
// (flash-decoding): host arithmetic, header-only so it is tested on the CPU.

#include <algorithm>
#include <cstdint>

namespace ovserve::kernels::cuda {

// Keys per shared-memory tile of the attention kernel; split ranges are
// whole tiles.
constexpr int kKeyTile = 32;

struct SplitPlan {
  int splits = 1;
  int keys_per_split = 0;  // a multiple of kKeyTile; splits * keys_per_split >= the longest sequence
};

// Splits only decode-like steps (at most 4 query rows per sequence) with a
// context of 512+ keys, into ranges of at least 256 keys, enough for about
// two blocks per SM, at most 16.
inline SplitPlan PlanSplits(int64_t max_query_len, int64_t max_seq_len, int64_t sequences, int64_t kv_heads,
                            int sm_count) {
  constexpr int64_t kMinKeysPerSplit = 256;
  constexpr int64_t kMaxSplits = 16;
  if (max_query_len > 4 || max_seq_len < 2 * kMinKeysPerSplit) return SplitPlan{};
  const int64_t blocks = std::max<int64_t>(1, sequences * kv_heads);
  const int64_t wanted = (2 * int64_t{sm_count} + blocks - 1) / blocks;
  const int64_t splits = std::min({wanted, max_seq_len / kMinKeysPerSplit, kMaxSplits});
  if (splits <= 1) return SplitPlan{};
  int64_t per = (max_seq_len + splits - 1) / splits;
  per = (per + kKeyTile - 1) / kKeyTile * kKeyTile;
  return SplitPlan{.splits = static_cast<int>((max_seq_len + per - 1) / per),
                   .keys_per_split = static_cast<int>(per)};
}

// Floats of the partial results a plan needs for `rows` query rows: the
// unnormalized outputs and (max, denominator) per row and head.
inline int64_t SplitWorkspaceFloats(const SplitPlan& plan, int64_t rows, int64_t heads, int64_t head_dim) {
  return plan.splits <= 1 ? 0 : plan.splits * rows * heads * (head_dim + 2);
}

}  // namespace ovserve::kernels::cuda
