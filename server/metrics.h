#pragma once
// Prometheus metrics of the server (prometheus-cpp), names `ovserve_*` in
// base units. Request-level series are recorded as requests finish; engine
// gauges (running, waiting, KV usage, ...) are refreshed from Engine::Stats
// by Refresh(), which the server calls periodically.
//
// The gauges an inference gateway's endpoint picker routes on (Gateway API
// Inference Extension, model-server protocol) are also exported under vLLM's
// names, so a picker configured for vLLM works unchanged:
//   vllm:num_requests_waiting  = ovserve_requests_queued (admitted, not running)
//   vllm:num_requests_running  = ovserve_requests_running
//   vllm:kv_cache_usage_perc   = ovserve_kv_cache_usage_ratio (0..1, as vLLM's)
//   vllm:gpu_cache_usage_perc  = the same (the name vLLM used before v0.10)
//
// Thread-safety: every method may be called from any thread.

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "engine/engine.h"
#include "prometheus/counter.h"
#include "prometheus/exposer.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace ovserve::server {

// What the server knows of one finished request.
struct RequestRecord {
  std::string frontend = "grpc";  // "grpc" or "http"
  std::string status;          // "ok", "cancelled", "invalid_argument", ... (gRPC code, lower case)
  engine::FinishReason finish_reason = engine::FinishReason::kNone;
  engine::Usage usage;
  engine::Timings timings;     // from the final output (seconds since submit)
  bool has_output = false;     // false: refused at Submit, no usage/timings
};

class Metrics;

// One stream's inter-token latency: the gap between consecutive outputs that
// carried tokens, into Metrics' histogram. Owned by the stream; not thread-safe.
class InterTokenTimer {
 public:
  // Call for each output that carried tokens; `record` false only notes the
  // time (a response that is not streamed has no gaps to report).
  void OnTokens(Metrics& metrics, bool record = true);

 private:
  std::optional<std::chrono::steady_clock::time_point> last_;
};

class Metrics {
 public:
  Metrics();

  // Serves /metrics on `address` ("0.0.0.0:9090"; port 0 picks one).
  absl::Status Expose(const std::string& address);
  int port() const;  // the bound port, after Expose

  void RecordRequest(const RequestRecord& record);
  // Seconds between two consecutive token deliveries of one stream.
  void RecordInterTokenLatency(double seconds);
  void Refresh(const engine::EngineStats& stats);

  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<prometheus::Exposer> exposer_;

  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Histogram& ttft_;
  prometheus::Histogram& tpot_;
  prometheus::Histogram& itl_;
  prometheus::Histogram& queue_;
  prometheus::Histogram& preprocess_;
  prometheus::Histogram& encode_;
  prometheus::Histogram& e2e_;
  prometheus::Counter& prompt_tokens_;
  prometheus::Counter& image_tokens_;
  prometheus::Counter& video_tokens_;
  prometheus::Counter& generation_tokens_;
  prometheus::Counter& cached_tokens_;
  prometheus::Gauge& running_;
  prometheus::Gauge& waiting_;
  prometheus::Gauge& queued_;
  prometheus::Gauge& kv_usage_;
  prometheus::Gauge& kv_blocks_total_;
  prometheus::Gauge& prefix_hit_rate_;
  prometheus::Counter& preemptions_;
  prometheus::Gauge& queue_used_;
  prometheus::Gauge& queue_capacity_;
  prometheus::Gauge& queue_fill_;
  prometheus::Family<prometheus::Gauge>& encode_waiting_;
  prometheus::Gauge& encoding_;
  prometheus::Gauge& encoder_busy_;
  prometheus::Counter& encoder_cache_hits_;
  prometheus::Counter& encoder_cache_misses_;
  prometheus::Counter& encoded_items_;
  // vLLM-named aliases (see the top of this file).
  prometheus::Gauge& vllm_waiting_;
  prometheus::Gauge& vllm_running_;
  prometheus::Gauge& vllm_kv_usage_;
  prometheus::Gauge& vllm_gpu_cache_usage_;
  std::mutex refresh_mutex_;
  engine::EngineStats seen_;  // engine totals already counted
};

}  // namespace ovserve::server
