// The random-checkpoint generator: the tiny preset reproduces the fixture's
// config and safetensors header exactly, loads through the real loader and
// runs to finite, spread-out logits; the output is a pure function of the
// seed; sharding follows transformers' layout; failures are statuses.
#include "engine/model/checkpoint_generator.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "engine/model/llava_model.h"
#include "engine/model/llava_weights.h"
#include "engine/model/model_config.h"
#include "engine/model/safetensors.h"
#include "engine/runner/greedy_runner.h"
#include "engine/tokenizer/tokenizer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/dtype.h"
#include "nlohmann/json.hpp"
#include "tests/engine/model/safetensors_writer.h"
#include "tests/test_support/fixtures.h"

namespace ovserve::engine {
namespace {

using ::ovserve::testing::FixturePath;
using ::ovserve::testing::ScratchDir;
using ::testing::HasSubstr;
using json = nlohmann::json;

constexpr char kFixtureModel[] = "tiny-llava-ov";

std::string ReadAll(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

json ReadJson(const std::filesystem::path& path) { return json::parse(ReadAll(path)); }

// The 8-byte length and the header JSON of a safetensors file.
std::string HeaderBytes(const std::filesystem::path& path) {
  const std::string bytes = ReadAll(path);
  if (bytes.size() < 8) return "";
  uint64_t len = 0;
  std::memcpy(&len, bytes.data(), 8);
  return bytes.substr(0, 8 + len);
}

GeneratorOptions TinyOptions(const std::filesystem::path& out) {
  GeneratorOptions options;
  options.preset = ModelPreset::kTiny;
  options.out_dir = out;
  options.tokenizer_source_dir = FixturePath(kFixtureModel);
  return options;
}

// Mean and standard deviation of a BF16 tensor.
std::pair<double, double> Moments(const kernels::Tensor& t) {
  double sum = 0, sum_sq = 0;
  const uint16_t* bits = t.as<const uint16_t>();
  for (int64_t i = 0; i < t.numel(); ++i) {
    const double v = kernels::Bf16ToF32(bits[i]);
    sum += v;
    sum_sq += v * v;
  }
  const double mean = sum / static_cast<double>(t.numel());
  return {mean, std::sqrt(sum_sq / static_cast<double>(t.numel()) - mean * mean)};
}

TEST(CheckpointGeneratorTest, TinyPresetMatchesTheFixtureLayout) {
  OVSERVE_REQUIRE_FIXTURE(kFixtureModel);
  ScratchDir dir;
  GeneratorReport report;
  ASSERT_TRUE(GenerateRandomCheckpoint(TinyOptions(dir.path()), &report).ok());
  const std::filesystem::path fixture = FixturePath(kFixtureModel);

  EXPECT_EQ(ReadJson(dir.path() / "config.json"), ReadJson(fixture / "config.json"));
  EXPECT_EQ(ReadJson(dir.path() / "generation_config.json"),
            ReadJson(fixture / "generation_config.json"));
  for (const char* name :
       {"tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt",
        "special_tokens_map.json", "added_tokens.json", "chat_template.jinja",
        "processor_config.json", "video_preprocessor_config.json", "preprocessor_config.json"}) {
    EXPECT_EQ(ReadAll(dir.path() / name), ReadAll(fixture / name)) << name;
  }
  // Same tensors, names, shapes, order and header bytes as transformers wrote.
  EXPECT_EQ(HeaderBytes(dir.path() / "model.safetensors"),
            HeaderBytes(fixture / "model.safetensors"));
  EXPECT_EQ(std::filesystem::file_size(dir.path() / "model.safetensors"),
            std::filesystem::file_size(fixture / "model.safetensors"));
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "model.safetensors.index.json"));

  uint64_t total = 0;
  for (const GeneratedFile& file : report.files) {
    EXPECT_EQ(std::filesystem::file_size(file.path), file.bytes) << file.path;
    total += file.bytes;
  }
  EXPECT_EQ(report.total_bytes, total);
  EXPECT_EQ(report.num_tensors, 68u);
}

TEST(CheckpointGeneratorTest, TinyPresetBindsAndScalesAreSane) {
  OVSERVE_REQUIRE_FIXTURE(kFixtureModel);
  ScratchDir dir;
  ASSERT_TRUE(GenerateRandomCheckpoint(TinyOptions(dir.path())).ok());
  auto checkpoint = Checkpoint::Open(dir.path());
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  auto config = LoadModelConfig(dir.path());
  ASSERT_TRUE(config.ok()) << config.status();
  auto weights = BindLlavaWeights(**checkpoint, *config);
  ASSERT_TRUE(weights.ok()) << weights.status();
  for (const auto& name : (*checkpoint)->Names()) {
    EXPECT_EQ((*checkpoint)->Get(name)->dtype, kernels::DType::kBF16) << name;
  }

  const auto [embed_mean, embed_std] = Moments(weights->text.embed_tokens);
  EXPECT_NEAR(embed_mean, 0.0, 0.002);
  EXPECT_NEAR(embed_std, 2.0 / 8.0, 0.01);  // 2 / sqrt(hidden 64)
  const auto [gate_mean, gate_std] = Moments(weights->text.layers[0].gate_w);
  EXPECT_NEAR(gate_std, 1.0 / 8.0, 0.01);  // 1 / sqrt(fan_in 64)
  const auto [norm_mean, norm_std] = Moments(weights->text.norm_w);
  EXPECT_NEAR(norm_mean, 1.0, 0.02);
  EXPECT_LT(norm_std, 0.05);
  const auto [bias_mean, bias_std] = Moments(weights->vision.layers[1].fc1_b);
  EXPECT_LT(bias_std, 0.05);
}

TEST(CheckpointGeneratorTest, TinyPresetRunsToFiniteSpreadLogits) {
  OVSERVE_REQUIRE_FIXTURE(kFixtureModel);
  ScratchDir dir;
  ASSERT_TRUE(GenerateRandomCheckpoint(TinyOptions(dir.path())).ok());
  kernels::CpuBackend backend(kernels::CpuBackendOptions{.num_threads = 2});
  auto model = LlavaOnevisionModel::Load(dir.path(), backend);
  ASSERT_TRUE(model.ok()) << model.status();
  auto tokenizer = Tokenizer::Load(dir.path());
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  auto ids =
      (*tokenizer)->Encode("<|im_start|>user\nhello there<|im_end|>\n<|im_start|>assistant\n");
  ASSERT_TRUE(ids.ok()) << ids.status();

  GreedyRequest request;
  request.prompt_ids.assign(ids->begin(), ids->end());
  request.max_new_tokens = 4;
  auto result = RunGreedy(**model, request);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->generated_ids.size(), 4u);
  const std::vector<float>& logits = result->last_logits;
  ASSERT_EQ(static_cast<int64_t>(logits.size()), (*model)->config().text.vocab_size);
  double sum = 0, sum_sq = 0;
  for (float v : logits) {
    ASSERT_TRUE(std::isfinite(v));
    sum += v;
    sum_sq += static_cast<double>(v) * v;
  }
  const double n = static_cast<double>(logits.size());
  const double stddev = std::sqrt(sum_sq / n - (sum / n) * (sum / n));
  // Embedding scale 2/sqrt(hidden) puts the logits' spread near 2.
  EXPECT_GT(stddev, 0.5);
  EXPECT_LT(stddev, 8.0);
  EXPECT_GT(std::set<float>(logits.begin(), logits.end()).size(), 1000u);
}

TEST(CheckpointGeneratorTest, OutputIsAFunctionOfTheSeed) {
  OVSERVE_REQUIRE_FIXTURE(kFixtureModel);
  ScratchDir a, b, c;
  ASSERT_TRUE(GenerateRandomCheckpoint(TinyOptions(a.path())).ok());
  ASSERT_TRUE(GenerateRandomCheckpoint(TinyOptions(b.path())).ok());
  GeneratorOptions other = TinyOptions(c.path());
  other.seed = 99;
  ASSERT_TRUE(GenerateRandomCheckpoint(other).ok());
  const std::string bytes_a = ReadAll(a.path() / "model.safetensors");
  EXPECT_EQ(bytes_a, ReadAll(b.path() / "model.safetensors"));
  const std::string bytes_c = ReadAll(c.path() / "model.safetensors");
  ASSERT_EQ(bytes_a.size(), bytes_c.size());
  EXPECT_NE(bytes_a, bytes_c);
  EXPECT_EQ(HeaderBytes(a.path() / "model.safetensors"),
            HeaderBytes(c.path() / "model.safetensors"));
}

TEST(CheckpointGeneratorTest, ShardsLikeTransformers) {
  OVSERVE_REQUIRE_FIXTURE(kFixtureModel);
  ScratchDir single, sharded;
  ASSERT_TRUE(GenerateRandomCheckpoint(TinyOptions(single.path())).ok());
  GeneratorOptions options = TinyOptions(sharded.path());
  // Smaller than the 19.5 MB embedding table, which then gets a shard of its own.
  options.max_shard_bytes = 3'000'000;
  ASSERT_TRUE(GenerateRandomCheckpoint(options).ok());

  EXPECT_FALSE(std::filesystem::exists(sharded.path() / "model.safetensors"));
  const json index = ReadJson(sharded.path() / "model.safetensors.index.json");
  ASSERT_TRUE(index.contains("metadata") && index.contains("weight_map"));
  std::set<std::string> shard_files;
  for (const auto& [name, file] : index["weight_map"].items()) shard_files.insert(file);
  ASSERT_GE(shard_files.size(), 3u);
  const std::string n = std::to_string(shard_files.size());
  EXPECT_EQ(*shard_files.begin(), "model-00001-of-0000" + n + ".safetensors");
  EXPECT_EQ(*shard_files.rbegin(), "model-0000" + n + "-of-0000" + n + ".safetensors");
  uint64_t shard_data = 0;
  for (const std::string& file : shard_files) {
    const uint64_t size = std::filesystem::file_size(sharded.path() / file);
    shard_data += size - HeaderBytes(sharded.path() / file).size();
  }
  EXPECT_EQ(index["metadata"]["total_size"].get<uint64_t>(), shard_data);

  auto checkpoint = Checkpoint::Open(sharded.path());
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  auto config = LoadModelConfig(sharded.path());
  ASSERT_TRUE(config.ok());
  ASSERT_TRUE(BindLlavaWeights(**checkpoint, *config).ok());
  // Sharding moves tensors between files but never changes their values.
  auto reference = Checkpoint::Open(single.path());
  ASSERT_TRUE(reference.ok());
  EXPECT_EQ((*checkpoint)->Names(), (*reference)->Names());
  for (const std::string& name : (*reference)->Names()) {
    const kernels::Tensor x = *(*checkpoint)->Get(name);
    const kernels::Tensor y = *(*reference)->Get(name);
    ASSERT_EQ(x.numel(), y.numel()) << name;
    EXPECT_EQ(std::memcmp(x.data, y.data, static_cast<size_t>(y.numel()) * 2), 0) << name;
  }

  // Regenerating unsharded into the same folder removes the index and shards.
  options.max_shard_bytes = GeneratorOptions{}.max_shard_bytes;
  ASSERT_TRUE(GenerateRandomCheckpoint(options).ok());
  EXPECT_FALSE(std::filesystem::exists(sharded.path() / "model.safetensors.index.json"));
  EXPECT_FALSE(std::filesystem::exists(sharded.path() / *shard_files.begin()));
  EXPECT_TRUE(Checkpoint::Open(sharded.path()).ok());
}

TEST(CheckpointGeneratorTest, RealPresetConfigsParse) {
  auto small = ParseModelConfig(PresetConfigJson(ModelPreset::k0_5b));
  ASSERT_TRUE(small.ok()) << small.status();
  EXPECT_EQ(small->text.hidden_size, 896);
  EXPECT_EQ(small->text.num_hidden_layers, 24);
  EXPECT_EQ(small->text.num_key_value_heads, 2);
  EXPECT_EQ(small->text.vocab_size, 152000);
  EXPECT_TRUE(small->tie_word_embeddings);
  EXPECT_EQ(small->vision.num_hidden_layers, 26);
  EXPECT_EQ(small->vision.intermediate_size, 4304);
  auto large = ParseModelConfig(PresetConfigJson(ModelPreset::k7b));
  ASSERT_TRUE(large.ok()) << large.status();
  EXPECT_EQ(large->text.hidden_size, 3584);
  EXPECT_EQ(large->text.head_dim, 128);
  EXPECT_EQ(large->text.intermediate_size, 18944);
  EXPECT_EQ(large->text.vocab_size, 152128);
  EXPECT_FALSE(large->tie_word_embeddings);
}

TEST(CheckpointGeneratorTest, ParsesPresetNames) {
  EXPECT_EQ(*ParseModelPreset("tiny"), ModelPreset::kTiny);
  EXPECT_EQ(*ParseModelPreset("0.5B"), ModelPreset::k0_5b);
  EXPECT_EQ(*ParseModelPreset("7b"), ModelPreset::k7b);
  EXPECT_EQ(ParseModelPreset("72b").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(CheckpointGeneratorTest, TokenizerSourceWithoutTokenizerJson) {
  ScratchDir dir;
  GeneratorOptions options;
  options.out_dir = dir.path() / "out";
  options.tokenizer_source_dir = dir.path();
  const absl::Status status = GenerateRandomCheckpoint(options);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("tokenizer.json"));
  EXPECT_FALSE(std::filesystem::exists(options.out_dir));
}

TEST(CheckpointGeneratorTest, UnwritableOutputFolder) {
  ScratchDir dir;
  ::ovserve::testing::WriteBytes(dir.path() / "tokenizer.json", "{}");
  ::ovserve::testing::WriteBytes(dir.path() / "file", "x");
  GeneratorOptions options;
  options.tokenizer_source_dir = dir.path();
  // Under a regular file: cannot be created, even by root.
  options.out_dir = dir.path() / "file" / "model";
  const absl::Status status = GenerateRandomCheckpoint(options);
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(std::string(status.message()), HasSubstr(options.out_dir.string()));
  // An existing file in place of the folder.
  options.out_dir = dir.path() / "file";
  EXPECT_FALSE(GenerateRandomCheckpoint(options).ok());
}

}  // namespace
}  // namespace ovserve::engine
