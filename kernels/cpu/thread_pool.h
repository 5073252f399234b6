#pragma once
// ThreadPool: a fixed set of worker threads that run one parallel loop at a time.
//
// ParallelFor splits [0, n) into contiguous ranges, runs them on the workers
// and the calling thread, and returns when all are done. One caller at a time
// (the backend's owner thread); the pool is created once and reused so no op
// spawns threads. Between loops workers spin briefly before sleeping: a
// decode step issues hundreds of small ops, and a futex wake-up per op would
// cost more than the op.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace ovserve::kernels::cpu {

class ThreadPool {
 public:
  // `num_threads` counts the caller: 1 means no worker threads.
  explicit ThreadPool(int num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const { return static_cast<int>(workers_.size()) + 1; }

  // Calls fn(begin, end) over disjoint ranges covering [0, n), at least
  // `min_grain` items per range (except the last). Blocks until done.
  void ParallelFor(int64_t n, int64_t min_grain,
                   const std::function<void(int64_t begin, int64_t end)>& fn);

 private:
  void WorkerLoop();
  void RunChunks();
  bool WaitForWork(uint64_t seen);  // false when stopping

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable work_ready_;
  std::atomic<uint64_t> generation_{0};  // bumped per ParallelFor
  std::atomic<bool> stopping_{false};
  std::atomic<int> pending_workers_{0};  // workers still in the current loop

  // The current loop (written before generation_ is bumped, read by workers).
  const std::function<void(int64_t, int64_t)>* fn_ = nullptr;
  int64_t n_ = 0;
  int64_t chunk_ = 1;
  std::atomic<int64_t> next_{0};
};

}  // namespace ovserve::kernels::cpu
