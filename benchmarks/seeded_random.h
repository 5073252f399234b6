#pragma once
// Seeded, portable randomness for the load generator: the same seed gives the
// same requests and arrival times on every platform and standard library
// (std::mt19937_64 is fully specified; the std distributions are not, so the
// draws below are written out). Not thread-safe per object.

#include <cmath>
#include <cstdint>
#include <random>

namespace ovserve::bench {

// SplitMix64: mixes a seed with stream ids into an independent seed.
inline uint64_t MixSeed(uint64_t seed, uint64_t a, uint64_t b = 0) {
  uint64_t z = seed ^ (a * 0x9e3779b97f4a7c15ull) ^ (b * 0xc2b2ae3d27d4eb4full);
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

class Rng {
 public:
  explicit Rng(uint64_t seed) : engine_(seed) {}

  uint64_t Next() { return engine_(); }
  // Uniform in [0, 1) with 53 random bits.
  double Uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }
  // Uniform integer in [lo, hi] (inclusive); lo <= hi. The modulo bias is below
  // 2^-40 for the ranges used here.
  int64_t UniformInt(int64_t lo, int64_t hi) {
    const uint64_t span = static_cast<uint64_t>(hi - lo) + 1;
    return lo + static_cast<int64_t>(span == 0 ? engine_() : engine_() % span);
  }
  // Exponential with the given rate (mean 1 / rate), by inversion.
  double Exponential(double rate) { return -std::log1p(-Uniform()) / rate; }

 private:
  std::mt19937_64 engine_;
};

}  // namespace ovserve::bench
