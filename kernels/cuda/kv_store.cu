// StoreKv: a step's K and V rows (F32) into their slots of one layer's paged
// cache, converted to the cache's dtype (BF16 on the GPU). One block per row.
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_types.cuh"
#include "kernels/cuda/ops.h"

namespace ovserve::kernels::cuda {
namespace {

template <typename C>
__global__ void StoreKvKernel(const float* k, const float* v, const int32_t* slots, int64_t row_len,
                              int64_t num_slots, C* k_cache, C* v_cache) {
  const int64_t slot = slots[blockIdx.x];
  if (slot < 0 || slot >= num_slots) return;  // validated by the scheduler; never write outside
  const float* ks = k + blockIdx.x * row_len;
  const float* vs = v + blockIdx.x * row_len;
  C* kd = k_cache + slot * row_len;
  C* vd = v_cache + slot * row_len;
  for (int64_t i = threadIdx.x; i < row_len; i += blockDim.x) {
    kd[i] = FromFloat<C>(ks[i]);
    vd[i] = FromFloat<C>(vs[i]);
  }
}

}  // namespace

void StoreKv(cudaStream_t stream, const Tensor& k, const Tensor& v, const Tensor& slots,
             const Tensor& k_cache, const Tensor& v_cache) {
  const int64_t N = slots.numel();
  if (N == 0) return;
  const int64_t row_len = k.numel() / N;
  DispatchFloat(k_cache.dtype, [&](auto tag) {
    using C = decltype(tag);
    StoreKvKernel<C><<<static_cast<unsigned>(N), 128, 0, stream>>>(
        k.as<const float>(), v.as<const float>(), slots.as<const int32_t>(), row_len, k_cache.dim(0),
        k_cache.as<C>(), v_cache.as<C>());
  });
  OVSERVE_CUDA_CHECK_LAUNCH();
}

}  // namespace ovserve::kernels::cuda
