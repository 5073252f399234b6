#pragma once
// VisionEncoder: the vision-encode workers. Each worker has its own execution
// context — its own CPU backend (thread pool) and its own view of the
// checkpoint's vision weights (the mmap is shared) — so encoding images and
// videos runs concurrently with the decode worker's steps and never stalls
// them.
//
// Jobs (one request's visual items) are taken in arrival order: a job starts
// only once the TokenQueue holds its exact visual-token count (strict FIFO, so
// a large request is not starved by small ones behind it); the items of
// started jobs are then encoded one at a time, round-robin across jobs, so a
// long video does not hold single images behind it for its whole encode.
// Items found in the EncoderCache are not encoded again. A job's completion
// (rows, error or cancellation) is handed to `on_done` on the worker thread;
// the callback must only queue it (the engine's does).
//
// Thread-safety: Submit, Poke, ReleaseTokens and stats from any thread.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/multimodal/media_preprocessor.h"
#include "engine/worker/encoder_cache.h"
#include "engine/worker/token_queue.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/quantized_layout.h"
#include "kernels/tensor.h"

namespace ovserve::engine {

struct VisionEncoderOptions {
  std::filesystem::path model_dir;
  kernels::Device device = kernels::Device::kCpu;  // kCuda: every worker on GPU 0, its own stream
  int workers = 1;             // encode workers
  int threads_per_worker = 0;  // CPU threads of each worker's backend; 0 = every core
  kernels::CpuPrecision precision = kernels::CpuPrecision::kFp32;  // of each worker's CPU backend
  kernels::WeightQuantization quantization = {};  // of the tower's and projector's Linear weights
  int64_t token_queue_tokens = 0;   // visual tokens in flight between encode and decode
  int64_t encoder_cache_bytes = 0;  // 0 disables the cache
};

struct EncodeJob {
  int64_t seq_id = 0;
  std::vector<PreparedMedia> media;  // prompt order; pixels are consumed
  int64_t visual_tokens = 0;         // sum over media
  std::function<bool()> cancelled;   // polled between items
  std::function<void()> on_started;  // the job got its queue reservation
};

struct EncodeResult {
  int64_t seq_id = 0;
  absl::Status status;     // an encode error fails this request only
  bool cancelled = false;
  std::vector<VisualRows> rows;  // per item, prompt order (on success)
  int64_t reserved_tokens = 0;   // held in the TokenQueue until ReleaseTokens
  double queue_seconds = 0;      // waiting for queue room
  double encode_seconds = 0;     // from the first item's start to the last's end
};

struct VisionEncoderStats {
  int64_t queue_tokens_used = 0;
  int64_t queue_tokens_capacity = 0;
  int64_t queue_bytes_capacity = 0;
  int64_t waiting_jobs = 0;          // for queue room
  int64_t waiting_image_jobs = 0;    // of those, with images only
  int64_t waiting_video_jobs = 0;    // of those, with a video
  int64_t running_jobs = 0;
  int64_t items_encoded = 0;         // cache misses encoded
  double encode_seconds_total = 0;   // summed over workers
  double busy_fraction = 0;          // encode time / (workers x uptime)
  EncoderCacheStats cache;
};

class VisionEncoder {
 public:
  static absl::StatusOr<std::unique_ptr<VisionEncoder>> Create(
      const VisionEncoderOptions& options, int64_t bytes_per_token,
      std::function<void(EncodeResult)> on_done);
  ~VisionEncoder();  // stops the workers; unfinished jobs are dropped

  void Submit(EncodeJob job);
  // Wakes the workers to notice cancelled jobs that wait for queue room.
  void Poke();
  void ReleaseTokens(int64_t tokens);
  VisionEncoderStats stats() const;

 private:
  struct Worker;
  struct Active;

  VisionEncoder(const VisionEncoderOptions& options, int64_t bytes_per_token,
                std::function<void(EncodeResult)> on_done);
  void Run(Worker& worker);
  // Under mutex_: starts waiting jobs that fit, drops cancelled ones.
  void AdmitLocked(std::vector<EncodeResult>* done);

  const VisionEncoderOptions options_;
  const std::function<void(EncodeResult)> on_done_;
  const std::chrono::steady_clock::time_point started_;
  TokenQueue queue_;
  EncoderCache cache_;
  std::vector<std::unique_ptr<Worker>> workers_;

  mutable std::mutex mutex_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::deque<std::pair<EncodeJob, std::chrono::steady_clock::time_point>> waiting_;
  std::deque<std::shared_ptr<Active>> active_;  // round-robin: front is next
  int64_t items_encoded_ = 0;
  double encode_seconds_total_ = 0;
};

}  // namespace ovserve::engine
