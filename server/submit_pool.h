#pragma once
// SubmitPool: a few threads on which the front ends run Engine::Submit for
// requests with media (decode and resize can take seconds), so neither gRPC's
// nor the HTTP server's threads ever block on it. Tasks run in FIFO order;
// the destructor runs what is queued, then joins.

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace ovserve::server {

class SubmitPool {
 public:
  explicit SubmitPool(int threads);
  ~SubmitPool();
  SubmitPool(const SubmitPool&) = delete;
  SubmitPool& operator=(const SubmitPool&) = delete;

  void Post(std::function<void()> task);

 private:
  void Loop();

  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace ovserve::server
