#pragma once
// TaskPool: a few threads running posted tasks in FIFO order, for blocking
// work that must not run on the caller's thread (media decode, grammar
// compilation). Shutdown() runs what is still queued, then joins: a task is
// never dropped, so whatever it owes (a request's final output) is delivered.
// Tasks that should end early on shutdown check their own cancellation.
//
// Thread-safe. Posting after Shutdown() runs the task on the caller's thread.

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace ovserve::engine {

class TaskPool {
 public:
  explicit TaskPool(int threads);
  ~TaskPool();
  TaskPool(const TaskPool&) = delete;
  TaskPool& operator=(const TaskPool&) = delete;

  void Post(std::function<void()> task);
  // Runs every queued task, then joins the threads. Idempotent.
  void Shutdown();

  int threads() const { return static_cast<int>(threads_.size()); }
  // Tasks queued, not yet started.
  int64_t queued() const;

 private:
  void Loop();

  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace ovserve::engine
