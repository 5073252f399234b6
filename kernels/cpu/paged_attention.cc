// Paged KV cache ops: StoreKv writes a step's K/V into their slots;
// PagedAttention attends each sequence's query rows over its own blocks.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/ops.h"
#include "kernels/cpu/vector_math.h"

namespace ovserve::kernels::cpu {

void StoreKv(ThreadPool& /*pool*/, const Tensor& k, const Tensor& v, const Tensor& slots,
             const Tensor& k_cache, const Tensor& v_cache) {
  const int64_t N = slots.numel();
  const size_t row_bytes = static_cast<size_t>(k.numel() / std::max<int64_t>(N, 1)) *
                           DTypeSize(k.dtype);
  const int32_t* slot = slots.as<const int32_t>();
  for (int64_t n = 0; n < N; ++n) {
    std::memcpy(k_cache.as<char>() + slot[n] * row_bytes, k.as<const char>() + n * row_bytes,
                row_bytes);
    std::memcpy(v_cache.as<char>() + slot[n] * row_bytes, v.as<const char>() + n * row_bytes,
                row_bytes);
  }
}

namespace {

// One query row's `group` query heads that share one KV head: each key and
// value row is read once for all of them (GQA: 7 query heads per KV head in
// the 0.5B model) instead of once per query head, while it is hot in L1.
void AttendGroup(const float* q, int64_t group, int64_t D, const float* const* key_rows,
                 const float* const* value_rows, int64_t visible, float scale, float* scores,
                 float* out) {
  for (int64_t s = 0; s < visible; ++s) {
    for (int64_t g = 0; g < group; ++g) scores[g * visible + s] = Dot(q + g * D, key_rows[s], D) * scale;
  }
  for (int64_t g = 0; g < group; ++g) {
    float* row = scores + g * visible;
    float max_score = -std::numeric_limits<float>::infinity();
    for (int64_t s = 0; s < visible; ++s) max_score = std::max(max_score, row[s]);
    float denom = 0.0f;
    for (int64_t s = 0; s < visible; ++s) {
      row[s] = std::exp(row[s] - max_score);
      denom += row[s];
    }
    const float inv = 1.0f / denom;
    for (int64_t s = 0; s < visible; ++s) row[s] *= inv;
    std::fill(out + g * D, out + (g + 1) * D, 0.0f);
  }
  for (int64_t s = 0; s < visible; ++s) {
    for (int64_t g = 0; g < group; ++g) Axpy(scores[g * visible + s], value_rows[s], out + g * D, D);
  }
}

// A prefill chunk this long is attended as GEMMs (Attention's long path)
// over its sequence's K/V gathered from the blocks, instead of row by row.
constexpr int64_t kGemmChunkRows = 64;

// Sequence b's keys and values [seq_len, Hkv, D], gathered from its blocks.
void GatherSequence(const float* cache, const int32_t* table, int64_t seq_len, int64_t block_size,
                    int64_t row_floats, float* out) {
  for (int64_t s = 0; s < seq_len; ++s) {
    const int64_t slot = table[s / block_size] * block_size + s % block_size;
    std::memcpy(out + s * row_floats, cache + slot * row_floats, sizeof(float) * row_floats);
  }
}

}  // namespace

void PagedAttention(ThreadPool& pool, const Tensor& q, const Tensor& k_cache,
                    const Tensor& v_cache, const PagedBatch& batch, float scale,
                    const Tensor& out) {
  const int64_t N = q.dim(0), Hq = q.dim(1), D = q.dim(2);
  const int64_t Hkv = k_cache.dim(1);
  const int64_t group = Hq / Hkv;
  const int64_t B = batch.seq_lens.numel();
  const int64_t max_blocks = batch.block_tables.dim(1);
  const int64_t block_size = batch.block_size;
  const int32_t* query_start = batch.query_start.as<const int32_t>();
  const int32_t* seq_lens = batch.seq_lens.as<const int32_t>();
  const int32_t* block_tables = batch.block_tables.as<const int32_t>();

  // Per query row: its sequence and its position in that sequence.
  std::vector<int32_t> row_seq(N), row_pos(N);
  int64_t longest = 0;
  for (int64_t b = 0; b < B; ++b) {
    const int32_t begin = query_start[b], end = query_start[b + 1];
    for (int32_t n = begin; n < end; ++n) {
      row_seq[n] = static_cast<int32_t>(b);
      row_pos[n] = seq_lens[b] - (end - begin) + (n - begin);
    }
    longest = std::max<int64_t>(longest, seq_lens[b]);
  }

  const float* qp = q.as<const float>();
  const float* kp = k_cache.as<const float>();
  const float* vp = v_cache.as<const float>();
  float* op = out.as<float>();

  // Long prefill chunks: contiguous K/V, then two GEMMs per head.
  std::vector<int32_t> rows;  // the query rows left for the row-by-row path
  rows.reserve(static_cast<size_t>(N));
  std::vector<float> keys, values;
  for (int64_t b = 0; b < B; ++b) {
    const int32_t begin = query_start[b], end = query_start[b + 1];
    const int64_t chunk = end - begin;
    if (chunk < kGemmChunkRows || SelectedIsa() != Isa::kAvx2) {
      for (int32_t n = begin; n < end; ++n) rows.push_back(n);
      continue;
    }
    const int64_t seq_len = seq_lens[b];
    keys.resize(static_cast<size_t>(seq_len * Hkv * D));
    values.resize(keys.size());
    GatherSequence(kp, block_tables + b * max_blocks, seq_len, block_size, Hkv * D, keys.data());
    GatherSequence(vp, block_tables + b * max_blocks, seq_len, block_size, Hkv * D, values.data());
    Attention(pool, q.Slice(begin, chunk), Tensor(keys.data(), DType::kF32, {seq_len, Hkv, D}),
              Tensor(values.data(), DType::kF32, {seq_len, Hkv, D}), out.Slice(begin, chunk),
              AttentionParams{.scale = scale, .causal = true, .q_offset = seq_len - chunk});
  }
  if (rows.empty()) return;

  // Decode rows and short chunks: one task per (query row, KV head), the
  // row's query heads of that group.
  const int64_t R = static_cast<int64_t>(rows.size());
  pool.ParallelFor(R * Hkv, 2, [&](int64_t begin, int64_t end) {
    thread_local std::vector<float> scores;
    thread_local std::vector<const float*> key_rows, value_rows;
    scores.resize(static_cast<size_t>(group * longest));
    key_rows.resize(static_cast<size_t>(longest));
    value_rows.resize(static_cast<size_t>(longest));
    for (int64_t task = begin; task < end; ++task) {
      const int64_t n = rows[task / Hkv], kvh = task % Hkv;
      const int32_t* table = block_tables + row_seq[n] * max_blocks;
      const int64_t visible = row_pos[n] + 1;
      for (int64_t s = 0; s < visible; ++s) {
        const int64_t slot = table[s / block_size] * block_size + s % block_size;
        key_rows[s] = kp + (slot * Hkv + kvh) * D;
        value_rows[s] = vp + (slot * Hkv + kvh) * D;
      }
      const int64_t h0 = kvh * group;
      AttendGroup(qp + (n * Hq + h0) * D, group, D, key_rows.data(), value_rows.data(), visible,
                  scale, scores.data(), op + (n * Hq + h0) * D);
    }
  });
}

}  // namespace ovserve::kernels::cpu
