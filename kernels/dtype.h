#pragma once
// Element types of tensors, and scalar conversions between them.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace ovserve::kernels {

// kI8: plain signed bytes (safetensors "I8"). kQ8 / kQ4: a quantized Linear
// weight [N, K] whose values, scales (and zero points) share one buffer, laid
// out as kernels/quantized_layout.h describes; their element size is that of
// the values alone (kQ4: none whole, see QuantizedBytes).
enum class DType : uint8_t { kF32, kF16, kBF16, kI64, kI32, kU8, kI8, kQ8, kQ4 };

constexpr size_t DTypeSize(DType dtype) {
  switch (dtype) {
    case DType::kF32: return 4;
    case DType::kF16: return 2;
    case DType::kBF16: return 2;
    case DType::kI64: return 8;
    case DType::kI32: return 4;
    case DType::kU8: return 1;
    case DType::kI8: return 1;
    case DType::kQ8: return 1;
    case DType::kQ4: return 0;
  }
  return 0;
}

constexpr std::string_view DTypeName(DType dtype) {
  switch (dtype) {
    case DType::kF32: return "F32";
    case DType::kF16: return "F16";
    case DType::kBF16: return "BF16";
    case DType::kI64: return "I64";
    case DType::kI32: return "I32";
    case DType::kU8: return "U8";
    case DType::kI8: return "I8";
    case DType::kQ8: return "Q8";
    case DType::kQ4: return "Q4";
  }
  return "?";
}

constexpr bool IsQuantized(DType dtype) { return dtype == DType::kQ8 || dtype == DType::kQ4; }

inline float Bf16ToF32(uint16_t bits) {
  const uint32_t wide = static_cast<uint32_t>(bits) << 16;
  float out;
  std::memcpy(&out, &wide, sizeof(out));
  return out;
}

// Round-to-nearest-even, as torch's float -> bfloat16 cast; NaN stays NaN.
inline uint16_t F32ToBf16(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40);
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

// IEEE half -> float, exact for every input (subnormals, inf, NaN).
inline float F16ToF32(uint16_t half) {
  const uint32_t sign = static_cast<uint32_t>(half & 0x8000u) << 16;
  uint32_t exponent = (half >> 10) & 0x1fu;
  uint32_t mantissa = half & 0x3ffu;
  uint32_t bits;
  if (exponent == 0) {
    if (mantissa == 0) {
      bits = sign;
    } else {  // subnormal: normalize
      exponent = 127 - 15 + 1;
      while ((mantissa & 0x400u) == 0) {
        mantissa <<= 1;
        --exponent;
      }
      mantissa &= 0x3ffu;
      bits = sign | (exponent << 23) | (mantissa << 13);
    }
  } else if (exponent == 0x1f) {
    bits = sign | 0x7f800000u | (mantissa << 13);
  } else {
    bits = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
  }
  float out;
  std::memcpy(&out, &bits, sizeof(out));
  return out;
}

// float -> IEEE half, round-to-nearest-even (as torch's cast); out-of-range
// values become inf, NaN stays NaN.
inline uint16_t F32ToF16(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  const auto sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  bits &= 0x7fffffffu;
  if (bits > 0x7f800000u) return sign | 0x7e00u;
  if (bits >= 0x477ff000u) return sign | 0x7c00u;  // >= 65520 rounds to inf
  if (bits < 0x38800000u) {                         // below 2^-14: a subnormal half
    float magnitude;
    std::memcpy(&magnitude, &bits, sizeof(magnitude));
    // Units of 2^-24, rounded to nearest even by the FPU (exact scaling).
    const float units = magnitude * 16777216.0f;
    auto rounded = static_cast<uint32_t>(units);
    const float rest = units - static_cast<float>(rounded);
    if (rest > 0.5f || (rest == 0.5f && (rounded & 1u) != 0)) ++rounded;
    return sign | static_cast<uint16_t>(rounded);
  }
  uint32_t h = bits - ((127u - 15u) << 23);
  h += 0xfffu + ((h >> 13) & 1u);
  return sign | static_cast<uint16_t>(h >> 13);
}

}  // namespace ovserve::kernels
