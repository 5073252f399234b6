#pragma once
// The requests of a benchmark run, built before the run starts (so building
// them never perturbs the timings) and reproducible: request `index` of stream
// `stream` is a pure function of (seed, stream, index) and the server's
// tokenizer. Stream 0 is the warm-up, stream r + 1 the r-th run of a sweep, so
// no two runs send the same prompt (no prefix-cache hits across runs).
//
// Every request is one chat user message: the images, then the video, then the
// text (the chat template puts media first anyway), with max_tokens = the
// drawn output length, temperature / top-p / top-k as configured (a per-request
// seed when sampling) and ignore_eos, so the output length is exact.
//
// The dataset workload reads a JSONL file, one request per line:
//   {"prompt": "Describe it", "images": ["a.jpg"], "videos": ["b.mp4"],
//    "num_frames": 8, "output_len": 64}
// Only "prompt" is required; media paths are relative to the file's folder;
// without "output_len" the --output-len range is drawn. Lines are used in
// order, wrapping around when a run wants more requests than there are lines.
//
// Make / MakeMany may be called from any thread.

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "benchmarks/bench_config.h"
#include "benchmarks/prompt_text.h"
#include "ovserve/v1/ovserve.pb.h"

namespace ovserve::bench {

struct BenchRequest {
  v1::GenerateRequest request;
  std::string workload;     // "text", "image", "multi-image", "video" or "dataset"
  int64_t input_len = 0;    // tokens of the user text asked for (dataset: 0)
  int64_t output_len = 0;   // max_tokens
};

class RequestFactory {
 public:
  // `prompts` makes the texts; it may be null only for the dataset workload.
  // Reads and checks the dataset file (and its media) now.
  static absl::StatusOr<std::unique_ptr<RequestFactory>> Create(
      const WorkloadConfig& config, std::unique_ptr<PromptTextBuilder> prompts);

  absl::StatusOr<BenchRequest> Make(uint64_t stream, int64_t index) const;

  // Requests [0, count) of `stream`, built on `threads` threads.
  absl::StatusOr<std::vector<BenchRequest>> MakeMany(uint64_t stream, int64_t count,
                                                     int threads) const;

 private:
  struct DatasetEntry {
    std::string prompt;
    std::vector<v1::ImagePart> images;
    std::vector<v1::VideoPart> videos;
    int64_t output_len = 0;  // 0: draw from the range
  };

  RequestFactory(WorkloadConfig config, std::unique_ptr<PromptTextBuilder> prompts,
                 std::vector<DatasetEntry> dataset)
      : config_(std::move(config)), prompts_(std::move(prompts)), dataset_(std::move(dataset)) {}

  static absl::StatusOr<std::vector<DatasetEntry>> LoadDataset(const WorkloadConfig& config);
  // The workload of request `index` (mixed: drawn by weight).
  Workload Pick(Rng& rng) const;
  absl::Status AddImages(int count, uint64_t stream, int64_t index,
                         v1::ChatMessage& message) const;
  absl::Status AddVideo(uint64_t stream, int64_t index, v1::ChatMessage& message) const;

  WorkloadConfig config_;
  std::unique_ptr<PromptTextBuilder> prompts_;
  std::vector<DatasetEntry> dataset_;
};

}  // namespace ovserve::bench
