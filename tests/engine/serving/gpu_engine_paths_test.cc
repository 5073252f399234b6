// The serving engine's GPU paths (--device cuda) run in CI: a stand-in GPU
// (kernels::SetFakeGpusForTesting) whose backend is CheckedDeviceBackend —
// the CPU's arithmetic, refusing any host memory handed to an op. The engine
// loads the language model on "GPU 0" and the vision tower on each vision
// worker's own "GPU" backend, sizes the KV cache with the memory planner from
// the reported GPU memory, and replays decode steps as graphs; the 16 mixed
// requests must generate what the CPU engine generates.
#include <memory>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "engine/kv_cache/kv_cache_storage.h"
#include "engine/kv_cache/memory_planner.h"
#include "engine/model/model_config.h"
#include "gtest/gtest.h"
#include "kernels/backend_factory.h"
#include "tests/engine/serving/serving_test_support.h"
#include "tests/test_support/checked_device_backend.h"
#include "tests/test_support/fixtures.h"

namespace ovserve::engine {
namespace {

using testing::ChatPrompt;
using testing::Image;
using testing::Raw;
using testing::UserTurn;
using testing::Video;
using testing::Drain;
using testing::ReadMedia;

constexpr int64_t kGiB = int64_t{1} << 30;
constexpr int64_t kMiB = int64_t{1} << 20;
// The stand-in GPU's memory: small, as its "device memory" is host memory.
constexpr int64_t kTotal = 512 * kMiB, kFree = 480 * kMiB;

class GpuEnginePathsTest : public ::testing::Test {
 protected:
  void SetUp() override { OVSERVE_REQUIRE_FIXTURE("tiny-llava-ov/config.json"); }
  void TearDown() override { kernels::SetFakeGpusForTesting(std::nullopt); }

  static void FakeGpu(int64_t free_bytes, int64_t total_bytes, int devices = 1) {
    kernels::SetFakeGpusForTesting(kernels::FakeGpusForTesting{
        .make = [](int) -> std::unique_ptr<kernels::Backend> {
          return std::make_unique<ovserve::testing::CheckedDeviceBackend>(1);
        },
        .devices = devices,
        .memory = {.free_bytes = free_bytes, .total_bytes = total_bytes}});
  }

  static EngineConfig Config(kernels::Device device) {
    EngineConfig config;
    config.model_dir = ovserve::testing::FixturePath("tiny-llava-ov");
    config.device = device;
    config.threads = 2;
    config.kv_cache_bytes = int64_t{64} << 20;  // the CPU's
    config.max_batched_tokens = 512;
    config.max_running_requests = 16;
    config.enable_prefix_caching = false;
    return config;
  }

  static std::vector<GenerateRequest> Requests() {
    const std::string small = ReadMedia("small_500x333.png");
    const std::string square = ReadMedia("square_384x384.png");
    const std::string video = ReadMedia("testsrc2_320x240_48f.mp4");
    std::vector<GenerateRequest> requests;
    for (int i = 0; i < 12; ++i) {
      GenerateRequest r;
      r.request_id = "gpu-" + std::to_string(i);
      const std::string text = "Describe item " + std::to_string(i) + " in a few words.";
      switch (i % 4) {
        case 0: r.input = UserTurn(text); break;
        case 1: r.input = UserTurn(text, {Image(small)}); break;
        case 2: r.input = UserTurn(text, {Image(square), Image(small)}); break;
        case 3: r.input = UserTurn(text, {Video(video, 4)}); break;
      }
      r.stop.max_tokens = 4 + i % 7;
      r.stop.ignore_eos = true;
      r.sampling.temperature = 0.0f;
      requests.push_back(std::move(r));
    }
    return requests;
  }

  static std::vector<std::vector<int32_t>> Serve(Engine& engine) {
    std::vector<std::unique_ptr<RequestHandle>> handles;
    for (const auto& r : Requests()) {
      auto handle = engine.Submit(r);
      EXPECT_TRUE(handle.ok()) << handle.status();
      if (handle.ok()) handles.push_back(std::move(*handle));
    }
    std::vector<std::vector<int32_t>> tokens;
    for (auto& h : handles) tokens.push_back(Drain(*h).tokens);
    return tokens;
  }
};

TEST_F(GpuEnginePathsTest, GpuEngineServesWhatTheCpuEngineServes) {
  auto cpu = Engine::Create(Config(kernels::Device::kCpu));
  ASSERT_TRUE(cpu.ok()) << cpu.status();
  const auto expected = Serve(**cpu);
  cpu->reset();

  FakeGpu(kFree, kTotal);
  auto gpu = Engine::Create(Config(kernels::Device::kCuda));
  ASSERT_TRUE(gpu.ok()) << gpu.status();
  // The KV cache is what the planner leaves: 0.9 of the total less what is in
  // use (the stand-in reports fixed numbers) less a step's activations.
  auto model_config = LoadModelConfig(ovserve::testing::FixturePath("tiny-llava-ov"));
  ASSERT_TRUE(model_config.ok());
  const TextConfig& text = model_config->text;
  const KvCacheShape shape{.layers = text.num_hidden_layers, .kv_heads = text.num_key_value_heads,
                           .head_dim = text.head_dim, .block_size = 16, .dtype = kernels::DType::kF32};
  const auto plan = PlanKvCache({.total_bytes = kTotal, .free_bytes = kFree}, 0.9,
                                StepActivationBytes(text, 512, 16), shape.BytesPerBlock());
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ((*gpu)->Stats().kv_blocks_total, plan->blocks);

  const auto got = Serve(**gpu);
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], expected[i]) << "request " << i;
  const EngineStats stats = (*gpu)->Stats();
  EXPECT_EQ(stats.kv_blocks_used, 0);
  EXPECT_EQ(stats.running + stats.waiting, 0);
}

// --tensor-parallel-size 2 on two stand-in GPUs: the engine keeps only the
// token embeddings on GPU 0, each rank its shard (copied to its "GPU"), the
// step's embeddings go to the ranks through host memory and rank 0's logits
// come back (the ranks are joined in-process here, by NCCL on real GPUs).
TEST_F(GpuEnginePathsTest, TensorParallelGpuEngineServesWhatTheCpuEngineServes) {
  auto cpu = Engine::Create(Config(kernels::Device::kCpu));
  ASSERT_TRUE(cpu.ok()) << cpu.status();
  const auto expected = Serve(**cpu);
  cpu->reset();

  FakeGpu(kFree, kTotal, /*devices=*/2);
  EngineConfig config = Config(kernels::Device::kCuda);
  config.tensor_parallel_size = 2;
  auto gpu = Engine::Create(config);
  ASSERT_TRUE(gpu.ok()) << gpu.status();
  const auto got = Serve(**gpu);
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], expected[i]) << "request " << i;

  // More ranks than GPUs is refused with the count.
  config.tensor_parallel_size = 4;
  auto too_many = Engine::Create(config);
  ASSERT_EQ(too_many.status().code(), absl::StatusCode::kFailedPrecondition) << too_many.status();
  EXPECT_NE(too_many.status().message().find("this machine has 2"), std::string::npos) << too_many.status();
}

TEST_F(GpuEnginePathsTest, TooLittleGpuMemoryIsRefusedWithTheFigures) {
  FakeGpu(/*free=*/kGiB / 2, /*total=*/4 * kGiB);
  EngineConfig config = Config(kernels::Device::kCuda);
  config.gpu_memory_fraction = 0.2;  // 0.8 GiB allowed, 3.5 GiB in use
  auto engine = Engine::Create(config);
  ASSERT_EQ(engine.status().code(), absl::StatusCode::kResourceExhausted) << engine.status();
  EXPECT_NE(engine.status().message().find("gpu_memory_fraction 0.2"), std::string::npos) << engine.status();
}

TEST_F(GpuEnginePathsTest, CudaWithoutAGpuSaysWhy) {
  if (kernels::CudaDevices() > 0) GTEST_SKIP() << "this machine has a GPU";
  auto engine = Engine::Create(Config(kernels::Device::kCuda));
  ASSERT_EQ(engine.status().code(), absl::StatusCode::kFailedPrecondition) << engine.status();
  EXPECT_NE(engine.status().message().find("--device cuda"), std::string::npos) << engine.status();
}

}  // namespace
}  // namespace ovserve::engine
