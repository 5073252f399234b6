// Im2Patches: an image [C, H, W] cut into non-overlapping P x P patches
// [(H/P)*(W/P), C*P*P] in (c, y, x) order, one thread per output element.
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_types.cuh"
#include "kernels/cuda/ops.h"

namespace ovserve::kernels::cuda {
namespace {

__global__ void Im2PatchesKernel(const float* image, int64_t H, int64_t W, int P, int64_t pw,
                                 int64_t patch_len, int64_t n, float* out) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t p = i / patch_len, e = i % patch_len;
    const int64_t c = e / (P * P), y = (e / P) % P, x = e % P;
    const int64_t py = p / pw, px = p % pw;
    out[i] = image[(c * H + py * P + y) * W + px * P + x];
  }
}

}  // namespace

void Im2Patches(cudaStream_t stream, const Tensor& image, int patch, const Tensor& out) {
  const int64_t n = out.numel();
  if (n == 0) return;
  constexpr int kThreads = 256;
  Im2PatchesKernel<<<GridFor(n, kThreads), kThreads, 0, stream>>>(
      image.as<const float>(), image.dim(1), image.dim(2), patch, image.dim(2) / patch, out.cols(), n,
      out.as<float>());
  OVSERVE_CUDA_CHECK_LAUNCH();
}

}  // namespace ovserve::kernels::cuda
