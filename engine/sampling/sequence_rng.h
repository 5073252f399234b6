#pragma once
// SequenceRng: the random stream of ONE request. Each sequence owns its own
// generator, so a seeded request draws the same numbers whatever else shares
// its batch and in whatever order the batch is sampled (vLLM's per-request
// torch.Generator).
//
// Thread: not thread-safe; owned by whoever owns the sequence (the thread
// that samples it). Movable, copyable (a copy replays the same stream).

#include <cstdint>
#include <random>

#include "engine/sampling/sampling_params.h"

namespace ovserve::engine {

class SequenceRng {
 public:
  // A deterministic stream: the same seed always yields the same draws.
  static SequenceRng FromSeed(uint64_t seed);
  // Seeded from params.seed when set, else from std::random_device.
  static SequenceRng FromParams(const SamplingParams& params);

  // Uniform in [0, 1) with 53 random bits. Computed by hand rather than with
  // std::uniform_real_distribution, whose output differs between standard
  // libraries, so a seed reproduces across builds.
  double NextUniform();

 private:
  explicit SequenceRng(uint64_t seed) : engine_(seed) {}

  std::mt19937_64 engine_;
};

}  // namespace ovserve::engine
