#pragma once
// The CPU implementations of the Backend ops (kernels/backend.h), one file per
// op. Each takes the pool to spread its work over; shapes were checked by
// CpuBackend before the call.

#include "kernels/backend.h"
#include "kernels/cpu/thread_pool.h"
#include "kernels/tensor.h"

namespace ovserve::kernels::cpu {

// round_to_bf16: activations rounded to bf16 first (CpuPrecision::kBf16) for
// BF16/F16 weights in 16-row panels (pair panels always round).
void Linear(ThreadPool& pool, const Tensor& x, const Tensor& w, const Tensor* bias, const Tensor& y,
            bool round_to_bf16 = false);
void RmsNorm(ThreadPool& pool, const Tensor& x, const Tensor& weight, float eps, const Tensor& y);
void LayerNorm(ThreadPool& pool, const Tensor& x, const Tensor& weight, const Tensor& bias,
               float eps, const Tensor& y);
void RopeInPlace(ThreadPool& pool, const Tensor& x, const Tensor& positions, float theta);
void Attention(ThreadPool& pool, const Tensor& q, const Tensor& k, const Tensor& v,
               const Tensor& out, const AttentionParams& params);
void StoreKv(ThreadPool& pool, const Tensor& k, const Tensor& v, const Tensor& slots,
             const Tensor& k_cache, const Tensor& v_cache);
void PagedAttention(ThreadPool& pool, const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                    const PagedBatch& batch, float scale, const Tensor& out);
void SiluMul(ThreadPool& pool, const Tensor& gate, const Tensor& up, const Tensor& out);
void Gelu(ThreadPool& pool, const Tensor& x, GeluApproximation approximation, const Tensor& out);
void Add(ThreadPool& pool, const Tensor& a, const Tensor& b, const Tensor& out);
void EmbeddingGather(ThreadPool& pool, const Tensor& ids, const Tensor& table, const Tensor& out);
void Im2Patches(ThreadPool& pool, const Tensor& image, int patch, const Tensor& out);
void BilinearResize(ThreadPool& pool, const Tensor& x, const Tensor& out);
void Convert(ThreadPool& pool, const Tensor& src, const Tensor& dst);
void ArgMax(ThreadPool& pool, const Tensor& x, const Tensor& out);

// Reads element i of a floating-point tensor of any stored dtype as float.
inline float LoadAsFloat(const Tensor& t, int64_t i) {
  switch (t.dtype) {
    case DType::kF32: return t.as<const float>()[i];
    case DType::kBF16: return Bf16ToF32(t.as<const uint16_t>()[i]);
    case DType::kF16: return F16ToF32(t.as<const uint16_t>()[i]);
    default: return 0.0f;
  }
}

}  // namespace ovserve::kernels::cpu
