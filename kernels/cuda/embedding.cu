// Embedding gather: rows of a (bf16/f16/f32) table into F32 activations, one
// block per token. Ids were validated by the engine (and are clamped here so a
// bad id can never read outside the table).
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_types.cuh"
#include "kernels/cuda/ops.h"

namespace ovserve::kernels::cuda {
namespace {

template <typename T>
__global__ void GatherKernel(const int32_t* ids, const T* table, int64_t vocab, int64_t H, float* out) {
  int64_t id = ids[blockIdx.x];
  id = id < 0 ? 0 : (id >= vocab ? vocab - 1 : id);
  const T* src = table + id * H;
  float* dst = out + blockIdx.x * H;
  for (int64_t i = threadIdx.x; i < H; i += blockDim.x) dst[i] = ToFloat(src[i]);
}

}  // namespace

void EmbeddingGather(cudaStream_t stream, const Tensor& ids, const Tensor& table, const Tensor& out) {
  const int64_t T = ids.numel();
  if (T == 0) return;
  DispatchFloat(table.dtype, [&](auto tag) {
    using T_ = decltype(tag);
    GatherKernel<T_><<<static_cast<unsigned>(T), 256, 0, stream>>>(
        ids.as<const int32_t>(), table.as<const T_>(), table.dim(0), table.dim(1), out.as<float>());
  });
  OVSERVE_CUDA_CHECK_LAUNCH();
}

}  // namespace ovserve::kernels::cuda
