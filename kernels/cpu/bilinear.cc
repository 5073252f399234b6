// Bilinear resize of an [H, W, C] feature map, as torch's interpolate
// (mode="bilinear", align_corners=False, antialias=False) computes it.
#include <algorithm>
#include <vector>

#include "kernels/cpu/ops.h"

namespace ovserve::kernels::cpu {
namespace {

struct Tap {
  int64_t i0, i1;
  float l0, l1;
};

// torch's area_pixel_compute_source_index with align_corners=False, in float.
std::vector<Tap> SourceTaps(int64_t in, int64_t out) {
  std::vector<Tap> taps(out);
  const float scale = static_cast<float>(in) / static_cast<float>(out);
  for (int64_t o = 0; o < out; ++o) {
    float src = scale * (static_cast<float>(o) + 0.5f) - 0.5f;
    if (src < 0.0f) src = 0.0f;
    const int64_t i0 = static_cast<int64_t>(src);
    const int64_t i1 = i0 + (i0 < in - 1 ? 1 : 0);
    const float l1 = src - static_cast<float>(i0);
    taps[o] = {i0, i1, 1.0f - l1, l1};
  }
  return taps;
}

}  // namespace

void BilinearResize(ThreadPool& pool, const Tensor& x, const Tensor& out) {
  const int64_t H = x.dim(0), W = x.dim(1), C = x.dim(2);
  const int64_t h = out.dim(0), w = out.dim(1);
  const std::vector<Tap> ty = SourceTaps(H, h);
  const std::vector<Tap> tx = SourceTaps(W, w);
  const float* src = x.as<const float>();
  pool.ParallelFor(h, 1, [&](int64_t r0, int64_t r1) {
    for (int64_t oy = r0; oy < r1; ++oy) {
      const Tap& a = ty[oy];
      for (int64_t ox = 0; ox < w; ++ox) {
        const Tap& b = tx[ox];
        const float* p00 = src + (a.i0 * W + b.i0) * C;
        const float* p01 = src + (a.i0 * W + b.i1) * C;
        const float* p10 = src + (a.i1 * W + b.i0) * C;
        const float* p11 = src + (a.i1 * W + b.i1) * C;
        float* dst = out.as<float>() + (oy * w + ox) * C;
        for (int64_t c = 0; c < C; ++c) {
          dst[c] = a.l0 * (b.l0 * p00[c] + b.l1 * p01[c]) + a.l1 * (b.l0 * p10[c] + b.l1 * p11[c]);
        }
      }
    }
  });
}

}  // namespace ovserve::kernels::cpu
