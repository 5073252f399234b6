// Convert: elementwise dtype conversion between F32, BF16 and F16 (and
// same-dtype copies), e.g. F32 activations to BF16 for a cuBLAS GEMM.
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_types.cuh"
#include "kernels/cuda/ops.h"

namespace ovserve::kernels::cuda {
namespace {

template <typename S, typename D>
__global__ void ConvertKernel(const S* src, D* dst, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x) {
    dst[i] = FromFloat<D>(ToFloat(src[i]));
  }
}

}  // namespace

void Convert(cudaStream_t stream, const Tensor& src, const Tensor& dst) {
  const int64_t n = src.numel();
  if (n == 0) return;
  if (src.dtype == dst.dtype) {
    OVSERVE_CUDA_CHECK(cudaMemcpyAsync(dst.data, src.data, src.nbytes(), cudaMemcpyDefault, stream));
    return;
  }
  constexpr int kThreads = 256;
  DispatchFloat(src.dtype, [&](auto src_tag) {
    using S = decltype(src_tag);
    DispatchFloat(dst.dtype, [&](auto dst_tag) {
      using D = decltype(dst_tag);
      ConvertKernel<S, D><<<GridFor(n, kThreads), kThreads, 0, stream>>>(src.as<const S>(), dst.as<D>(), n);
    });
  });
  OVSERVE_CUDA_CHECK_LAUNCH();
}

}  // namespace ovserve::kernels::cuda
