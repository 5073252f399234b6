#include "engine/worker/vision_encoder.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/model/llava_model.h"
#include "engine/util/seconds_between.h"
#include "engine/util/status_macros.h"
#include "kernels/backend_factory.h"

namespace ovserve::engine {

using Clock = std::chrono::steady_clock;

// One worker: its own backend and model view (only the vision part is used).
struct VisionEncoder::Worker {
  std::unique_ptr<kernels::Backend> backend;
  std::unique_ptr<LlavaOnevisionModel> model;
  std::thread thread;
};

// A job holding its queue reservation, its items being encoded.
struct VisionEncoder::Active {
  EncodeJob job;
  Clock::time_point arrived, started;
  std::optional<Clock::time_point> first_item;
  size_t next_item = 0;   // next to hand to a worker
  size_t items_done = 0;  // finished (encoded, failed or skipped)
  std::vector<VisualRows> rows;
  absl::Status status;
  bool cancelled = false;
  bool stopped() const { return cancelled || !status.ok(); }
};

absl::StatusOr<std::unique_ptr<VisionEncoder>> VisionEncoder::Create(
    const VisionEncoderOptions& options, int64_t bytes_per_token,
    std::function<void(EncodeResult)> on_done) {
  if (options.workers < 1) {
    return absl::InvalidArgumentError(absl::StrCat("vision_workers ", options.workers, " must be >= 1"));
  }
  std::unique_ptr<VisionEncoder> encoder(
      new VisionEncoder(options, bytes_per_token, std::move(on_done)));
  for (int i = 0; i < options.workers; ++i) {
    auto worker = std::make_unique<Worker>();
    ASSIGN_OR_RETURN(worker->backend,
                     kernels::CreateBackend(kernels::BackendOptions{
                         .device = options.device,
                         .cpu = {.num_threads = options.threads_per_worker, .precision = options.precision},
                         .cuda_device = 0}));
    ASSIGN_OR_RETURN(worker->model,
                     LlavaOnevisionModel::Load(options.model_dir, *worker->backend, ModelParts::kVision,
                                               ModelQuantization{.vision = options.quantization}));
    worker->model->PrepareVisionWeights();  // the first image does not wait for it
    encoder->workers_.push_back(std::move(worker));
  }
  for (auto& worker : encoder->workers_) {
    Worker* w = worker.get();
    w->thread = std::thread([raw = encoder.get(), w] { raw->Run(*w); });
  }
  return encoder;
}

VisionEncoder::VisionEncoder(const VisionEncoderOptions& options, int64_t bytes_per_token,
                             std::function<void(EncodeResult)> on_done)
    : options_(options),
      on_done_(std::move(on_done)),
      started_(Clock::now()),
      queue_(options.token_queue_tokens, bytes_per_token),
      cache_(options.encoder_cache_bytes) {}

VisionEncoder::~VisionEncoder() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& worker : workers_) {
    if (worker->thread.joinable()) worker->thread.join();
  }
}

void VisionEncoder::Submit(EncodeJob job) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    waiting_.emplace_back(std::move(job), Clock::now());
  }
  cv_.notify_all();
}

void VisionEncoder::Poke() { cv_.notify_all(); }

void VisionEncoder::ReleaseTokens(int64_t tokens) {
  queue_.Release(tokens);
  cv_.notify_all();  // room for a waiting job
}

void VisionEncoder::AdmitLocked(std::vector<EncodeResult>* done) {
  // Cancelled jobs leave the waiting list wherever they are.
  for (auto it = waiting_.begin(); it != waiting_.end();) {
    if (it->first.cancelled && it->first.cancelled()) {
      EncodeResult result;
      result.seq_id = it->first.seq_id;
      result.cancelled = true;
      if (it->first.on_started) it->first.on_started();  // no longer waiting
      done->push_back(std::move(result));
      it = waiting_.erase(it);
    } else {
      ++it;
    }
  }
  // Strict arrival order: the head waits for room; nothing overtakes it.
  while (!waiting_.empty() && queue_.TryReserve(waiting_.front().first.visual_tokens)) {
    auto active = std::make_shared<Active>();
    active->job = std::move(waiting_.front().first);
    active->arrived = waiting_.front().second;
    active->started = Clock::now();
    active->rows.resize(active->job.media.size());
    waiting_.pop_front();
    if (active->job.on_started) active->job.on_started();
    active_.push_back(std::move(active));
  }
}

void VisionEncoder::Run(Worker& worker) {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    std::vector<EncodeResult> done;
    AdmitLocked(&done);
    // The next item, round-robin over jobs.
    std::shared_ptr<Active> job;
    size_t item = 0;
    for (size_t n = active_.size(); n > 0; --n) {
      std::shared_ptr<Active> candidate = active_.front();
      active_.pop_front();
      active_.push_back(candidate);
      if (!candidate->stopped() && candidate->next_item < candidate->job.media.size()) {
        job = std::move(candidate);
        item = job->next_item++;
        break;
      }
    }
    if (job == nullptr && done.empty()) {
      if (stopping_) return;
      cv_.wait(lock);
      continue;
    }
    if (stopping_) return;
    lock.unlock();
    for (EncodeResult& result : done) on_done_(std::move(result));

    if (job != nullptr) {
      const Clock::time_point start = Clock::now();
      VisualRows rows;
      absl::Status status;
      bool cancelled = job->job.cancelled && job->job.cancelled();
      bool encoded = false;
      if (!cancelled) {
        PreparedMedia& m = job->job.media[item];
        if (options_.encoder_cache_bytes > 0) rows = cache_.Lookup(m.hash);
        if (rows == nullptr) {
          const VisualInput input{m.kind, m.pixels.View(), m.original_size};
          absl::StatusOr<std::vector<float>> out = worker.model->EncodeVisual(input);
          encoded = true;
          if (!out.ok()) {
            status = absl::Status(out.status().code(),
                                  absl::StrCat("encoding visual item ", item, ": ", out.status().message()));
          } else if (options_.encoder_cache_bytes > 0) {
            rows = cache_.Insert(m.hash, std::move(*out));
          } else {
            rows = std::make_shared<const std::vector<float>>(std::move(*out));
          }
        }
        m.pixels = PixelTensor{};  // the rows are what the prefill needs now
      }
      const Clock::time_point end = Clock::now();

      lock.lock();
      if (encoded) {
        ++items_encoded_;
        encode_seconds_total_ += SecondsBetween(start, end);
      }
      if (!job->first_item.has_value()) job->first_item = start;
      job->rows[item] = std::move(rows);
      if (cancelled) job->cancelled = true;
      if (!status.ok() && job->status.ok()) job->status = status;
      ++job->items_done;
      const bool all_handed_out = job->stopped() || job->next_item == job->job.media.size();
      if (all_handed_out && job->items_done == job->next_item) {
        active_.erase(std::find(active_.begin(), active_.end(), job));
        EncodeResult result;
        result.seq_id = job->job.seq_id;
        result.queue_seconds = SecondsBetween(job->arrived, job->started);
        result.encode_seconds = SecondsBetween(*job->first_item, end);
        if (job->stopped()) {
          queue_.Release(job->job.visual_tokens);
          result.cancelled = job->cancelled;
          result.status = job->status;
        } else {
          result.rows = std::move(job->rows);
          result.reserved_tokens = job->job.visual_tokens;
        }
        lock.unlock();
        on_done_(std::move(result));
        cv_.notify_all();  // released room, if any
        lock.lock();
      }
    } else {
      lock.lock();
    }
  }
}

VisionEncoderStats VisionEncoder::stats() const {
  VisionEncoderStats s;
  s.queue_tokens_used = queue_.used();
  s.queue_tokens_capacity = queue_.capacity();
  s.queue_bytes_capacity = queue_.capacity_bytes();
  s.cache = cache_.stats();
  std::lock_guard<std::mutex> lock(mutex_);
  s.waiting_jobs = static_cast<int64_t>(waiting_.size());
  for (const auto& [job, arrived] : waiting_) {
    const bool video = std::any_of(job.media.begin(), job.media.end(), [](const PreparedMedia& m) {
      return m.kind == VisualKind::kVideo;
    });
    ++(video ? s.waiting_video_jobs : s.waiting_image_jobs);
  }
  s.running_jobs = static_cast<int64_t>(active_.size());
  s.items_encoded = items_encoded_;
  s.encode_seconds_total = encode_seconds_total_;
  const double uptime = SecondsBetween(started_, Clock::now());
  s.busy_fraction = uptime > 0 ? encode_seconds_total_ / (uptime * static_cast<double>(workers_.size())) : 0;
  return s;
}

}  // namespace ovserve::engine
