#include "benchmarks/arrival_schedule.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "benchmarks/seeded_random.h"

namespace ovserve::bench {

absl::StatusOr<ArrivalMode> ParseArrivalMode(std::string_view text) {
  if (text == "poisson") return ArrivalMode::kPoisson;
  if (text == "constant") return ArrivalMode::kConstant;
  return absl::InvalidArgumentError(
      absl::StrCat("arrival mode '", absl::string_view(text.data(), text.size()),
                   "': expected poisson or constant"));
}

std::string ArrivalModeName(ArrivalMode mode) {
  return mode == ArrivalMode::kPoisson ? "poisson" : "constant";
}

std::vector<double> ArrivalOffsets(int64_t count, double rate, ArrivalMode mode, uint64_t seed) {
  std::vector<double> out(static_cast<size_t>(std::max<int64_t>(count, 0)), 0.0);
  if (std::isinf(rate) || out.empty()) return out;
  Rng rng(MixSeed(seed, 0xa11a1));
  double t = 0;
  for (size_t i = 1; i < out.size(); ++i) {
    t = mode == ArrivalMode::kPoisson ? t + rng.Exponential(rate)
                                      : static_cast<double>(i) / rate;
    out[i] = t;
  }
  return out;
}

}  // namespace ovserve::bench
