#pragma once
// Elapsed seconds between two steady-clock points, as the engine reports
// timings (double seconds).

#include <chrono>

namespace ovserve::engine {

inline double SecondsBetween(std::chrono::steady_clock::time_point from,
                             std::chrono::steady_clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

}  // namespace ovserve::engine
