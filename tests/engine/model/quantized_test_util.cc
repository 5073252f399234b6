#include "tests/engine/model/quantized_test_util.h"

#include <cstring>

#include "engine/model/model_config.h"
#include "gtest/gtest.h"
#include "kernels/quantized_layout.h"

namespace ovserve::engine::quantized_testing {

using kernels::DType;
using kernels::Tensor;

// Deterministic integers in [lo, hi].
Matrix Codes(int rows, int cols, int lo, int hi, uint32_t seed) {
  Matrix m(static_cast<size_t>(rows), std::vector<int>(static_cast<size_t>(cols)));
  uint32_t state = seed;
  for (auto& row : m) {
    for (int& v : row) {
      state = state * 1664525u + 1013904223u;
      v = lo + static_cast<int>((state >> 16) % static_cast<uint32_t>(hi - lo + 1));
    }
  }
  return m;
}

int Rows(const Matrix& m) { return static_cast<int>(m.size()); }
int Cols(const Matrix& m) { return static_cast<int>(m[0].size()); }

std::vector<uint8_t> Words(const std::vector<uint32_t>& words) {
  std::vector<uint8_t> bytes(words.size() * 4);
  std::memcpy(bytes.data(), words.data(), bytes.size());  // little-endian host
  return bytes;
}

// Packs 8 adjacent columns per int32, column 8j + i in bits 4i.. (with
// `nibble_of`, column 8j + i in nibble nibble_of[i]).
std::vector<uint32_t> PackColumns(const Matrix& m, const int (&nibble_of)[8]) {
  std::vector<uint32_t> out;
  for (const auto& row : m) {
    for (int j = 0; j < Cols(m) / 8; ++j) {
      uint32_t word = 0;
      for (int i = 0; i < 8; ++i) word |= static_cast<uint32_t>(row[8 * j + i] & 0xf) << (4 * nibble_of[i]);
      out.push_back(word);
    }
  }
  return out;
}

// Packs 8 adjacent rows per int32 (rows padded with zeros to a multiple of
// 8): word [r / 8][c], row r in bits 4 * (r % 8).
std::vector<uint32_t> PackRows(const Matrix& m) {
  const int words = (Rows(m) + 7) / 8;
  std::vector<uint32_t> out(static_cast<size_t>(words * Cols(m)), 0);
  for (int r = 0; r < Rows(m); ++r) {
    for (int c = 0; c < Cols(m); ++c) {
      out[static_cast<size_t>((r / 8) * Cols(m) + c)] |= static_cast<uint32_t>(m[r][c] & 0xf) << (4 * (r % 8));
    }
  }
  return out;
}

Matrix Offset(const Matrix& m, int delta) {
  Matrix out = m;
  for (auto& row : out) {
    for (int& v : row) v += delta;
  }
  return out;
}

std::vector<uint8_t> I8Bytes(const Matrix& m) {
  std::vector<uint8_t> out;
  for (const auto& row : m) {
    for (int v : row) out.push_back(static_cast<uint8_t>(static_cast<int8_t>(v)));
  }
  return out;
}

namespace {

// IEEE half bits of a float that is exactly representable as a normal half.
uint16_t HalfBits(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  if ((bits & 0x7fffffffu) == 0) return static_cast<uint16_t>(bits >> 16);
  const uint32_t sign = (bits >> 16) & 0x8000u;
  const int exponent = static_cast<int>((bits >> 23) & 0xff) - 127 + 15;
  EXPECT_TRUE(exponent > 0 && exponent < 31 && (bits & 0x1fffu) == 0) << value << " is not a half";
  return static_cast<uint16_t>(sign | (static_cast<uint32_t>(exponent) << 10) | ((bits >> 13) & 0x3ffu));
}

}  // namespace

std::vector<uint8_t> F16Bytes(const std::vector<float>& values) {
  std::vector<uint8_t> out;
  for (float v : values) {
    const uint16_t h = HalfBits(v);
    out.push_back(static_cast<uint8_t>(h & 0xff));
    out.push_back(static_cast<uint8_t>(h >> 8));
  }
  return out;
}

// Scales that are exact in F16 and BF16: k / 8 for k in 1..24, some negative.
std::vector<float> Scales(int count, uint32_t seed) {
  std::vector<float> out;
  const Matrix m = Codes(1, count, 1, 24, seed);
  for (int i = 0; i < count; ++i) out.push_back(static_cast<float>(m[0][i]) / 8.0f * (i % 5 == 3 ? -1.0f : 1.0f));
  return out;
}

// w[n][k] of a kQ8 / kQ4 view, row-major, in the weight's own column order.
std::vector<float> Dequantize(const Tensor& t) {
  const int64_t n = t.dim(0);
  const int64_t k = t.dim(1);
  const auto* base = static_cast<const uint8_t*>(t.data);
  std::vector<float> w(static_cast<size_t>(n * k), -12345.0f);
  if (t.dtype == DType::kQ8) {
    const auto* scales = reinterpret_cast<const float*>(base + kernels::Q8ScalesOffset(n, k));
    for (int64_t r = 0; r < n; ++r) {
      for (int64_t c = 0; c < k; ++c) w[r * k + c] = static_cast<int8_t>(base[r * k + c]) * scales[r];
    }
    return w;
  }
  const int64_t group = t.group;
  const int64_t groups = k / group;
  const auto* scales = reinterpret_cast<const float*>(base + kernels::Q4ScalesOffset(n, k));
  const uint8_t* zeros = base + kernels::Q4ZerosOffset(n, k, group);
  const auto* order = reinterpret_cast<const int32_t*>(base + kernels::Q4OrderOffset(n, k, group));
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t c = 0; c < k; ++c) {
      const int code = (base[r * (k / 2) + c / 2] >> (c % 2 == 0 ? 0 : 4)) & 0xf;
      const int64_t g = c / group;
      const int64_t column = t.column_order ? order[c] : c;
      w[r * k + column] = static_cast<float>(code - zeros[r * groups + g]) * scales[r * groups + g];
    }
  }
  return w;
}

// A tiny LLaVA-OneVision config.json carrying `quantization` (hidden 16,
// intermediate 32, 2 q heads / 1 kv head of 8; vision hidden 8 at 28 px / 14).
json TinyConfigJson(const json& quantization) {
  json j = {{"model_type", "llava_onevision"},
            {"tie_word_embeddings", true},
            {"text_config",
             {{"model_type", "qwen2"}, {"hidden_size", 16}, {"intermediate_size", 32},
              {"num_hidden_layers", 1}, {"num_attention_heads", 2}, {"num_key_value_heads", 1},
              {"vocab_size", 16}}},
            {"vision_config",
             {{"hidden_size", 8}, {"intermediate_size", 12}, {"num_hidden_layers", 1},
              {"num_attention_heads", 2}, {"image_size", 28}, {"patch_size", 14}}}};
  if (!quantization.is_null()) j["quantization_config"] = quantization;
  return j;
}

absl::StatusOr<QuantizationConfig> ParseQuantization(const json& quantization) {
  auto config = ParseModelConfig(TinyConfigJson(quantization).dump());
  if (!config.ok()) return config.status();
  return config->quantization;
}

json CompressedInt8Json() {
  return {{"quant_method", "compressed-tensors"},
          {"format", "int-quantized"},
          {"quantization_status", "compressed"},
          {"config_groups",
           {{"group_0",
             {{"targets", {"Linear"}},
              {"weights",
               {{"num_bits", 8}, {"type", "int"}, {"symmetric", true}, {"strategy", "channel"},
                {"dynamic", false}, {"group_size", nullptr}, {"actorder", nullptr}}},
              {"input_activations",
               {{"num_bits", 8}, {"type", "int"}, {"symmetric", true}, {"strategy", "token"},
                {"dynamic", true}}},
              {"output_activations", nullptr}}}}},
          {"ignore", {"lm_head", "re:.*vision_tower.*"}},
          {"kv_cache_scheme", nullptr},
          {"sparsity_config", json::object()}};
}

json PackedJson(int group_size, bool symmetric, const json& actorder) {
  json weights = {{"num_bits", 4}, {"type", "int"}, {"symmetric", symmetric}, {"dynamic", false},
                  {"actorder", actorder}};
  if (group_size > 0) {
    weights["strategy"] = "group";
    weights["group_size"] = group_size;
  } else {
    weights["strategy"] = "channel";
  }
  return {{"quant_method", "compressed-tensors"},
          {"format", "pack-quantized"},
          {"config_groups",
           {{"group_0", {{"targets", {"Linear"}}, {"weights", weights}, {"input_activations", nullptr}}}}},
          {"ignore", {"lm_head"}}};
}

json AwqJson(int group_size) {
  return {{"quant_method", "awq"}, {"bits", 4}, {"group_size", group_size}, {"zero_point", true},
          {"version", "gemm"}, {"modules_to_not_convert", {"vision_tower"}}};
}

json GptqJson(int group_size, bool desc_act, const std::string& format) {
  return {{"quant_method", "gptq"}, {"bits", 4},         {"group_size", group_size},
          {"desc_act", desc_act},   {"sym", true},       {"checkpoint_format", format},
          {"damp_percent", 0.01},   {"static_groups", false}};
}

// The format the config gives module "m.proj".

}  // namespace ovserve::engine::quantized_testing
