#pragma once
// Linear over int8 weights with int8 activations (W8A8): the canonical Q8
// weight (kernels/quantized_layout.h) packed as Layout::kPanelsQ8, each call's
// activations quantized per token (kernels/cpu/quantize.h) and offset to
// unsigned, and AVX512-VNNI `vpdpbusd` summing four u8 x s8 products per lane
// into int32 — exact integer sums, so every kernel and batch size gives the
// same bits, and twice the multiply-adds per instruction of bf16 dot products.
//
//   y[m][n] = float(sum_k (x8[m][k] + 128) w8[n][k] - 128 sum_k w8[n][k]) * sx[m] * sw[n]
//
// Packed buffer: panel p (rows 16p..16p+15), for each quad j of columns a
// 64-byte line of 16 dwords, dword r = w8[16p + r][4j..4j+3] (zeros past K
// and N); then float scales[16 P] at Q8PanelScalesOffset and int32 row sums
// [16 P] at Q8PanelSumsOffset.

#include <cstddef>
#include <cstdint>

#include "kernels/cpu/linear_panels.h"
#include "kernels/tensor.h"

namespace ovserve::kernels::cpu {

inline int64_t ColumnQuads(int64_t cols) { return (cols + 3) / 4; }

inline size_t Q8PanelScalesOffset(int64_t rows, int64_t cols) {
  return AlignQuant(static_cast<size_t>(PanelCount(rows) * ColumnQuads(cols)) * 64);
}
inline size_t Q8PanelSumsOffset(int64_t rows, int64_t cols) {
  return Q8PanelScalesOffset(rows, cols) + static_cast<size_t>(PanelCount(rows) * kPanelRows) * 4;
}
inline size_t Q8PanelBytes(int64_t rows, int64_t cols) {
  return Q8PanelSumsOffset(rows, cols) + static_cast<size_t>(PanelCount(rows) * kPanelRows) * 4;
}

// Panels [p0, p1) of canonical Q8 `w` into `out` (the whole packed buffer).
void PackQ8Panels(const Tensor& w, int64_t p0, int64_t p1, uint8_t* out);

// Activations as the kernels read them: row m at xq + m * 4 * ColumnQuads(K),
// u8 (q + 128), with scale sx[m].
// y[m, n] for the rows n of panels [p0, p1) (no bias). Portable version,
// bit-identical to the VNNI one.
void GenericQ8PanelRange(const uint8_t* xq, const float* sx, int64_t M, const Tensor& w,
                         int64_t p0, int64_t p1, float* y, int64_t ldy);

namespace avx512vnni {
void Q8PanelRange(const uint8_t* xq, const float* sx, int64_t M, const Tensor& w, int64_t p0,
                  int64_t p1, float* y, int64_t ldy);
}  // namespace avx512vnni

}  // namespace ovserve::kernels::cpu
