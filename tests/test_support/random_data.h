#pragma once
// Seeded test data for the kernel tests (CPU and CUDA).

#include <cstdint>
#include <random>
#include <vector>

#include "kernels/dtype.h"

namespace ovserve::kernels {

// n normal values with standard deviation `scale`, the same for a seed.
inline std::vector<float> RandomVector(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

// Each value rounded to bf16 (nearest even), as bits.
inline std::vector<uint16_t> ToBf16(const std::vector<float>& v) {
  std::vector<uint16_t> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = F32ToBf16(v[i]);
  return out;
}

}  // namespace ovserve::kernels
