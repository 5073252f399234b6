#include "kernels/cpu/linear_q8.h"

#include <algorithm>
#include <cstring>

#include "kernels/cpu/cpu_features.h"

namespace ovserve::kernels::cpu {

void PackQ8Panels(const Tensor& w, int64_t p0, int64_t p1, uint8_t* out) {
  const int64_t N = w.dim(0), K = w.dim(1);
  const int64_t quads = ColumnQuads(K);
  const auto* values = w.as<const int8_t>();
  const auto* scales = reinterpret_cast<const float*>(w.as<const uint8_t>() + Q8ScalesOffset(N, K));
  auto* out_scales = reinterpret_cast<float*>(out + Q8PanelScalesOffset(N, K));
  auto* out_sums = reinterpret_cast<int32_t*>(out + Q8PanelSumsOffset(N, K));
  for (int64_t p = p0; p < p1; ++p) {
    auto* panel = reinterpret_cast<int8_t*>(out + p * quads * 64);
    std::memset(panel, 0, static_cast<size_t>(quads * 64));
    for (int r = 0; r < kPanelRows; ++r) {
      const int64_t n = p * kPanelRows + r;
      int32_t sum = 0;
      if (n < N) {
        for (int64_t k = 0; k < K; ++k) {
          const int8_t v = values[n * K + k];
          panel[(k / 4) * 64 + r * 4 + k % 4] = v;
          sum += v;
        }
      }
      out_scales[n] = n < N ? scales[n] : 0.0f;
      out_sums[n] = sum;
    }
  }
}

OVSERVE_MULTIVERSION
void GenericQ8PanelRange(const uint8_t* xq, const float* sx, int64_t M, const Tensor& w,
                         int64_t p0, int64_t p1, float* y, int64_t ldy) {
  const int64_t N = w.dim(0), K = w.dim(1);
  const int64_t quads = ColumnQuads(K);
  const uint8_t* base = w.as<const uint8_t>();
  const auto* scales = reinterpret_cast<const float*>(base + Q8PanelScalesOffset(N, K));
  const auto* sums = reinterpret_cast<const int32_t*>(base + Q8PanelSumsOffset(N, K));
  for (int64_t p = p0; p < p1; ++p) {
    const auto* panel = reinterpret_cast<const int8_t*>(base + p * quads * 64);
    const int rows = static_cast<int>(std::min(kPanelRows, N - p * kPanelRows));
    for (int64_t m = 0; m < M; ++m) {
      const uint8_t* xr = xq + m * quads * 4;
      for (int r = 0; r < rows; ++r) {
        int32_t acc = 0;
        for (int64_t j = 0; j < quads; ++j) {
          for (int b = 0; b < 4; ++b) acc += int32_t{xr[4 * j + b]} * panel[j * 64 + r * 4 + b];
        }
        const int64_t n = p * kPanelRows + r;
        const float v = static_cast<float>(acc - 128 * sums[n]) * sx[m];
        y[m * ldy + n] = v * scales[n];
      }
    }
  }
}

}  // namespace ovserve::kernels::cpu
