// Linear: y = x . w^T + bias, with weights read in their stored dtype.
// Five weight layouts: 16-row panels (BF16/F16 prepared by the backend, the
// model's path), k-pair panels (BF16 with bf16 dot products), Q8 and Q4
// panels (quantized weights, int8 activations), and row-major (F32 weights,
// unprepared views, attention's GEMMs) with the kernels below.
#include <algorithm>
#include <vector>

#include "kernels/check.h"
#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/linear_avx2.h"
#include "kernels/cpu/linear_bf16_pairs.h"
#include "kernels/cpu/linear_panels.h"
#include "kernels/cpu/linear_q4.h"
#include "kernels/cpu/linear_q8.h"
#include "kernels/cpu/ops.h"
#include "kernels/cpu/quantize.h"

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

namespace {

// Activations quantized per token for the Q8 / Q4 kernels: rows of `stride`
// bytes, one scale each, and (Q4) each row's sum per group of columns.
struct QuantizedRows {
  std::vector<uint8_t> values;
  std::vector<float> scales;
  std::vector<int32_t> group_sums;
};

void QuantizeRows(ThreadPool& pool, const float* x, int64_t M, int64_t K, const int32_t* order,
                  int64_t stride, bool offset, int64_t group, QuantizedRows* out) {
  out->values.resize(static_cast<size_t>(M * stride));
  out->scales.resize(static_cast<size_t>(M));
  const int64_t groups = group > 0 ? K / group : 0;
  out->group_sums.resize(static_cast<size_t>(M * groups));
  uint8_t* values = out->values.data();
  float* scales = out->scales.data();
  int32_t* sums = out->group_sums.data();
  const bool vnni = HasAvx512Vnni();
  pool.ParallelFor(M, 8, [&](int64_t m0, int64_t m1) {
    for (int64_t m = m0; m < m1; ++m) {
      uint8_t* row = values + m * stride;
      scales[m] = vnni ? avx512::QuantizeActivationRow(x + m * K, K, order, stride, offset, row)
                       : QuantizeActivationRow(x + m * K, K, order, stride, offset, row);
      for (int64_t g = 0; g < groups; ++g) {
        int32_t sum = 0;
        for (int64_t k = g * group; k < (g + 1) * group; ++k) sum += static_cast<int8_t>(row[k]);
        sums[m * groups + g] = sum;
      }
    }
  });
}

// x rounded to bf16 (kept as fp32 values), for CpuPrecision::kBf16 on CPUs
// without bf16 dot products.
void RoundToBf16(ThreadPool& pool, const float* x, int64_t n, float* out) {
  pool.ParallelFor(n, 4096, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) out[i] = Bf16ToF32(F32ToBf16(x[i]));
  });
}

}  // namespace

void Linear(ThreadPool& pool, const Tensor& x, const Tensor& w, const Tensor* bias,
            const Tensor& y, bool round_to_bf16) {
  const int64_t M = x.rows();
  const int64_t K = x.cols();
  const int64_t N = w.dim(0);
  const float* xp = x.as<const float>();
  float* yp = y.as<float>();
  const Isa isa = SelectedIsa();
  if (IsQuantized(w.dtype)) {
    OVSERVE_CHECK(w.layout == Layout::kPanelsQ8 || w.layout == Layout::kPanelsQ4,
                  "Linear: quantized weights must be prepared (PrepareLinearWeight) first");
    thread_local QuantizedRows rows;
    const bool vnni = HasAvx512Vnni();
    if (w.layout == Layout::kPanelsQ8) {
      const int64_t stride = ColumnQuads(K) * 4;
      QuantizeRows(pool, xp, M, K, nullptr, stride, /*offset=*/true, 0, &rows);
      const uint8_t* xq = rows.values.data();
      const float* sx = rows.scales.data();
      pool.ParallelFor(PanelCount(N), 2, [&](int64_t p0, int64_t p1) {
        if (vnni) {
          avx512vnni::Q8PanelRange(xq, sx, M, w, p0, p1, yp, N);
        } else {
          GenericQ8PanelRange(xq, sx, M, w, p0, p1, yp, N);
        }
        AddBias(bias, M, N, p0 * kPanelRows, std::min(N, p1 * kPanelRows), yp);
      });
      return;
    }
    const int32_t* order =
        w.column_order ? reinterpret_cast<const int32_t*>(w.as<const uint8_t>() +
                                                          Q4PanelOrderOffset(N, K, w.group))
                       : nullptr;
    QuantizeRows(pool, xp, M, K, order, K, /*offset=*/false, w.group, &rows);
    const auto* xq = reinterpret_cast<const int8_t*>(rows.values.data());
    const float* sx = rows.scales.data();
    const int32_t* sums = rows.group_sums.data();
    pool.ParallelFor(PanelCount(N), 2, [&](int64_t p0, int64_t p1) {
      if (vnni) {
        avx512vnni::Q4PanelRange(xq, sx, sums, M, w, p0, p1, yp, N);
      } else {
        GenericQ4PanelRange(xq, sx, sums, M, w, p0, p1, yp, N);
      }
      AddBias(bias, M, N, p0 * kPanelRows, std::min(N, p1 * kPanelRows), yp);
    });
    return;
  }
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
    if (round_to_bf16) {
      thread_local std::vector<float> rounded;
      rounded.resize(static_cast<size_t>(M * K));
      RoundToBf16(pool, xp, M * K, rounded.data());
      xp = rounded.data();
    }
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
