#pragma once
// Linear over 4-bit weights (canonical Q4, kernels/quantized_layout.h) packed
// as Layout::kPanelsQ4, with activations quantized to int8 per token. Per
// group of columns, AVX512-VNNI `vpdpbusd` sums code x activation products
// (codes 0..15 as the unsigned operand) into exact int32; the zero point comes
// off as zero * sum(activations of the group), and the group's scale folds
// the sum into an fp32 FMA chain over the groups:
//
//   acc = fma(float(sum_k code x8 - zero * sum_k x8), scale, acc) per group;
//   y[m][n] = acc * sx[m]
//
// Packed buffer (P panels of 16 rows, G = K / group groups, group / 8
// octets per group): codes at 0, [P][G][octet] 64-byte lines, byte 4r + b of
// octet t = code(k0 + b) | code(k0 + 4 + b) << 4 for row 16p + r, k0 the
// octet's first column; fp16 scales [P][G][16] at Q4PanelScalesOffset; u8
// zero points [P][G][16] at Q4PanelZerosOffset; with column_order, the int32
// [K] permutation at Q4PanelOrderOffset (activations are gathered by it).

#include <cstddef>
#include <cstdint>

#include "kernels/cpu/linear_panels.h"
#include "kernels/tensor.h"

namespace ovserve::kernels::cpu {

inline size_t Q4PanelScalesOffset(int64_t rows, int64_t cols, int64_t group) {
  return static_cast<size_t>(PanelCount(rows) * (cols / group) * (group / 8)) * 64;
}
inline size_t Q4PanelZerosOffset(int64_t rows, int64_t cols, int64_t group) {
  return Q4PanelScalesOffset(rows, cols, group) +
         static_cast<size_t>(PanelCount(rows) * (cols / group) * kPanelRows) * sizeof(uint16_t);
}
inline size_t Q4PanelOrderOffset(int64_t rows, int64_t cols, int64_t group) {
  return AlignQuant(Q4PanelZerosOffset(rows, cols, group) +
                    static_cast<size_t>(PanelCount(rows) * (cols / group) * kPanelRows));
}
inline size_t Q4PanelBytes(int64_t rows, int64_t cols, int64_t group, bool column_order) {
  return Q4PanelOrderOffset(rows, cols, group) +
         (column_order ? static_cast<size_t>(cols) * sizeof(int32_t) : 0);
}

// Panels [p0, p1) of canonical Q4 `w` into `out` (the whole packed buffer);
// the column order (if any) is copied by the caller once.
void PackQ4Panels(const Tensor& w, int64_t p0, int64_t p1, uint8_t* out);

// xq: int8 activation rows of K (already in column order), sx[m] their
// scales, xsum[m * G + g] the sum of row m's group g. y[m, n] for the rows n
// of panels [p0, p1), no bias. Portable version, bit-identical to VNNI's.
void GenericQ4PanelRange(const int8_t* xq, const float* sx, const int32_t* xsum, int64_t M,
                         const Tensor& w, int64_t p0, int64_t p1, float* y, int64_t ldy);

namespace avx512vnni {
void Q4PanelRange(const int8_t* xq, const float* sx, const int32_t* xsum, int64_t M,
                  const Tensor& w, int64_t p0, int64_t p1, float* y, int64_t ldy);
}  // namespace avx512vnni

}  // namespace ovserve::kernels::cpu
