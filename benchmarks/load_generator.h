#pragma once
// LoadGenerator: sends a run's requests to an ovserve server as streaming
// Generate calls on gRPC's callback API (one ClientReadReactor per request,
// any number in flight from one thread) and records what the client sees:
// the send time, every token-bearing response's arrival, the end, the final
// usage and the status.
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
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "benchmarks/bench_metrics.h"
#include "benchmarks/request_factory.h"
#include "grpcpp/grpcpp.h"
#include "ovserve/v1/ovserve.grpc.pb.h"

namespace ovserve::bench {

struct ConnectionOptions {
  std::string target;
  bool tls = false;
  std::string tls_root_ca_pem;  // empty: the system's roots
  std::string api_key;          // "authorization: Bearer <key>" when not empty
  int num_connections = 1;      // separate HTTP/2 connections, used round-robin
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

class LoadGenerator {
 public:
  static absl::StatusOr<std::unique_ptr<LoadGenerator>> Create(const ConnectionOptions& options);
  ~LoadGenerator();

  // Sends `requests` (kept alive by the caller until Run returns).
  RunOutcome Run(const std::vector<BenchRequest>& requests, const RunOptions& options,
                 RunProgress* progress);

 private:
  class Call;
  explicit LoadGenerator(ConnectionOptions options);

  ConnectionOptions options_;
  std::vector<std::shared_ptr<grpc::Channel>> channels_;
  std::vector<std::unique_ptr<v1::Ovserve::Stub>> stubs_;
};

}  // namespace ovserve::bench
