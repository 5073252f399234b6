// The metric math of ovserve-bench on synthetic timelines whose answers are
// worked out by hand (percentiles as numpy.percentile's default computes them).
#include "benchmarks/bench_metrics.h"

#include <cmath>

#include "gtest/gtest.h"

namespace ovserve::bench {
namespace {

constexpr double kEps = 1e-9;

// A successful request sent at `send` whose tokens arrive one per response at `times`.
RequestTimeline Ok(double send, std::vector<double> times, int64_t text_tokens = 10) {
  RequestTimeline r;
  r.ok = true;
  r.status = "OK";
  r.send_s = send;
  for (double t : times) r.chunks.push_back({t, 1});
  r.end_s = times.empty() ? send : times.back();
  r.output_tokens = static_cast<int64_t>(times.size());
  r.prompt_text_tokens = text_tokens;
  return r;
}

RequestTimeline Failed(double send, double end, const std::string& status) {
  RequestTimeline r;
  r.ok = false;
  r.status = status;
  r.send_s = send;
  r.end_s = end;
  return r;
}

TEST(BenchMetricsPercentile, MatchesNumpyLinearInterpolation) {
  // np.percentile([1, 2, 3, 4], [0, 25, 50, 90, 99, 100]) = [1, 1.75, 2.5, 3.7, 3.97, 4]
  const std::vector<double> v = {4, 1, 3, 2};  // order does not matter
  EXPECT_NEAR(Percentile(v, 0), 1.0, kEps);
  EXPECT_NEAR(Percentile(v, 25), 1.75, kEps);
  EXPECT_NEAR(Percentile(v, 50), 2.5, kEps);
  EXPECT_NEAR(Percentile(v, 90), 3.7, kEps);
  EXPECT_NEAR(Percentile(v, 99), 3.97, kEps);
  EXPECT_NEAR(Percentile(v, 100), 4.0, kEps);
  // np.percentile([10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 1000], 99) = 910.0
  EXPECT_NEAR(Percentile({10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 1000}, 99), 910.0, 1e-9);
  // np.percentile([5, 1, 9], 90) = 8.2
  EXPECT_NEAR(Percentile({5, 1, 9}, 90), 8.2, kEps);
  EXPECT_EQ(Percentile({7}, 99), 7.0);
  EXPECT_TRUE(std::isnan(Percentile({}, 50)));
}

TEST(BenchMetricsSummary, MeanStdAndPercentiles) {
  const Summary s = Summarize({1, 2, 3, 4});
  EXPECT_EQ(s.count, 4);
  EXPECT_NEAR(s.mean, 2.5, kEps);
  EXPECT_NEAR(s.std, std::sqrt(1.25), kEps);  // np.std, ddof = 0
  EXPECT_NEAR(s.min, 1, kEps);
  EXPECT_NEAR(s.median, 2.5, kEps);
  EXPECT_NEAR(s.p90, 3.7, kEps);
  EXPECT_NEAR(s.p95, 3.85, kEps);
  EXPECT_NEAR(s.p99, 3.97, kEps);
  EXPECT_NEAR(s.max, 4, kEps);
  const Summary empty = Summarize({});
  EXPECT_EQ(empty.count, 0);
  EXPECT_TRUE(std::isnan(empty.mean));
  EXPECT_TRUE(std::isnan(empty.p99));
}

TEST(BenchMetricsRequest, TtftTpotItlE2e) {
  // Sent at 1.0; tokens at 1.5, 1.6, 1.8, 2.1.
  const RequestTimeline r = Ok(1.0, {1.5, 1.6, 1.8, 2.1});
  EXPECT_NEAR(*Ttft(r), 0.5, kEps);
  EXPECT_NEAR(E2e(r), 1.1, kEps);
  // (1.1 - 0.5) / (4 - 1)
  EXPECT_NEAR(*Tpot(r), 0.2, kEps);
  const std::vector<double> itl = Itls(r);
  ASSERT_EQ(itl.size(), 3u);
  EXPECT_NEAR(itl[0], 0.1, kEps);
  EXPECT_NEAR(itl[1], 0.2, kEps);
  EXPECT_NEAR(itl[2], 0.3, kEps);
}

TEST(BenchMetricsRequest, MultiTokenResponsesSpreadTheirGap) {
  RequestTimeline r = Ok(0.0, {0.2});
  r.chunks.push_back({0.5, 3});  // three tokens in one response
  r.end_s = 0.5;
  r.output_tokens = 4;
  const std::vector<double> itl = Itls(r);
  ASSERT_EQ(itl.size(), 3u);
  for (double v : itl) EXPECT_NEAR(v, 0.1, kEps);
  EXPECT_NEAR(*Tpot(r), 0.1, kEps);
}

TEST(BenchMetricsRequest, OneTokenHasNoTpotAndNoTokenHasNoTtft) {
  const RequestTimeline one = Ok(0.0, {0.3});
  EXPECT_FALSE(Tpot(one).has_value());
  EXPECT_TRUE(Itls(one).empty());
  const RequestTimeline none = Ok(0.0, {});
  EXPECT_FALSE(Ttft(none).has_value());
}

TEST(BenchMetricsRun, ThroughputsTokensAndFailuresByStatus) {
  // Two successes, two failures, over 4 s.
  RequestTimeline a = Ok(0.0, {0.5, 0.6, 0.8, 1.1}, 100);  // TTFT 0.5, TPOT 0.2, E2E 1.1
  a.image_tokens = 729;
  a.cached_tokens = 16;
  RequestTimeline b = Ok(1.0, {1.7, 2.0}, 50);  // TTFT 0.7, TPOT 0.3, E2E 1.0
  b.video_tokens = 785;
  const std::vector<RequestTimeline> runs = {a, b, Failed(0.1, 0.2, "INVALID_ARGUMENT"),
                                             Failed(0.3, 0.4, "INVALID_ARGUMENT")};
  const RunMetrics m = ComputeRunMetrics(runs, 4.0, Slo{});
  EXPECT_EQ(m.requests, 4);
  EXPECT_EQ(m.completed, 2);
  EXPECT_EQ(m.failed, 2);
  ASSERT_EQ(m.failures_by_status.size(), 1u);
  EXPECT_EQ(m.failures_by_status.at("INVALID_ARGUMENT"), 2);
  EXPECT_EQ(m.input_text_tokens, 150);
  EXPECT_EQ(m.input_image_tokens, 729);
  EXPECT_EQ(m.input_video_tokens, 785);
  EXPECT_EQ(m.input_tokens, 150 + 729 + 785);
  EXPECT_EQ(m.cached_tokens, 16);
  EXPECT_EQ(m.output_tokens, 6);
  EXPECT_NEAR(m.request_throughput, 0.5, kEps);
  EXPECT_NEAR(m.output_throughput, 1.5, kEps);
  EXPECT_NEAR(m.input_throughput, 1664.0 / 4, kEps);
  EXPECT_NEAR(m.total_token_throughput, 1670.0 / 4, kEps);
  // Milliseconds, over the successes only.
  EXPECT_EQ(m.ttft_ms.count, 2);
  EXPECT_NEAR(m.ttft_ms.mean, 600, 1e-6);
  EXPECT_NEAR(m.ttft_ms.median, 600, 1e-6);
  EXPECT_NEAR(m.ttft_ms.p99, 698, 1e-6);  // 500 + 0.99 * 200
  EXPECT_NEAR(m.ttft_ms.max, 700, 1e-6);
  EXPECT_NEAR(m.tpot_ms.mean, 250, 1e-6);
  EXPECT_NEAR(m.e2e_ms.mean, 1050, 1e-6);
  // ITLs: 100, 200, 300 (a) and 300 (b).
  EXPECT_EQ(m.itl_ms.count, 4);
  EXPECT_NEAR(m.itl_ms.mean, 225, 1e-6);
  EXPECT_NEAR(m.itl_ms.median, 250, 1e-6);
  EXPECT_NEAR(m.itl_ms.p90, 300, 1e-6);
  EXPECT_FALSE(m.goodput.has_value());
}

TEST(BenchMetricsRun, GoodputCountsRequestsMeetingEverySlo) {
  const RequestTimeline a = Ok(0.0, {0.5, 0.6, 0.8, 1.1});  // TTFT 500, TPOT 200, E2E 1100
  const RequestTimeline b = Ok(1.0, {1.7, 2.0});            // TTFT 700, TPOT 300, E2E 1000
  const RequestTimeline c = Ok(2.0, {2.1});                 // TTFT 100, TPOT 0 (one token)
  const RequestTimeline failed = Failed(0, 0.1, "UNAVAILABLE");
  const std::vector<RequestTimeline> runs = {a, b, c, failed};
  Slo ttft;
  ttft.ttft_ms = 600;
  RunMetrics m = ComputeRunMetrics(runs, 2.0, ttft);
  EXPECT_EQ(*m.good_requests, 2);  // a, c
  EXPECT_NEAR(*m.goodput, 1.0, kEps);
  Slo tpot;
  tpot.tpot_ms = 250;
  m = ComputeRunMetrics(runs, 2.0, tpot);
  EXPECT_EQ(*m.good_requests, 2);  // a, c (TPOT 0)
  Slo all;
  all.ttft_ms = 800;
  all.tpot_ms = 250;
  all.e2e_ms = 1050;
  m = ComputeRunMetrics(runs, 2.0, all);
  EXPECT_EQ(*m.good_requests, 1);  // c: a is over the E2E objective, b over TPOT
  EXPECT_NEAR(*m.goodput, 0.5, kEps);
  EXPECT_FALSE(MeetsSlo(failed, Slo{}));
  EXPECT_TRUE(MeetsSlo(a, Slo{}));
}

TEST(BenchMetricsRun, NoSuccessGivesEmptySummaries) {
  const RunMetrics m =
      ComputeRunMetrics({Failed(0, 1, "INVALID_ARGUMENT"), Failed(0, 1, "")}, 1.0, Slo{});
  EXPECT_EQ(m.completed, 0);
  EXPECT_EQ(m.failed, 2);
  EXPECT_EQ(m.failures_by_status.at("INVALID_ARGUMENT"), 1);
  EXPECT_EQ(m.failures_by_status.at("UNKNOWN"), 1);
  EXPECT_EQ(m.ttft_ms.count, 0);
  EXPECT_TRUE(std::isnan(m.ttft_ms.mean));
  EXPECT_EQ(m.request_throughput, 0.0);
}

}  // namespace
}  // namespace ovserve::bench
