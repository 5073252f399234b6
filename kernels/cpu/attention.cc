// Softmax attention over contiguous K/V (grouped-query, optional causal mask).
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/linear_avx2.h"
#include "kernels/cpu/ops.h"
#include "kernels/cpu/vector_math.h"

namespace ovserve::kernels::cpu {
namespace {

// One head as two GEMMs (AVX2): scores = (scale * Q_h) . K_h^T, a softmax
// per row, out_h = P . V_h. Long sequences attended all at once (SigLIP's
// 729 patches) spend their time in FMA-bound tiles instead of one dot product
// per (query, key) pair. Rows of Q/K/V/out are [tokens, heads, D].
void HeadAsGemms(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out,
                 const AttentionParams& params, int64_t h) {
  const int64_t T = q.dim(0), Hq = q.dim(1), D = q.dim(2);
  const int64_t S = k.dim(0), Hkv = k.dim(1);
  const int64_t kvh = h / (Hq / Hkv);
  thread_local std::vector<float> qh, kh, vt, scores, oh;
  qh.resize(T * D);
  kh.resize(S * D);
  vt.resize(D * S);
  scores.resize(T * S);
  oh.resize(T * D);
  const float* qp = q.as<const float>();
  const float* kp = k.as<const float>();
  const float* vp = v.as<const float>();
  for (int64_t t = 0; t < T; ++t) {
    const float* src = qp + (t * Hq + h) * D;
    for (int64_t d = 0; d < D; ++d) qh[t * D + d] = src[d] * params.scale;
  }
  for (int64_t s = 0; s < S; ++s) {
    const float* ks = kp + (s * Hkv + kvh) * D;
    const float* vs = vp + (s * Hkv + kvh) * D;
    std::copy(ks, ks + D, kh.data() + s * D);
    for (int64_t d = 0; d < D; ++d) vt[d * S + s] = vs[d];
  }
  if (params.causal) {
    // Each block of query rows scores only the keys its last row can see
    // (the rest of its rows are never read): about half the work of a
    // prefill chunk. A head's D <= 256 columns are one packed depth block,
    // so every score is the same single FMA chain as over all S keys.
    constexpr int64_t kCausalRows = 48;  // a multiple of the GEMM's 6-row tile
    for (int64_t t0 = 0; t0 < T; t0 += kCausalRows) {
      const int64_t rows = std::min(kCausalRows, T - t0);
      const int64_t visible = std::min(S, params.q_offset + t0 + rows);
      avx2::GemmRange(qh.data() + t0 * D, rows, D, kh.data(), DType::kF32, 0, visible,
                      scores.data() + t0 * S, S);
    }
  } else {
    avx2::GemmRange(qh.data(), T, D, kh.data(), DType::kF32, 0, S, scores.data(), S);
  }
  std::vector<float> inv_denom(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; ++t) {
    float* row = scores.data() + t * S;
    const int64_t visible = params.causal ? std::min(S, params.q_offset + t + 1) : S;
    const float max_score = *std::max_element(row, row + visible);
    float denom = 0.0f;
    for (int64_t s = 0; s < visible; ++s) {
      row[s] = std::exp(row[s] - max_score);
      denom += row[s];
    }
    std::fill(row + visible, row + S, 0.0f);
    inv_denom[t] = 1.0f / denom;
  }
  avx2::GemmRange(scores.data(), T, S, vt.data(), DType::kF32, 0, D, oh.data(), D);
  float* op = out.as<float>();
  for (int64_t t = 0; t < T; ++t) {
    float* dst = op + (t * Hq + h) * D;
    for (int64_t d = 0; d < D; ++d) dst[d] = oh[t * D + d] * inv_denom[t];
  }
}

// Below this many query rows the per-row loop wins (no copies).
constexpr int64_t kGemmMinQueryRows = 64;

}  // namespace

void Attention(ThreadPool& pool, const Tensor& q, const Tensor& k, const Tensor& v,
               const Tensor& out, const AttentionParams& params) {
  const int64_t T = q.dim(0), Hq = q.dim(1), D = q.dim(2);
  const int64_t S = k.dim(0), Hkv = k.dim(1);
  const int64_t group = Hq / Hkv;
  const float* qp = q.as<const float>();
  const float* kp = k.as<const float>();
  const float* vp = v.as<const float>();
  float* op = out.as<float>();
  if (SelectedIsa() == Isa::kAvx2 && T >= kGemmMinQueryRows) {
    pool.ParallelFor(Hq, 1, [&](int64_t h0, int64_t h1) {
      for (int64_t h = h0; h < h1; ++h) HeadAsGemms(q, k, v, out, params, h);
    });
    return;
  }
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
