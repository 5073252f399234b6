#include "engine/model/llava_weights.h"

#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/engine/model/safetensors_writer.h"
#include "tests/test_support/fixtures.h"

namespace ovserve::engine {
namespace {

using ::ovserve::testing::SafetensorsWriter;
using ::ovserve::testing::ScratchDir;
using ::testing::AllOf;
using ::testing::HasSubstr;

std::string Message(const absl::Status& status) { return std::string(status.message()); }

// Every distinct view in `w` (lm_head only when untied), for counting and dtype checks.
std::vector<const kernels::Tensor*> AllTensors(const LlavaWeights& w) {
  std::vector<const kernels::Tensor*> out = {
      &w.vision.patch_embedding_w, &w.vision.patch_embedding_b, &w.vision.position_embedding,
      &w.vision.post_layernorm_w, &w.vision.post_layernorm_b, &w.projector.linear1_w,
      &w.projector.linear1_b, &w.projector.linear2_w, &w.projector.linear2_b, &w.image_newline,
      &w.text.embed_tokens, &w.text.norm_w};
  if (w.text.lm_head.data != w.text.embed_tokens.data) out.push_back(&w.text.lm_head);
  for (const auto& l : w.vision.layers) {
    for (const kernels::Tensor* t :
         {&l.layer_norm1_w, &l.layer_norm1_b, &l.q_w, &l.q_b, &l.k_w, &l.k_b, &l.v_w, &l.v_b,
          &l.out_w, &l.out_b, &l.layer_norm2_w, &l.layer_norm2_b, &l.fc1_w, &l.fc1_b, &l.fc2_w,
          &l.fc2_b}) {
      out.push_back(t);
    }
  }
  for (const auto& l : w.text.layers) {
    for (const kernels::Tensor* t :
         {&l.input_layernorm_w, &l.q_w, &l.q_b, &l.k_w, &l.k_b, &l.v_w, &l.v_b, &l.o_w,
          &l.post_attention_layernorm_w, &l.gate_w, &l.up_w, &l.down_w}) {
      out.push_back(t);
    }
  }
  return out;
}

TEST(LlavaWeightsTest, BindsFixtureCheckpoint) {
  OVSERVE_REQUIRE_FIXTURE("tiny-llava-ov/model.safetensors");
  const auto dir = ::ovserve::testing::FixturePath("tiny-llava-ov");
  auto config = LoadModelConfig(dir);
  ASSERT_TRUE(config.ok()) << config.status();
  auto checkpoint = Checkpoint::Open(dir);
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  EXPECT_EQ((*checkpoint)->Names().size(), 68u);
  auto weights = BindLlavaWeights(**checkpoint, *config);
  ASSERT_TRUE(weights.ok()) << weights.status();

  const std::vector<const kernels::Tensor*> tensors = AllTensors(*weights);
  std::set<const void*> distinct;
  for (const kernels::Tensor* t : tensors) {
    EXPECT_EQ(t->dtype, kernels::DType::kBF16);
    EXPECT_GT(t->rank, 0);
    distinct.insert(t->data);
  }
  EXPECT_EQ(distinct.size(), 68u);  // every checkpoint tensor bound exactly once
  EXPECT_EQ(weights->vision.layers.size(), 2u);
  EXPECT_EQ(weights->text.layers.size(), 2u);
  EXPECT_EQ(weights->text.lm_head.data, weights->text.embed_tokens.data);  // tied
  EXPECT_EQ(weights->text.lm_head.ShapeString(), "[152000, 64]");
  EXPECT_EQ(weights->vision.patch_embedding_w.ShapeString(), "[32, 3, 14, 14]");
  EXPECT_EQ(weights->vision.position_embedding.ShapeString(), "[729, 32]");
  EXPECT_EQ(weights->projector.linear1_w.ShapeString(), "[64, 32]");
  EXPECT_EQ(weights->text.layers[0].k_w.ShapeString(), "[32, 64]");
  EXPECT_EQ(weights->text.layers[1].down_w.ShapeString(), "[64, 176]");

  // Values read from the file with python (struct over the raw header + data).
  const auto* newline = weights->image_newline.as<const uint16_t>();
  EXPECT_EQ(newline[0], 0xbd09);
  EXPECT_FLOAT_EQ(kernels::Bf16ToF32(newline[0]), -0.033447265625f);
  EXPECT_FLOAT_EQ(kernels::Bf16ToF32(newline[3]), -0.263671875f);
  const auto* up = weights->text.layers[1].up_w.as<const uint16_t>();
  EXPECT_FLOAT_EQ(kernels::Bf16ToF32(up[0]), -0.09033203125f);
  EXPECT_FLOAT_EQ(kernels::Bf16ToF32(up[1]), 0.045166015625f);
}

// --- Synthetic checkpoints ---

// 2+2 layers, text hidden 8 (2 q heads, 1 kv head, head_dim 4), vision hidden 8 at 28 px / 14.
nlohmann::json TinyConfigJson(bool tied) {
  return {{"model_type", "llava_onevision"},
          {"tie_word_embeddings", tied},
          {"text_config",
           {{"model_type", "qwen2"}, {"hidden_size", 8}, {"intermediate_size", 12},
            {"num_hidden_layers", 2}, {"num_attention_heads", 2}, {"num_key_value_heads", 1},
            {"vocab_size", 16}}},
          {"vision_config",
           {{"hidden_size", 8}, {"intermediate_size", 12}, {"num_hidden_layers", 2},
            {"num_attention_heads", 2}, {"image_size", 28}, {"patch_size", 14}}}};
}

LlavaOnevisionConfig TinyConfig(bool tied) {
  auto config = ParseModelConfig(TinyConfigJson(tied).dump());
  EXPECT_TRUE(config.ok()) << config.status();
  return *config;
}

using Shape = std::vector<int64_t>;

// Names and shapes of the tiny model, written independently of the binder.
std::vector<std::pair<std::string, Shape>> TinyTensors(bool new_layout, bool with_lm_head) {
  const std::string vision = new_layout ? "model.vision_tower.vision_model." :
                                          "vision_tower.vision_model.";
  const std::string proj = new_layout ? "model.multi_modal_projector." : "multi_modal_projector.";
  const std::string text = new_layout ? "model.language_model." : "language_model.model.";
  std::vector<std::pair<std::string, Shape>> t = {
      {vision + "embeddings.patch_embedding.weight", {8, 3, 14, 14}},
      {vision + "embeddings.patch_embedding.bias", {8}},
      {vision + "embeddings.position_embedding.weight", {4, 8}},
      {vision + "post_layernorm.weight", {8}},
      {vision + "post_layernorm.bias", {8}},
      {proj + "linear_1.weight", {8, 8}}, {proj + "linear_1.bias", {8}},
      {proj + "linear_2.weight", {8, 8}}, {proj + "linear_2.bias", {8}},
      {new_layout ? "model.image_newline" : "image_newline", {8}},
      {text + "embed_tokens.weight", {16, 8}},
      {text + "norm.weight", {8}}};
  for (int i = 0; i < 2; ++i) {
    const std::string v = vision + "encoder.layers." + std::to_string(i) + ".";
    for (const char* n : {"layer_norm1", "layer_norm2"}) {
      t.push_back({v + n + ".weight", {8}});
      t.push_back({v + n + ".bias", {8}});
    }
    for (const char* n : {"q_proj", "k_proj", "v_proj", "out_proj"}) {
      t.push_back({v + "self_attn." + n + ".weight", {8, 8}});
      t.push_back({v + "self_attn." + n + ".bias", {8}});
    }
    t.push_back({v + "mlp.fc1.weight", {12, 8}});
    t.push_back({v + "mlp.fc1.bias", {12}});
    t.push_back({v + "mlp.fc2.weight", {8, 12}});
    t.push_back({v + "mlp.fc2.bias", {8}});

    const std::string l = text + "layers." + std::to_string(i) + ".";
    t.push_back({l + "input_layernorm.weight", {8}});
    t.push_back({l + "post_attention_layernorm.weight", {8}});
    t.push_back({l + "self_attn.q_proj.weight", {8, 8}});
    t.push_back({l + "self_attn.q_proj.bias", {8}});
    t.push_back({l + "self_attn.k_proj.weight", {4, 8}});
    t.push_back({l + "self_attn.k_proj.bias", {4}});
    t.push_back({l + "self_attn.v_proj.weight", {4, 8}});
    t.push_back({l + "self_attn.v_proj.bias", {4}});
    t.push_back({l + "self_attn.o_proj.weight", {8, 8}});
    t.push_back({l + "mlp.gate_proj.weight", {12, 8}});
    t.push_back({l + "mlp.up_proj.weight", {12, 8}});
    t.push_back({l + "mlp.down_proj.weight", {8, 12}});
  }
  if (with_lm_head) {
    t.push_back({new_layout ? "lm_head.weight" : "language_model.lm_head.weight", {16, 8}});
  }
  return t;
}

struct Mutation {
  std::string drop;         // tensor left out
  std::string reshape;      // tensor whose last dimension shrinks by one
  std::string as_int64;     // tensor stored as I64
};

Mutation MutationWith(std::string Mutation::*field, const std::string& name) {
  Mutation m;
  m.*field = name;
  return m;
}

void WriteTiny(const std::filesystem::path& dir, bool new_layout, bool with_lm_head,
               const Mutation& m = {}) {
  SafetensorsWriter writer;
  for (auto [name, shape] : TinyTensors(new_layout, with_lm_head)) {
    if (name == m.drop) continue;
    if (name == m.reshape) shape.back() -= 1;
    writer.Add(name, name == m.as_int64 ? "I64" : "BF16", shape);
  }
  writer.Write(dir / "model.safetensors");
}

TEST(LlavaWeightsTest, TiedLegacyLayout) {
  ScratchDir dir;
  WriteTiny(dir.path(), /*new_layout=*/false, /*with_lm_head=*/false);
  auto checkpoint = Checkpoint::Open(dir.path());
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  auto weights = BindLlavaWeights(**checkpoint, TinyConfig(/*tied=*/true));
  ASSERT_TRUE(weights.ok()) << weights.status();
  EXPECT_EQ(weights->text.lm_head.data, weights->text.embed_tokens.data);
  EXPECT_EQ(weights->text.layers[1].k_b.ShapeString(), "[4]");
}

TEST(LlavaWeightsTest, UntiedNeedsItsOwnLmHead) {
  ScratchDir dir;
  WriteTiny(dir.path(), /*new_layout=*/false, /*with_lm_head=*/true);
  auto checkpoint = Checkpoint::Open(dir.path());
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  auto weights = BindLlavaWeights(**checkpoint, TinyConfig(/*tied=*/false));
  ASSERT_TRUE(weights.ok()) << weights.status();
  EXPECT_NE(weights->text.lm_head.data, weights->text.embed_tokens.data);
  EXPECT_EQ(weights->text.lm_head.data,
            (*checkpoint)->Get("language_model.lm_head.weight")->data);

  ScratchDir no_head;
  WriteTiny(no_head.path(), /*new_layout=*/false, /*with_lm_head=*/false);
  checkpoint = Checkpoint::Open(no_head.path());
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  weights = BindLlavaWeights(**checkpoint, TinyConfig(/*tied=*/false));
  EXPECT_EQ(weights.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Message(weights.status()),
              AllOf(HasSubstr("language_model.lm_head.weight"), HasSubstr("[16, 8]")));
}

TEST(LlavaWeightsTest, NewTransformersLayout) {
  ScratchDir dir;
  WriteTiny(dir.path(), /*new_layout=*/true, /*with_lm_head=*/true);
  auto checkpoint = Checkpoint::Open(dir.path());
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  auto weights = BindLlavaWeights(**checkpoint, TinyConfig(/*tied=*/false));
  ASSERT_TRUE(weights.ok()) << weights.status();
  EXPECT_EQ(weights->text.lm_head.data, (*checkpoint)->Get("lm_head.weight")->data);
  EXPECT_EQ(weights->image_newline.data, (*checkpoint)->Get("model.image_newline")->data);
  EXPECT_EQ(weights->vision.layers[1].fc2_w.data,
            (*checkpoint)->Get("model.vision_tower.vision_model.encoder.layers.1.mlp.fc2.weight")
                ->data);
}

TEST(LlavaWeightsTest, PostLayernormIsOptional) {
  ScratchDir dir;
  SafetensorsWriter writer;
  for (const auto& [name, shape] : TinyTensors(false, false)) {
    if (name.find("post_layernorm") != std::string::npos) continue;
    writer.Add(name, "BF16", shape);
  }
  writer.Write(dir.path() / "model.safetensors");
  auto checkpoint = Checkpoint::Open(dir.path());
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  auto weights = BindLlavaWeights(**checkpoint, TinyConfig(true));
  ASSERT_TRUE(weights.ok()) << weights.status();
  EXPECT_EQ(weights->vision.post_layernorm_w.rank, 0);
  EXPECT_EQ(weights->vision.post_layernorm_w.data, nullptr);
}

TEST(LlavaWeightsTest, MissingTensorIsNamed) {
  ScratchDir dir;
  const std::string name = "language_model.model.layers.1.self_attn.v_proj.bias";
  WriteTiny(dir.path(), false, false, MutationWith(&Mutation::drop, name));
  auto checkpoint = Checkpoint::Open(dir.path());
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  auto weights = BindLlavaWeights(**checkpoint, TinyConfig(true));
  EXPECT_EQ(weights.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Message(weights.status()), AllOf(HasSubstr(name), HasSubstr("[4]")));
}

TEST(LlavaWeightsTest, WrongShapeNamesExpectedAndActual) {
  ScratchDir dir;
  const std::string name = "language_model.model.layers.1.mlp.up_proj.weight";
  WriteTiny(dir.path(), false, false, MutationWith(&Mutation::reshape, name));
  auto checkpoint = Checkpoint::Open(dir.path());
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  auto weights = BindLlavaWeights(**checkpoint, TinyConfig(true));
  EXPECT_EQ(weights.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(weights.status()),
            "tensor " + name + ": expected shape [12, 8], got [12, 7]");
}

TEST(LlavaWeightsTest, ConfigMismatchIsAShapeError) {
  // A config implying more patches (3x3 at 42 px) than the checkpoint holds (2x2).
  ScratchDir dir;
  WriteTiny(dir.path(), false, false);
  auto checkpoint = Checkpoint::Open(dir.path());
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  nlohmann::json j = TinyConfigJson(true);
  j["vision_config"]["image_size"] = 42;
  auto config = ParseModelConfig(j.dump());
  ASSERT_TRUE(config.ok()) << config.status();
  auto weights = BindLlavaWeights(**checkpoint, *config);
  EXPECT_EQ(weights.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(weights.status()),
              AllOf(HasSubstr("position_embedding.weight"), HasSubstr("expected shape [9, 8]"),
                    HasSubstr("got [4, 8]")));
}

TEST(LlavaWeightsTest, IntegerWeightRejected) {
  ScratchDir dir;
  const std::string name = "multi_modal_projector.linear_2.weight";
  WriteTiny(dir.path(), false, false, MutationWith(&Mutation::as_int64, name));
  auto checkpoint = Checkpoint::Open(dir.path());
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  auto weights = BindLlavaWeights(**checkpoint, TinyConfig(true));
  EXPECT_EQ(weights.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(weights.status()), AllOf(HasSubstr(name), HasSubstr("I64")));
}

TEST(LlavaWeightsTest, NotALlavaCheckpoint) {
  ScratchDir dir;
  SafetensorsWriter writer;
  writer.AddBf16("model.embed_tokens.weight", {16, 8});
  writer.Write(dir.path() / "model.safetensors");
  auto checkpoint = Checkpoint::Open(dir.path());
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  auto weights = BindLlavaWeights(**checkpoint, TinyConfig(true));
  EXPECT_EQ(weights.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Message(weights.status()),
              AllOf(HasSubstr("language_model.model.embed_tokens.weight"),
                    HasSubstr("model.language_model.embed_tokens.weight")));
}

}  // namespace
}  // namespace ovserve::engine
