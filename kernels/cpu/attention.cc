// Softmax attention over contiguous K/V (grouped-query, optional causal mask).
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/cpu/ops.h"
#include "kernels/cpu/vector_math.h"

namespace ovserve::kernels::cpu {

void Attention(ThreadPool& pool, const Tensor& q, const Tensor& k, const Tensor& v,
               const Tensor& out, const AttentionParams& params) {
  const int64_t T = q.dim(0), Hq = q.dim(1), D = q.dim(2);
  const int64_t S = k.dim(0), Hkv = k.dim(1);
  const int64_t group = Hq / Hkv;
  const float* qp = q.as<const float>();
  const float* kp = k.as<const float>();
  const float* vp = v.as<const float>();
  float* op = out.as<float>();
  // One task per (head, query row); rows of one head are adjacent so a task
  // range reuses that head's keys from cache.
  pool.ParallelFor(Hq * T, 4, [&](int64_t begin, int64_t end) {
    std::vector<float> scores(S);
    for (int64_t task = begin; task < end; ++task) {
      const int64_t h = task / T, t = task % T;
      const int64_t kvh = h / group;
      const int64_t visible = params.causal ? std::min(S, params.q_offset + t + 1) : S;
      const float* qrow = qp + (t * Hq + h) * D;
      float max_score = -std::numeric_limits<float>::infinity();
      for (int64_t s = 0; s < visible; ++s) {
        scores[s] = Dot(qrow, kp + (s * Hkv + kvh) * D, D) * params.scale;
        max_score = std::max(max_score, scores[s]);
      }
      float denom = 0.0f;
      for (int64_t s = 0; s < visible; ++s) {
        scores[s] = std::exp(scores[s] - max_score);
        denom += scores[s];
      }
      float* orow = op + (t * Hq + h) * D;
      std::fill(orow, orow + D, 0.0f);
      const float inv = 1.0f / denom;
      for (int64_t s = 0; s < visible; ++s) Axpy(scores[s] * inv, vp + (s * Hkv + kvh) * D, orow, D);
    }
  });
}

}  // namespace ovserve::kernels::cpu
