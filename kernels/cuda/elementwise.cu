// Elementwise ops: residual add, SiLU-gated product, GELU, bias add.
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_math.h"
#include "kernels/cuda/device_types.cuh"
#include "kernels/cuda/ops.h"

namespace ovserve::kernels::cuda {
namespace {

constexpr int kThreads = 256;

__global__ void AddKernel(const float* a, const float* b, float* out, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x) {
    out[i] = a[i] + b[i];
  }
}

__global__ void SiluMulKernel(const float* gate, const float* up, float* out, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x) {
    out[i] = Silu(gate[i]) * up[i];
  }
}

template <bool kTanh>
__global__ void GeluKernel(const float* x, float* out, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x) {
    out[i] = kTanh ? GeluTanh(x[i]) : GeluErf(x[i]);
  }
}

template <typename B>
__global__ void AddBiasKernel(const B* bias, float* y, int64_t rows, int64_t cols) {
  const int64_t n = rows * cols;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x) {
    y[i] += ToFloat(bias[i % cols]);
  }
}

}  // namespace

void Add(cudaStream_t stream, const Tensor& a, const Tensor& b, const Tensor& out) {
  const int64_t n = a.numel();
  if (n == 0) return;
  AddKernel<<<GridFor(n, kThreads), kThreads, 0, stream>>>(a.as<const float>(), b.as<const float>(),
                                                          out.as<float>(), n);
  OVSERVE_CUDA_CHECK_LAUNCH();
}

void SiluMul(cudaStream_t stream, const Tensor& gate, const Tensor& up, const Tensor& out) {
  const int64_t n = gate.numel();
  if (n == 0) return;
  SiluMulKernel<<<GridFor(n, kThreads), kThreads, 0, stream>>>(
      gate.as<const float>(), up.as<const float>(), out.as<float>(), n);
  OVSERVE_CUDA_CHECK_LAUNCH();
}

void Gelu(cudaStream_t stream, const Tensor& x, GeluApproximation approximation, const Tensor& out) {
  const int64_t n = x.numel();
  if (n == 0) return;
  if (approximation == GeluApproximation::kTanh) {
    GeluKernel<true><<<GridFor(n, kThreads), kThreads, 0, stream>>>(x.as<const float>(), out.as<float>(), n);
  } else {
    GeluKernel<false><<<GridFor(n, kThreads), kThreads, 0, stream>>>(x.as<const float>(), out.as<float>(), n);
  }
  OVSERVE_CUDA_CHECK_LAUNCH();
}

void AddBias(cudaStream_t stream, const Tensor& bias, const Tensor& y) {
  const int64_t n = y.numel();
  if (n == 0) return;
  DispatchFloat(bias.dtype, [&](auto tag) {
    using B = decltype(tag);
    AddBiasKernel<B><<<GridFor(n, kThreads), kThreads, 0, stream>>>(bias.as<const B>(), y.as<float>(),
                                                                   y.rows(), y.cols());
  });
  OVSERVE_CUDA_CHECK_LAUNCH();
}

}  // namespace ovserve::kernels::cuda
