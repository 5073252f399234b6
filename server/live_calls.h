#pragma once
// LiveCalls<Call>: the requests a front end is answering, keyed by the token
// their engine requests carry to the shared OutputWaker, and the one pump
// thread that calls Call::Pump() for every token the engine wakes (outputs
// are pulled by that thread, never pushed from the engine thread). Drain
// support: WaitForIdle, and AbortAll calls Call::Abort(reason) on each.
// The gRPC and HTTP services each hold one.
//
// Thread-safety: every method from any thread. Call::Pump and Call::Abort
// run without the registry's lock held.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "engine/engine.h"

namespace ovserve::server {

template <class Call>
class LiveCalls {
 public:
  LiveCalls() : waker_(std::make_shared<engine::OutputWaker>()) {
    pump_ = std::thread([this] { PumpLoop(); });
  }
  ~LiveCalls() {
    waker_->Shutdown();
    pump_.join();
  }
  LiveCalls(const LiveCalls&) = delete;
  LiveCalls& operator=(const LiveCalls&) = delete;

  // Engine requests of a call set `waker()` and its token.
  const std::shared_ptr<engine::OutputWaker>& waker() const { return waker_; }

  // Registers the call `make(token)` builds under a new token.
  template <class Make>
  std::shared_ptr<Call> Add(Make make) {
    std::lock_guard<std::mutex> lock(mutex_);
    const uint64_t token = next_token_++;
    std::shared_ptr<Call> call = make(token);
    calls_.emplace(token, call);
    return call;
  }

  // The call (possibly its last reference), or null if already removed.
  std::shared_ptr<Call> Remove(uint64_t token) {
    std::shared_ptr<Call> call;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto node = calls_.extract(token);
      if (!node.empty()) call = std::move(node.mapped());
    }
    idle_cv_.notify_all();
    return call;
  }

  int64_t size() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return static_cast<int64_t>(calls_.size());
  }

  // Until no call is live or `deadline`; true when idle.
  bool WaitForIdle(std::chrono::steady_clock::time_point deadline) {
    std::unique_lock<std::mutex> lock(mutex_);
    return idle_cv_.wait_until(lock, deadline, [this] { return calls_.empty(); });
  }

  void AbortAll(const std::string& reason) {
    for (const std::shared_ptr<Call>& call : Snapshot()) call->Abort(reason);
  }

 private:
  std::shared_ptr<Call> Find(uint64_t token) const {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto it = calls_.find(token);
    return it == calls_.end() ? nullptr : it->second;
  }

  std::vector<std::shared_ptr<Call>> Snapshot() const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<std::shared_ptr<Call>> calls;
    for (const auto& [token, call] : calls_) calls.push_back(call);
    return calls;
  }

  void PumpLoop() {
    while (!waker_->shut_down()) {
      const std::vector<uint64_t> tokens =
          waker_->Wait(std::chrono::steady_clock::now() + std::chrono::seconds(1));
      for (uint64_t token : tokens) {
        if (std::shared_ptr<Call> call = Find(token)) call->Pump();
      }
    }
  }

  const std::shared_ptr<engine::OutputWaker> waker_;
  mutable std::mutex mutex_;
  std::condition_variable idle_cv_;
  absl::flat_hash_map<uint64_t, std::shared_ptr<Call>> calls_;
  uint64_t next_token_ = 1;
  std::thread pump_;
};

}  // namespace ovserve::server
