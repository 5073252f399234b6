#pragma once
// How the decode attention kernel splits long contexts over key ranges
// (flash-decoding): host arithmetic, header-only so it is tested on the CPU.

#include <algorithm>
#include <cstdint>

#include "kernels/cuda/device_math.h"  // OVSERVE_HOST_DEVICE

namespace ovserve::kernels::cuda {

// Keys per shared-memory tile of the attention kernel; split ranges are
// whole tiles.
constexpr int kKeyTile = 32;

// Key ranges per sequence: `splits` of them, each a whole number of tiles
// (SplitRange). Sized per sequence on the device, so one plan (and one CUDA
// graph) serves sequences of any length.
struct SplitPlan {
  int splits = 1;
};

// Keys [begin, end) of range `split` of a sequence of `keys` keys.
struct KeyRange {
  int64_t begin, end;
};
OVSERVE_HOST_DEVICE KeyRange SplitRange(int64_t keys, int splits, int split) {
  int64_t per = (keys + splits - 1) / splits;
  per = (per + kKeyTile - 1) / kKeyTile * kKeyTile;
  const int64_t begin = split * per;
  const int64_t end = begin + per < keys ? begin + per : keys;
  return KeyRange{begin, end < begin ? begin : end};
}

// Splits only decode-like steps (at most 4 query rows per sequence) whose
// longest context has 512+ keys: enough ranges for about two blocks per SM, at
// most 16, and no more than that context's keys / 256.
inline SplitPlan PlanSplits(int64_t max_query_len, int64_t max_seq_len, int64_t sequences, int64_t kv_heads,
                            int sm_count) {
  constexpr int64_t kMinKeysPerSplit = 256;
  constexpr int64_t kMaxSplits = 16;
  if (max_query_len > 4 || max_seq_len < 2 * kMinKeysPerSplit) return SplitPlan{};
  const int64_t blocks = std::max<int64_t>(1, sequences * kv_heads);
  const int64_t wanted = (2 * int64_t{sm_count} + blocks - 1) / blocks;
  const int64_t splits = std::min({wanted, max_seq_len / kMinKeysPerSplit, kMaxSplits});
  if (splits <= 1) return SplitPlan{};
  return SplitPlan{.splits = static_cast<int>(splits)};
}

// Floats of the partial results a plan needs for `rows` query rows: the
// unnormalized outputs and (max, denominator) per row and head.
inline int64_t SplitWorkspaceFloats(const SplitPlan& plan, int64_t rows, int64_t heads, int64_t head_dim) {
  return plan.splits <= 1 ? 0 : plan.splits * rows * heads * (head_dim + 2);
}

}  // namespace ovserve::kernels::cuda
