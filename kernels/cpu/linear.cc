// Linear: y = x . w^T + bias, with weights read in their stored dtype.
// Three weight layouts: 16-row panels (BF16/F16 prepared by the backend, the
// model's path), k-pair panels (BF16 in bf16-dot mode), and row-major (F32
// weights, unprepared views, attention's GEMMs) with the kernels below.
#include <algorithm>
#include <vector>

#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/linear_avx2.h"
#include "kernels/cpu/linear_bf16_pairs.h"
#include "kernels/cpu/linear_panels.h"
#include "kernels/cpu/ops.h"

namespace ovserve::kernels::cpu {
namespace {

// Portable path: one weight row at a time, eight partial sums per dot product.
void GenericRange(const float* x, int64_t M, int64_t K, const Tensor& w, int64_t n0, int64_t n1,
                  float* y, int64_t ldy) {
  for (int64_t n = n0; n < n1; ++n) {
    for (int64_t m = 0; m < M; ++m) {
      const float* xr = x + m * K;
      float partial[8] = {};
      int64_t k = 0;
      for (; k + 8 <= K; k += 8) {
        for (int j = 0; j < 8; ++j) partial[j] += xr[k + j] * LoadAsFloat(w, n * K + k + j);
      }
      float sum = 0.0f;
      for (int j = 0; j < 8; ++j) sum += partial[j];
      for (; k < K; ++k) sum += xr[k] * LoadAsFloat(w, n * K + k);
      y[m * ldy + n] = sum;
    }
  }
}

// y[m, n0:n1] += bias[n0:n1] for every row (no-op without a bias).
void AddBias(const Tensor* bias, int64_t M, int64_t N, int64_t n0, int64_t n1, float* y) {
  if (bias == nullptr) return;
  for (int64_t m = 0; m < M; ++m) {
    for (int64_t n = n0; n < n1; ++n) y[m * N + n] += LoadAsFloat(*bias, n);
  }
}

// Below this many activation rows (batched decode), converting each weight
// row in registers and taking dot products beats packing panels for the GEMM
// (measured crossover on Zen 3: ~64 rows).
constexpr int64_t kGemmMinRows = 64;

}  // namespace

void Linear(ThreadPool& pool, const Tensor& x, const Tensor& w, const Tensor* bias,
            const Tensor& y) {
  const int64_t M = x.rows();
  const int64_t K = x.cols();
  const int64_t N = w.dim(0);
  const float* xp = x.as<const float>();
  float* yp = y.as<float>();
  const Isa isa = SelectedIsa();
  if (w.layout == Layout::kPanels16Pairs) {
    // Activations rounded to bf16 pairs once, read by every thread.
    // (A pointer, not the thread_local itself, goes to the workers.)
    thread_local std::vector<uint32_t> pairs;
    pairs.resize(static_cast<size_t>(M * ColumnPairs(K)));
    const bool dot = HasBf16Dot();
    if (dot) {
      avx512bf16::RoundRowsToBf16Pairs(xp, M, K, pairs.data());
    } else {
      RoundRowsToBf16Pairs(xp, M, K, pairs.data());
    }
    const uint32_t* xb = pairs.data();
    pool.ParallelFor(PanelCount(N), 4, [&](int64_t p0, int64_t p1) {
      if (dot) {
        avx512bf16::PairPanelRange(xb, M, w, p0, p1, yp, N);
      } else {
        GenericPairPanelRange(xb, M, w, p0, p1, yp, N);
      }
      AddBias(bias, M, N, p0 * kPanelRows, std::min(N, p1 * kPanelRows), yp);
    });
    return;
  }
  if (w.layout == Layout::kPanels16) {
    // Threads take whole panels, so each streams its own slice of the weights.
    pool.ParallelFor(PanelCount(N), 4, [&](int64_t p0, int64_t p1) {
      if (isa == Isa::kAvx2) {
        avx2::PanelRange(xp, M, w, p0, p1, yp, N);
      } else {
        GenericPanelRange(xp, M, w, p0, p1, yp, N);
      }
      AddBias(bias, M, N, p0 * kPanelRows, std::min(N, p1 * kPanelRows), yp);
    });
    return;
  }
  // Row-major weights (F32, or not prepared): split the weight rows so each thread streams its own slice of the weights.
  // Ranges are whole 16-row tiles so only the last one has a ragged edge.
  constexpr int64_t kTile = 16;
  const int64_t tiles = (N + kTile - 1) / kTile;
  pool.ParallelFor(tiles, M >= kGemmMinRows ? 8 : 4, [&](int64_t t0, int64_t t1) {
    const int64_t n0 = t0 * kTile;
    const int64_t n1 = std::min(N, t1 * kTile);
    if (isa == Isa::kAvx2) {
      if (M >= kGemmMinRows) {
        avx2::GemmRange(xp, M, K, w.data, w.dtype, n0, n1, yp, N);
      } else if (M > 1) {
        avx2::SmallBatchRange(xp, M, K, w.data, w.dtype, n0, n1, yp, N);
      } else {
        avx2::GemvRange(xp, K, w.data, w.dtype, n0, n1, yp);
      }
    } else {
      GenericRange(xp, M, K, w, n0, n1, yp, N);
    }
    AddBias(bias, M, N, n0, n1, yp);
  });
}

}  // namespace ovserve::kernels::cpu
