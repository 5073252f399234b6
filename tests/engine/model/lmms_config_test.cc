// The lmms-lab config.json: format detection, the LlavaQwen fields into the
// shared config, the tower from a hub cache entry or built-in values, the
// format's own rules (pinpoints as (width, height), truncating unpad, logits
// cut to len(tokenizer)), and every unsupported setting refused by name.
#include "engine/model/lmms_config.h"

#include <cstdlib>
#include <fstream>
#include <string>

#include "absl/status/status.h"
#include "engine/model/hub_cache.h"
#include "engine/model/llava_weights.h"
#include "engine/model/safetensors.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/test_support/fixtures.h"
#include "tests/test_support/lmms_fixture.h"

namespace ovserve::engine {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

// Shaped like lmms-lab/llava-onevision-qwen2-0.5b-ov's config.json.
nlohmann::json LmmsConfig() {
  return nlohmann::json::parse(R"({
    "architectures": ["LlavaQwenForCausalLM"], "model_type": "llava",
    "hidden_size": 896, "intermediate_size": 4864, "num_attention_heads": 14, "num_hidden_layers": 24,
    "num_key_value_heads": 2, "rope_theta": 1000000.0, "rms_norm_eps": 1e-06, "vocab_size": 151936,
    "tie_word_embeddings": true, "bos_token_id": 151643, "eos_token_id": 151645,
    "max_position_embeddings": 32768, "image_token_index": 151646,
    "mm_vision_tower": "google/siglip-so400m-patch14-384", "mm_hidden_size": 1152,
    "mm_projector_type": "mlp2x_gelu", "mm_patch_merge_type": "spatial_unpad",
    "mm_newline_position": "one_token", "mm_spatial_pool_mode": "bilinear",
    "mm_vision_select_layer": -2, "mm_vision_select_feature": "patch",
    "mm_use_im_start_end": false, "mm_use_im_patch_token": false,
    "image_aspect_ratio": "anyres_max_9",
    "image_grid_pinpoints": [[384, 384], [384, 768], [768, 384], [1152, 768]]
  })");
}

LmmsConfigContext So400mContext() { return {*KnownVisionTower("google/siglip-so400m-patch14-384"), 151646}; }

absl::StatusOr<LlavaOnevisionConfig> Parse(const nlohmann::json& config) {
  return ParseLmmsConfig(config.dump(), So400mContext());
}

TEST(LmmsConfigTest, DetectsEachFormatFromConfigJson) {
  EXPECT_EQ(DetectCheckpointFormat(LmmsConfig().dump()).value(), CheckpointFormat::kLmmsLab);
  EXPECT_EQ(DetectCheckpointFormat(R"({"model_type": "llava_onevision"})").value(), CheckpointFormat::kLlavaHf);
  const auto neither = DetectCheckpointFormat(R"({"model_type": "llama"})");
  ASSERT_FALSE(neither.ok());
  EXPECT_THAT(std::string(neither.status().message()), HasSubstr("model_type \"llama\""));
  EXPECT_FALSE(DetectCheckpointFormat(R"({"model_type": "llava"})").ok());  // no mm_vision_tower
  EXPECT_EQ(DetectCheckpointFormat(R"({"architectures": ["LlavaQwenForCausalLM"], "mm_vision_tower": "x"})").value(),
            CheckpointFormat::kLmmsLab);
}

TEST(LmmsConfigTest, FillsTheSharedConfigWithTheFormatsRules) {
  auto config = Parse(LmmsConfig());
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->format, CheckpointFormat::kLmmsLab);
  EXPECT_EQ(config->text.hidden_size, 896);
  EXPECT_EQ(config->text.num_hidden_layers, 24);
  EXPECT_EQ(config->text.eos_token_id, 151645);
  EXPECT_TRUE(config->tie_word_embeddings);
  // The builder cuts embeddings and LM head to len(tokenizer).
  EXPECT_EQ(config->text.vocab_size, 151646);
  EXPECT_EQ(config->text.stored_vocab_rows, 151936);
  EXPECT_EQ(config->image_token_id, 151646);
  EXPECT_EQ(config->video_token_id, 151647);
  // so400m's 27 layers, the last deleted; features = that layer's input.
  EXPECT_EQ(config->vision.num_hidden_layers, 26);
  EXPECT_EQ(config->vision.hidden_size, 1152);
  EXPECT_EQ(config->vision.patches_per_side(), 27);
  EXPECT_EQ(config->vision_feature_layer, -1);
  EXPECT_EQ(config->projector_hidden_act, "gelu");
  EXPECT_EQ(config->anyres_max_crops, 9);
  EXPECT_EQ(config->unpad_rounding, UnpadRounding::kTruncate);
  // [width, height] pairs, stored as (height, width).
  const std::vector<std::pair<int64_t, int64_t>> expected = {{384, 384}, {768, 384}, {384, 768}, {768, 1152}};
  EXPECT_EQ(config->image_grid_pinpoints, expected);
}

TEST(LmmsConfigTest, PinpointRangeStringExpandsInCropUnits) {
  nlohmann::json json = LmmsConfig();
  json["image_grid_pinpoints"] = "(1x1),...,(2x3)";
  auto config = Parse(json);
  ASSERT_TRUE(config.ok()) << config.status();
  // (i x j) = (width x height) in crops, i outer, as process_anyres_image.
  const std::vector<std::pair<int64_t, int64_t>> expected = {{384, 384}, {768, 384},  {1152, 384},
                                                             {384, 768}, {768, 768}, {1152, 768}};
  EXPECT_EQ(config->image_grid_pinpoints, expected);
  json["image_grid_pinpoints"] = "one to six";
  EXPECT_FALSE(Parse(json).ok());
}

TEST(LmmsConfigTest, UnsupportedSettingsAreRefusedByName) {
  const std::pair<const char*, nlohmann::json> cases[] = {
      {"mm_projector_type", "linear"},   {"mm_patch_merge_type", "flat"},
      {"mm_newline_position", "grid"},   {"mm_spatial_pool_mode", "average"},
      {"mm_spatial_pool_stride", 4},     {"add_faster_video", true},
      {"image_aspect_ratio", "pad"},     {"mm_hidden_size", 1024},
      {"mm_vision_tower", "openai/clip-vit-large-patch14-336"}, {"mm_use_im_start_end", true}};
  for (const auto& [key, value] : cases) {
    nlohmann::json json = LmmsConfig();
    json[key] = value;
    const auto config = Parse(json);
    ASSERT_FALSE(config.ok()) << key;
    EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument) << key;
    EXPECT_THAT(std::string(config.status().message()), HasSubstr(key));
  }
  // No room past the tokenizer for the placeholder rows.
  const auto tight = ParseLmmsConfig(LmmsConfig().dump(), {So400mContext().tower, 151935});
  ASSERT_FALSE(tight.ok());
  EXPECT_THAT(std::string(tight.status().message()), HasSubstr("vocab_size"));
}

TEST(LmmsConfigTest, TowerConfigsFromSiglipFiles) {
  auto full = ParseSiglipTowerConfig(
      R"({"model_type": "siglip", "vision_config": {"hidden_size": 48, "intermediate_size": 112,
          "num_attention_heads": 3, "num_hidden_layers": 4, "image_size": 384, "patch_size": 14}})",
      "hub config.json");
  ASSERT_TRUE(full.ok()) << full.status();
  EXPECT_EQ(full->hidden_size, 48);
  EXPECT_EQ(full->num_hidden_layers, 4);
  auto vision_only = ParseSiglipTowerConfig(R"({"model_type": "siglip_vision_model", "hidden_size": 64,
      "num_attention_heads": 4})", "x");
  ASSERT_TRUE(vision_only.ok()) << vision_only.status();
  EXPECT_EQ(vision_only->image_size, 224);  // SiglipVisionConfig's default
  EXPECT_FALSE(ParseSiglipTowerConfig(R"({"model_type": "clip"})", "x").ok());
  EXPECT_FALSE(KnownVisionTower("google/siglip-base-patch16-224").has_value());
}

TEST(HubCacheTest, FindsTheSnapshotRefsMainNames) {
  const auto cache = std::filesystem::temp_directory_path() / ("ovserve-hub-" + std::to_string(getpid()));
  const auto repo = cache / "models--org--tower";
  std::filesystem::create_directories(repo / "snapshots" / "aaa");
  std::filesystem::create_directories(repo / "snapshots" / "bbb");
  auto ambiguous = FindHubSnapshot("org/tower", cache);
  ASSERT_FALSE(ambiguous.ok());
  EXPECT_EQ(ambiguous.status().code(), absl::StatusCode::kNotFound);
  std::filesystem::create_directories(repo / "refs");
  std::ofstream(repo / "refs" / "main") << "bbb\n";
  EXPECT_EQ(FindHubSnapshot("org/tower", cache).value(), repo / "snapshots" / "bbb");
  auto missing = FindHubSnapshot("org/other", cache);
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("models--org--other"));
  EXPECT_FALSE(FindHubSnapshot("../escape", cache).ok());
  std::filesystem::remove_all(cache);

  setenv("HF_HUB_CACHE", "/a/hub", 1);
  EXPECT_EQ(HubCacheDir(), std::filesystem::path("/a/hub"));
  unsetenv("HF_HUB_CACHE");
  setenv("HF_HOME", "/b", 1);
  EXPECT_EQ(HubCacheDir(), std::filesystem::path("/b/hub"));
  unsetenv("HF_HOME");
}

TEST(LmmsConfigTest, LoadsTheFixtureWithItsHubEntryOrRefusesItsTensorsWithoutIt) {
  OVSERVE_REQUIRE_FIXTURE("lmms/cases/index.json");
  const auto checkpoint = ovserve::testing::LmmsCheckpointOf();
  ASSERT_TRUE(checkpoint.has_value());
  const auto& dir = checkpoint->model_dir;
  std::ifstream config_in(dir / "config.json");
  const auto raw = nlohmann::json::parse(config_in);
  EXPECT_EQ(TokenizerLength(dir).value(), 151646);  // Qwen2's 151643 + 3 added tokens
  setenv("HF_HUB_CACHE", checkpoint->hub_cache.c_str(), 1);
  auto config = LoadModelConfig(dir);
  ASSERT_TRUE(config.ok()) << config.status();
  auto hub = FindHubSnapshot(raw["mm_vision_tower"].get<std::string>(), checkpoint->hub_cache);
  ASSERT_TRUE(hub.ok()) << hub.status();
  std::ifstream hub_in(*hub / "config.json");
  nlohmann::json tower = nlohmann::json::parse(hub_in);
  const int64_t hub_layers = tower["vision_config"]["num_hidden_layers"].get<int64_t>();
  EXPECT_EQ(config->vision.num_hidden_layers, hub_layers - 1);  // LLaVA-NeXT drops the last
  EXPECT_EQ(config->vision.hidden_size, raw["mm_hidden_size"].get<int64_t>());
  EXPECT_EQ(config->text.stored_vocab_rows, raw["vocab_size"].get<int64_t>());

  // No cache entry: the built-in so400m shapes, which a tiny checkpoint's are not.
  setenv("HF_HUB_CACHE", "/nonexistent-ovserve-hub", 1);
  auto builtin = LoadModelConfig(dir);
  ASSERT_FALSE(builtin.ok());
  EXPECT_THAT(std::string(builtin.status().message()),
              AllOf(HasSubstr("mm_hidden_size ("), HasSubstr("google/siglip-so400m-patch14-384")));

  // A hub entry one layer short: the checkpoint's extra layer is named.
  const auto cache = std::filesystem::temp_directory_path() / ("ovserve-hub-depth-" + std::to_string(getpid()));
  std::string repo = "models--" + raw["mm_vision_tower"].get<std::string>();
  for (size_t at = repo.find('/'); at != std::string::npos; at = repo.find('/', at)) repo.replace(at, 1, "--");
  const auto snapshot = cache / repo / "snapshots" / "x";
  std::filesystem::create_directories(snapshot);
  tower["vision_config"]["num_hidden_layers"] = hub_layers - 1;
  std::ofstream(snapshot / "config.json") << tower.dump();
  setenv("HF_HUB_CACHE", cache.c_str(), 1);
  auto shallow = LoadModelConfig(dir);
  ASSERT_TRUE(shallow.ok()) << shallow.status();
  auto loaded = Checkpoint::Open(dir);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  auto weights = BindLlavaWeights(**loaded, *shallow);
  ASSERT_FALSE(weights.ok());
  EXPECT_THAT(std::string(weights.status().message()),
              HasSubstr("model.vision_tower.vision_tower.vision_model.encoder.layers." +
                        std::to_string(hub_layers - 2) + "."));
  std::filesystem::remove_all(cache);
  unsetenv("HF_HUB_CACHE");
}

}  // namespace
}  // namespace ovserve::engine
