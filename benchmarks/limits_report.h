#pragma once
// The rows ovserve-bench-cpu and ovserve-bench-gpu report: a measurement, its
// value, and the share it reaches of the machine limit that bounds it,
// printed as a table and written as JSON.

#include <cstdio>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"

namespace ovserve::bench {

struct LimitRow {
  std::string what;
  double value = 0;       // tokens/s, crops/s, TFLOP/s, GB/s
  std::string unit;
  double seconds = 0;
  double fraction = 0;    // of the limit that bounds it
  std::string limit;      // which limit
};

inline void PrintLimitRows(const std::vector<LimitRow>& rows, int name_width) {
  std::printf("%-*s %12s %-9s %10s %9s  %s\n", name_width, "measurement", "value", "unit", "seconds", "of limit",
              "limit");
  for (const LimitRow& r : rows) {
    std::printf("%-*s %12.2f %-9s %10.4f %8.0f%%  %s\n", name_width, r.what.c_str(), r.value, r.unit.c_str(),
                r.seconds, 100.0 * r.fraction, r.limit.c_str());
  }
}

inline nlohmann::json LimitRowsJson(const std::vector<LimitRow>& rows) {
  nlohmann::json results = nlohmann::json::array();
  for (const LimitRow& r : rows) {
    results.push_back({{"measurement", r.what}, {"value", r.value}, {"unit", r.unit}, {"seconds", r.seconds},
                       {"fraction_of_limit", r.fraction}, {"limit", r.limit}});
  }
  return results;
}

}  // namespace ovserve::bench
