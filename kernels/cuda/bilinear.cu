// Bilinear resize of a feature map [H, W, C] to [h, w, C] (torch interpolate,
// align_corners=False): LLaVA-OneVision's 2x2 pooling of video frames and the
// shrinking of large AnyRes grids. One thread per output element.
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_math.h"
#include "kernels/cuda/device_types.cuh"
#include "kernels/cuda/ops.h"

namespace ovserve::kernels::cuda {
namespace {

__global__ void BilinearKernel(const float* x, int H, int W, int64_t C, int h, int w, float* out) {
  const int64_t n = int64_t{h} * w * C;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t c = i % C;
    const int ox = static_cast<int>((i / C) % w), oy = static_cast<int>(i / (C * w));
    const BilinearTap a = SourceTap(oy, H, h), b = SourceTap(ox, W, w);
    const float p00 = x[(int64_t{a.i0} * W + b.i0) * C + c], p01 = x[(int64_t{a.i0} * W + b.i1) * C + c];
    const float p10 = x[(int64_t{a.i1} * W + b.i0) * C + c], p11 = x[(int64_t{a.i1} * W + b.i1) * C + c];
    out[i] = a.l0 * (b.l0 * p00 + b.l1 * p01) + a.l1 * (b.l0 * p10 + b.l1 * p11);
  }
}

}  // namespace

void BilinearResize(cudaStream_t stream, const Tensor& x, const Tensor& out) {
  const int64_t n = out.numel();
  if (n == 0) return;
  constexpr int kThreads = 256;
  BilinearKernel<<<GridFor(n, kThreads), kThreads, 0, stream>>>(
      x.as<const float>(), static_cast<int>(x.dim(0)), static_cast<int>(x.dim(1)), x.dim(2),
      static_cast<int>(out.dim(0)), static_cast<int>(out.dim(1)), out.as<float>());
  OVSERVE_CUDA_CHECK_LAUNCH();
}

}  // namespace ovserve::kernels::cuda
