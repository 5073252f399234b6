// Rotary position embedding, rotate-half layout (Qwen2 / NeoX).
#include <cmath>
#include <vector>

#include "kernels/cpu/ops.h"

namespace ovserve::kernels::cpu {

void RopeInPlace(ThreadPool& pool, const Tensor& x, const Tensor& positions, float theta) {
  const int64_t T = x.dim(0), H = x.dim(1), D = x.dim(2);
  const int64_t half = D / 2;
  // The reference computes inv_freq = 1 / theta^(2i/D) and angle = inv_freq * pos
  // in float32; doing the same keeps long-position angles bit-close to it.
  std::vector<float> inv_freq(half);
  for (int64_t i = 0; i < half; ++i) {
    const float exponent = static_cast<float>(2 * i) / static_cast<float>(D);
    inv_freq[i] = 1.0f / static_cast<float>(std::pow(static_cast<double>(theta), static_cast<double>(exponent)));
  }
  const int32_t* pos = positions.as<const int32_t>();
  pool.ParallelFor(T, 8, [&](int64_t t0, int64_t t1) {
    std::vector<float> cos_v(half), sin_v(half);
    for (int64_t t = t0; t < t1; ++t) {
      for (int64_t i = 0; i < half; ++i) {
        const float angle = inv_freq[i] * static_cast<float>(pos[t]);
        cos_v[i] = static_cast<float>(std::cos(static_cast<double>(angle)));
        sin_v[i] = static_cast<float>(std::sin(static_cast<double>(angle)));
      }
      for (int64_t h = 0; h < H; ++h) {
        float* row = x.as<float>() + (t * H + h) * D;
        for (int64_t i = 0; i < half; ++i) {
          const float a = row[i], b = row[i + half];
          row[i] = a * cos_v[i] - b * sin_v[i];
          row[i + half] = b * cos_v[i] + a * sin_v[i];
        }
      }
    }
  });
}

}  // namespace ovserve::kernels::cpu
