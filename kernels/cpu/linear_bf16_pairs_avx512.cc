// AVX512-BF16 (+VL) micro-kernels for Linear over pair panels
// (kernels/cpu/linear_bf16_pairs.h); only called when the CPU has them.
#include <immintrin.h>

#include <algorithm>

#include "kernels/cpu/linear_bf16_pairs.h"
#include "kernels/cpu/panel_walk.h"

namespace ovserve::kernels::cpu::avx512bf16 {
namespace {

// 8 rows x 2 accumulators + 2 weight vectors + 1 broadcast: 19 of the 32
// ymm registers AVX-512VL gives.
constexpr int kMaxRows = 8;
constexpr int64_t kRowBlock = 256;  // as in linear_panels_avx2.cc: activations stay cached

// y[MR rows][G panels x 16] = xb[MR rows] . panels^T over all column pairs.
template <int MR, int G>
inline void MicroKernel(const uint32_t* xb, int64_t ldx, const uint32_t* panel, int64_t pairs,
                        const uint32_t* prefetch, float* y, int64_t ldy) {
  __m256 acc[MR][G][2];
#pragma GCC unroll 8
  for (int m = 0; m < MR; ++m) {
#pragma GCC unroll 4
    for (int g = 0; g < G; ++g) acc[m][g][0] = acc[m][g][1] = _mm256_setzero_ps();
  }
  const int64_t panel_stride = pairs * kPanelRows;
  for (int64_t j = 0; j < pairs; ++j) {
    if (prefetch != nullptr) {
      _mm_prefetch(reinterpret_cast<const char*>(prefetch + j * kPanelRows), _MM_HINT_T0);
    }
    __m256bh lo[G], hi[G];
#pragma GCC unroll 4
    for (int g = 0; g < G; ++g) {
      const uint32_t* line = panel + g * panel_stride + j * kPanelRows;
      lo[g] = (__m256bh)_mm256_loadu_si256(reinterpret_cast<const __m256i*>(line));
      hi[g] = (__m256bh)_mm256_loadu_si256(reinterpret_cast<const __m256i*>(line + 8));
    }
#pragma GCC unroll 8
    for (int m = 0; m < MR; ++m) {
      const __m256bh a = (__m256bh)_mm256_set1_epi32(static_cast<int>(xb[m * ldx + j]));
#pragma GCC unroll 4
      for (int g = 0; g < G; ++g) {
        acc[m][g][0] = _mm256_dpbf16_ps(acc[m][g][0], lo[g], a);
        acc[m][g][1] = _mm256_dpbf16_ps(acc[m][g][1], hi[g], a);
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

void PanelRows(const uint32_t* xb, int64_t ldx, int rows, const uint32_t* panel, int64_t pairs,
               const uint32_t* prefetch, float* y, int64_t ldy) {
  WithRowCount<kMaxRows>(rows, [&]<int MR>() { MicroKernel<MR, 1>(xb, ldx, panel, pairs, prefetch, y, ldy); });
}

}  // namespace

void RoundRowsToBf16Pairs(const float* x, int64_t M, int64_t K, uint32_t* out) {
  const int64_t pairs = ColumnPairs(K);
  for (int64_t m = 0; m < M; ++m) {
    const float* row = x + m * K;
    // A row of bf16 values is its pairs, low half first (little endian).
    auto* dst = reinterpret_cast<uint16_t*>(out + m * pairs);
    int64_t k = 0;
    for (; k + 16 <= K; k += 16) {
      const __m256bh h = _mm512_cvtneps_pbh(_mm512_loadu_ps(row + k));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + k), (__m256i)h);
    }
    for (; k < K; ++k) dst[k] = F32ToBf16(row[k]);
    if (K % 2 != 0) dst[K] = 0;
  }
}

void PairPanelRange(const uint32_t* xb, int64_t M, const Tensor& w, int64_t p0, int64_t p1,
                    float* y, int64_t ldy) {
  const int64_t pairs = ColumnPairs(w.dim(1));
  const uint32_t* panels = w.as<const uint32_t>();
  const int64_t stride = pairs * kPanelRows;
  WalkPanels<kMaxRows, kRowBlock>(
      M, w.dim(0), p0, p1, y, ldy,
      [&](int64_t m, int rows, int64_t q, bool prefetch_next, float* out, int64_t ldo) {
        const uint32_t* panel = panels + q * stride;
        PanelRows(xb + m * pairs, pairs, rows, panel, pairs, prefetch_next ? panel + stride : nullptr, out, ldo);
      },
      [&](int64_t p) {
        MicroKernel<1, 3>(xb, pairs, panels + p * stride, pairs, nullptr, y + p * kPanelRows, ldy);
      });
}

}  // namespace ovserve::kernels::cpu::avx512bf16
