#include "server/metrics.h"

#include <algorithm>
#include <exception>

#include "absl/strings/str_cat.h"

namespace ovserve::server {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;
using prometheus::Histogram;

// Latency buckets from 1 ms to ~10 min (vLLM's spread).
const Histogram::BucketBoundaries& LatencyBuckets() {
  static const Histogram::BucketBoundaries kBuckets = {
      0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0,
      2.5,   5.0,   7.5,  10.0, 20.0, 40.0, 80.0, 160.0, 640.0};
  return kBuckets;
}

Histogram& AddHistogram(prometheus::Registry& registry, const std::string& name,
                        const std::string& help) {
  return BuildHistogram().Name(name).Help(help).Register(registry).Add({}, LatencyBuckets());
}

prometheus::Counter& AddCounter(prometheus::Registry& registry, const std::string& name,
                                const std::string& help) {
  return BuildCounter().Name(name).Help(help).Register(registry).Add({});
}

prometheus::Gauge& AddGauge(prometheus::Registry& registry, const std::string& name,
                            const std::string& help) {
  return BuildGauge().Name(name).Help(help).Register(registry).Add({});
}

}  // namespace

Metrics::Metrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      requests_(BuildCounter()
                    .Name("ovserve_requests_total")
                    .Help("Generation requests by front end (grpc, http), final status and finish reason")
                    .Register(*registry_)),
      ttft_(AddHistogram(*registry_, "ovserve_time_to_first_token_seconds",
                         "Submit to first generated token")),
      tpot_(AddHistogram(*registry_, "ovserve_time_per_output_token_seconds",
                         "Mean time per output token after the first, per request")),
      itl_(AddHistogram(*registry_, "ovserve_inter_token_latency_seconds",
                        "Time between consecutive token deliveries of a stream")),
      queue_(AddHistogram(*registry_, "ovserve_queue_time_seconds",
                          "Waiting for the scheduler, after preprocess and encode")),
      preprocess_(AddHistogram(*registry_, "ovserve_preprocess_time_seconds",
                               "Media decode and resize per request")),
      encode_(AddHistogram(*registry_, "ovserve_encode_time_seconds",
                           "Vision encoder and projector per request")),
      e2e_(AddHistogram(*registry_, "ovserve_e2e_request_latency_seconds",
                        "Submit to final output")),
      prompt_tokens_(AddCounter(*registry_, "ovserve_prompt_tokens_total",
                                "Prompt tokens of finished requests (text + visual)")),
      image_tokens_(AddCounter(*registry_, "ovserve_image_tokens_total",
                               "Image tokens of finished requests")),
      video_tokens_(AddCounter(*registry_, "ovserve_video_tokens_total",
                               "Video tokens of finished requests")),
      generation_tokens_(AddCounter(*registry_, "ovserve_generation_tokens_total",
                                    "Generated tokens of finished requests")),
      cached_tokens_(AddCounter(*registry_, "ovserve_prefix_cache_hit_tokens_total",
                                "Prompt tokens served from the prefix cache")),
      running_(AddGauge(*registry_, "ovserve_requests_running", "Requests in the running batch")),
      waiting_(AddGauge(*registry_, "ovserve_requests_waiting", "Requests waiting to be scheduled")),
      queued_(AddGauge(*registry_, "ovserve_requests_queued",
                       "Admitted requests not yet running: at the vision workers or waiting to "
                       "be scheduled (the queue depth a router balances on)")),
      kv_usage_(AddGauge(*registry_, "ovserve_kv_cache_usage_ratio",
                         "Fraction of KV blocks referenced by live requests")),
      kv_blocks_total_(AddGauge(*registry_, "ovserve_kv_cache_blocks", "KV cache capacity in blocks")),
      prefix_hit_rate_(AddGauge(*registry_, "ovserve_prefix_cache_hit_ratio",
                                "Prompt tokens served from the prefix cache / prompt tokens queried")),
      preemptions_(AddCounter(*registry_, "ovserve_preemptions_total",
                              "Sequences preempted (their KV freed, recomputed later)")),
      queue_used_(AddGauge(*registry_, "ovserve_token_queue_used_tokens",
                           "Visual tokens reserved in the encode -> decode token queue")),
      queue_capacity_(AddGauge(*registry_, "ovserve_token_queue_capacity_tokens",
                               "Capacity of the token queue in visual tokens")),
      queue_fill_(AddGauge(*registry_, "ovserve_token_queue_fill_ratio",
                           "Token-queue tokens reserved / capacity (0..1)")),
      encode_waiting_(BuildGauge()
                          .Name("ovserve_encode_waiting_requests")
                          .Help("Multimodal requests waiting for token-queue room, by modality")
                          .Register(*registry_)),
      encoding_(AddGauge(*registry_, "ovserve_encoding_requests",
                         "Requests at the vision workers (waiting or encoding)")),
      encoder_busy_(AddGauge(*registry_, "ovserve_encoder_busy_ratio",
                             "Encode time / (vision workers x uptime)")),
      encoder_cache_hits_(AddCounter(*registry_, "ovserve_encoder_cache_hits_total",
                                     "Visual items served from the encoder cache")),
      encoder_cache_misses_(AddCounter(*registry_, "ovserve_encoder_cache_misses_total",
                                       "Visual items not in the encoder cache")),
      encoded_items_(AddCounter(*registry_, "ovserve_encoded_items_total",
                                "Visual items run through the vision encoder")),
      vllm_waiting_(AddGauge(*registry_, "vllm:num_requests_waiting",
                             "Alias of ovserve_requests_queued under vLLM's name")),
      vllm_running_(AddGauge(*registry_, "vllm:num_requests_running",
                             "Alias of ovserve_requests_running under vLLM's name")),
      vllm_kv_usage_(AddGauge(*registry_, "vllm:kv_cache_usage_perc",
                              "Alias of ovserve_kv_cache_usage_ratio under vLLM's name (0..1)")),
      vllm_gpu_cache_usage_(AddGauge(*registry_, "vllm:gpu_cache_usage_perc",
                                     "Alias of ovserve_kv_cache_usage_ratio under vLLM's pre-0.10 "
                                     "name (0..1)")) {}

absl::Status Metrics::Expose(const std::string& address) {
  try {
    exposer_ = std::make_unique<prometheus::Exposer>(address);
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve /metrics on ", address, ": ", e.what()));
  }
  exposer_->RegisterCollectable(registry_);
  return absl::OkStatus();
}

int Metrics::port() const {
  if (exposer_ == nullptr) return 0;
  const auto ports = exposer_->GetListeningPorts();
  return ports.empty() ? 0 : ports.front();
}

void Metrics::RecordRequest(const RequestRecord& record) {
  requests_
      .Add({{"frontend", record.frontend},
            {"status", record.status},
            {"finish_reason", std::string(engine::FinishReasonName(record.finish_reason))}})
      .Increment();
  if (!record.has_output) return;
  const engine::Usage& u = record.usage;
  const engine::Timings& t = record.timings;
  prompt_tokens_.Increment(static_cast<double>(u.prompt_tokens));
  image_tokens_.Increment(static_cast<double>(u.image_tokens));
  video_tokens_.Increment(static_cast<double>(u.video_tokens));
  generation_tokens_.Increment(static_cast<double>(u.completion_tokens));
  cached_tokens_.Increment(static_cast<double>(u.cached_tokens));
  preprocess_.Observe(t.preprocess);
  if (u.visual_tokens > 0) encode_.Observe(t.encode);
  if (t.first_scheduled >= 0) queue_.Observe(t.queue());
  if (t.first_token >= 0) ttft_.Observe(t.first_token);
  if (t.first_token >= 0 && u.completion_tokens > 1) {
    tpot_.Observe((t.finished - t.first_token) / static_cast<double>(u.completion_tokens - 1));
  }
  if (t.finished >= 0) e2e_.Observe(t.finished);
}

void InterTokenTimer::OnTokens(Metrics& metrics, bool record) {
  const auto now = std::chrono::steady_clock::now();
  if (record && last_.has_value()) {
    metrics.RecordInterTokenLatency(std::chrono::duration<double>(now - *last_).count());
  }
  last_ = now;
}

void Metrics::RecordInterTokenLatency(double seconds) { itl_.Observe(seconds); }

void Metrics::Refresh(const engine::EngineStats& stats) {
  const double queued = static_cast<double>(stats.waiting + stats.encoding_requests);
  running_.Set(static_cast<double>(stats.running));
  waiting_.Set(static_cast<double>(stats.waiting));
  queued_.Set(queued);
  kv_usage_.Set(stats.kv_usage);
  vllm_waiting_.Set(queued);
  vllm_running_.Set(static_cast<double>(stats.running));
  vllm_kv_usage_.Set(stats.kv_usage);
  vllm_gpu_cache_usage_.Set(stats.kv_usage);
  kv_blocks_total_.Set(static_cast<double>(stats.kv_blocks_total));
  prefix_hit_rate_.Set(stats.prefix_cache_hit_rate);
  queue_used_.Set(static_cast<double>(stats.token_queue_used_tokens));
  queue_capacity_.Set(static_cast<double>(stats.token_queue_capacity_tokens));
  queue_fill_.Set(stats.token_queue_capacity_tokens > 0
                      ? static_cast<double>(stats.token_queue_used_tokens) /
                            static_cast<double>(stats.token_queue_capacity_tokens)
                      : 0.0);
  encode_waiting_.Add({{"modality", "image"}}).Set(static_cast<double>(stats.encode_waiting_image_requests));
  encode_waiting_.Add({{"modality", "video"}}).Set(static_cast<double>(stats.encode_waiting_video_requests));
  encoding_.Set(static_cast<double>(stats.encoding_requests));
  encoder_busy_.Set(stats.encoder_busy_fraction);
  // Engine totals become counter increments.
  std::lock_guard<std::mutex> lock(refresh_mutex_);
  const auto advance = [](prometheus::Counter& counter, int64_t total, int64_t& seen) {
    if (total > seen) counter.Increment(static_cast<double>(total - seen));
    seen = std::max(seen, total);
  };
  advance(preemptions_, stats.preemptions_total, seen_.preemptions_total);
  advance(encoder_cache_hits_, stats.encoder_cache_hits_total, seen_.encoder_cache_hits_total);
  advance(encoder_cache_misses_, stats.encoder_cache_misses_total, seen_.encoder_cache_misses_total);
  advance(encoded_items_, stats.encoded_items_total, seen_.encoded_items_total);
}

}  // namespace ovserve::server
