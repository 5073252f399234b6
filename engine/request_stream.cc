#include "engine/request_stream.h"

#include <cstdio>
#include <cstdlib>
#include <utility>

namespace ovserve::engine {

void RequestStream::Push(RequestOutput output) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (final_pushed_) {
      std::fprintf(stderr, "RequestStream %s: output pushed after the final one\n", id_.c_str());
      std::abort();
    }
    final_pushed_ = output.finished;
    queue_.push_back(std::move(output));
  }
  cv_.notify_all();
  if (waker_ != nullptr) waker_->Wake(waker_token_);
}

void RequestStream::MarkAdmitted() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    admitted_ = true;
  }
  if (waker_ != nullptr) waker_->Wake(waker_token_);
}

void OutputWaker::Wake(uint64_t token) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    woken_.push_back(token);
  }
  cv_.notify_one();
}

std::vector<uint64_t> OutputWaker::Wait(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(mutex_);
  cv_.wait_until(lock, deadline, [this] { return !woken_.empty() || shutdown_; });
  return std::exchange(woken_, {});
}

void OutputWaker::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    shutdown_ = true;
  }
  cv_.notify_all();
}

bool OutputWaker::shut_down() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return shutdown_;
}

bool RequestStream::Next(RequestOutput* out,
                         std::optional<std::chrono::steady_clock::time_point> deadline,
                         bool* timed_out) {
  if (timed_out != nullptr) *timed_out = false;
  std::unique_lock<std::mutex> lock(mutex_);
  if (final_returned_) return false;
  const auto ready = [this] { return !queue_.empty(); };
  if (deadline.has_value()) {
    if (!cv_.wait_until(lock, *deadline, ready)) {
      if (timed_out != nullptr) *timed_out = true;
      return false;
    }
  } else {
    cv_.wait(lock, ready);
  }
  *out = std::move(queue_.front());
  queue_.pop_front();
  // Merge what else is queued: ids, text and logprobs concatenate; the final
  // fields come from the last output.
  while (!queue_.empty()) {
    RequestOutput& next = queue_.front();
    out->token_ids.insert(out->token_ids.end(), next.token_ids.begin(), next.token_ids.end());
    out->text += next.text;
    for (auto& lp : next.logprobs) out->logprobs.push_back(std::move(lp));
    out->finished = next.finished;
    out->finish_reason = next.finish_reason;
    out->stop_string = std::move(next.stop_string);
    out->stop_token = next.stop_token;
    out->error = std::move(next.error);
    out->usage = next.usage;
    out->timings = next.timings;
    queue_.pop_front();
  }
  final_returned_ = out->finished;
  return true;
}

}  // namespace ovserve::engine
