// Softmax attention on the GPU, one kernel for three uses:
// - paged prefill (causal over each sequence's cached blocks, chunked
//   prefill included: a chunk's rows sit at the END of their sequence),
// - paged decode (one row per sequence; long contexts split over key ranges,
//   flash-decoding style, and the partial results merged by a second kernel),
// - dense attention (SigLIP: non-causal, contiguous K/V).
//
// A block takes one KV head and a tile of query rows of one sequence; its
// items are the (row, query head) pairs of that tile that share the KV head
// (grouped-query attention reads each K/V tile once for all of them). K/V
// tiles of 32 keys are staged in shared memory as F32; each warp owns items
// and scores 32 keys at once (lane = key), keeping flash-attention's running
// max / denominator / output in registers (lane = head-dim slice).
//
// CUDA cores only (no tensor-core MMA yet): decode is bandwidth-bound and
// fine this way; long prefills are where an MMA version would pay.
#include <algorithm>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_math.h"
#include "kernels/cuda/device_types.cuh"
#include "kernels/cuda/ops.h"

namespace ovserve::kernels::cuda {
namespace {

constexpr int kWarps = 8;
constexpr int kItemsPerWarp = 2;
constexpr int kItems = kWarps * kItemsPerWarp;  // (row, query head) pairs per block
constexpr int kChunks = kMaxHeadDim / 32;  // head-dim values per lane

// Where key p of sequence b lives: a paged cache slot, or row p.
struct PagedSlots {
  const int32_t* tables;
  int64_t max_blocks;
  int block_size;
  __device__ int64_t operator()(int b, int64_t p) const {
    return int64_t{tables[b * max_blocks + p / block_size]} * block_size + p % block_size;
  }
};
struct DenseSlots {
  __device__ int64_t operator()(int /*b*/, int64_t p) const { return p; }
};

// Rows and keys of each sequence: from the paged batch's index tensors, or
// (query_start == nullptr) one dense sequence.
struct Geometry {
  const int32_t* query_start = nullptr;
  const int32_t* seq_lens = nullptr;
  int64_t rows = 0, keys = 0, q_offset = 0;
  bool causal = false;
};

struct Partials {
  int splits = 1;
  int64_t total_rows = 0;
  float* acc = nullptr;  // [splits, total_rows, Hq, D]
  float* ml = nullptr;   // [splits, total_rows, Hq, 2]: running max, denominator
};

size_t SharedBytes(int D) {
  return sizeof(float) * (static_cast<size_t>(kItems) * D + kKeyTile * (D + 1) + kKeyTile * D);
}

template <typename C, typename Slots>
__global__ void __launch_bounds__(kWarps * 32)
    AttentionKernel(const float* q, const C* k, const C* v, Slots slots, Geometry g, int Hq, int Hkv,
                    int D, float scale, Partials partials, float* out) {
  extern __shared__ float smem[];
  float* q_s = smem;                          // [kItems][D], pre-scaled
  float* k_s = q_s + kItems * D;              // [kKeyTile][D + 1] (padded: lane = key)
  float* v_s = k_s + kKeyTile * (D + 1);      // [kKeyTile][D]
  const int group = Hq / Hkv;
  const int rows_per_tile = kItems / group;
  const int splits = partials.splits;
  const int kvh = static_cast<int>(blockIdx.z) / splits, split = static_cast<int>(blockIdx.z) % splits;
  const int b = static_cast<int>(blockIdx.y);

  int64_t q_begin = 0, q_len = g.rows, key_count = g.keys, q_off = g.q_offset;
  bool causal = g.causal;
  if (g.query_start != nullptr) {
    q_begin = g.query_start[b];
    q_len = g.query_start[b + 1] - q_begin;
    key_count = g.seq_lens[b];
    q_off = key_count - q_len;
    causal = true;
  }
  const int64_t row0 = int64_t{blockIdx.x} * rows_per_tile;
  if (row0 >= q_len) return;
  const int rows_here = static_cast<int>(min(int64_t{rows_per_tile}, q_len - row0));
  const int items = rows_here * group;
  int64_t key_begin = 0;
  int64_t key_end = causal ? min(key_count, q_off + row0 + rows_here) : key_count;
  if (splits > 1) {
    const KeyRange range = SplitRange(key_count, splits, split);
    key_begin = range.begin;
    key_end = min(key_end, range.end);
  }

  for (int i = threadIdx.x; i < items * D; i += blockDim.x) {
    const int item = i / D, d = i % D;
    const int64_t row = q_begin + row0 + item / group;
    const int head = kvh * group + item % group;
    q_s[i] = q[(row * Hq + head) * D + d] * scale;
  }

  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  SoftmaxState state[kItemsPerWarp];
  float acc[kItemsPerWarp][kChunks];
#pragma unroll
  for (int w = 0; w < kItemsPerWarp; ++w) {
#pragma unroll
    for (int c = 0; c < kChunks; ++c) acc[w][c] = 0.0f;
  }

  for (int64_t t0 = key_begin; t0 < key_end; t0 += kKeyTile) {
    const int tile = static_cast<int>(min(int64_t{kKeyTile}, key_end - t0));
    __syncthreads();  // the previous tile is consumed (and q_s is written)
    for (int i = threadIdx.x; i < tile * D; i += blockDim.x) {
      const int j = i / D, d = i % D;
      const int64_t offset = (slots(b, t0 + j) * Hkv + kvh) * D + d;
      k_s[j * (D + 1) + d] = ToFloat(k[offset]);
      v_s[j * D + d] = ToFloat(v[offset]);
    }
    __syncthreads();
#pragma unroll
    for (int w = 0; w < kItemsPerWarp; ++w) {
      const int item = warp + w * kWarps;
      if (item >= items) break;  // warp-uniform
      const int64_t r = row0 + item / group;
      const int64_t visible = causal ? min(key_count, q_off + r + 1) : key_count;
      const int valid_keys = static_cast<int>(max(int64_t{0}, min(int64_t{tile}, visible - t0)));
      if (valid_keys == 0) continue;  // warp-uniform: this item sees none of the tile
      float s = -INFINITY;
      if (lane < valid_keys) {
        const float* qi = q_s + item * D;
        const float* kj = k_s + lane * (D + 1);
        float dot = 0.0f;
        for (int d = 0; d < D; ++d) dot = fmaf(qi[d], kj[d], dot);
        s = dot;
      }
      const float new_max = fmaxf(state[w].m, WarpMax(s));
      const float p = lane < valid_keys ? expf(s - new_max) : 0.0f;
      const float factor = SoftmaxFold(state[w], new_max, WarpSum(p));
#pragma unroll
      for (int c = 0; c < kChunks; ++c) acc[w][c] *= factor;
      for (int j = 0; j < valid_keys; ++j) {
        const float pj = __shfl_sync(0xffffffffu, p, j);
        const float* vj = v_s + j * D;
#pragma unroll
        for (int c = 0; c < kChunks; ++c) {
          const int d = lane + 32 * c;
          if (d < D) acc[w][c] = fmaf(pj, vj[d], acc[w][c]);
        }
      }
    }
  }

#pragma unroll
  for (int w = 0; w < kItemsPerWarp; ++w) {
    const int item = warp + w * kWarps;
    if (item >= items) break;
    const int64_t row = q_begin + row0 + item / group;
    const int head = kvh * group + item % group;
    if (splits == 1) {
      const float inv = state[w].l > 0.0f ? 1.0f / state[w].l : 0.0f;
      float* o = out + (row * Hq + head) * D;
#pragma unroll
      for (int c = 0; c < kChunks; ++c) {
        const int d = lane + 32 * c;
        if (d < D) o[d] = acc[w][c] * inv;
      }
    } else {
      const int64_t base = (split * partials.total_rows + row) * Hq + head;
#pragma unroll
      for (int c = 0; c < kChunks; ++c) {
        const int d = lane + 32 * c;
        if (d < D) partials.acc[base * D + d] = acc[w][c];
      }
      if (lane == 0) {
        partials.ml[2 * base] = state[w].m;
        partials.ml[2 * base + 1] = state[w].l;
      }
    }
  }
}

// out[row, head] = the split partials merged (flash-decoding's second pass).
__global__ void CombineSplitsKernel(Partials partials, int Hq, int D, float* out) {
  const int64_t row = blockIdx.x;
  const int head = static_cast<int>(blockIdx.y);
  for (int d = threadIdx.x; d < D; d += blockDim.x) {
    SoftmaxState merged;
    float value = 0.0f;
    for (int s = 0; s < partials.splits; ++s) {
      const int64_t base = (s * partials.total_rows + row) * Hq + head;
      const SoftmaxState part{partials.ml[2 * base], partials.ml[2 * base + 1]};
      const MergeWeights w = SoftmaxMerge(merged, part);
      value = value * w.a + partials.acc[base * D + d] * w.b;
    }
    out[(row * Hq + head) * D + d] = merged.l > 0.0f ? value / merged.l : 0.0f;
  }
}

template <typename C, typename Slots>
void Launch(cudaStream_t stream, const Tensor& q, const C* k, const C* v, Slots slots,
            const Geometry& geometry, int64_t tiles, int64_t sequences, int64_t Hkv, float scale,
            const Partials& partials, const Tensor& out) {
  const int Hq = static_cast<int>(q.dim(1)), D = static_cast<int>(q.dim(2));
  const dim3 grid(static_cast<unsigned>(tiles), static_cast<unsigned>(sequences),
                  static_cast<unsigned>(Hkv * partials.splits));
  AttentionKernel<C, Slots><<<grid, kWarps * 32, SharedBytes(D), stream>>>(
      q.as<const float>(), k, v, slots, geometry, Hq, static_cast<int>(Hkv), D, scale, partials,
      out.as<float>());
  OVSERVE_CUDA_CHECK_LAUNCH();
  if (partials.splits > 1) {
    const dim3 combine(static_cast<unsigned>(q.dim(0)), static_cast<unsigned>(Hq));
    CombineSplitsKernel<<<combine, 128, 0, stream>>>(partials, Hq, D, out.as<float>());
    OVSERVE_CUDA_CHECK_LAUNCH();
  }
}

int64_t RowsPerTile(int64_t Hq, int64_t Hkv) {
  const int64_t group = Hq / Hkv;
  OVSERVE_CHECK(group >= 1 && group <= kItems, "attention: %lld query heads per KV head (at most %d)",
                static_cast<long long>(group), kItems);
  return kItems / group;
}

}  // namespace

void DenseAttention(cudaStream_t stream, const Tensor& q, const Tensor& k, const Tensor& v,
                    const Tensor& out, const AttentionParams& params) {
  const int64_t T = q.dim(0), S = k.dim(0), Hkv = k.dim(1);
  if (T == 0) return;
  const int64_t per_tile = RowsPerTile(q.dim(1), Hkv);
  const Geometry geometry{.rows = T, .keys = S, .q_offset = params.q_offset, .causal = params.causal};
  Launch<float>(stream, q, k.as<const float>(), v.as<const float>(), DenseSlots{}, geometry,
                (T + per_tile - 1) / per_tile, 1, Hkv, params.scale, Partials{}, out);
}

void PagedAttention(cudaStream_t stream, const Tensor& q, const Tensor& k_cache,
                    const Tensor& v_cache, const PagedBatch& batch, float scale, int64_t max_query_len,
                    const SplitPlan& plan, float* workspace, const Tensor& out) {
  const int64_t N = q.dim(0), Hq = q.dim(1), D = q.dim(2), Hkv = k_cache.dim(1);
  const int64_t B = batch.seq_lens.numel();
  if (N == 0 || B == 0) return;
  const int64_t per_tile = RowsPerTile(Hq, Hkv);
  const Geometry geometry{.query_start = batch.query_start.as<const int32_t>(),
                          .seq_lens = batch.seq_lens.as<const int32_t>()};
  const PagedSlots slots{.tables = batch.block_tables.as<const int32_t>(),
                         .max_blocks = batch.block_tables.dim(1),
                         .block_size = batch.block_size};
  Partials partials{.splits = plan.splits, .total_rows = N};
  if (plan.splits > 1) {
    partials.acc = workspace;
    partials.ml = workspace + plan.splits * N * Hq * D;
  }
  const int64_t tiles = (max_query_len + per_tile - 1) / per_tile;
  DispatchFloat(k_cache.dtype, [&](auto tag) {
    using C = decltype(tag);
    Launch<C>(stream, q, k_cache.as<const C>(), v_cache.as<const C>(), slots, geometry, tiles, B, Hkv,
              scale, partials, out);
  });
}

}  // namespace ovserve::kernels::cuda
