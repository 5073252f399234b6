#pragma once
// LoadGenerator: sends a run's requests to a server and records what the
// client sees: the send time, every token-bearing response's arrival, the
// end, the final usage and the status. Two transports share the pacing:
// streaming Generate calls on gRPC's callback API (one ClientReadReactor per
// request, any number in flight from one thread), and streaming OpenAI chat
// completions over HTTP (openai_load_generator.h).
//
// Arrivals: request i is due at offsets[i] seconds after the run starts; with a
// max concurrency it then also waits for a free slot (rate = inf + a limit is a
// closed loop). With a duration, no request is sent after it has passed
// (those in flight finish and count). Run() blocks until every sent request
// has ended; the reactors' callbacks run on gRPC's threads.
//
// One Run at a time per LoadGenerator; it owns its channels.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "benchmarks/bench_metrics.h"
#include "benchmarks/request_factory.h"
#include "client/channel_config.h"

namespace ovserve::bench {

struct ConnectionOptions {
  std::string target;
  bool tls = false;
  std::string tls_root_ca_pem;  // empty: the system's roots
  std::string api_key;          // "authorization: Bearer <key>" when not empty
  int num_connections = 1;      // separate HTTP/2 connections, used round-robin
  // Load balancing over the target's addresses and retries (client/channel_config.h); the
  // bench defaults to no retries so every UNAVAILABLE is counted.
  ChannelPolicy channel{.max_attempts = 1};
};

struct RunOptions {
  std::vector<double> offsets;  // due time of each request, seconds (as many as requests)
  int64_t max_concurrency = 0;  // 0 = unlimited
  double duration_s = 0;        // > 0: send nothing after this long
  double request_timeout_s = 0; // > 0: per-request deadline
};

// Counters a progress display may read while a run goes on (any thread).
struct RunProgress {
  std::atomic<int64_t> total{0};
  std::atomic<int64_t> sent{0};
  std::atomic<int64_t> done{0};
  std::atomic<int64_t> failed{0};
};

struct RunOutcome {
  std::vector<RequestTimeline> timelines;  // the sent requests, in sending order
  int64_t not_sent = 0;                    // cut by the duration bound
  double duration_s = 0;                   // run start -> last request's end
};

// What the calls of one run share with the sending thread.
struct RunState {
  std::mutex mutex;
  std::condition_variable changed;
  int64_t in_flight = 0;     // guarded by mutex
  double last_end_s = 0;     // guarded by mutex
};

// One request in flight. A transport fills timeline() as responses arrive
// and calls Ended() once, from any thread, when the request is over.
class PendingCall {
 public:
  using Clock = std::chrono::steady_clock;
  PendingCall(int64_t index, const BenchRequest& request, Clock::time_point t0, RunState& state,
              RunProgress* progress);
  virtual ~PendingCall() = default;
  RequestTimeline& timeline() { return timeline_; }

 protected:
  double Now() const;  // seconds since the run started
  // Counts the call as done; last thing a transport does with it (the
  // sending thread may destroy it right after).
  void Ended();

  const BenchRequest& request_;
  RequestTimeline timeline_;

 private:
  const Clock::time_point t0_;
  RunState& state_;
  RunProgress* const progress_;
};

class LoadGenerator {
 public:
  // The gRPC transport.
  static absl::StatusOr<std::unique_ptr<LoadGenerator>> Create(const ConnectionOptions& options);
  virtual ~LoadGenerator();

  // Sends `requests` (kept alive by the caller until Run returns).
  RunOutcome Run(const std::vector<BenchRequest>& requests, const RunOptions& options,
                 RunProgress* progress);

 protected:
  LoadGenerator() = default;
  // Starts request `index` (its due time has come and a slot is held).
  virtual std::unique_ptr<PendingCall> Start(int64_t index, const BenchRequest& request,
                                             PendingCall::Clock::time_point t0, RunState& state,
                                             RunProgress* progress, double timeout_s) = 0;
};

}  // namespace ovserve::bench
