#include "benchmarks/arrival_schedule.h"

#include <cmath>
#include <limits>

#include "gtest/gtest.h"

namespace ovserve::bench {
namespace {

TEST(ArrivalSchedule, PoissonHasTheRateAndIsReproducible) {
  const int64_t n = 20001;
  const std::vector<double> a = ArrivalOffsets(n, 4.0, ArrivalMode::kPoisson, 7);
  ASSERT_EQ(a.size(), static_cast<size_t>(n));
  EXPECT_EQ(a[0], 0.0);
  for (size_t i = 1; i < a.size(); ++i) ASSERT_GE(a[i], a[i - 1]);
  // Mean gap 1 / rate: 20000 exponential gaps, relative std 1/sqrt(20000) = 0.7 %.
  const double mean_gap = a.back() / static_cast<double>(n - 1);
  EXPECT_NEAR(mean_gap, 0.25, 0.25 * 0.03);
  // Exponential gaps: the std equals the mean.
  double squares = 0;
  for (size_t i = 1; i < a.size(); ++i) {
    const double d = a[i] - a[i - 1] - mean_gap;
    squares += d * d;
  }
  EXPECT_NEAR(std::sqrt(squares / static_cast<double>(n - 1)), 0.25, 0.25 * 0.05);
  EXPECT_EQ(ArrivalOffsets(n, 4.0, ArrivalMode::kPoisson, 7), a);
  EXPECT_NE(ArrivalOffsets(n, 4.0, ArrivalMode::kPoisson, 8), a);
}

TEST(ArrivalSchedule, ConstantAndInfinite) {
  const std::vector<double> c = ArrivalOffsets(5, 2.0, ArrivalMode::kConstant, 1);
  EXPECT_EQ(c, (std::vector<double>{0, 0.5, 1.0, 1.5, 2.0}));
  const std::vector<double> inf =
      ArrivalOffsets(3, std::numeric_limits<double>::infinity(), ArrivalMode::kPoisson, 1);
  EXPECT_EQ(inf, (std::vector<double>{0, 0, 0}));
  EXPECT_TRUE(ArrivalOffsets(0, 1.0, ArrivalMode::kPoisson, 1).empty());
  EXPECT_TRUE(ParseArrivalMode("poisson").ok());
  EXPECT_FALSE(ParseArrivalMode("bursty").ok());
}

}  // namespace
}  // namespace ovserve::bench
