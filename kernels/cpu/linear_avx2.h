#pragma once
// AVX2/FMA GEMM and GEMV over row-major weights (compiled with -mavx2 -mfma
// -mf16c; only called when the CPU supports them): Linear with F32 or
// unprepared weights, and attention's per-head GEMMs. Prepared BF16/F16
// weights take the panel kernels (linear_panels.h).

#include <cstdint>

#include "kernels/dtype.h"

namespace ovserve::kernels::cpu::avx2 {

// y[m, n0:n1] = x[m, :] . w[n0:n1, :]^T for every m < M, without bias.
// Rows of w are K elements of `w_dtype`. Weights are converted tile by tile
// into a per-thread fp32 panel; no full-precision copy exists.
void GemmRange(const float* x, int64_t M, int64_t K, const void* w, DType w_dtype,
               int64_t n0, int64_t n1, float* y, int64_t ldy);

// As GemmRange for a few activation rows (batched decode): each weight row is
// converted once and dotted with every row, in GemvRange's summation order,
// so results are bit-identical to GemvRange row by row.
void SmallBatchRange(const float* x, int64_t M, int64_t K, const void* w, DType w_dtype,
                     int64_t n0, int64_t n1, float* y, int64_t ldy);

// y[n0:n1] = w[n0:n1, :] . x for one activation row (decode).
void GemvRange(const float* x, int64_t K, const void* w, DType w_dtype, int64_t n0, int64_t n1,
               float* y);

}  // namespace ovserve::kernels::cpu::avx2
