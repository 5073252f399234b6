#include "kernels/cpu/thread_pool.h"

#include <algorithm>
#include <chrono>

#if defined(__x86_64__)
#include <immintrin.h>
#define OVSERVE_CPU_RELAX() _mm_pause()
#else
#define OVSERVE_CPU_RELAX() std::this_thread::yield()
#endif

namespace ovserve::kernels::cpu {
namespace {
// How long an idle worker spins before sleeping on the condition variable.
constexpr auto kSpinBeforeSleep = std::chrono::microseconds(200);
}  // namespace

ThreadPool::ThreadPool(int num_threads) {
  const int workers = std::max(0, num_threads - 1);
  workers_.reserve(workers);
  for (int i = 0; i < workers; ++i) workers_.emplace_back([this] { WorkerLoop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_.store(true);
  }
  work_ready_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::RunChunks() {
  for (;;) {
    const int64_t begin = next_.fetch_add(chunk_, std::memory_order_relaxed);
    if (begin >= n_) return;
    (*fn_)(begin, std::min(n_, begin + chunk_));
  }
}

void ThreadPool::ParallelFor(int64_t n, int64_t min_grain,
                             const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  const int threads = num_threads();
  min_grain = std::max<int64_t>(1, min_grain);
  if (threads == 1 || n <= min_grain) {
    fn(0, n);
    return;
  }
  // A few chunks per thread balance uneven work without much contention.
  const int64_t chunk = std::max(min_grain, (n + threads * 4 - 1) / (threads * 4));
  fn_ = &fn;
  n_ = n;
  chunk_ = chunk;
  next_.store(0, std::memory_order_relaxed);
  pending_workers_.store(static_cast<int>(workers_.size()), std::memory_order_relaxed);
  {
    // Publishing under the mutex pairs with the sleepers' predicate check.
    std::lock_guard<std::mutex> lock(mutex_);
    generation_.fetch_add(1, std::memory_order_release);
  }
  work_ready_.notify_all();
  RunChunks();
  while (pending_workers_.load(std::memory_order_acquire) != 0) OVSERVE_CPU_RELAX();
  fn_ = nullptr;
}

bool ThreadPool::WaitForWork(uint64_t seen) {
  const auto spin_until = std::chrono::steady_clock::now() + kSpinBeforeSleep;
  for (int i = 0;; ++i) {
    if (generation_.load(std::memory_order_acquire) != seen) return true;
    if (stopping_.load(std::memory_order_relaxed)) return false;
    if ((i & 63) == 63 && std::chrono::steady_clock::now() > spin_until) break;
    OVSERVE_CPU_RELAX();
  }
  std::unique_lock<std::mutex> lock(mutex_);
  work_ready_.wait(lock, [&] {
    return stopping_.load() || generation_.load(std::memory_order_acquire) != seen;
  });
  return !stopping_.load();
}

void ThreadPool::WorkerLoop() {
  uint64_t seen = 0;
  while (WaitForWork(seen)) {
    seen = generation_.load(std::memory_order_acquire);
    RunChunks();
    pending_workers_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

}  // namespace ovserve::kernels::cpu
