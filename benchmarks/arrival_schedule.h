#pragma once
// When each request of a run is due: Poisson arrivals (exponential gaps) or a
// constant rate, as `vllm bench serve --request-rate` (burstiness 1) does. An
// infinite rate makes every request due at once; the max-concurrency limit of
// the load generator then turns the run into a closed loop. Pure functions.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace ovserve::bench {

enum class ArrivalMode { kPoisson, kConstant };

absl::StatusOr<ArrivalMode> ParseArrivalMode(std::string_view text);
std::string ArrivalModeName(ArrivalMode mode);

// Due times of `count` requests, seconds from the run's start, non-decreasing;
// the first is 0. `rate` in requests/s (> 0; +infinity: all 0).
std::vector<double> ArrivalOffsets(int64_t count, double rate, ArrivalMode mode, uint64_t seed);

}  // namespace ovserve::bench
