#include "benchmarks/bench_metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace ovserve::bench {

double Percentile(std::vector<double> values, double p) {
  if (values.empty()) return std::numeric_limits<double>::quiet_NaN();
  std::sort(values.begin(), values.end());
  // numpy's "linear" method: the virtual index (n - 1) * p / 100, interpolated.
  const double rank = (static_cast<double>(values.size()) - 1.0) * std::clamp(p, 0.0, 100.0) / 100.0;
  const size_t lo = static_cast<size_t>(std::floor(rank));
  const size_t hi = std::min(lo + 1, values.size() - 1);
  const double frac = rank - static_cast<double>(lo);
  return values[lo] + (values[hi] - values[lo]) * frac;
}

Summary Summarize(const std::vector<double>& values) {
  Summary s;
  s.count = static_cast<int64_t>(values.size());
  if (values.empty()) {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    s.mean = s.std = s.min = s.median = s.p90 = s.p95 = s.p99 = s.max = nan;
    return s;
  }
  const double n = static_cast<double>(values.size());
  s.mean = std::accumulate(values.begin(), values.end(), 0.0) / n;
  double squares = 0;
  for (double v : values) squares += (v - s.mean) * (v - s.mean);
  s.std = std::sqrt(squares / n);
  std::vector<double> sorted = values;
  std::sort(sorted.begin(), sorted.end());
  s.min = sorted.front();
  s.max = sorted.back();
  s.median = Percentile(sorted, 50);
  s.p90 = Percentile(sorted, 90);
  s.p95 = Percentile(sorted, 95);
  s.p99 = Percentile(sorted, 99);
  return s;
}

std::optional<double> Ttft(const RequestTimeline& r) {
  if (r.chunks.empty()) return std::nullopt;
  return r.chunks.front().time_s - r.send_s;
}

double E2e(const RequestTimeline& r) { return r.end_s - r.send_s; }

std::optional<double> Tpot(const RequestTimeline& r) {
  const std::optional<double> ttft = Ttft(r);
  if (!ttft || r.output_tokens <= 1) return std::nullopt;
  return (E2e(r) - *ttft) / static_cast<double>(r.output_tokens - 1);
}

std::vector<double> Itls(const RequestTimeline& r) {
  std::vector<double> out;
  for (size_t i = 1; i < r.chunks.size(); ++i) {
    const int64_t k = std::max<int64_t>(r.chunks[i].tokens, 1);
    const double gap = (r.chunks[i].time_s - r.chunks[i - 1].time_s) / static_cast<double>(k);
    out.insert(out.end(), static_cast<size_t>(k), gap);
  }
  return out;
}

bool MeetsSlo(const RequestTimeline& r, const Slo& slo) {
  if (!r.ok) return false;
  const std::optional<double> ttft = Ttft(r);
  if (slo.ttft_ms && (!ttft || *ttft * 1e3 > *slo.ttft_ms)) return false;
  // vLLM counts a one-token request's TPOT as 0.
  if (slo.tpot_ms && Tpot(r).value_or(0.0) * 1e3 > *slo.tpot_ms) return false;
  if (slo.e2e_ms && E2e(r) * 1e3 > *slo.e2e_ms) return false;
  return true;
}

RunMetrics ComputeRunMetrics(const std::vector<RequestTimeline>& timelines, double duration_s,
                             const Slo& slo) {
  RunMetrics m;
  m.requests = static_cast<int64_t>(timelines.size());
  m.duration_s = duration_s;
  std::vector<double> ttfts, tpots, itls, e2es;
  int64_t good = 0;
  for (const RequestTimeline& r : timelines) {
    if (!r.ok) {
      ++m.failed;
      ++m.failures_by_status[r.status.empty() ? "UNKNOWN" : r.status];
      continue;
    }
    ++m.completed;
    m.input_text_tokens += r.prompt_text_tokens;
    m.input_image_tokens += r.image_tokens;
    m.input_video_tokens += r.video_tokens;
    m.cached_tokens += r.cached_tokens;
    m.output_tokens += r.output_tokens;
    if (const auto ttft = Ttft(r)) ttfts.push_back(*ttft * 1e3);
    if (const auto tpot = Tpot(r)) tpots.push_back(*tpot * 1e3);
    for (double itl : Itls(r)) itls.push_back(itl * 1e3);
    e2es.push_back(E2e(r) * 1e3);
    if (slo.any() && MeetsSlo(r, slo)) ++good;
  }
  m.input_tokens = m.input_text_tokens + m.input_image_tokens + m.input_video_tokens;
  const double seconds = duration_s > 0 ? duration_s : std::numeric_limits<double>::quiet_NaN();
  m.request_throughput = static_cast<double>(m.completed) / seconds;
  m.input_throughput = static_cast<double>(m.input_tokens) / seconds;
  m.output_throughput = static_cast<double>(m.output_tokens) / seconds;
  m.total_token_throughput = static_cast<double>(m.input_tokens + m.output_tokens) / seconds;
  m.ttft_ms = Summarize(ttfts);
  m.tpot_ms = Summarize(tpots);
  m.itl_ms = Summarize(itls);
  m.e2e_ms = Summarize(e2es);
  if (slo.any()) {
    m.good_requests = good;
    m.goodput = static_cast<double>(good) / seconds;
  }
  return m;
}

}  // namespace ovserve::bench
