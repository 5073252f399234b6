#pragma once
// The configuration of one ovserve-bench invocation (filled from its flags),
// the parsers of its flag syntaxes and its JSON form (written into the
// results file, so a result says exactly how it was made). Pure functions.

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "benchmarks/arrival_schedule.h"
#include "benchmarks/bench_metrics.h"
#include "benchmarks/seeded_random.h"
#include "nlohmann/json.hpp"

namespace ovserve::bench {

enum class Workload { kText, kImage, kMultiImage, kVideo, kMixed, kDataset };

absl::StatusOr<Workload> ParseWorkload(std::string_view text);
std::string WorkloadName(Workload workload);

// A token count drawn uniformly from [min, max] ("128" or "100:200").
struct LengthRange {
  int64_t min = 0;
  int64_t max = 0;
  int64_t Sample(Rng& rng) const { return min == max ? min : rng.UniformInt(min, max); }
  std::string ToString() const;
};

// "128" -> [128, 128]; "100:200" -> [100, 200]. Lengths >= `lowest`.
absl::StatusOr<LengthRange> ParseLengthRange(std::string_view text, int64_t lowest);

struct ImageSize {
  int width = 0;
  int height = 0;
};

// "768x768,1024x512" (width x height, each 1..8192).
absl::StatusOr<std::vector<ImageSize>> ParseSizes(std::string_view text);

// "1,2.5,inf": request rates (req/s, > 0; "inf" = all at once).
absl::StatusOr<std::vector<double>> ParseRates(std::string_view text);

// "1,4,16": max-concurrency levels (>= 0; 0 = unlimited).
absl::StatusOr<std::vector<int64_t>> ParseConcurrencies(std::string_view text);

// "text:3,image:1,video:1": workload weights of the mixed workload (> 0; not
// mixed or dataset).
absl::StatusOr<std::vector<std::pair<Workload, double>>> ParseMix(std::string_view text);

enum class ImageFormat { kJpeg, kPng };

absl::StatusOr<ImageFormat> ParseImageFormat(std::string_view text);
std::string ImageFormatName(ImageFormat format);

// What each request carries.
struct WorkloadConfig {
  Workload workload = Workload::kText;
  LengthRange input_len{128, 128};  // tokens of the user text
  LengthRange output_len{64, 64};   // max_tokens (exact with ignore_eos)
  std::vector<ImageSize> image_sizes{{768, 768}};
  ImageFormat image_format = ImageFormat::kJpeg;
  int num_images = 4;  // multi-image
  int video_frames = 8;
  ImageSize video_size{384, 384};
  std::string video_codec = "mpeg4";  // FFmpeg encoder, in an MP4 container
  int video_sample_frames = 0;        // VideoPart.num_frames; 0 = every frame encoded
  bool unique_media = true;           // distinct pixels per request (no prefix-cache hits)
  std::vector<std::pair<Workload, double>> mix{
      {Workload::kText, 1}, {Workload::kImage, 1}, {Workload::kVideo, 1}};
  std::string dataset_path;  // JSONL
  float temperature = 0.0f;
  std::optional<float> top_p;
  int top_k = 0;
  bool ignore_eos = true;
  uint64_t seed = 0;
  int word_pool_size = 1024;
};

struct BenchConfig {
  // Connection. `server` (gRPC) also serves the set-up calls (model info,
  // tokenization) in the HTTP mode, whose load goes to `http_url`.
  std::string backend = "grpc";  // "grpc" or "openai-chat"
  std::string http_url = "http://127.0.0.1:8000";
  std::string server = "127.0.0.1:50051";
  bool tls = false;
  std::string tls_ca_path;
  bool api_key_set = false;  // the key itself is never written out
  int num_connections = 1;
  std::string load_balancing = "round_robin";  // over the gRPC target's addresses
  int max_attempts = 1;  // > 1: UNAVAILABLE retried while nothing was received
  double wait_for_server_s = 60;
  double request_timeout_s = 0;  // 0 = none
  // What and how much.
  WorkloadConfig workload;
  int64_t num_prompts = 100;
  int64_t prompts_per_concurrency = 0;  // > 0: max(num_prompts, this x concurrency) per run
  double duration_s = 0;                // > 0: stop sending after this long
  int64_t warmup_requests = 0;
  // Arrivals: every (rate, concurrency) pair is one run.
  std::vector<double> request_rates{std::numeric_limits<double>::infinity()};
  ArrivalMode arrival = ArrivalMode::kPoisson;
  std::vector<int64_t> max_concurrency{0};
  Slo slo;
  // Output.
  std::string label;
  std::string out_path;
  std::string csv_path;
  bool progress = true;
};

// Requests of a run at `concurrency` (0 = unlimited).
int64_t PromptsForRun(const BenchConfig& config, int64_t concurrency);

// Checks the combinations flags alone cannot (e.g. a mixed workload with an
// unknown weight); INVALID_ARGUMENT naming the flag.
absl::Status Validate(const BenchConfig& config);

// A rate as JSON: the number, or "inf".
nlohmann::json RateToJson(double rate);
std::string RateToString(double rate);

nlohmann::json ToJson(const BenchConfig& config);

}  // namespace ovserve::bench
