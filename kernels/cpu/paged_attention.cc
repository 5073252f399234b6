// Paged KV cache ops: StoreKv writes a step's K/V into their slots;
// PagedAttention attends each sequence's query rows over its own blocks.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

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
  // One task per (head, query row); rows of one head are adjacent so a task
  // range reuses that head's keys from cache.
  pool.ParallelFor(Hq * N, 4, [&](int64_t begin, int64_t end) {
    std::vector<float> scores(static_cast<size_t>(longest));
    std::vector<const float*> key_rows(static_cast<size_t>(longest));
    for (int64_t task = begin; task < end; ++task) {
      const int64_t h = task / N, n = task % N;
      const int64_t kvh = h / group;
      const int32_t* table = block_tables + row_seq[n] * max_blocks;
      const int64_t visible = row_pos[n] + 1;
      const float* qrow = qp + (n * Hq + h) * D;
      float max_score = -std::numeric_limits<float>::infinity();
      for (int64_t s = 0; s < visible; ++s) {
        const int64_t slot = table[s / block_size] * block_size + s % block_size;
        key_rows[s] = kp + (slot * Hkv + kvh) * D;
        scores[s] = Dot(qrow, key_rows[s], D) * scale;
        max_score = std::max(max_score, scores[s]);
      }
      float denom = 0.0f;
      for (int64_t s = 0; s < visible; ++s) {
        scores[s] = std::exp(scores[s] - max_score);
        denom += scores[s];
      }
      float* orow = op + (n * Hq + h) * D;
      std::fill(orow, orow + D, 0.0f);
      const float inv = 1.0f / denom;
      for (int64_t s = 0; s < visible; ++s) {
        // The value row sits at the key row's offset in the V cache.
        Axpy(scores[s] * inv, vp + (key_rows[s] - kp), orow, D);
      }
    }
  });
}

}  // namespace ovserve::kernels::cpu
