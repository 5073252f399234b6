// Rotary position embedding in place, rotate-half layout (Qwen2 / NeoX): one
// thread per (token, head, pair), angles as the CPU reference computes them.
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_math.h"
#include "kernels/cuda/device_types.cuh"
#include "kernels/cuda/ops.h"

namespace ovserve::kernels::cuda {
namespace {

__global__ void RopeKernel(float* x, const int32_t* positions, int64_t T, int64_t H, int D, float theta) {
  const int half = D / 2;
  const int64_t n = T * H * half;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x) {
    const int pair = static_cast<int>(i % half);
    const int64_t row = i / half;  // token * H + head
    const int64_t t = row / H;
    const float angle = RopeInverseFrequency(pair, D, theta) * static_cast<float>(positions[t]);
    float* r = x + row * D;
    RotatePair(r[pair], r[pair + half], angle);
  }
}

}  // namespace

void RopeInPlace(cudaStream_t stream, const Tensor& x, const Tensor& positions, float theta) {
  const int64_t T = x.dim(0), H = x.dim(1);
  const int D = static_cast<int>(x.dim(2));
  const int64_t n = T * H * (D / 2);
  if (n == 0) return;
  constexpr int kThreads = 256;
  RopeKernel<<<GridFor(n, kThreads), kThreads, 0, stream>>>(x.as<float>(), positions.as<const int32_t>(),
                                                           T, H, D, theta);
  OVSERVE_CUDA_CHECK_LAUNCH();
}

}  // namespace ovserve::kernels::cuda
