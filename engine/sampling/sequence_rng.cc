#include "engine/sampling/sequence_rng.h"

namespace ovserve::engine {

SequenceRng SequenceRng::FromSeed(uint64_t seed) { return SequenceRng(seed); }

SequenceRng SequenceRng::FromParams(const SamplingParams& params) {
  if (params.seed.has_value()) return FromSeed(*params.seed);
  std::random_device device;
  // random_device yields 32 bits per call; two calls fill the 64-bit seed.
  const uint64_t seed = (static_cast<uint64_t>(device()) << 32) ^ device();
  return FromSeed(seed);
}

double SequenceRng::NextUniform() {
  return static_cast<double>(engine_() >> 11) * 0x1.0p-53;
}

}  // namespace ovserve::engine
