#pragma once
// The serving-benchmark metrics, computed from plain per-request timelines the
// way `vllm bench serve`, SGLang's bench_serving and GenAI-Perf/AIPerf define
// them, so ovserve-bench figures can be held against theirs:
//
//   TTFT  = first token-bearing response - send
//   E2E   = last response (the final one) - send
//   TPOT  = (E2E - TTFT) / (output_tokens - 1), requests with > 1 output token
//   ITL   = the gaps between consecutive token-bearing responses of a request; a
//           response carrying k tokens counts as k gaps of gap / k each (so the
//           ITLs of a request sum to last - first response)
//   percentiles: numpy.percentile's default (linear interpolation between the
//           closest ranks); std is the population std (numpy's ddof = 0)
//   throughputs: totals of the successful requests / the run's duration
//   goodput: successful requests meeting every given SLO (TTFT, TPOT, E2E;
//           a request with one output token has TPOT 0) / duration, as vLLM's.
//
// Pure functions over plain data (no gRPC, no clocks): unit-tested on synthetic
// timelines. Times in the timelines are seconds; summaries are milliseconds.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace ovserve::bench {

// One response that carried `tokens` > 0 new tokens, received at `time_s`.
struct TokenChunk {
  double time_s = 0;
  int64_t tokens = 0;
};

// What the client saw of one request. Times are seconds from the run's start.
struct RequestTimeline {
  int64_t index = 0;       // position in the run's request list
  std::string workload;    // "text", "image", "multi-image", "video", "dataset"
  bool ok = false;         // the stream ended OK with a final response
  std::string status;      // gRPC status code name ("OK", "INVALID_ARGUMENT", ...)
  std::string error;       // the server's message when !ok
  double send_s = 0;       // just before the call started
  double end_s = 0;        // the final response (or, on failure, the status) arrived
  std::vector<TokenChunk> chunks;  // token-bearing responses, in arrival order
  int64_t responses = 0;           // every response received, the final one included
  // From the server's final usage (0 when the request failed).
  int64_t output_tokens = 0;
  int64_t prompt_text_tokens = 0;
  int64_t image_tokens = 0;
  int64_t video_tokens = 0;
  int64_t cached_tokens = 0;
};

// Milliseconds. Every field is NaN when count == 0 (JSON null).
struct Summary {
  int64_t count = 0;
  double mean = 0;
  double std = 0;
  double min = 0;
  double median = 0;
  double p90 = 0;
  double p95 = 0;
  double p99 = 0;
  double max = 0;
};

// numpy.percentile(values, p) with the default linear method; p in [0, 100].
// NaN for no values. `values` need not be sorted.
double Percentile(std::vector<double> values, double p);

// Mean, population std, min, median, p90, p95, p99, max of `values`.
Summary Summarize(const std::vector<double>& values);

// Per request, seconds. TTFT: nullopt without a token; TPOT: nullopt unless
// more than one output token (see the header comment).
std::optional<double> Ttft(const RequestTimeline& r);
double E2e(const RequestTimeline& r);
std::optional<double> Tpot(const RequestTimeline& r);
std::vector<double> Itls(const RequestTimeline& r);

// Service-level objectives in milliseconds; unset ones are not checked.
struct Slo {
  std::optional<double> ttft_ms;
  std::optional<double> tpot_ms;
  std::optional<double> e2e_ms;
  bool any() const { return ttft_ms || tpot_ms || e2e_ms; }
};

// Whether a successful request meets every set objective.
bool MeetsSlo(const RequestTimeline& r, const Slo& slo);

struct RunMetrics {
  int64_t requests = 0;   // timelines given (sent)
  int64_t completed = 0;  // ok
  int64_t failed = 0;
  std::map<std::string, int64_t> failures_by_status;
  double duration_s = 0;
  // Token totals over the completed requests, from the server's usage.
  int64_t input_text_tokens = 0;
  int64_t input_image_tokens = 0;
  int64_t input_video_tokens = 0;
  int64_t input_tokens = 0;  // text + image + video
  int64_t cached_tokens = 0;
  int64_t output_tokens = 0;
  double request_throughput = 0;      // completed / s
  double input_throughput = 0;        // input tokens / s
  double output_throughput = 0;       // output tokens / s
  double total_token_throughput = 0;  // (input + output) tokens / s
  Summary ttft_ms;
  Summary tpot_ms;
  Summary itl_ms;
  Summary e2e_ms;
  // Present when any SLO is set.
  std::optional<int64_t> good_requests;
  std::optional<double> goodput;  // good requests / s
};

// Metrics of one run: `timelines` are every request sent, `duration_s` from the
// run's start to the last request's end (> 0).
RunMetrics ComputeRunMetrics(const std::vector<RequestTimeline>& timelines, double duration_s,
                             const Slo& slo);

}  // namespace ovserve::bench
