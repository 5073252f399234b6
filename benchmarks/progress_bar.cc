#include "benchmarks/progress_bar.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

namespace ovserve::bench {

ProgressBar::ProgressBar(std::string label, const RunProgress& progress, bool enabled)
    : label_(std::move(label)),
      progress_(progress),
      enabled_(enabled),
      tty_(isatty(STDERR_FILENO) != 0),
      start_(std::chrono::steady_clock::now()) {
  if (enabled_) thread_ = std::thread([this] { Loop(); });
}

ProgressBar::~ProgressBar() {
  if (!enabled_) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  stop_cv_.notify_all();
  thread_.join();
  Draw(true);
}

void ProgressBar::Loop() {
  const auto period = tty_ ? std::chrono::milliseconds(200) : std::chrono::milliseconds(10000);
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stop_cv_.wait_for(lock, period, [this] { return stop_; })) Draw(false);
}

void ProgressBar::Draw(bool final_draw) {
  const int64_t total = progress_.total.load();
  const int64_t sent = progress_.sent.load();
  const int64_t done = progress_.done.load();
  const int64_t failed = progress_.failed.load();
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  constexpr int kWidth = 30;
  const int filled =
      total > 0 ? static_cast<int>(std::min<int64_t>(kWidth, done * kWidth / total)) : 0;
  std::string bar(static_cast<size_t>(filled), '#');
  bar.resize(kWidth, '.');
  std::fprintf(stderr, "%s%s [%s] %lld/%lld done, %lld in flight, %lld failed, %.1f s%s",
               tty_ ? "\r" : "", label_.c_str(), bar.c_str(), static_cast<long long>(done),
               static_cast<long long>(total), static_cast<long long>(sent - done),
               static_cast<long long>(failed), elapsed, tty_ && !final_draw ? "" : "\n");
  std::fflush(stderr);
}

}  // namespace ovserve::bench
