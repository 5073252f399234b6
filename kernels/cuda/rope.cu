// Rotary position embedding in place, rotate-half layout (Qwen2 / NeoX): one
// thread per (token, pair) computes the angle's cos/sin once (as the CPU
// reference does, in double) and rotates that pair in every head.
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_math.h"
#include "kernels/cuda/device_types.cuh"
#include "kernels/cuda/ops.h"

namespace ovserve::kernels::cuda {
namespace {

__global__ void RopeKernel(float* x, const int32_t* positions, int64_t T, int64_t H, int D, float theta) {
  const int half = D / 2;
  const int64_t n = T * half;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x) {
    const int pair = static_cast<int>(i % half);
    const int64_t t = i / half;
    const RopeRotation rotation = RotationAt(pair, D, theta, positions[t]);
    for (int64_t h = 0; h < H; ++h) {
      float* r = x + (t * H + h) * D;
      Rotate(r[pair], r[pair + half], rotation);
    }
  }
}

}  // namespace

void RopeInPlace(cudaStream_t stream, const Tensor& x, const Tensor& positions, float theta) {
  const int64_t T = x.dim(0), H = x.dim(1);
  const int D = static_cast<int>(x.dim(2));
  const int64_t n = T * (D / 2);
  if (n == 0) return;
  constexpr int kThreads = 256;
  RopeKernel<<<GridFor(n, kThreads), kThreads, 0, stream>>>(x.as<float>(), positions.as<const int32_t>(), T, H, D,
                                                           theta);
  OVSERVE_CUDA_CHECK_LAUNCH();
}

}  // namespace ovserve::kernels::cuda
