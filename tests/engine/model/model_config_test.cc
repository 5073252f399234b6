#include "engine/model/model_config.h"

#include <string>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/engine/model/safetensors_writer.h"
#include "tests/test_support/fixtures.h"

namespace ovserve::engine {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Pair;

std::string Message(const absl::Status& status) { return std::string(status.message()); }

// Shaped like the published llava-onevision-qwen2-0.5b-ov-hf config, which
// leaves many keys to their transformers defaults.
nlohmann::json SparseConfig() {
  return nlohmann::json::parse(R"({
    "architectures": ["LlavaOnevisionForConditionalGeneration"],
    "model_type": "llava_onevision",
    "text_config": {
      "model_type": "qwen2", "hidden_size": 896, "intermediate_size": 4864,
      "num_attention_heads": 14, "num_hidden_layers": 24, "num_key_value_heads": 2,
      "rope_theta": 1000000.0, "tie_word_embeddings": true, "vocab_size": 152000,
      "bos_token_id": 151643, "eos_token_id": 151645
    },
    "vision_config": {
      "hidden_size": 1152, "image_size": 384, "intermediate_size": 4304,
      "model_type": "siglip_vision_model", "num_attention_heads": 16,
      "num_hidden_layers": 26, "patch_size": 14, "vision_use_head": false
    },
    "vision_feature_select_strategy": "full"
  })");
}

TEST(ModelConfigTest, ParsesFixtureConfig) {
  OVSERVE_REQUIRE_FIXTURE("tiny-llava-ov/config.json");
  auto config = LoadModelConfig(::ovserve::testing::FixturePath("tiny-llava-ov"));
  ASSERT_TRUE(config.ok()) << config.status();
  const TextConfig& text = config->text;
  EXPECT_EQ(text.model_type, "qwen2");
  EXPECT_EQ(text.hidden_size, 64);
  EXPECT_EQ(text.intermediate_size, 176);
  EXPECT_EQ(text.num_hidden_layers, 2);
  EXPECT_EQ(text.num_attention_heads, 4);
  EXPECT_EQ(text.num_key_value_heads, 2);
  EXPECT_EQ(text.head_dim, 16);
  EXPECT_EQ(text.vocab_size, 152000);
  EXPECT_EQ(text.max_position_embeddings, 32768);
  EXPECT_DOUBLE_EQ(text.rope_theta, 1e6);
  EXPECT_DOUBLE_EQ(text.rms_norm_eps, 1e-6);
  EXPECT_EQ(text.hidden_act, "silu");
  EXPECT_TRUE(text.tie_word_embeddings);
  EXPECT_EQ(text.bos_token_id, 151643);
  EXPECT_EQ(text.eos_token_id, 151645);

  const VisionConfig& vision = config->vision;
  EXPECT_EQ(vision.model_type, "siglip_vision_model");
  EXPECT_EQ(vision.hidden_size, 32);
  EXPECT_EQ(vision.intermediate_size, 80);
  EXPECT_EQ(vision.num_hidden_layers, 2);
  EXPECT_EQ(vision.num_attention_heads, 2);
  EXPECT_EQ(vision.num_channels, 3);
  EXPECT_EQ(vision.patch_size, 14);
  EXPECT_EQ(vision.image_size, 384);
  EXPECT_EQ(vision.num_patches(), 729);
  EXPECT_EQ(vision.hidden_act, "gelu_pytorch_tanh");
  EXPECT_FALSE(vision.vision_use_head);

  EXPECT_EQ(config->image_token_id, 151646);
  EXPECT_EQ(config->video_token_id, 151647);
  EXPECT_EQ(config->vision_feature_layer, -1);
  EXPECT_EQ(config->feature_select_strategy, FeatureSelectStrategy::kFull);
  EXPECT_EQ(config->vision_aspect_ratio, "anyres_max_9");
  EXPECT_EQ(config->anyres_max_crops, 9);
  ASSERT_EQ(config->image_grid_pinpoints.size(), 36u);
  EXPECT_THAT(config->image_grid_pinpoints.front(), Pair(384, 384));
  EXPECT_THAT(config->image_grid_pinpoints[1], Pair(384, 768));
  EXPECT_THAT(config->image_grid_pinpoints.back(), Pair(2304, 2304));
  EXPECT_EQ(config->projector_hidden_act, "gelu");
  EXPECT_TRUE(config->projector_bias);
  EXPECT_TRUE(config->tie_word_embeddings);
  EXPECT_TRUE(config->use_image_newline_parameter);
}

TEST(ModelConfigTest, AbsentKeysTakeTransformersDefaults) {
  auto config = ParseModelConfig(SparseConfig().dump());
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->text.head_dim, 64);
  EXPECT_EQ(config->text.max_position_embeddings, 32768);
  EXPECT_DOUBLE_EQ(config->text.rms_norm_eps, 1e-6);
  EXPECT_EQ(config->text.hidden_act, "silu");
  EXPECT_EQ(config->vision.num_channels, 3);
  EXPECT_EQ(config->vision.hidden_act, "gelu_pytorch_tanh");
  EXPECT_DOUBLE_EQ(config->vision.layer_norm_eps, 1e-6);
  EXPECT_EQ(config->vision.num_patches(), 729);
  EXPECT_EQ(config->image_token_id, 151646);
  EXPECT_EQ(config->video_token_id, 151647);
  EXPECT_EQ(config->projector_hidden_act, "gelu");
  EXPECT_EQ(config->anyres_max_crops, 9);
  EXPECT_EQ(config->image_grid_pinpoints.size(), 36u);
  // No top-level flag: text_config's decides.
  EXPECT_TRUE(config->tie_word_embeddings);

  nlohmann::json bare = SparseConfig();
  bare["vision_config"] = nlohmann::json::object();
  bare["text_config"].erase("rope_theta");
  bare["text_config"].erase("vocab_size");
  bare["text_config"].erase("num_key_value_heads");
  bare["text_config"].erase("tie_word_embeddings");
  config = ParseModelConfig(bare.dump());
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_DOUBLE_EQ(config->text.rope_theta, 10000.0);
  EXPECT_EQ(config->text.vocab_size, 151936);
  EXPECT_EQ(config->text.num_key_value_heads, 14);
  EXPECT_FALSE(config->tie_word_embeddings);
  EXPECT_EQ(config->vision.hidden_size, 768);
  EXPECT_EQ(config->vision.intermediate_size, 3072);
  EXPECT_EQ(config->vision.num_hidden_layers, 12);
  EXPECT_EQ(config->vision.num_attention_heads, 12);
  EXPECT_EQ(config->vision.image_size, 224);
  EXPECT_EQ(config->vision.patch_size, 16);
}

TEST(ModelConfigTest, ExplicitValuesOverrideDefaults) {
  nlohmann::json j = SparseConfig();
  j["text_config"]["head_dim"] = 128;  // need not equal hidden / heads
  j["text_config"]["eos_token_id"] = {151645, 151643};
  j["tie_word_embeddings"] = false;  // top level wins over text_config
  j["vision_feature_select_strategy"] = "default";
  j["vision_feature_layer"] = -2;
  j["vision_aspect_ratio"] = "anyres_max_4";
  j["image_grid_pinpoints"] = {{384, 768}, {768, 384}};
  j["multimodal_projector_bias"] = false;
  auto config = ParseModelConfig(j.dump());
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->text.head_dim, 128);
  EXPECT_EQ(config->text.eos_token_id, 151645);
  EXPECT_FALSE(config->tie_word_embeddings);
  EXPECT_EQ(config->feature_select_strategy, FeatureSelectStrategy::kDefault);
  EXPECT_EQ(config->vision_feature_layer, -2);
  EXPECT_EQ(config->anyres_max_crops, 4);
  EXPECT_THAT(config->image_grid_pinpoints, ::testing::ElementsAre(Pair(384, 768), Pair(768, 384)));
  EXPECT_FALSE(config->projector_bias);

  j["vision_aspect_ratio"] = "pad";
  config = ParseModelConfig(j.dump());
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->anyres_max_crops, 0);
}

TEST(ModelConfigTest, BadJson) {
  auto config = ParseModelConfig("{\"model_type\": ");
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(config.status()), AllOf(HasSubstr("config.json"), HasSubstr("JSON")));
}

TEST(ModelConfigTest, MissingRequiredKeyNamesPath) {
  nlohmann::json j = SparseConfig();
  j["text_config"].erase("hidden_size");
  auto config = ParseModelConfig(j.dump());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(config.status()), HasSubstr("config.json: text_config.hidden_size missing"));

  j = SparseConfig();
  j.erase("text_config");
  config = ParseModelConfig(j.dump());
  EXPECT_THAT(Message(config.status()), HasSubstr("text_config missing"));
}

TEST(ModelConfigTest, WrongTypeNamesPath) {
  nlohmann::json j = SparseConfig();
  j["vision_config"]["patch_size"] = "14";
  auto config = ParseModelConfig(j.dump());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(config.status()),
              AllOf(HasSubstr("vision_config.patch_size"), HasSubstr("integer")));

  j = SparseConfig();
  j["image_grid_pinpoints"] = {{384, 384}, {768}};
  config = ParseModelConfig(j.dump());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(config.status()), HasSubstr("image_grid_pinpoints[1]"));
}

TEST(ModelConfigTest, WrongModelType) {
  nlohmann::json j = SparseConfig();
  j["model_type"] = "llava_next";
  auto config = ParseModelConfig(j.dump());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(config.status()),
              AllOf(HasSubstr("model_type"), HasSubstr("llava_next"), HasSubstr("llava_onevision")));

  j = SparseConfig();
  j["text_config"]["model_type"] = "llama";
  config = ParseModelConfig(j.dump());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(config.status()), AllOf(HasSubstr("text_config.model_type"),
                                              HasSubstr("llama")));
}

TEST(ModelConfigTest, SanityChecks) {
  nlohmann::json j = SparseConfig();
  j["text_config"]["num_key_value_heads"] = 3;  // does not divide 14
  auto config = ParseModelConfig(j.dump());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(config.status()),
              AllOf(HasSubstr("text_config.num_key_value_heads"), HasSubstr("(3)"),
                    HasSubstr("(14)")));

  j = SparseConfig();
  j["text_config"]["num_attention_heads"] = 15;  // does not divide 896, no head_dim
  j["text_config"]["num_key_value_heads"] = 3;
  config = ParseModelConfig(j.dump());
  EXPECT_THAT(Message(config.status()), HasSubstr("does not divide hidden_size"));

  j = SparseConfig();
  j["vision_config"]["image_size"] = 10;  // smaller than one 14 px patch
  config = ParseModelConfig(j.dump());
  EXPECT_THAT(Message(config.status()),
              AllOf(HasSubstr("vision_config.patch_size"), HasSubstr("image_size")));

  j = SparseConfig();
  j["text_config"]["intermediate_size"] = 0;
  config = ParseModelConfig(j.dump());
  EXPECT_THAT(Message(config.status()),
              AllOf(HasSubstr("text_config.intermediate_size"), HasSubstr("positive")));

  j = SparseConfig();
  j["vision_feature_select_strategy"] = "cls";
  config = ParseModelConfig(j.dump());
  EXPECT_THAT(Message(config.status()), HasSubstr("vision_feature_select_strategy"));

  j = SparseConfig();
  j["vision_feature_layer"] = 27;  // 26 layers: valid indices are -27..26
  config = ParseModelConfig(j.dump());
  EXPECT_THAT(Message(config.status()), HasSubstr("vision_feature_layer"));
}

TEST(ModelConfigTest, LoadFromMissingFolder) {
  ::ovserve::testing::ScratchDir dir;
  auto config = LoadModelConfig(dir.path());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Message(config.status()), HasSubstr((dir.path() / "config.json").string()));
}

TEST(ModelConfigTest, LoadErrorsNameTheFile) {
  ::ovserve::testing::ScratchDir dir;
  nlohmann::json j = SparseConfig();
  j["text_config"].erase("num_hidden_layers");
  ::ovserve::testing::WriteBytes(dir.path() / "config.json", j.dump());
  auto config = LoadModelConfig(dir.path());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(config.status()),
              HasSubstr((dir.path() / "config.json").string() +
                        ": text_config.num_hidden_layers missing"));
}

}  // namespace
}  // namespace ovserve::engine
