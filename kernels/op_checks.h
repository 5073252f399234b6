#pragma once
// Shape and dtype checks of the Backend ops (kernels/backend.h), shared by
// every backend so they accept exactly the same calls. A failure is a
// programming error and aborts with the shapes (OVSERVE_CHECK). Checks that
// read index tensors (slots, ids, block tables) need host memory and stay
// with the CPU backend; device kernels clamp or skip bad indices instead.

#include "kernels/backend.h"

namespace ovserve::kernels::checks {

bool IsFloating(DType dtype);
void F32(const Tensor& t, const char* what);

void Linear(const Tensor& x, const Tensor& w, const Tensor* bias, const Tensor& y);
void RmsNorm(const Tensor& x, const Tensor& weight, const Tensor& y);
void LayerNorm(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& y);
void Rope(const Tensor& x, const Tensor& positions);
void Attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out);
void StoreKv(const Tensor& k, const Tensor& v, const Tensor& slots, const Tensor& k_cache,
             const Tensor& v_cache);
void PagedAttention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                    const PagedBatch& batch, const Tensor& out);
void SameSize(const Tensor& a, const Tensor& b, const Tensor& out, const char* op);
void EmbeddingGather(const Tensor& ids, const Tensor& table, const Tensor& out);
void Im2Patches(const Tensor& image, int patch, const Tensor& out);
void BilinearResize(const Tensor& x, const Tensor& out);
void Convert(const Tensor& src, const Tensor& dst);
void ArgMax(const Tensor& x, const Tensor& out);

}  // namespace ovserve::kernels::checks
