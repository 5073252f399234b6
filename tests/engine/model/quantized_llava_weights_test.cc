// BindLlavaWeights on pre-quantized tiny models (llava_weights_test.cc holds
// the floating-point cases).

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "engine/model/llava_model.h"
#include "engine/model/llava_weights.h"
#include "engine/model/model_config.h"
#include "engine/runner/greedy_runner.h"
#include "kernels/cpu/cpu_backend.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/engine/model/quantized_test_util.h"
#include "tests/engine/model/safetensors_writer.h"

namespace ovserve::engine {
namespace {

using ::ovserve::testing::SafetensorsWriter;
using ::ovserve::testing::ScratchDir;
using ::testing::HasSubstr;
using kernels::DType;
using kernels::Tensor;
using quantized_testing::json;
using quantized_testing::Words;
using quantized_testing::F16Bytes;
using quantized_testing::Dequantize;
using quantized_testing::TinyConfigJson;
using quantized_testing::CompressedInt8Json;
using quantized_testing::GptqJson;

std::string Message(const absl::Status& status) { return std::string(status.message()); }

using LinearWriter = std::function<void(SafetensorsWriter&, const std::string& module, int64_t n, int64_t k)>;

// The tiny model of TinyConfigJson in the transformers >= 4.52 layout (or
// the legacy llava-hf one); the language model's Linears are written by
// `linear`, the projector's first by `projector_linear1`, the rest in BF16.
void WriteTinyModel(const std::filesystem::path& dir, const LinearWriter& linear,
                    const LinearWriter& projector_linear1, bool legacy = false, bool numeric = false) {
  SafetensorsWriter w;
  // BF16 tensors: the writer's byte pattern (binding tests), or small finite
  // values a forward pass can run on (norm weights near 1).
  uint32_t seed = 1;
  auto bf16 = [&](const std::string& name, const std::vector<int64_t>& shape) {
    if (!numeric) return w.AddBf16(name, shape);
    int64_t count = 1;
    for (int64_t d : shape) count *= d;
    const bool norm = name.find("norm") != std::string::npos;
    std::vector<float> values(static_cast<size_t>(count));
    for (float& v : values) {
      seed = seed * 1664525u + 1013904223u;
      const float unit = static_cast<float>(seed >> 8) / 16777216.0f - 0.5f;  // [-0.5, 0.5)
      v = norm ? 1.0f + 0.2f * unit : 0.2f * unit;
    }
    w.AddBf16(name, shape, values);
  };
  const std::string v = legacy ? "vision_tower.vision_model." : "model.vision_tower.vision_model.";
  bf16(v + "embeddings.patch_embedding.weight", {8, 3, 14, 14});
  bf16(v + "embeddings.patch_embedding.bias", {8});
  bf16(v + "embeddings.position_embedding.weight", {4, 8});
  const std::string vl = v + "encoder.layers.0.";
  for (const char* norm : {"layer_norm1", "layer_norm2"}) {
    bf16(vl + norm + ".weight", {8});
    bf16(vl + norm + ".bias", {8});
  }
  for (const char* proj : {"q_proj", "k_proj", "v_proj", "out_proj"}) {
    bf16(vl + "self_attn." + proj + ".weight", {8, 8});
    bf16(vl + "self_attn." + proj + ".bias", {8});
  }
  bf16(vl + "mlp.fc1.weight", {12, 8});
  bf16(vl + "mlp.fc1.bias", {12});
  bf16(vl + "mlp.fc2.weight", {8, 12});
  bf16(vl + "mlp.fc2.bias", {8});
  const std::string p = legacy ? "multi_modal_projector." : "model.multi_modal_projector.";
  projector_linear1(w, p + "linear_1", 16, 8);
  bf16(p + "linear_1.bias", {16});
  bf16(p + "linear_2.weight", {16, 16});
  bf16(p + "linear_2.bias", {16});
  bf16(legacy ? "image_newline" : "model.image_newline", {16});
  const std::string t = legacy ? "language_model.model." : "model.language_model.";
  bf16(t + "embed_tokens.weight", {16, 16});
  bf16(t + "norm.weight", {16});
  const std::string l = t + "layers.0.";
  bf16(l + "input_layernorm.weight", {16});
  bf16(l + "post_attention_layernorm.weight", {16});
  bf16(l + "self_attn.q_proj.bias", {16});
  bf16(l + "self_attn.k_proj.bias", {8});
  bf16(l + "self_attn.v_proj.bias", {8});
  linear(w, l + "self_attn.q_proj", 16, 16);
  linear(w, l + "self_attn.k_proj", 8, 16);
  linear(w, l + "self_attn.v_proj", 8, 16);
  linear(w, l + "self_attn.o_proj", 16, 16);
  linear(w, l + "mlp.gate_proj", 32, 16);
  linear(w, l + "mlp.up_proj", 32, 16);
  linear(w, l + "mlp.down_proj", 16, 32);
  w.Write(dir / "model.safetensors");
}

void Bf16Linear(SafetensorsWriter& w, const std::string& module, int64_t n, int64_t k) {
  w.AddBf16(module + ".weight", {n, k});
}

void Int8Linear(SafetensorsWriter& w, const std::string& module, int64_t n, int64_t k) {
  w.Add(module + ".weight", "I8", {n, k});
  w.AddBf16(module + ".weight_scale", {n, 1}, std::vector<float>(static_cast<size_t>(n), 0.5f));
}

void GptqLinear(SafetensorsWriter& w, const std::string& module, int64_t n, int64_t k) {
  w.Add(module + ".qweight", "I32", {k / 8, n});
  w.Add(module + ".qzeros", "I32", {k / 8, n / 8},
        Words(std::vector<uint32_t>(static_cast<size_t>(k / 8 * n / 8), 0x77777777u)));
  w.Add(module + ".scales", "F16", {k / 8, n}, F16Bytes(std::vector<float>(static_cast<size_t>(k / 8 * n), 0.25f)));
}

std::vector<const Tensor*> LanguageLinears(const LlavaWeights& w) {
  const Qwen2LayerWeights& l = w.text.layers.at(0);
  return {&l.q_w, &l.k_w, &l.v_w, &l.o_w, &l.gate_w, &l.up_w, &l.down_w};
}

std::vector<const Tensor*> VisionLinears(const LlavaWeights& w) {
  const SiglipLayerWeights& l = w.vision.layers.at(0);
  return {&l.q_w, &l.k_w, &l.v_w, &l.out_w, &l.fc1_w, &l.fc2_w};
}

TEST(QuantizedLlavaWeightsTest, CompressedInt8LanguageModel) {
  ScratchDir dir;
  WriteTinyModel(dir.path(), Int8Linear, Int8Linear);  // the projector's linear_1 is int8 too
  auto config = ParseModelConfig(TinyConfigJson(CompressedInt8Json()).dump());
  ASSERT_TRUE(config.ok()) << config.status();
  auto checkpoint = Checkpoint::Open(dir.path());
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  auto weights = BindLlavaWeights(**checkpoint, *config);
  ASSERT_TRUE(weights.ok()) << weights.status();
  EXPECT_EQ(weights->quantization, "compressed-tensors int8");
  ASSERT_NE(weights->quantized_storage, nullptr);
  for (const Tensor* t : LanguageLinears(*weights)) {
    EXPECT_EQ(t->dtype, DType::kQ8);
    EXPECT_EQ(Dequantize(*t)[0], 0.5f * static_cast<int8_t>(3));  // the writer's pattern starts at byte 3
  }
  EXPECT_EQ(weights->text.layers[0].down_w.ShapeString(), "[16, 32]");
  for (const Tensor* t : VisionLinears(*weights)) EXPECT_EQ(t->dtype, DType::kBF16);  // ignored
  EXPECT_EQ(weights->projector.linear1_w.dtype, DType::kQ8);  // quantized in the file
  EXPECT_EQ(weights->projector.linear2_w.dtype, DType::kBF16);  // not quantized in the file
  EXPECT_EQ(weights->text.embed_tokens.dtype, DType::kBF16);
  EXPECT_EQ(weights->text.layers[0].q_b.dtype, DType::kBF16);

  // Copies share the buffers.
  const LlavaWeights copy = *weights;
  EXPECT_EQ(copy.quantized_storage.get(), weights->quantized_storage.get());
  EXPECT_EQ(copy.text.layers[0].q_w.data, weights->text.layers[0].q_w.data);
}

TEST(QuantizedLlavaWeightsTest, RulesMatchEitherLayoutsNames) {
  // Saved under the legacy keys, quantized with transformers 4.52+ module
  // names in the ignore list.
  ScratchDir dir;
  const std::string down = "language_model.model.layers.0.mlp.down_proj";
  auto linear = [&](SafetensorsWriter& w, const std::string& module, int64_t n, int64_t k) {
    if (module == down) {
      Bf16Linear(w, module, n, k);
    } else {
      Int8Linear(w, module, n, k);
    }
  };
  WriteTinyModel(dir.path(), linear, Bf16Linear, /*legacy=*/true);
  json quantization = CompressedInt8Json();
  quantization["ignore"] = {"lm_head", "re:model\\.vision_tower.*", "model.language_model.layers.0.mlp.down_proj"};
  auto config = ParseModelConfig(TinyConfigJson(quantization).dump());
  ASSERT_TRUE(config.ok()) << config.status();
  auto checkpoint = Checkpoint::Open(dir.path());
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  auto weights = BindLlavaWeights(**checkpoint, *config);
  ASSERT_TRUE(weights.ok()) << weights.status();
  EXPECT_EQ(weights->text.layers[0].down_w.dtype, DType::kBF16);
  EXPECT_EQ(weights->text.layers[0].up_w.dtype, DType::kQ8);
  EXPECT_EQ(config->quantization.FormatFor("vision_tower.vision_model.encoder.layers.0.mlp.fc1",
                                           "model.vision_tower.vision_model.encoder.layers.0.mlp.fc1"),
            nullptr);
  EXPECT_NE(config->quantization.FormatFor("vision_tower.vision_model.encoder.layers.0.mlp.fc1"), nullptr);
}

TEST(QuantizedLlavaWeightsTest, GptqLanguageModel) {
  ScratchDir dir;
  WriteTinyModel(dir.path(), GptqLinear, Bf16Linear);
  auto config = ParseModelConfig(TinyConfigJson(GptqJson(8, false, "gptq")).dump());
  ASSERT_TRUE(config.ok()) << config.status();
  auto checkpoint = Checkpoint::Open(dir.path());
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  auto weights = BindLlavaWeights(**checkpoint, *config);
  ASSERT_TRUE(weights.ok()) << weights.status();
  EXPECT_EQ(weights->quantization, "gptq w4 g8");
  for (const Tensor* t : LanguageLinears(*weights)) {
    EXPECT_EQ(t->dtype, DType::kQ4);
    EXPECT_EQ(t->group, 8);
  }
  EXPECT_EQ(weights->text.layers[0].k_w.ShapeString(), "[8, 16]");
  for (const Tensor* t : VisionLinears(*weights)) EXPECT_EQ(t->dtype, DType::kBF16);
  EXPECT_EQ(weights->projector.linear1_w.dtype, DType::kBF16);
}

TEST(QuantizedLlavaWeightsTest, LanguageLinearMustBeQuantized) {
  ScratchDir dir;
  WriteTinyModel(dir.path(), Bf16Linear, Bf16Linear);
  auto config = ParseModelConfig(TinyConfigJson(GptqJson(8, false, "gptq")).dump());
  ASSERT_TRUE(config.ok()) << config.status();
  auto checkpoint = Checkpoint::Open(dir.path());
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  auto weights = BindLlavaWeights(**checkpoint, *config);
  EXPECT_EQ(weights.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Message(weights.status()), HasSubstr("model.language_model.layers.0.self_attn.q_proj.qweight"));
}

TEST(QuantizedLlavaWeightsTest, FloatCheckpointUnchanged) {
  ScratchDir dir;
  WriteTinyModel(dir.path(), Bf16Linear, Bf16Linear);
  auto config = ParseModelConfig(TinyConfigJson(nullptr).dump());
  ASSERT_TRUE(config.ok()) << config.status();
  auto checkpoint = Checkpoint::Open(dir.path());
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  auto weights = BindLlavaWeights(**checkpoint, *config);
  ASSERT_TRUE(weights.ok()) << weights.status();
  EXPECT_TRUE(weights->quantization.empty());
  EXPECT_EQ(weights->quantized_storage, nullptr);
  for (const Tensor* t : LanguageLinears(*weights)) EXPECT_EQ(t->dtype, DType::kBF16);
}

// Served end to end: a pre-quantized model's logits against a float model
// holding the weights its checkpoint dequantizes to (F32), both through
// RunGreedy on the CPU backend: loader, packing and kernels together. They
// differ only by the per-token int8 rounding of the activations.
std::vector<float> LastLogits(const std::filesystem::path& dir) {
  kernels::CpuBackend backend(kernels::CpuBackendOptions{.num_threads = 1});
  auto model = LlavaOnevisionModel::Load(dir, backend);
  EXPECT_TRUE(model.ok()) << model.status();
  if (!model.ok()) return {};
  GreedyRequest request;
  request.prompt_ids = {1, 5, 9, 3, 7, 2, 11};
  request.max_new_tokens = 1;
  auto result = RunGreedy(**model, request);
  EXPECT_TRUE(result.ok()) << result.status();
  return result.ok() ? result->last_logits : std::vector<float>{};
}

void WriteConfig(const std::filesystem::path& dir, const json& config) {
  std::ofstream(dir / "config.json") << config.dump();
}

TEST(QuantizedModelServingTest, LogitsMatchTheDequantizedFloatModel) {
  struct Format {
    const char* label;
    LinearWriter linear;
    json quantization;
  };
  // Codes from the writer's byte pattern, scales small enough for finite activations.
  const LinearWriter int8 = [](SafetensorsWriter& w, const std::string& module, int64_t n, int64_t k) {
    w.Add(module + ".weight", "I8", {n, k});
    w.AddBf16(module + ".weight_scale", {n, 1}, std::vector<float>(static_cast<size_t>(n), 1.0f / 512));
  };
  const LinearWriter gptq = [](SafetensorsWriter& w, const std::string& module, int64_t n, int64_t k) {
    w.Add(module + ".qweight", "I32", {k / 8, n});
    w.Add(module + ".qzeros", "I32", {k / 8, n / 8},
          Words(std::vector<uint32_t>(static_cast<size_t>(k / 8 * n / 8), 0x76543210u)));
    w.Add(module + ".scales", "F16", {k / 8, n},
          F16Bytes(std::vector<float>(static_cast<size_t>(k / 8 * n), 1.0f / 64)));
  };
  const LinearWriter plain = Bf16Linear;
  for (const Format& format : {Format{"compressed-tensors int8", int8, CompressedInt8Json()},
                               Format{"gptq w4 g8", gptq, GptqJson(8, false, "gptq")}}) {
    ScratchDir quantized, dense;
    WriteTinyModel(quantized.path(), format.linear, plain, /*legacy=*/false, /*numeric=*/true);
    WriteConfig(quantized.path(), TinyConfigJson(format.quantization));
    auto config = ParseModelConfig(TinyConfigJson(format.quantization).dump());
    ASSERT_TRUE(config.ok()) << config.status();
    auto checkpoint = Checkpoint::Open(quantized.path());
    ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
    auto weights = BindLlavaWeights(**checkpoint, *config);
    ASSERT_TRUE(weights.ok()) << weights.status();
    const std::string l = "model.language_model.layers.0.";
    const Qwen2LayerWeights& layer = weights->text.layers.at(0);
    std::map<std::string, const Tensor*> linears = {
        {l + "self_attn.q_proj", &layer.q_w}, {l + "self_attn.k_proj", &layer.k_w},
        {l + "self_attn.v_proj", &layer.v_w}, {l + "self_attn.o_proj", &layer.o_w},
        {l + "mlp.gate_proj", &layer.gate_w}, {l + "mlp.up_proj", &layer.up_w},
        {l + "mlp.down_proj", &layer.down_w}};
    WriteTinyModel(
        dense.path(),
        [&](SafetensorsWriter& w, const std::string& module, int64_t n, int64_t k) {
          const std::vector<float> values = Dequantize(*linears.at(module));
          std::vector<uint8_t> bytes(values.size() * sizeof(float));
          std::memcpy(bytes.data(), values.data(), bytes.size());
          w.Add(module + ".weight", "F32", {n, k}, bytes);
        },
        plain, /*legacy=*/false, /*numeric=*/true);
    WriteConfig(dense.path(), TinyConfigJson(nullptr));

    const std::vector<float> got = LastLogits(quantized.path());
    const std::vector<float> want = LastLogits(dense.path());
    ASSERT_EQ(got.size(), want.size());
    ASSERT_FALSE(want.empty());
    double max_diff = 0, max_ref = 0;
    for (size_t i = 0; i < want.size(); ++i) {
      ASSERT_TRUE(std::isfinite(got[i]) && std::isfinite(want[i])) << format.label << " at " << i;
      max_diff = std::max(max_diff, static_cast<double>(std::fabs(got[i] - want[i])));
      max_ref = std::max(max_ref, static_cast<double>(std::fabs(want[i])));
    }
    std::printf("%s: max |logit diff| %.4g of max |logit| %.4g\n", format.label, max_diff, max_ref);
    EXPECT_GT(max_ref, 0.0);
    EXPECT_LE(max_diff, 0.025 * max_ref) << format.label;  // measured: int8 1.3%, gptq w4 0.15%
  }
}

}  // namespace
}  // namespace ovserve::engine
