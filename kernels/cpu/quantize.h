#pragma once
// Quantization on the CPU: Linear weights into the canonical Q8 / Q4 forms
// (kernels/quantized_layout.h) at load, and activations to int8 per token at
// every quantized Linear call (W8A8 and the 4-bit path's int8 dot products).
//
// Rounding is to nearest even everywhere (as the vector conversions do), so
// the AVX-512 activation quantizer and the portable one agree bit for bit.

#include <cstdint>

#include "kernels/tensor.h"

namespace ovserve::kernels::cpu {

// Rows [n0, n1) of float weight `w` [N, K] (BF16/F16/F32, row-major) into the
// canonical Q8 buffer `blob` (Q8Bytes(N, K)): symmetric, scale = max|row| / 127.
void QuantizeWeightRowsQ8(const Tensor& w, int64_t n0, int64_t n1, uint8_t* blob);

// Rows [n0, n1) of `w` into the canonical Q4 buffer (Q4Bytes(N, K, group,
// false)): per group of `group` columns, min/max (widened to contain 0, so
// zero stays exact) over 15 steps; the scale is rounded to fp16 first (what
// the packed panels keep) and the codes computed with it.
void QuantizeWeightRowsQ4(const Tensor& w, int group, int64_t n0, int64_t n1, uint8_t* blob);

// One activation row x[K] to int8: scale = max|x| / 127 (0 for an all-zero
// row), q[k] = round(x[order ? order[k] : k] * 127 / max|x|). Writes
// q[0, padded_k) (zeros past K) and returns the scale. With `offset`, stores
// q + 128 as unsigned bytes (the u8 operand of vpdpbusd).
float QuantizeActivationRow(const float* x, int64_t K, const int32_t* order, int64_t padded_k,
                            bool offset, uint8_t* q);

namespace avx512 {
// As QuantizeActivationRow, bit-identical; AVX-512F/BW CPUs only.
float QuantizeActivationRow(const float* x, int64_t K, const int32_t* order, int64_t padded_k,
                            bool offset, uint8_t* q);
}  // namespace avx512

}  // namespace ovserve::kernels::cpu
