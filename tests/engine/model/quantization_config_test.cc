#include "engine/model/quantization_config.h"

#include <string>

#include "absl/status/status.h"
#include "engine/model/model_config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/engine/model/quantized_test_util.h"

namespace ovserve::engine {
namespace {

using ::testing::HasSubstr;
using quantized_testing::json;
using quantized_testing::TinyConfigJson;
using quantized_testing::ParseQuantization;
using quantized_testing::CompressedInt8Json;
using quantized_testing::PackedJson;
using quantized_testing::AwqJson;
using quantized_testing::GptqJson;

std::string Message(const absl::Status& status) { return std::string(status.message()); }

void ExpectConfigError(const json& quantization, absl::StatusCode code, const std::string& needle) {
  auto config = ParseQuantization(quantization);
  ASSERT_FALSE(config.ok()) << quantization.dump();
  EXPECT_EQ(config.status().code(), code) << config.status();
  EXPECT_THAT(Message(config.status()), HasSubstr(needle));
}

TEST(QuantizationConfigTest, UnknownMethodNamed) {
  ExpectConfigError({{"quant_method", "fp8"}}, absl::StatusCode::kUnimplemented,
                    "quantization_config.quant_method is \"fp8\"");
}

TEST(QuantizationConfigTest, ThreeBitsRejected) {
  json gptq = GptqJson(128, false, "gptq");
  gptq["bits"] = 3;
  ExpectConfigError(gptq, absl::StatusCode::kUnimplemented, "quantization_config.bits is 3");
  json awq = AwqJson(128);
  awq["bits"] = 3;
  ExpectConfigError(awq, absl::StatusCode::kUnimplemented, "quantization_config.bits is 3");
  json packed = PackedJson(128, true, nullptr);
  packed["config_groups"]["group_0"]["weights"]["num_bits"] = 3;
  ExpectConfigError(packed, absl::StatusCode::kUnimplemented, "config_groups.group_0.weights.num_bits is 3");
}

TEST(QuantizationConfigTest, UnsupportedLayoutsNamed) {
  json awq = AwqJson(128);
  awq["version"] = "gemv";
  ExpectConfigError(awq, absl::StatusCode::kUnimplemented, "quantization_config.version is \"gemv\"");
  json gptq = GptqJson(128, false, "marlin");
  ExpectConfigError(gptq, absl::StatusCode::kUnimplemented, "quantization_config.checkpoint_format is \"marlin\"");
  json fp8 = CompressedInt8Json();
  fp8["config_groups"]["group_0"]["weights"]["type"] = "float";
  ExpectConfigError(fp8, absl::StatusCode::kUnimplemented, "weights.type is \"float\"");
  json static_act = CompressedInt8Json();
  static_act["config_groups"]["group_0"]["input_activations"]["dynamic"] = false;
  ExpectConfigError(static_act, absl::StatusCode::kUnimplemented, "input_activations.dynamic is false");
  json asym_int8 = CompressedInt8Json();
  asym_int8["config_groups"]["group_0"]["weights"]["symmetric"] = false;
  ExpectConfigError(asym_int8, absl::StatusCode::kUnimplemented, "weights.symmetric is false");
  json sparse = CompressedInt8Json();
  sparse["format"] = "sparse-24-bitmask";
  ExpectConfigError(sparse, absl::StatusCode::kUnimplemented, "quantization_config.format is \"sparse-24-bitmask\"");
}

TEST(QuantizationConfigTest, MalformedValuesAreInvalid) {
  json gptq = GptqJson(0, false, "gptq");
  ExpectConfigError(gptq, absl::StatusCode::kInvalidArgument, "quantization_config.group_size must be positive");
  json bad_regex = CompressedInt8Json();
  bad_regex["ignore"] = {"re:(unclosed"};
  ExpectConfigError(bad_regex, absl::StatusCode::kInvalidArgument, "quantization_config.ignore pattern");
  json deep = CompressedInt8Json();
  deep["ignore"] = {"re:" + std::string(400, '(') + std::string(400, ')')};
  ExpectConfigError(deep, absl::StatusCode::kInvalidArgument, "quantization_config.ignore pattern");
  // Backtracking is bounded: a pathological pattern gives up instead of hanging.
  EXPECT_FALSE(QuantizationPatternMatches("(a|aa)*(b|c)*\\1$", std::string(64, 'a') + "!"));
  json no_groups = CompressedInt8Json();
  no_groups.erase("config_groups");
  ExpectConfigError(no_groups, absl::StatusCode::kInvalidArgument, "quantization_config.config_groups");
}

TEST(QuantizationConfigTest, DescriptionsAndIgnoreRules) {
  auto ct = ParseQuantization(CompressedInt8Json());
  ASSERT_TRUE(ct.ok()) << ct.status();
  EXPECT_EQ(ct->description, "compressed-tensors int8");
  EXPECT_EQ(ct->FormatFor("lm_head"), nullptr);
  EXPECT_EQ(ct->FormatFor("model.vision_tower.vision_model.encoder.layers.0.mlp.fc1"), nullptr);
  ASSERT_NE(ct->FormatFor("model.language_model.layers.0.mlp.up_proj"), nullptr);
  EXPECT_EQ(ct->FormatFor("model.language_model.layers.0.mlp.up_proj")->kind,
            QuantizedLinearFormat::Kind::kCompressedInt8);

  auto awq = ParseQuantization(AwqJson(128));
  ASSERT_TRUE(awq.ok()) << awq.status();
  EXPECT_EQ(awq->description, "awq w4 g128");
  EXPECT_EQ(awq->FormatFor("model.vision_tower.vision_model.encoder.layers.0.mlp.fc1"), nullptr);  // substring

  auto gptq = ParseQuantization(GptqJson(128, true, "gptq"));
  ASSERT_TRUE(gptq.ok()) << gptq.status();
  EXPECT_EQ(gptq->description, "gptq w4 g128 act-order");
  json skip = GptqJson(-1, false, "gptq_v2");
  skip["dynamic"] = {{"-:.*mlp\\.down_proj", json::object()}};
  gptq = ParseQuantization(skip);
  ASSERT_TRUE(gptq.ok()) << gptq.status();
  EXPECT_EQ(gptq->description, "gptq w4 channel (gptq_v2)");
  EXPECT_EQ(gptq->FormatFor("model.language_model.layers.3.mlp.down_proj"), nullptr);
  EXPECT_NE(gptq->FormatFor("model.language_model.layers.3.mlp.up_proj"), nullptr);

  // Exact-name and pattern targets win over "Linear".
  json mixed = PackedJson(32, true, nullptr);
  mixed["format"] = "mixed-precision";
  mixed["config_groups"]["group_0"]["format"] = "pack-quantized";
  mixed["config_groups"]["group_1"] = CompressedInt8Json()["config_groups"]["group_0"];
  mixed["config_groups"]["group_1"]["format"] = "int-quantized";
  mixed["config_groups"]["group_1"]["targets"] = {"re:.*self_attn\\..*"};
  auto both = ParseQuantization(mixed);
  ASSERT_TRUE(both.ok()) << both.status();
  EXPECT_EQ(both->description, "compressed-tensors w4a16 g32 + int8");
  EXPECT_EQ(both->FormatFor("model.language_model.layers.0.self_attn.q_proj")->kind,
            QuantizedLinearFormat::Kind::kCompressedInt8);
  EXPECT_EQ(both->FormatFor("model.language_model.layers.0.mlp.up_proj")->kind,
            QuantizedLinearFormat::Kind::kCompressedPacked4);
  // re: patterns match at the start only, as Python's re.match.
  EXPECT_EQ(both->FormatFor("x.self_attn.q_proj")->kind, QuantizedLinearFormat::Kind::kCompressedInt8);
  EXPECT_FALSE(QuantizationPatternMatches("self_attn", "x.self_attn.q_proj"));
  EXPECT_TRUE(QuantizationPatternMatches("x\\.self", "x.self_attn.q_proj"));
}

TEST(QuantizationConfigTest, FoundInTextConfigToo) {
  json j = TinyConfigJson(nullptr);
  j["text_config"]["quantization_config"] = AwqJson(64);
  auto config = ParseModelConfig(j.dump());
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->quantization.method, QuantizationConfig::Method::kAwq);
  EXPECT_EQ(config->quantization.groups.at(0).format.group_size, 64);

  auto plain = ParseModelConfig(TinyConfigJson(nullptr).dump());
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_TRUE(plain->quantization.none());
  EXPECT_EQ(plain->quantization.FormatFor("model.language_model.layers.0.mlp.up_proj"), nullptr);
}

}  // namespace
}  // namespace ovserve::engine
