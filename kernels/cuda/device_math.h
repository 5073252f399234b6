#pragma once
// Per-element math of the CUDA kernels, as __host__ __device__ functions so
// the host compiler can unit-test exactly what the GPU runs
// (tests/kernels/cuda_device_math_test.cc). Each mirrors the CPU backend's
// formula (kernels/cpu/), which is the reference.

#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define OVSERVE_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define OVSERVE_HOST_DEVICE inline
#endif

namespace ovserve::kernels::cuda {

// x * sigmoid(x), as kernels/cpu/activation.cc.
OVSERVE_HOST_DEVICE float Silu(float x) { return x / (1.0f + expf(-x)); }

// gelu_pytorch_tanh as x / (1 + exp(-2u)), u = sqrt(2/pi) (x + 0.044715 x^3).
OVSERVE_HOST_DEVICE float GeluTanh(float x) {
  constexpr float kTwoBeta = 2.0f * 0.7978845608028654f;
  constexpr float kKappa = 0.044715f;
  return x / (1.0f + expf(-kTwoBeta * (x + kKappa * x * x * x)));
}

// The exact (erf) GELU.
OVSERVE_HOST_DEVICE float GeluErf(float x) { return 0.5f * x * (1.0f + erff(x * 0.7071067811865476f)); }

// bfloat16 bits <-> float; round to nearest even, NaN kept NaN (as
// kernels/dtype.h and torch).
OVSERVE_HOST_DEVICE float Bf16BitsToFloat(uint16_t bits) {
  const uint32_t wide = static_cast<uint32_t>(bits) << 16;
  float out;
  memcpy(&out, &wide, sizeof(out));
  return out;
}
OVSERVE_HOST_DEVICE uint16_t FloatToBf16Bits(float value) {
  uint32_t bits;
  memcpy(&bits, &value, sizeof(bits));
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40);
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

// RoPE inverse frequency of pair i of a D-wide head: 1 / theta^(2i/D),
// computed in double and rounded once, as kernels/cpu/rope.cc.
OVSERVE_HOST_DEVICE float RopeInverseFrequency(int i, int D, float theta) {
  const float exponent = static_cast<float>(2 * i) / static_cast<float>(D);
  return 1.0f / static_cast<float>(pow(static_cast<double>(theta), static_cast<double>(exponent)));
}

// The rotation of pair i at `position`: cos and sin of the angle, taken in
// double and rounded once, as kernels/cpu/rope.cc does.
struct RopeRotation {
  float c, s;
};
OVSERVE_HOST_DEVICE RopeRotation RotationAt(int i, int D, float theta, int32_t position) {
  const float angle = RopeInverseFrequency(i, D, theta) * static_cast<float>(position);
  return RopeRotation{static_cast<float>(cos(static_cast<double>(angle))),
                      static_cast<float>(sin(static_cast<double>(angle)))};
}

// One rotate-half pair (a = x[i], b = x[i + D/2]).
OVSERVE_HOST_DEVICE void Rotate(float& a, float& b, RopeRotation r) {
  const float a0 = a, b0 = b;
  a = a0 * r.c - b0 * r.s;
  b = b0 * r.c + a0 * r.s;
}

// Bilinear source taps of output index o when resizing `in` samples to
// `out` (torch interpolate, align_corners=False), as kernels/cpu/bilinear.cc.
struct BilinearTap {
  int i0, i1;
  float l0, l1;
};
OVSERVE_HOST_DEVICE BilinearTap SourceTap(int o, int in, int out) {
  const float scale = static_cast<float>(in) / static_cast<float>(out);
  float src = scale * (static_cast<float>(o) + 0.5f) - 0.5f;
  if (src < 0.0f) src = 0.0f;
  const int i0 = static_cast<int>(src);
  const int i1 = i0 + (i0 < in - 1 ? 1 : 0);
  const float l1 = src - static_cast<float>(i0);
  return BilinearTap{i0, i1, 1.0f - l1, l1};
}

// Online softmax state of one attention row (flash-attention's running max
// m, running denominator l); Rescale() is what accumulated outputs are
// multiplied by when a new tile raises the max.
struct SoftmaxState {
  float m = -INFINITY;
  float l = 0.0f;
};
// Folds a tile into `s`: `new_max` = max(s.m, the tile's max score),
// `tile_sum` = the tile's sum of exp(score - new_max). Returns the factor the
// previous accumulators are multiplied by.
OVSERVE_HOST_DEVICE float SoftmaxFold(SoftmaxState& s, float new_max, float tile_sum) {
  const float factor = s.m == -INFINITY ? 0.0f : expf(s.m - new_max);
  s.l = s.l * factor + tile_sum;
  s.m = new_max;
  return factor;
}
// Merges two partial results (split-K): the weights each side's accumulated
// output is scaled by, and the merged state.
struct MergeWeights {
  float a, b;
};
OVSERVE_HOST_DEVICE MergeWeights SoftmaxMerge(SoftmaxState& a, const SoftmaxState& b) {
  const float m = a.m > b.m ? a.m : b.m;
  if (m == -INFINITY) return MergeWeights{0.0f, 0.0f};
  const float wa = a.m == -INFINITY ? 0.0f : expf(a.m - m);
  const float wb = b.m == -INFINITY ? 0.0f : expf(b.m - m);
  a.l = a.l * wa + b.l * wb;
  a.m = m;
  return MergeWeights{wa, wb};
}

}  // namespace ovserve::kernels::cuda
