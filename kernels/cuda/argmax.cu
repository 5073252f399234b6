// ArgMax: one block per row, each thread the best of its strided columns,
// then a (value, column) reduction that keeps the lowest column on ties; NaN
// never wins. What a greedy row needs back from the GPU: one id.
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_types.cuh"
#include "kernels/cuda/ops.h"

namespace ovserve::kernels::cuda {
namespace {

struct Best {
  float value;
  int64_t column;
};

// Whether `a` beats `b`: larger, or equal and to the left; a NaN loses.
__device__ __forceinline__ bool Beats(const Best& a, const Best& b) {
  if (a.value != a.value) return false;
  if (b.value != b.value) return true;
  return a.value > b.value || (a.value == b.value && a.column < b.column);
}

__global__ void ArgMaxKernel(const float* x, int64_t cols, int32_t* out) {
  const float* row = x + blockIdx.x * cols;
  Best best{row[0], 0};
  for (int64_t i = threadIdx.x; i < cols; i += blockDim.x) {
    const Best candidate{row[i], i};
    if (Beats(candidate, best)) best = candidate;
  }
  for (int offset = 16; offset > 0; offset >>= 1) {
    const Best other{__shfl_xor_sync(0xffffffffu, best.value, offset),
                     static_cast<int64_t>(__shfl_xor_sync(0xffffffffu, static_cast<long long>(best.column), offset))};
    if (Beats(other, best)) best = other;
  }
  __shared__ Best warps[32];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  if (lane == 0) warps[warp] = best;
  __syncthreads();
  if (threadIdx.x == 0) {
    for (int w = 1; w < static_cast<int>(blockDim.x / 32); ++w) {
      if (Beats(warps[w], best)) best = warps[w];
    }
    out[blockIdx.x] = static_cast<int32_t>(best.column);
  }
}

}  // namespace

void ArgMax(cudaStream_t stream, const Tensor& x, const Tensor& out) {
  const int64_t rows = x.rows();
  if (rows == 0) return;
  ArgMaxKernel<<<static_cast<unsigned>(rows), 256, 0, stream>>>(x.as<const float>(), x.cols(), out.as<int32_t>());
  OVSERVE_CUDA_CHECK_LAUNCH();
}

}  // namespace ovserve::kernels::cuda
