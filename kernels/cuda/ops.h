#pragma once
// Kernel launchers of the CUDA backend, one .cu per op (kernels/cuda/*.cu).
// Each enqueues on `stream` and returns; shapes were checked by CudaBackend.

#include <cuda_runtime_api.h>

#include "kernels/backend.h"
#include "kernels/cuda/split_plan.h"

namespace ovserve::kernels::cuda {

// elementwise.cu
void Add(cudaStream_t stream, const Tensor& a, const Tensor& b, const Tensor& out);
void SiluMul(cudaStream_t stream, const Tensor& gate, const Tensor& up, const Tensor& out);
void Gelu(cudaStream_t stream, const Tensor& x, GeluApproximation approximation, const Tensor& out);
// y[M, N] += bias[N] (any float dtype).
void AddBias(cudaStream_t stream, const Tensor& bias, const Tensor& y);

// convert.cu: any float dtype -> any float dtype (F32 -> BF16/F16 rounds to nearest even).
void Convert(cudaStream_t stream, const Tensor& src, const Tensor& dst);

// norm.cu. With `delta`, x += delta first (the residual add fused into the norm).
void RmsNorm(cudaStream_t stream, const Tensor& x, const Tensor* delta, const Tensor& weight,
             float eps, const Tensor& y);
void LayerNorm(cudaStream_t stream, const Tensor& x, const Tensor& weight, const Tensor& bias,
               float eps, const Tensor& y);

// rope.cu
void RopeInPlace(cudaStream_t stream, const Tensor& x, const Tensor& positions, float theta);

// embedding.cu
void EmbeddingGather(cudaStream_t stream, const Tensor& ids, const Tensor& table, const Tensor& out);

// kv_store.cu: F32 k/v rows into a cache of any float dtype.
void StoreKv(cudaStream_t stream, const Tensor& k, const Tensor& v, const Tensor& slots,
             const Tensor& k_cache, const Tensor& v_cache);

// attention.cu. `workspace` (may be null when splits == 1) holds the split-K
// partials: SplitWorkspaceFloats() floats (split_plan.h).
void DenseAttention(cudaStream_t stream, const Tensor& q, const Tensor& k, const Tensor& v,
                    const Tensor& out, const AttentionParams& params);
void PagedAttention(cudaStream_t stream, const Tensor& q, const Tensor& k_cache,
                    const Tensor& v_cache, const PagedBatch& batch, float scale, int64_t max_query_len,
                    const SplitPlan& plan, float* workspace, const Tensor& out);
// The widest head the attention kernels take.
constexpr int kMaxHeadDim = 128;

// argmax.cu
void ArgMax(cudaStream_t stream, const Tensor& x, const Tensor& out);

// im2patches.cu, bilinear.cu
void Im2Patches(cudaStream_t stream, const Tensor& image, int patch, const Tensor& out);
void BilinearResize(cudaStream_t stream, const Tensor& x, const Tensor& out);

}  // namespace ovserve::kernels::cuda
