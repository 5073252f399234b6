#include "kernels/cpu/linear_panels.h"

#include <algorithm>
#include <cmath>

namespace ovserve::kernels::cpu {

void PackPanels(const Tensor& w, int64_t p0, int64_t p1, uint16_t* out) {
  const int64_t N = w.dim(0);
  const int64_t K = w.dim(1);
  const uint16_t* src = w.as<const uint16_t>();
  int slot[kPanelRows];
  for (int r = 0; r < kPanelRows; ++r) slot[r] = PanelSlot(w.dtype, r);
  for (int64_t p = p0; p < p1; ++p) {
    uint16_t* panel = out + p * K * kPanelRows;
    for (int r = 0; r < kPanelRows; ++r) {
      const int64_t n = p * kPanelRows + r;
      const uint16_t* row = n < N ? src + n * K : nullptr;
      for (int64_t k = 0; k < K; ++k) panel[k * kPanelRows + slot[r]] = row ? row[k] : 0;
    }
  }
}

void GenericPanelRange(const float* x, int64_t M, const Tensor& w, int64_t p0, int64_t p1,
                       float* y, int64_t ldy) {
  const int64_t N = w.dim(0);
  const int64_t K = w.dim(1);
  const uint16_t* panels = w.as<const uint16_t>();
  for (int64_t p = p0; p < p1; ++p) {
    const uint16_t* panel = panels + p * K * kPanelRows;
    const int rows = static_cast<int>(std::min(kPanelRows, N - p * kPanelRows));
    for (int r = 0; r < rows; ++r) {
      const int slot = PanelSlot(w.dtype, r);
      for (int64_t m = 0; m < M; ++m) {
        const float* xr = x + m * K;
        float acc = 0.0f;
        for (int64_t k = 0; k < K; ++k) {
          const uint16_t v = panel[k * kPanelRows + slot];
          const float wv = w.dtype == DType::kBF16 ? Bf16ToF32(v) : F16ToF32(v);
          acc = std::fma(xr[k], wv, acc);  // one rounding per step, as the FMA kernels
        }
        y[m * ldy + p * kPanelRows + r] = acc;
      }
    }
  }
}

}  // namespace ovserve::kernels::cpu
