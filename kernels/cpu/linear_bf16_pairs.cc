#include "kernels/cpu/linear_bf16_pairs.h"

#include <algorithm>

namespace ovserve::kernels::cpu {

void PackPairPanels(const Tensor& w, int64_t p0, int64_t p1, uint32_t* out) {
  const int64_t N = w.dim(0);
  const int64_t K = w.dim(1);
  const int64_t pairs = ColumnPairs(K);
  const uint16_t* src = w.as<const uint16_t>();
  for (int64_t p = p0; p < p1; ++p) {
    uint32_t* panel = out + p * pairs * kPanelRows;
    for (int r = 0; r < kPanelRows; ++r) {
      const int64_t n = p * kPanelRows + r;
      for (int64_t j = 0; j < pairs; ++j) {
        uint32_t even = 0, odd = 0;
        if (n < N) {
          even = src[n * K + 2 * j];
          odd = 2 * j + 1 < K ? src[n * K + 2 * j + 1] : 0;
        }
        panel[j * kPanelRows + r] = even | (odd << 16);
      }
    }
  }
}

void RoundRowsToBf16Pairs(const float* x, int64_t M, int64_t K, uint32_t* out) {
  const int64_t pairs = ColumnPairs(K);
  for (int64_t m = 0; m < M; ++m) {
    const float* row = x + m * K;
    for (int64_t j = 0; j < pairs; ++j) {
      const uint32_t even = F32ToBf16(row[2 * j]);
      const uint32_t odd = 2 * j + 1 < K ? F32ToBf16(row[2 * j + 1]) : 0;
      out[m * pairs + j] = even | (odd << 16);
    }
  }
}

void GenericPairPanelRange(const uint32_t* xb, int64_t M, const Tensor& w, int64_t p0, int64_t p1,
                           float* y, int64_t ldy) {
  const int64_t N = w.dim(0);
  const int64_t pairs = ColumnPairs(w.dim(1));
  const uint32_t* panels = w.as<const uint32_t>();
  for (int64_t p = p0; p < p1; ++p) {
    const uint32_t* panel = panels + p * pairs * kPanelRows;
    const int rows = static_cast<int>(std::min(kPanelRows, N - p * kPanelRows));
    for (int r = 0; r < rows; ++r) {
      for (int64_t m = 0; m < M; ++m) {
        float acc = 0.0f;
        for (int64_t j = 0; j < pairs; ++j) {
          const uint32_t wv = panel[j * kPanelRows + r], xv = xb[m * pairs + j];
          acc += Bf16ToF32(static_cast<uint16_t>(wv)) * Bf16ToF32(static_cast<uint16_t>(xv)) +
                 Bf16ToF32(static_cast<uint16_t>(wv >> 16)) * Bf16ToF32(static_cast<uint16_t>(xv >> 16));
        }
        y[m * ldy + p * kPanelRows + r] = acc;
      }
    }
  }
}

}  // namespace ovserve::kernels::cpu
