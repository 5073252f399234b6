#pragma once
// Test-only helpers for pre-quantized checkpoints: tensors packed the way
// compressed-tensors, AutoAWQ and AutoGPTQ pack them (written here from a
// plain matrix of codes, independently of the loader), the canonical kQ8 /
// kQ4 blob read back through kernels/quantized_layout.h's formulas alone,
// and config.json quantization_config objects of each method.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/model/quantization_config.h"
#include "kernels/tensor.h"
#include "nlohmann/json.hpp"

namespace ovserve::engine::quantized_testing {

using json = nlohmann::json;
using Matrix = std::vector<std::vector<int>>;  // [rows][cols]

// Deterministic integers in [lo, hi].
Matrix Codes(int rows, int cols, int lo, int hi, uint32_t seed);
int Rows(const Matrix& m);
int Cols(const Matrix& m);
// Every element plus `delta`.
Matrix Offset(const Matrix& m, int delta);

// Little-endian bytes of int32 words / int8 values / F16 values (which must
// be exactly representable as normal halves).
std::vector<uint8_t> Words(const std::vector<uint32_t>& words);
std::vector<uint8_t> I8Bytes(const Matrix& m);
std::vector<uint8_t> F16Bytes(const std::vector<float>& values);
// `count` scales exact in F16 and BF16 (k / 8 for k in 1..24, some negative).
std::vector<float> Scales(int count, uint32_t seed);

constexpr int kPlainOrder[8] = {0, 1, 2, 3, 4, 5, 6, 7};
// AutoAWQ's pack: nibble i holds column AWQ_ORDER[i] = {0, 2, 4, 6, 1, 3, 5, 7},
// so column c sits in the nibble whose AWQ_ORDER entry is c.
constexpr int kAwqNibbleOfColumn[8] = {0, 4, 1, 5, 2, 6, 3, 7};

// Packs 8 adjacent columns per int32: column 8j + i in nibble nibble_of[i]
// (bits 4 * nibble_of[i] up).
std::vector<uint32_t> PackColumns(const Matrix& m, const int (&nibble_of)[8]);
// Packs 8 adjacent rows per int32 (rows padded with zeros to a multiple of
// 8): word [r / 8][c], row r in bits 4 * (r % 8).
std::vector<uint32_t> PackRows(const Matrix& m);

// w[n][k] of a kQ8 / kQ4 view, row-major, in the weight's own column order.
std::vector<float> Dequantize(const kernels::Tensor& t);

// A tiny LLaVA-OneVision config.json carrying `quantization` when not null
// (hidden 16, intermediate 32, 2 q heads / 1 kv head of 8, 1 layer; vision
// hidden 8, 1 layer, at 28 px / 14).
json TinyConfigJson(const json& quantization);
// ParseModelConfig of TinyConfigJson(quantization), its quantization part.
absl::StatusOr<QuantizationConfig> ParseQuantization(const json& quantization);

// quantization_config objects as the quantizers write them.
json CompressedInt8Json();  // ignores "lm_head" and "re:.*vision_tower.*"
json PackedJson(int group_size, bool symmetric, const json& actorder);  // group_size <= 0: per channel
json AwqJson(int group_size);  // modules_to_not_convert: ["vision_tower"]
json GptqJson(int group_size, bool desc_act, const std::string& format);

}  // namespace ovserve::engine::quantized_testing
