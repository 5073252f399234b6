#include "kernels/op_checks.h"

#include <string>

#include "kernels/check.h"

namespace ovserve::kernels::checks {

bool IsFloating(DType d) { return d == DType::kF32 || d == DType::kBF16 || d == DType::kF16; }

void F32(const Tensor& t, const char* what) {
  OVSERVE_CHECK(t.dtype == DType::kF32, "%s must be F32, got %s", what,
                std::string(DTypeName(t.dtype)).c_str());
}

void Linear(const Tensor& x, const Tensor& w, const Tensor* bias, const Tensor& y) {
  F32(x, "Linear x");
  F32(y, "Linear y");
  OVSERVE_CHECK(w.rank == 2 && (IsFloating(w.dtype) || IsQuantized(w.dtype)),
                "Linear w must be a 2-D float or quantized tensor");
  OVSERVE_CHECK(x.cols() == w.dim(1), "Linear: x %s vs w %s", x.ShapeString().c_str(),
                w.ShapeString().c_str());
  OVSERVE_CHECK(y.rows() == x.rows() && y.cols() == w.dim(0), "Linear: y %s for x %s, w %s",
                y.ShapeString().c_str(), x.ShapeString().c_str(), w.ShapeString().c_str());
  if (bias != nullptr) OVSERVE_CHECK(bias->numel() == w.dim(0), "Linear: bias size");
  OVSERVE_CHECK(w.layout == Layout::kRowMajor || w.dtype != DType::kF32,
                "Linear: packed weights are BF16, F16 or quantized");
}

void RmsNorm(const Tensor& x, const Tensor& weight, const Tensor& y) {
  F32(x, "RmsNorm x");
  OVSERVE_CHECK(weight.numel() == x.cols() && y.numel() == x.numel(), "RmsNorm shapes");
}

void LayerNorm(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& y) {
  F32(x, "LayerNorm x");
  OVSERVE_CHECK(weight.numel() == x.cols() && bias.numel() == x.cols() && y.numel() == x.numel(),
                "LayerNorm shapes");
}

void Rope(const Tensor& x, const Tensor& positions) {
  F32(x, "Rope x");
  OVSERVE_CHECK(x.rank == 3 && x.dim(2) % 2 == 0, "Rope x must be [T, H, D] with even D");
  OVSERVE_CHECK(positions.dtype == DType::kI32 && positions.numel() == x.dim(0), "Rope positions");
}

void Attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out) {
  F32(q, "Attention q");
  F32(k, "Attention k");
  F32(v, "Attention v");
  OVSERVE_CHECK(q.rank == 3 && k.rank == 3 && v.rank == 3 && out.rank == 3, "Attention ranks");
  OVSERVE_CHECK(q.dim(2) == k.dim(2) && k.dim(2) == v.dim(2) && k.dim(0) == v.dim(0) &&
                    k.dim(1) == v.dim(1) && q.dim(1) % k.dim(1) == 0,
                "Attention: q %s k %s v %s", q.ShapeString().c_str(), k.ShapeString().c_str(),
                v.ShapeString().c_str());
  OVSERVE_CHECK(out.numel() == q.numel(), "Attention out");
}

void StoreKv(const Tensor& k, const Tensor& v, const Tensor& slots, const Tensor& k_cache,
             const Tensor& v_cache) {
  OVSERVE_CHECK(slots.dtype == DType::kI32, "StoreKv slots must be I32");
  F32(k, "StoreKv k");
  F32(v, "StoreKv v");
  OVSERVE_CHECK(k_cache.dtype == v_cache.dtype && IsFloating(k_cache.dtype), "StoreKv cache dtypes");
  OVSERVE_CHECK(k.numel() == v.numel() && k_cache.numel() == v_cache.numel() &&
                    k.dim(0) == slots.numel(),
                "StoreKv: k %s v %s slots %s", k.ShapeString().c_str(), v.ShapeString().c_str(),
                slots.ShapeString().c_str());
  OVSERVE_CHECK(slots.numel() == 0 || k.numel() / slots.numel() == k_cache.numel() / k_cache.dim(0),
                "StoreKv: row of k %s does not match a cache slot %s", k.ShapeString().c_str(),
                k_cache.ShapeString().c_str());
}

void PagedAttention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                    const PagedBatch& batch, const Tensor& out) {
  F32(q, "PagedAttention q");
  OVSERVE_CHECK(k_cache.dtype == v_cache.dtype && IsFloating(k_cache.dtype),
                "PagedAttention cache dtypes");
  OVSERVE_CHECK(q.rank == 3 && k_cache.rank == 3 && v_cache.rank == 3 && out.numel() == q.numel(),
                "PagedAttention: q %s k_cache %s", q.ShapeString().c_str(),
                k_cache.ShapeString().c_str());
  OVSERVE_CHECK(q.dim(2) == k_cache.dim(2) && q.dim(1) % k_cache.dim(1) == 0 &&
                    k_cache.numel() == v_cache.numel() && k_cache.dim(0) % batch.block_size == 0,
                "PagedAttention: q %s k_cache %s block_size %d", q.ShapeString().c_str(),
                k_cache.ShapeString().c_str(), batch.block_size);
  const int64_t B = batch.seq_lens.numel();
  OVSERVE_CHECK(batch.query_start.numel() == B + 1 && batch.block_tables.rank == 2 &&
                    batch.block_tables.dim(0) == B,
                "PagedAttention: batch index shapes");
}

void SameSize(const Tensor& a, const Tensor& b, const Tensor& out, const char* op) {
  OVSERVE_CHECK(a.numel() == b.numel() && out.numel() == a.numel(), "%s shapes: %s %s -> %s", op,
                a.ShapeString().c_str(), b.ShapeString().c_str(), out.ShapeString().c_str());
}

void EmbeddingGather(const Tensor& ids, const Tensor& table, const Tensor& out) {
  OVSERVE_CHECK(ids.dtype == DType::kI32 && table.rank == 2, "EmbeddingGather types");
  OVSERVE_CHECK(out.rows() == ids.numel() && out.cols() == table.dim(1), "EmbeddingGather shapes");
}

void Im2Patches(const Tensor& image, int patch, const Tensor& out) {
  OVSERVE_CHECK(image.rank == 3 && image.dim(1) >= patch && image.dim(2) >= patch,
                "Im2Patches image %s, patch %d", image.ShapeString().c_str(), patch);
  OVSERVE_CHECK(out.rows() == (image.dim(1) / patch) * (image.dim(2) / patch) &&
                    out.cols() == image.dim(0) * patch * patch,
                "Im2Patches out %s", out.ShapeString().c_str());
}

void BilinearResize(const Tensor& x, const Tensor& out) {
  OVSERVE_CHECK(x.rank == 3 && out.rank == 3 && x.dim(2) == out.dim(2), "BilinearResize shapes");
}

void Convert(const Tensor& src, const Tensor& dst) {
  OVSERVE_CHECK(src.numel() == dst.numel(), "Convert shapes");
  OVSERVE_CHECK(dst.dtype == DType::kF32 || dst.dtype == src.dtype, "Convert to %s",
                std::string(DTypeName(dst.dtype)).c_str());
}

void ArgMax(const Tensor& x, const Tensor& out) {
  F32(x, "ArgMax x");
  OVSERVE_CHECK(out.dtype == DType::kI32 && out.numel() == x.rows() && x.cols() > 0, "ArgMax: x %s out %s",
                x.ShapeString().c_str(), out.ShapeString().c_str());
}

}  // namespace ovserve::kernels::checks
