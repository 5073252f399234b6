// AVX2/FMA/F16C micro-kernels for Linear over packed panels
// (kernels/cpu/linear_panels.h); only called when the CPU supports them.
#include <immintrin.h>

#include <algorithm>

#include "kernels/cpu/linear_panels.h"
#include "kernels/cpu/panel_walk.h"

namespace ovserve::kernels::cpu::avx2 {
namespace {

// Activation rows per call of the row-chunk kernel: 6 rows x 2 accumulators
// + 2 weight vectors + 1 broadcast = 15 of the 16 ymm registers.
constexpr int kMaxRows = 6;
// Rows per block: the block's activations stay in L2/L3 while each panel is
// streamed once per block (a prefill of thousands of rows reads the weights
// a few times, not once per 6 rows).
constexpr int64_t kRowBlock = 240;

// The 16 weights of line k as two fp32 vectors (outputs 0..7, 8..15).
template <DType D>
inline void LoadLine(const uint16_t* line, __m256* lo, __m256* hi) {
  if constexpr (D == DType::kBF16) {
    const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(line));
    *lo = _mm256_castsi256_ps(_mm256_slli_epi32(raw, 16));
    *hi = _mm256_castsi256_ps(_mm256_and_si256(raw, _mm256_set1_epi32(static_cast<int>(0xFFFF0000u))));
  } else {
    *lo = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(line)));
    *hi = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(line + 8)));
  }
}

// y[MR rows][G panels x 16] = x[MR rows] . panels^T over the whole K, one
// FMA chain per output. `prefetch` (may be null): a panel to pull into cache
// meanwhile, one 64-byte line per two k (the next panel, read next).
template <DType D, int MR, int G>
inline void MicroKernel(const float* x, int64_t ldx, const uint16_t* panel, int64_t K,
                        const uint16_t* prefetch, float* y, int64_t ldy) {
  __m256 acc[MR][G][2];
#pragma GCC unroll 8
  for (int m = 0; m < MR; ++m) {
#pragma GCC unroll 4
    for (int g = 0; g < G; ++g) acc[m][g][0] = acc[m][g][1] = _mm256_setzero_ps();
  }
  const int64_t panel_stride = K * kPanelRows;
  for (int64_t k = 0; k < K; ++k) {
    if (prefetch != nullptr && (k & 1) == 0) {
      _mm_prefetch(reinterpret_cast<const char*>(prefetch + k * kPanelRows), _MM_HINT_T0);
    }
    __m256 lo[G], hi[G];
#pragma GCC unroll 4
    for (int g = 0; g < G; ++g) LoadLine<D>(panel + g * panel_stride + k * kPanelRows, &lo[g], &hi[g]);
#pragma GCC unroll 8
    for (int m = 0; m < MR; ++m) {
      const __m256 a = _mm256_broadcast_ss(x + m * ldx + k);
#pragma GCC unroll 4
      for (int g = 0; g < G; ++g) {
        acc[m][g][0] = _mm256_fmadd_ps(a, lo[g], acc[m][g][0]);
        acc[m][g][1] = _mm256_fmadd_ps(a, hi[g], acc[m][g][1]);
      }
    }
  }
#pragma GCC unroll 8
  for (int m = 0; m < MR; ++m) {
#pragma GCC unroll 4
    for (int g = 0; g < G; ++g) {
      _mm256_storeu_ps(y + m * ldy + g * kPanelRows, acc[m][g][0]);
      _mm256_storeu_ps(y + m * ldy + g * kPanelRows + 8, acc[m][g][1]);
    }
  }
}

// Rows [0, rows) (rows <= kMaxRows) against one panel.
template <DType D>
void PanelRows(const float* x, int64_t ldx, int rows, const uint16_t* panel, int64_t K,
               const uint16_t* prefetch, float* y, int64_t ldy) {
  WithRowCount<kMaxRows>(rows, [&]<int MR>() { MicroKernel<D, MR, 1>(x, ldx, panel, K, prefetch, y, ldy); });
}

template <DType D>
void Range(const float* x, int64_t M, const Tensor& w, int64_t p0, int64_t p1, float* y,
           int64_t ldy) {
  const int64_t K = w.dim(1);
  const uint16_t* panels = w.as<const uint16_t>();
  const int64_t stride = K * kPanelRows;
  WalkPanels<kMaxRows, kRowBlock>(
      M, w.dim(0), p0, p1, y, ldy,
      [&](int64_t m, int rows, int64_t q, bool prefetch_next, float* out, int64_t ldo) {
        const uint16_t* panel = panels + q * stride;
        PanelRows<D>(x + m * K, K, rows, panel, K, prefetch_next ? panel + stride : nullptr, out, ldo);
      },
      // Six independent FMA chains for a row bound by reading the weights.
      [&](int64_t p) { MicroKernel<D, 1, 3>(x, K, panels + p * stride, K, nullptr, y + p * kPanelRows, ldy); });
}

}  // namespace

void PanelRange(const float* x, int64_t M, const Tensor& w, int64_t p0, int64_t p1, float* y,
                int64_t ldy) {
  if (w.dtype == DType::kBF16) {
    Range<DType::kBF16>(x, M, w, p0, p1, y, ldy);
  } else {
    Range<DType::kF16>(x, M, w, p0, p1, y, ldy);
  }
}

}  // namespace ovserve::kernels::cpu::avx2
