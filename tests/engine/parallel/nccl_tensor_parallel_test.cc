// Tensor parallelism on GPUs: NCCL through the CUDA plugin, one rank per GPU.
// The version check runs wherever the plugin loads (no GPU needed); the
// decoder test needs a GPU (SKIPPED otherwise) and runs tp = 1 (a real NCCL
// group of one: the all-reduce and all-gather code paths) and tp = 2 where
// two GPUs exist, against the CPU backend on one device.
//
// Tolerance: logits within 3e-2 of the largest |logit| (the GPU's GEMMs take
// bf16-rounded activations and its KV cache is bf16).
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "engine/kv_cache/kv_cache_storage.h"
#include "engine/model/forward_batch.h"
#include "engine/model/qwen2_model.h"
#include "engine/model/random_weights.h"
#include "engine/parallel/nccl_group_loader.h"
#include "engine/parallel/tensor_parallel_qwen2.h"
#include "gtest/gtest.h"
#include "kernels/backend_factory.h"
#include "kernels/cpu/cpu_backend.h"

namespace ovserve::engine {
namespace {

using kernels::DType;
using kernels::Tensor;

TEST(NcclTest, PluginReportsTheNcclVersion) {
  if (!kernels::CudaBuilt()) GTEST_SKIP() << kernels::CudaUnavailable();
  const auto version = LoadedNcclVersion();
  ASSERT_TRUE(version.ok()) << version.status();
  EXPECT_NE(*version, "none") << "this CUDA build found no NCCL";
  EXPECT_EQ(version->rfind("2.", 0), 0u) << *version;
}

TEST(NcclTensorParallelTest, GpuRanksGiveTheCpuLogits) {
  const int gpus = kernels::CudaDevices();
  if (gpus == 0) GTEST_SKIP() << kernels::CudaUnavailable();
  TextConfig c;
  c.hidden_size = 128;
  c.intermediate_size = 200;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 6;
  c.num_key_value_heads = 2;
  c.head_dim = 64;
  c.vocab_size = 1001;
  c.max_position_embeddings = 256;
  c.rope_theta = 10000.0;
  c.rms_norm_eps = 1e-6;
  RandomWeights random(11);
  const Qwen2Weights weights =
      random.Qwen2(c, {.embed = 0.5f, .proj = 0.1f, .bias = 0.1f, .down = 0.1f, .norm = 0.1f});

  // Two sequences' prompts (40 and 17 tokens) in one step.
  ForwardBatch batch(16);
  std::vector<int32_t> blocks_a = {0, 1, 2}, blocks_b = {3, 4};
  batch.AddSequence(blocks_a, 0, 40, true);
  batch.AddSequence(blocks_b, 0, 17, true);
  const int64_t N = batch.num_rows(), H = c.hidden_size, V = c.vocab_size;
  std::vector<float> embeddings(static_cast<size_t>(N * H));
  for (size_t i = 0; i < embeddings.size(); ++i) embeddings[i] = std::sin(0.37f * static_cast<float>(i));

  kernels::CpuBackend cpu(kernels::CpuBackendOptions{.num_threads = 2});
  Qwen2Model single(c, weights, cpu);
  KvCacheStorage cache(cpu, single.CacheShape(16), 8);
  std::vector<float> hidden(2 * H), expected(2 * V);
  single.Forward(Tensor(embeddings.data(), DType::kF32, {N, H}), batch, cache, Tensor(hidden.data(), DType::kF32, {2, H}));
  single.Logits(Tensor(hidden.data(), DType::kF32, {2, H}), Tensor(expected.data(), DType::kF32, {2, V}));
  float scale = 0.0f;
  for (float x : expected) scale = std::max(scale, std::fabs(x));

  for (int tp : {1, 2}) {
    if (tp > gpus) break;
    auto parallel = TensorParallelQwen2::Create(
        c, weights, {.tp = tp, .block_size = 16, .num_blocks = 8, .device = kernels::Device::kCuda});
    ASSERT_TRUE(parallel.ok()) << parallel.status();
    std::vector<float> logits(2 * V);
    (*parallel)->Step(embeddings.data(), batch, logits.data());
    float diff = 0.0f;
    for (size_t i = 0; i < logits.size(); ++i) diff = std::max(diff, std::fabs(logits[i] - expected[i]));
    std::printf("[ gpu tp %d ] max|diff| %.3g of max|logit| %.3g\n", tp, diff, scale);
    EXPECT_LE(diff, 3e-2f * scale) << "tp " << tp;
  }
}

}  // namespace
}  // namespace ovserve::engine
