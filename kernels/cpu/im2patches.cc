// Im2Patches: an image cut into non-overlapping P x P patches (conv weight order).
#include "kernels/cpu/ops.h"

namespace ovserve::kernels::cpu {

void Im2Patches(ThreadPool& pool, const Tensor& image, int patch, const Tensor& out) {
  const int64_t C = image.dim(0), H = image.dim(1), W = image.dim(2);
  const int64_t ph = H / patch, pw = W / patch;
  const int64_t patch_len = C * patch * patch;
  const float* src = image.as<const float>();
  pool.ParallelFor(ph * pw, 16, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t py = p / pw, px = p % pw;
      float* dst = out.as<float>() + p * patch_len;
      for (int64_t c = 0; c < C; ++c) {
        for (int64_t y = 0; y < patch; ++y) {
          const float* row = src + (c * H + py * patch + y) * W + px * patch;
          for (int64_t x = 0; x < patch; ++x) *dst++ = row[x];
        }
      }
    }
  });
}

}  // namespace ovserve::kernels::cpu
