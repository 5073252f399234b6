#include "kernels/cpu/quantize.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/ops.h"

namespace ovserve::kernels::cpu {
namespace {

// nearbyint under the default rounding mode: to nearest, ties to even.
inline int32_t RoundEven(float v) { return static_cast<int32_t>(std::nearbyint(v)); }

}  // namespace

void QuantizeWeightRowsQ8(const Tensor& w, int64_t n0, int64_t n1, uint8_t* blob) {
  const int64_t N = w.dim(0), K = w.dim(1);
  auto* values = reinterpret_cast<int8_t*>(blob);
  auto* scales = reinterpret_cast<float*>(blob + Q8ScalesOffset(N, K));
  for (int64_t n = n0; n < n1; ++n) {
    float amax = 0.0f;
    for (int64_t k = 0; k < K; ++k) amax = std::max(amax, std::fabs(LoadAsFloat(w, n * K + k)));
    const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
    for (int64_t k = 0; k < K; ++k) {
      const int32_t q = RoundEven(LoadAsFloat(w, n * K + k) * inv);
      values[n * K + k] = static_cast<int8_t>(std::clamp(q, -127, 127));
    }
    scales[n] = amax / 127.0f;
  }
}

void QuantizeWeightRowsQ4(const Tensor& w, int group, int64_t n0, int64_t n1, uint8_t* blob) {
  const int64_t N = w.dim(0), K = w.dim(1);
  const int64_t groups = K / group;
  uint8_t* codes = blob;
  auto* scales = reinterpret_cast<float*>(blob + Q4ScalesOffset(N, K));
  uint8_t* zeros = blob + Q4ZerosOffset(N, K, group);
  for (int64_t n = n0; n < n1; ++n) {
    std::memset(codes + n * (K / 2), 0, static_cast<size_t>(K / 2));
    for (int64_t g = 0; g < groups; ++g) {
      const int64_t k0 = g * group;
      float lo = 0.0f, hi = 0.0f;
      for (int64_t k = k0; k < k0 + group; ++k) {
        const float v = LoadAsFloat(w, n * K + k);
        lo = std::min(lo, v);
        hi = std::max(hi, v);
      }
      float scale = F16ToF32(F32ToF16((hi - lo) / 15.0f));
      int32_t zero = 0;
      if (scale > 0.0f && std::isfinite(scale)) {
        zero = std::clamp(RoundEven(-lo / scale), 0, 15);
      } else {
        scale = 0.0f;
      }
      const float inv = scale > 0.0f ? 1.0f / scale : 0.0f;
      for (int64_t k = k0; k < k0 + group; ++k) {
        const int32_t code = std::clamp(RoundEven(LoadAsFloat(w, n * K + k) * inv) + zero, 0, 15);
        codes[n * (K / 2) + k / 2] |= static_cast<uint8_t>(code << (4 * (k % 2)));
      }
      scales[n * groups + g] = scale;
      zeros[n * groups + g] = static_cast<uint8_t>(zero);
    }
  }
}

OVSERVE_MULTIVERSION
float QuantizeActivationRow(const float* x, int64_t K, const int32_t* order, int64_t padded_k,
                            bool offset, uint8_t* q) {
  float amax = 0.0f;
  for (int64_t k = 0; k < K; ++k) amax = std::max(amax, std::fabs(x[k]));
  const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
  const int32_t bias = offset ? 128 : 0;
  for (int64_t k = 0; k < K; ++k) {
    const float v = x[order != nullptr ? order[k] : k];
    q[k] = static_cast<uint8_t>(std::clamp(RoundEven(v * inv), -127, 127) + bias);
  }
  std::memset(q + K, bias, static_cast<size_t>(padded_k - K));
  return amax / 127.0f;
}

}  // namespace ovserve::kernels::cpu
