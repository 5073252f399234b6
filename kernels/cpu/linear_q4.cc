#include "kernels/cpu/linear_q4.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/cpu/cpu_features.h"

namespace ovserve::kernels::cpu {

void PackQ4Panels(const Tensor& w, int64_t p0, int64_t p1, uint8_t* out) {
  const int64_t N = w.dim(0), K = w.dim(1), group = w.group;
  const int64_t groups = K / group, octets = group / 8;
  const uint8_t* codes = w.as<const uint8_t>();
  const auto* scales = reinterpret_cast<const float*>(codes + Q4ScalesOffset(N, K));
  const uint8_t* zeros = codes + Q4ZerosOffset(N, K, group);
  auto* out_scales = reinterpret_cast<uint16_t*>(out + Q4PanelScalesOffset(N, K, group));
  uint8_t* out_zeros = out + Q4PanelZerosOffset(N, K, group);
  auto code = [&](int64_t n, int64_t k) { return (codes[n * (K / 2) + k / 2] >> (4 * (k % 2))) & 15; };
  for (int64_t p = p0; p < p1; ++p) {
    for (int64_t g = 0; g < groups; ++g) {
      uint8_t* lines = out + ((p * groups + g) * octets) * 64;
      std::memset(lines, 0, static_cast<size_t>(octets * 64));
      const int64_t meta = (p * groups + g) * kPanelRows;
      for (int r = 0; r < kPanelRows; ++r) {
        const int64_t n = p * kPanelRows + r;
        out_scales[meta + r] = n < N ? F32ToF16(scales[n * groups + g]) : 0;
        out_zeros[meta + r] = n < N ? zeros[n * groups + g] : 0;
        if (n >= N) continue;
        for (int64_t t = 0; t < octets; ++t) {
          const int64_t k0 = g * group + 8 * t;
          for (int b = 0; b < 4; ++b) {
            lines[t * 64 + 4 * r + b] = static_cast<uint8_t>(code(n, k0 + b) | code(n, k0 + 4 + b) << 4);
          }
        }
      }
    }
  }
}

OVSERVE_MULTIVERSION
void GenericQ4PanelRange(const int8_t* xq, const float* sx, const int32_t* xsum, int64_t M,
                         const Tensor& w, int64_t p0, int64_t p1, float* y, int64_t ldy) {
  const int64_t N = w.dim(0), K = w.dim(1), group = w.group;
  const int64_t groups = K / group, octets = group / 8;
  const uint8_t* base = w.as<const uint8_t>();
  const auto* scales = reinterpret_cast<const uint16_t*>(base + Q4PanelScalesOffset(N, K, group));
  const uint8_t* zeros = base + Q4PanelZerosOffset(N, K, group);
  for (int64_t p = p0; p < p1; ++p) {
    const int rows = static_cast<int>(std::min(kPanelRows, N - p * kPanelRows));
    for (int64_t m = 0; m < M; ++m) {
      const int8_t* xr = xq + m * K;
      for (int r = 0; r < rows; ++r) {
        float acc = 0.0f;
        for (int64_t g = 0; g < groups; ++g) {
          const uint8_t* lines = base + ((p * groups + g) * octets) * 64;
          int32_t sum = 0;
          for (int64_t t = 0; t < octets; ++t) {
            const int64_t k0 = g * group + 8 * t;
            for (int b = 0; b < 4; ++b) {
              const uint8_t byte = lines[t * 64 + 4 * r + b];
              sum += (byte & 15) * int32_t{xr[k0 + b]} + (byte >> 4) * int32_t{xr[k0 + 4 + b]};
            }
          }
          const int64_t meta = (p * groups + g) * kPanelRows + r;
          const int32_t corrected = sum - int32_t{zeros[meta]} * xsum[m * groups + g];
          acc = std::fma(static_cast<float>(corrected), F16ToF32(scales[meta]), acc);
        }
        y[m * ldy + p * kPanelRows + r] = acc * sx[m];
      }
    }
  }
}

}  // namespace ovserve::kernels::cpu
