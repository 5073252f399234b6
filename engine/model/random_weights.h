#pragma once
// RandomWeights: seeded random BF16 weights held in memory at a model's
// shapes, for benchmarks and tests that need a decoder or a tower without a
// checkpoint file (ovserve-make-model writes such a checkpoint to disk).
// Values are normal at the given scales; a tensor larger than 64K elements
// repeats its first 64K (random enough for timing, fast at gigabyte sizes).

#include <cstdint>
#include <initializer_list>
#include <random>
#include <vector>

#include "engine/model/llava_weights.h"
#include "engine/model/model_config.h"
#include "kernels/tensor.h"

namespace ovserve::engine {

// Standard deviations by role; norm weights are 1 + N(0, norm).
struct RandomWeightScales {
  float embed = 0.02f;
  float proj = 0.03f;   // q/k/v/o, gate/up, vision projections
  float bias = 0.02f;
  float down = 0.015f;  // down_proj / fc2
  float norm = 0.0f;
};

class RandomWeights {
 public:
  explicit RandomWeights(uint32_t seed = 1234) : rng_(seed) {}

  // mean + N(0, stddev) of `dims`, owned here.
  kernels::Tensor Normal(std::initializer_list<int64_t> dims, float stddev, float mean = 0.0f);
  // Every bf16 byte handed out so far.
  size_t bytes() const { return bytes_; }

  // A Qwen2 decoder of `config` (tied lm_head).
  Qwen2Weights Qwen2(const TextConfig& config, const RandomWeightScales& scales = {});
  // A SigLIP tower of `config` (no post-layernorm).
  SiglipWeights Siglip(const VisionConfig& config, const RandomWeightScales& scales = {});

 private:
  std::mt19937 rng_;
  std::vector<std::vector<uint16_t>> storage_;
  size_t bytes_ = 0;
};

}  // namespace ovserve::engine
