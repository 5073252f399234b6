#pragma once
// Quantized Linear weights in their canonical form: one buffer per weight
// [N, K] holding values, scales (and zero points), row-major. Every source
// is converted to it — quantization at load (kernels/cpu/quantize.h) and the
// pre-quantized checkpoint formats (engine/model/quantized_checkpoint.h) —
// and a backend's PrepareLinearWeight packs it for its kernels (the CPU's
// panels: kernels/cpu/linear_q8.h, linear_q4.h). Sizes stay those of the
// quantized data: no wider copy exists anywhere.
//
// DType::kQ8 (int8, symmetric, one scale per output row):
//   values int8 [N][K] at 0; scales float [N] at Q8ScalesOffset.
//   w[n][k] = values[n][k] * scales[n].
// DType::kQ4 (4-bit, a scale and a zero point per row and group of
// Tensor::group columns; group divides K and is a multiple of 8):
//   codes uint8 [N][K / 2] at 0, column k in byte k / 2, the low nibble for
//   even k; scales float [N][K / group] at Q4ScalesOffset; zero points uint8
//   [N][K / group] at Q4ZerosOffset; with Tensor::column_order, an int32 [K]
//   permutation at Q4OrderOffset: stored column k is the weight's column
//   order[k] (GPTQ's act-order, its columns sorted by group).
//   w[n][order[k]] = (codes[n][k] - zeros[n][k / group]) * scales[n][k / group].

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace ovserve::kernels {

constexpr size_t kQuantAlignment = 64;

constexpr size_t AlignQuant(size_t bytes) {
  return (bytes + kQuantAlignment - 1) / kQuantAlignment * kQuantAlignment;
}

constexpr size_t Q8ScalesOffset(int64_t n, int64_t k) { return AlignQuant(static_cast<size_t>(n * k)); }
constexpr size_t Q8Bytes(int64_t n, int64_t k) {
  return Q8ScalesOffset(n, k) + static_cast<size_t>(n) * sizeof(float);
}

constexpr size_t Q4ScalesOffset(int64_t n, int64_t k) {
  return AlignQuant(static_cast<size_t>(n * (k / 2)));
}
constexpr size_t Q4ZerosOffset(int64_t n, int64_t k, int64_t group) {
  return AlignQuant(Q4ScalesOffset(n, k) + static_cast<size_t>(n * (k / group)) * sizeof(float));
}
constexpr size_t Q4OrderOffset(int64_t n, int64_t k, int64_t group) {
  return AlignQuant(Q4ZerosOffset(n, k, group) + static_cast<size_t>(n * (k / group)));
}
constexpr size_t Q4Bytes(int64_t n, int64_t k, int64_t group, bool column_order) {
  return Q4OrderOffset(n, k, group) + (column_order ? static_cast<size_t>(k) * sizeof(int32_t) : 0);
}

// What a module's Linear weights become when prepared (--quantization,
// --vision-quantization): kept as stored, int8 per output channel with
// activations quantized per token (W8A8), or 4-bit weight-only with a scale
// per group of `group` columns.
struct WeightQuantization {
  enum class Kind : uint8_t { kNone, kInt8, kW4 };
  Kind kind = Kind::kNone;
  int group = 0;  // kW4 only

  bool none() const { return kind == Kind::kNone; }
  friend bool operator==(const WeightQuantization&, const WeightQuantization&) = default;
};

constexpr int kDefaultW4Group = 32;

// "none", "int8", "w4" (group 32), "w4g<N>" (N a multiple of 8, e.g. w4g128).
// False on anything else.
bool ParseWeightQuantization(std::string_view text, WeightQuantization* out);
// The inverse of ParseWeightQuantization.
std::string_view WeightQuantizationName(const WeightQuantization& q, char (&buffer)[16]);

}  // namespace ovserve::kernels
