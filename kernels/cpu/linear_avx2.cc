#include "kernels/cpu/linear_avx2.h"

#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

namespace ovserve::kernels::cpu::avx2 {
namespace {

constexpr int kMr = 6;    // activation rows per micro-tile
constexpr int kNr = 16;   // weight rows per micro-tile (two ymm)
constexpr int kKc = 256;  // depth of one packed panel (16 KB of fp32)
constexpr int kPanelsPerBlock = 8;  // 128 weight rows packed at once (128 KB, L2)

inline __m256 Load8(const uint16_t* p, DType dtype) {
  const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  if (dtype == DType::kF16) return _mm256_cvtph_ps(raw);
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(raw), 16));
}

inline float LoadOne(const void* w, DType dtype, int64_t i) {
  switch (dtype) {
    case DType::kF32: return static_cast<const float*>(w)[i];
    case DType::kBF16: return Bf16ToF32(static_cast<const uint16_t*>(w)[i]);
    default: return F16ToF32(static_cast<const uint16_t*>(w)[i]);
  }
}

inline __m256 LoadW8(const void* w, DType dtype, int64_t i) {
  if (dtype == DType::kF32) return _mm256_loadu_ps(static_cast<const float*>(w) + i);
  return Load8(static_cast<const uint16_t*>(w) + i, dtype);
}

inline float HorizontalSum(__m256 v) {
  const __m128 lo = _mm256_castps256_ps128(v);
  const __m128 hi = _mm256_extractf128_ps(v, 1);
  __m128 s = _mm_add_ps(lo, hi);
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Packs w[n0 : n0+16, k0 : k0+kc] as fp32 panel[k][16]; rows >= n_end are zero.
void PackPanel(const void* w, DType dtype, int64_t K, int64_t n0, int64_t n_end, int64_t k0,
               int64_t kc, float* panel) {
  for (int r = 0; r < kNr; ++r) {
    const int64_t n = n0 + r;
    if (n >= n_end) {
      for (int64_t k = 0; k < kc; ++k) panel[k * kNr + r] = 0.0f;
      continue;
    }
    const int64_t base = n * K + k0;
    int64_t k = 0;
    alignas(32) float tmp[8];
    for (; k + 8 <= kc; k += 8) {
      _mm256_store_ps(tmp, LoadW8(w, dtype, base + k));
      for (int j = 0; j < 8; ++j) panel[(k + j) * kNr + r] = tmp[j];
    }
    for (; k < kc; ++k) panel[k * kNr + r] = LoadOne(w, dtype, base + k);
  }
}

// c[6][16] (+)= a[6][kc] . panel[kc][16]. `a_rows` are row pointers.
inline void MicroKernel(const float* const* a_rows, const float* panel, int64_t kc, float* c,
                        int64_t ldc, bool accumulate) {
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
  __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
  __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
  __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
  __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
  __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
  const float *a0 = a_rows[0], *a1 = a_rows[1], *a2 = a_rows[2];
  const float *a3 = a_rows[3], *a4 = a_rows[4], *a5 = a_rows[5];
  for (int64_t k = 0; k < kc; ++k) {
    const __m256 b0 = _mm256_load_ps(panel + k * kNr);
    const __m256 b1 = _mm256_load_ps(panel + k * kNr + 8);
    __m256 a = _mm256_broadcast_ss(a0 + k);
    c00 = _mm256_fmadd_ps(a, b0, c00);
    c01 = _mm256_fmadd_ps(a, b1, c01);
    a = _mm256_broadcast_ss(a1 + k);
    c10 = _mm256_fmadd_ps(a, b0, c10);
    c11 = _mm256_fmadd_ps(a, b1, c11);
    a = _mm256_broadcast_ss(a2 + k);
    c20 = _mm256_fmadd_ps(a, b0, c20);
    c21 = _mm256_fmadd_ps(a, b1, c21);
    a = _mm256_broadcast_ss(a3 + k);
    c30 = _mm256_fmadd_ps(a, b0, c30);
    c31 = _mm256_fmadd_ps(a, b1, c31);
    a = _mm256_broadcast_ss(a4 + k);
    c40 = _mm256_fmadd_ps(a, b0, c40);
    c41 = _mm256_fmadd_ps(a, b1, c41);
    a = _mm256_broadcast_ss(a5 + k);
    c50 = _mm256_fmadd_ps(a, b0, c50);
    c51 = _mm256_fmadd_ps(a, b1, c51);
  }
  const __m256 rows[kMr][2] = {{c00, c01}, {c10, c11}, {c20, c21},
                               {c30, c31}, {c40, c41}, {c50, c51}};
  for (int i = 0; i < kMr; ++i) {
    float* out = c + i * ldc;
    if (accumulate) {
      _mm256_storeu_ps(out, _mm256_add_ps(_mm256_loadu_ps(out), rows[i][0]));
      _mm256_storeu_ps(out + 8, _mm256_add_ps(_mm256_loadu_ps(out + 8), rows[i][1]));
    } else {
      _mm256_storeu_ps(out, rows[i][0]);
      _mm256_storeu_ps(out + 8, rows[i][1]);
    }
  }
}

// Dot products of MR activation rows with weight rows n..n+NR, read in their
// stored dtype and accumulated exactly as GemvRange does (two 8-lane sums over
// 16-element steps, then the scalar tail), so every output equals the M = 1
// result bit for bit: a request's decode does not change with what shares its
// batch.
template <int MR, int NR>
inline void DotTile(const float* x, int64_t K, const void* w, DType w_dtype, int64_t n, float* y,
                    int64_t ldy) {
  const int64_t k_vec = K - K % 16;
  __m256 acc[MR][NR][2];
  for (int m = 0; m < MR; ++m) {
    for (int r = 0; r < NR; ++r) acc[m][r][0] = acc[m][r][1] = _mm256_setzero_ps();
  }
  for (int64_t k = 0; k < k_vec; k += 16) {
    for (int h = 0; h < 2; ++h) {
      __m256 wv[NR];
      for (int r = 0; r < NR; ++r) wv[r] = LoadW8(w, w_dtype, (n + r) * K + k + 8 * h);
      for (int m = 0; m < MR; ++m) {
        const __m256 xv = _mm256_loadu_ps(x + m * K + k + 8 * h);
        for (int r = 0; r < NR; ++r) acc[m][r][h] = _mm256_fmadd_ps(wv[r], xv, acc[m][r][h]);
      }
    }
  }
  for (int m = 0; m < MR; ++m) {
    for (int r = 0; r < NR; ++r) {
      float sum = HorizontalSum(_mm256_add_ps(acc[m][r][0], acc[m][r][1]));
      for (int64_t k = k_vec; k < K; ++k) sum += LoadOne(w, w_dtype, (n + r) * K + k) * x[m * K + k];
      y[m * ldy + r] = sum;
    }
  }
}

// Every activation row against weight rows n..n+NR, two rows at a time
// (2 x NR(3) x 2 accumulators and the operands fit 16 ymm; measured best of
// the shapes that do on Zen 3: ~75 GFLOP/s per core vs ~55 for 3 x 2).
template <int NR>
void DotRows(const float* x, int64_t M, int64_t K, const void* w, DType w_dtype, int64_t n,
             float* y, int64_t ldy) {
  int64_t m = 0;
  for (; m + 2 <= M; m += 2) DotTile<2, NR>(x + m * K, K, w, w_dtype, n, y + m * ldy, ldy);
  if (m < M) DotTile<1, NR>(x + m * K, K, w, w_dtype, n, y + m * ldy, ldy);
}

}  // namespace

void SmallBatchRange(const float* x, int64_t M, int64_t K, const void* w, DType w_dtype,
                     int64_t n0, int64_t n1, float* y, int64_t ldy) {
  // Few rows are bound by streaming the weights: 2 weight rows per tile keep
  // the loop lean (lm_head at M = 4: 12.6 ms vs 21 ms with 3). More rows are
  // bound by the FMAs: 3 weight rows per tile reuse each x load more.
  int64_t n = n0;
  if (M <= 8) {
    for (; n + 2 <= n1; n += 2) DotRows<2>(x, M, K, w, w_dtype, n, y + n, ldy);
  } else {
    for (; n + 3 <= n1; n += 3) DotRows<3>(x, M, K, w, w_dtype, n, y + n, ldy);
    if (n1 - n == 2) DotRows<2>(x, M, K, w, w_dtype, n, y + n, ldy);
    n += (n1 - n) / 2 * 2;
  }
  if (n < n1) DotRows<1>(x, M, K, w, w_dtype, n, y + n, ldy);
}

void GemmRange(const float* x, int64_t M, int64_t K, const void* w, DType w_dtype, int64_t n0,
               int64_t n1, float* y, int64_t ldy) {
  thread_local std::vector<float, std::allocator<float>> panel_storage;
  const size_t panel_floats = static_cast<size_t>(kPanelsPerBlock) * kKc * kNr + 8;
  if (panel_storage.size() < panel_floats) panel_storage.resize(panel_floats);
  // 32-byte align the panels for aligned loads.
  float* panels = panel_storage.data();
  panels += (8 - (reinterpret_cast<uintptr_t>(panels) / sizeof(float)) % 8) % 8;

  alignas(32) float edge_tile[kMr * kNr];
  for (int64_t nb = n0; nb < n1; nb += kPanelsPerBlock * kNr) {
    const int64_t nb_end = std::min(n1, nb + kPanelsPerBlock * kNr);
    const int num_panels = static_cast<int>((nb_end - nb + kNr - 1) / kNr);
    for (int64_t k0 = 0; k0 < K; k0 += kKc) {
      const int64_t kc = std::min<int64_t>(kKc, K - k0);
      for (int p = 0; p < num_panels; ++p) {
        PackPanel(w, w_dtype, K, nb + p * kNr, nb_end, k0, kc, panels + p * kKc * kNr);
      }
      const bool accumulate = k0 > 0;
      for (int64_t m0 = 0; m0 < M; m0 += kMr) {
        const int mr = static_cast<int>(std::min<int64_t>(kMr, M - m0));
        const float* a_rows[kMr];
        for (int i = 0; i < kMr; ++i) a_rows[i] = x + (m0 + std::min(i, mr - 1)) * K + k0;
        for (int p = 0; p < num_panels; ++p) {
          const int64_t n = nb + p * kNr;
          const int nr = static_cast<int>(std::min<int64_t>(kNr, nb_end - n));
          float* c = y + m0 * ldy + n;
          const float* panel = panels + p * kKc * kNr;
          if (mr == kMr && nr == kNr) {
            MicroKernel(a_rows, panel, kc, c, ldy, accumulate);
            continue;
          }
          // Edge tile: compute into a scratch tile, then copy the valid part.
          MicroKernel(a_rows, panel, kc, edge_tile, kNr, false);
          for (int i = 0; i < mr; ++i) {
            for (int j = 0; j < nr; ++j) {
              float& out = c[i * ldy + j];
              out = accumulate ? out + edge_tile[i * kNr + j] : edge_tile[i * kNr + j];
            }
          }
        }
      }
    }
  }
}

void GemvRange(const float* x, int64_t K, const void* w, DType w_dtype, int64_t n0, int64_t n1,
               float* y) {
  constexpr int kRows = 4;
  const int64_t k_vec = K - K % 16;
  int64_t n = n0;
  for (; n + kRows <= n1; n += kRows) {
    __m256 acc[kRows][2];
    for (int r = 0; r < kRows; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
    for (int64_t k = 0; k < k_vec; k += 16) {
      const __m256 x0 = _mm256_loadu_ps(x + k);
      const __m256 x1 = _mm256_loadu_ps(x + k + 8);
      for (int r = 0; r < kRows; ++r) {
        const int64_t base = (n + r) * K + k;
        // The next row group's matching 64 bytes: the hardware prefetcher
        // alone leaves a single stream well below DRAM bandwidth.
        if (k % 32 == 0) {
          _mm_prefetch(static_cast<const char*>(w) + (base + kRows * K) * DTypeSize(w_dtype),
                       _MM_HINT_T0);
        }
        acc[r][0] = _mm256_fmadd_ps(LoadW8(w, w_dtype, base), x0, acc[r][0]);
        acc[r][1] = _mm256_fmadd_ps(LoadW8(w, w_dtype, base + 8), x1, acc[r][1]);
      }
    }
    for (int r = 0; r < kRows; ++r) {
      float sum = HorizontalSum(_mm256_add_ps(acc[r][0], acc[r][1]));
      for (int64_t k = k_vec; k < K; ++k) sum += LoadOne(w, w_dtype, (n + r) * K + k) * x[k];
      y[n + r] = sum;
    }
  }
  // The last rows in the same summation order, so each output is the same
  // whichever kernel computes it.
  for (; n < n1; ++n) DotTile<1, 1>(x, K, w, w_dtype, n, y + n, 1);
}

}  // namespace ovserve::kernels::cpu::avx2
