#pragma once
// AVX2/FMA elementwise activations (compiled with -mavx2 -mfma; only called
// when the CPU supports them): an 8-lane exp (Cephes' polynomial, ~1 ulp)
// instead of one libm call per element.

#include <cstdint>

namespace ovserve::kernels::cpu::avx2 {

// out[i] = gate[i] * sigmoid(gate[i]) * up[i]; out may alias gate.
void SiluMul(const float* gate, const float* up, float* out, int64_t n);

// out[i] = x / (1 + exp(-2u)), u = sqrt(2/pi) (x + 0.044715 x^3) (gelu_pytorch_tanh).
void GeluTanh(const float* x, float* out, int64_t n);

}  // namespace ovserve::kernels::cpu::avx2
