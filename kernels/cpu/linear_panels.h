#pragma once
// The CPU's packed Linear weight layout (Layout::kPanels16) and its kernels.
//
// Rows of a BF16/F16 weight [N, K] are grouped 16 at a time into panels; a
// panel stores, for each k, the 16 elements (n0..n0+15, k) in one 32-byte
// line. A micro-kernel then reads one contiguous line per k for 16 outputs
// and broadcasts each activation, so every weight element is loaded once per
// call whatever the number of activation rows, and a decode step's batch
// costs FMAs rather than weight traffic. Same dtype and size as the stored
// weight (plus padding of the last panel to 16 rows with zeros).
//
// BF16 lines interleave rows n0+j and n0+8+j in 32-bit pair j, so a shift and
// a mask turn the line into two fp32 vectors of 8 outputs; F16 lines are in
// row order for F16C.
//
// Every output is one FMA chain over k = 0..K-1 in order, whatever the kernel
// and the number of rows: a row's result does not depend on what shares its
// batch.

#include <cstddef>
#include <cstdint>

#include "kernels/tensor.h"

namespace ovserve::kernels::cpu {

constexpr int64_t kPanelRows = 16;

inline int64_t PanelCount(int64_t rows) { return (rows + kPanelRows - 1) / kPanelRows; }

// Bytes of the packed form of a [rows, cols] weight.
inline size_t PanelBytes(int64_t rows, int64_t cols) {
  return static_cast<size_t>(PanelCount(rows) * kPanelRows * cols) * sizeof(uint16_t);
}

// Index within a k line of row r (0..15) of a panel.
inline int PanelSlot(DType dtype, int r) {
  if (dtype != DType::kBF16) return r;
  return r < 8 ? 2 * r : 2 * (r - 8) + 1;
}

inline bool CanPackPanels(const Tensor& w) {
  return w.rank == 2 && w.layout == Layout::kRowMajor &&
         (w.dtype == DType::kBF16 || w.dtype == DType::kF16);
}

// Writes panels [p0, p1) of row-major `w` into `out` (the whole packed buffer).
void PackPanels(const Tensor& w, int64_t p0, int64_t p1, uint16_t* out);

// y[m, n] = x[m, :] . w[n, :] for the rows n of panels [p0, p1), every m < M,
// without bias; `w` is in Layout::kPanels16. The portable version.
void GenericPanelRange(const float* x, int64_t M, const Tensor& w, int64_t p0, int64_t p1,
                       float* y, int64_t ldy);

namespace avx2 {
// As GenericPanelRange, with AVX2/FMA/F16C (bit-identical results).
void PanelRange(const float* x, int64_t M, const Tensor& w, int64_t p0, int64_t p1, float* y,
                int64_t ldy);
}  // namespace avx2

}  // namespace ovserve::kernels::cpu
