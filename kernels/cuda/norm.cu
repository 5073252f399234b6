// RmsNorm (optionally fused with the residual add before it) and LayerNorm,
// one block per row; sums in float over the block (the CPU reference sums in
// double: the op-parity test allows for the difference).
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_types.cuh"
#include "kernels/cuda/ops.h"

namespace ovserve::kernels::cuda {
namespace {

constexpr int kThreads = 256;

template <typename W>
__global__ void RmsNormKernel(float* x, const float* delta, const W* weight, float eps, int64_t H,
                              float* y) {
  __shared__ float scratch[32];
  float* row = x + blockIdx.x * H;
  float sum_sq = 0.0f;
  for (int64_t i = threadIdx.x; i < H; i += blockDim.x) {
    float v = row[i];
    if (delta != nullptr) {
      v += delta[blockIdx.x * H + i];
      row[i] = v;
    }
    sum_sq += v * v;
  }
  sum_sq = BlockSum(sum_sq, scratch);
  const float inv = rsqrtf(sum_sq / static_cast<float>(H) + eps);
  float* out = y + blockIdx.x * H;
  // Each thread reads back only the elements it wrote: no barrier needed.
  for (int64_t i = threadIdx.x; i < H; i += blockDim.x) out[i] = ToFloat(weight[i]) * (row[i] * inv);
}

template <typename W>
__global__ void LayerNormKernel(const float* x, const W* weight, const W* bias, float eps, int64_t H,
                                float* y) {
  __shared__ float scratch[32];
  const float* row = x + blockIdx.x * H;
  float sum = 0.0f;
  for (int64_t i = threadIdx.x; i < H; i += blockDim.x) sum += row[i];
  const float mean = BlockSum(sum, scratch) / static_cast<float>(H);
  float var = 0.0f;
  for (int64_t i = threadIdx.x; i < H; i += blockDim.x) var += (row[i] - mean) * (row[i] - mean);
  const float inv = rsqrtf(BlockSum(var, scratch) / static_cast<float>(H) + eps);
  float* out = y + blockIdx.x * H;
  for (int64_t i = threadIdx.x; i < H; i += blockDim.x) {
    out[i] = (row[i] - mean) * inv * ToFloat(weight[i]) + ToFloat(bias[i]);
  }
}

}  // namespace

void RmsNorm(cudaStream_t stream, const Tensor& x, const Tensor* delta, const Tensor& weight,
             float eps, const Tensor& y) {
  const int64_t rows = x.rows();
  if (rows == 0) return;
  DispatchFloat(weight.dtype, [&](auto tag) {
    using W = decltype(tag);
    RmsNormKernel<W><<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(
        x.as<float>(), delta != nullptr ? delta->as<const float>() : nullptr, weight.as<const W>(), eps,
        x.cols(), y.as<float>());
  });
  OVSERVE_CUDA_CHECK_LAUNCH();
}

void LayerNorm(cudaStream_t stream, const Tensor& x, const Tensor& weight, const Tensor& bias,
               float eps, const Tensor& y) {
  const int64_t rows = x.rows();
  if (rows == 0) return;
  OVSERVE_CHECK(weight.dtype == bias.dtype, "LayerNorm weight and bias dtypes differ");
  DispatchFloat(weight.dtype, [&](auto tag) {
    using W = decltype(tag);
    LayerNormKernel<W><<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(
        x.as<const float>(), weight.as<const W>(), bias.as<const W>(), eps, x.cols(), y.as<float>());
  });
  OVSERVE_CUDA_CHECK_LAUNCH();
}

}  // namespace ovserve::kernels::cuda
