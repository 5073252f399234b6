#pragma once
// Linear in the CPU's bf16 precision (CpuPrecision::kBf16) where the CPU has AVX512-BF16: BF16
// weights packed as Layout::kPanels16Pairs, activations rounded to bf16 per
// call, AVX512-BF16 `vdpbf16ps` accumulating pairs of products into fp32 —
// twice the multiply-adds per instruction of fp32 FMAs, no conversion of the
// weights at all. The activation rounding (8 mantissa bits) is the price:
// what llama.cpp pays on its bf16 path; the default fp32 path
// (linear_panels.h) stays the reference.
//
// Panel p holds rows 16p..16p+15; for each pair of columns j = (2j, 2j + 1)
// a 64-byte line of 16 dwords, dword r = (w[16p + r][2j], w[16p + r][2j + 1])
// (low half the even column); an odd K pads the last pair with zero.

#include <cstddef>
#include <cstdint>

#include "kernels/cpu/linear_panels.h"
#include "kernels/tensor.h"

namespace ovserve::kernels::cpu {

inline int64_t ColumnPairs(int64_t cols) { return (cols + 1) / 2; }

inline size_t PairPanelBytes(int64_t rows, int64_t cols) {
  return static_cast<size_t>(PanelCount(rows) * kPanelRows * ColumnPairs(cols)) * sizeof(uint32_t);
}

// Writes panels [p0, p1) of row-major BF16 `w` into `out` (the whole buffer).
void PackPairPanels(const Tensor& w, int64_t p0, int64_t p1, uint32_t* out);

// out[m * ColumnPairs(K) + j] = (bf16(x[m][2j]), bf16(x[m][2j + 1])), rounded
// to nearest even as torch does.
void RoundRowsToBf16Pairs(const float* x, int64_t M, int64_t K, uint32_t* out);

// y[m, n] = xb[m] . w[n] for the rows n of panels [p0, p1); `w` in
// Layout::kPanels16Pairs, `xb` from RoundRowsToBf16Pairs. Portable version
// (fp32 arithmetic on the same bf16 operands; not bit-identical to the
// dot-product instructions).
void GenericPairPanelRange(const uint32_t* xb, int64_t M, const Tensor& w, int64_t p0, int64_t p1,
                           float* y, int64_t ldy);

namespace avx512bf16 {
// As RoundRowsToBf16Pairs, 16 elements per instruction (vcvtneps2bf16).
void RoundRowsToBf16Pairs(const float* x, int64_t M, int64_t K, uint32_t* out);
void PairPanelRange(const uint32_t* xb, int64_t M, const Tensor& w, int64_t p0, int64_t p1,
                    float* y, int64_t ldy);
}  // namespace avx512bf16

}  // namespace ovserve::kernels::cpu
