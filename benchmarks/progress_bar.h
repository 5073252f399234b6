#pragma once
// A progress bar for one run on stderr, redrawn in place a few times a second
// from the run's counters (its own thread). When stderr is not a terminal it
// prints a plain line every 10 s instead. Created and destroyed by the thread
// that runs the benchmark; the counters may change from any thread.

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "benchmarks/load_generator.h"

namespace ovserve::bench {

class ProgressBar {
 public:
  // Does nothing when !enabled.
  ProgressBar(std::string label, const RunProgress& progress, bool enabled);
  // Draws the final state and ends the line.
  ~ProgressBar();
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

 private:
  void Loop();
  void Draw(bool final_draw);

  const std::string label_;
  const RunProgress& progress_;
  const bool enabled_;
  const bool tty_;
  const std::chrono::steady_clock::time_point start_;
  std::mutex mutex_;
  std::condition_variable stop_cv_;
  bool stop_ = false;  // guarded by mutex_
  std::thread thread_;
};

}  // namespace ovserve::bench
