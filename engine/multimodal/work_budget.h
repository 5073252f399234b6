#pragma once
// WorkBudget: how long one media item's work may take (decode, pad, resize)
// and whether its request was cancelled meanwhile. Made once per item, when
// its work starts, and checked between stages and inside decoders (FFmpeg's
// interrupt callback, libjpeg's progress monitor), so neither a slow item
// nor a cancelled request keeps a preprocessing thread.
//
// steady_clock: immune to wall-clock changes. Thread-safe to read.

#include <algorithm>
#include <chrono>
#include <stop_token>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"

namespace ovserve::engine {

class WorkBudget {
 public:
  using Clock = std::chrono::steady_clock;

  // `seconds`: max_decode_seconds; `stop`: the request's cancellation.
  explicit WorkBudget(double seconds, std::stop_token stop = {})
      : seconds_(seconds), stop_(std::move(stop)) {
    // Clamped so that absurd limits cannot overflow the clock arithmetic.
    const std::chrono::duration<double> budget(std::clamp(seconds, 0.0, 1e7));
    end_ = Clock::now() + std::chrono::duration_cast<Clock::duration>(budget);
  }

  bool cancelled() const { return stop_.stop_requested(); }
  // True once the time is spent or the request was cancelled: the work stops.
  bool Exhausted() const { return cancelled() || Clock::now() >= end_; }

  // OK, CANCELLED, or DEADLINE_EXCEEDED naming `stage` ("decoding the image").
  absl::Status Check(std::string_view stage) const {
    if (cancelled()) return absl::CancelledError(absl::StrFormat("the request was cancelled while %s", stage));
    if (Clock::now() < end_) return absl::OkStatus();
    return absl::DeadlineExceededError(absl::StrFormat(
        "%s took longer than the limit of %g s (max_decode_seconds)", stage, seconds_));
  }

  Clock::time_point end() const { return end_; }
  double seconds() const { return seconds_; }

 private:
  double seconds_;
  std::stop_token stop_;
  Clock::time_point end_;
};

}  // namespace ovserve::engine
