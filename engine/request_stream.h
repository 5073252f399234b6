#pragma once
// RequestStream: the hand-off between the engine thread (producer) and one
// request's consumer (a gRPC handler thread, a test). The engine pushes
// deltas without ever blocking on the consumer; the consumer pulls them, and
// everything queued since its last pull comes back merged into one output,
// so a slow reader costs memory for text, never engine time.
//
// Cancellation is a flag the engine polls at the top of every step; setting
// it wakes the engine through the shared EngineWakeup, and stops the
// request's media preprocessing through its stop token.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>

#include "engine/engine.h"

namespace ovserve::engine {

// Wakes the engine thread; shared so a handle outliving the engine stays safe.
struct EngineWakeup {
  std::mutex mutex;
  std::condition_variable cv;
  bool pending = false;

  void Notify() {
    {
      std::lock_guard<std::mutex> lock(mutex);
      pending = true;
    }
    cv.notify_one();
  }
};

class RequestStream {
 public:
  RequestStream(std::string id, std::shared_ptr<EngineWakeup> wakeup,
                std::shared_ptr<OutputWaker> waker = nullptr, uint64_t waker_token = 0)
      : id_(std::move(id)),
        wakeup_(std::move(wakeup)),
        waker_(std::move(waker)),
        waker_token_(waker_token) {}

  const std::string& id() const { return id_; }

  // Producer: queues one delta. Pushing after the final output is a bug.
  void Push(RequestOutput output);

  // Consumer: waits (until `deadline`, if given) for queued outputs and
  // returns them merged. False when the final output was already returned,
  // or on timeout (then *timed_out is true).
  bool Next(RequestOutput* out,
            std::optional<std::chrono::steady_clock::time_point> deadline, bool* timed_out);

  void RequestCancel() {
    cancel_requested_.store(true, std::memory_order_release);
    stop_.request_stop();
    wakeup_->Notify();
  }
  bool cancel_requested() const { return cancel_requested_.load(std::memory_order_acquire); }
  // Stopped by RequestCancel: media decoders and resize stages watch it.
  std::stop_token stop_token() const { return stop_.get_token(); }

  // Producer: the request's preparation (media, grammar) is over and it is
  // queued for the model, or it ended. Wakes the consumer as an output does.
  void MarkAdmitted();
  bool admitted() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return admitted_ || final_pushed_;
  }
  bool final_returned() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return final_returned_;
  }

 private:
  const std::string id_;
  std::shared_ptr<EngineWakeup> wakeup_;
  const std::shared_ptr<OutputWaker> waker_;
  const uint64_t waker_token_;
  std::atomic<bool> cancel_requested_{false};
  std::stop_source stop_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<RequestOutput> queue_;
  bool final_pushed_ = false;
  bool admitted_ = false;
  bool final_returned_ = false;
};

}  // namespace ovserve::engine
