#pragma once
// OvserveService: the ovserve.v1.Ovserve gRPC service on the callback
// (reactor) API, in front of one engine::Engine.
//
// Generate: the request is converted and submitted on the gRPC thread (the
// engine prepares media and grammars on its own pool; errors found there end
// the call with their status, as the final output). Outputs are then
// written by whoever notices them first — one output-pump thread, woken by
// the engine through an OutputWaker for every stream, or the call's own
// OnWriteDone. A call has at most one write in flight (gRPC flow control);
// outputs queued meanwhile are merged into the next write, so a slow client
// costs memory for its text, never engine time. Client cancellation and
// deadlines reach Engine cancellation from OnCancel.
//
// Thread-safety: gRPC calls the methods from its threads; Drain/AbortAll
// from the server's shutdown path.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "engine/engine.h"
#include "ovserve/v1/ovserve.grpc.pb.h"
#include "server/api_keys.h"
#include "server/input_limits.h"
#include "server/live_calls.h"
#include "server/metrics.h"
#include "server/request_conversion.h"

namespace ovserve::server {

struct ServiceOptions {
  RequestDefaults defaults;
  std::shared_ptr<const ApiKeyStore> api_keys;  // null: no authentication
  InputLimits input_limits;
  // false: each tenant's requests share prefix-cache blocks and encoded images only among
  // themselves (cache salt = tenant).
  bool share_cache_across_tenants = false;
  std::string model_name;   // reported by GetModelInfo
  std::string backend = "cpu";  // where the engine runs: "cpu" or "cuda"
  int tensor_parallel_size = 1;
};

class GenerateCall;

class OvserveService final : public v1::Ovserve::CallbackService {
 public:
  // The engine comes later (SetEngine): until then every call but health
  // gets UNAVAILABLE, so the server can answer while the model loads.
  OvserveService(Metrics& metrics, ServiceOptions options);
  ~OvserveService() override;

  grpc::ServerWriteReactor<v1::GenerateResponse>* Generate(
      grpc::CallbackServerContext* context, const v1::GenerateRequest* request) override;
  grpc::ServerUnaryReactor* GetModelInfo(grpc::CallbackServerContext* context,
                                         const v1::GetModelInfoRequest* request,
                                         v1::ModelInfo* response) override;
  grpc::ServerUnaryReactor* Tokenize(grpc::CallbackServerContext* context,
                                     const v1::TokenizeRequest* request,
                                     v1::TokenizeResponse* response) override;
  grpc::ServerUnaryReactor* Detokenize(grpc::CallbackServerContext* context,
                                       const v1::DetokenizeRequest* request,
                                       v1::DetokenizeResponse* response) override;
  grpc::ServerUnaryReactor* Abort(grpc::CallbackServerContext* context,
                                  const v1::AbortRequest* request,
                                  v1::AbortResponse* response) override;

  // `engine` outlives every call (the server drains before destroying it).
  void SetEngine(engine::Engine* engine) { engine_.store(engine); }

  // New Generate calls get UNAVAILABLE from now on.
  void StartDraining() { draining_.store(true); }
  // Waits until no Generate call is live or `deadline`; true when idle.
  bool WaitForIdle(std::chrono::steady_clock::time_point deadline);
  // Cancels every live call's request and ends the call with UNAVAILABLE.
  void AbortAll(const std::string& reason);
  int64_t live_calls() const;

 private:
  friend class GenerateCall;

  // UNAUTHENTICATED unless the call carries "authorization: Bearer <key>";
  // UNAVAILABLE while the model loads. On OK, *engine is set, and *tenant (when given)
  // to the key's name ("" without keys).
  grpc::Status CheckReady(const grpc::CallbackServerContext& context, engine::Engine** engine,
                          std::string* tenant = nullptr) const;
  grpc::Status CheckAuth(const grpc::CallbackServerContext& context, std::string* tenant) const;

  std::atomic<engine::Engine*> engine_{nullptr};
  Metrics& metrics_;
  const ServiceOptions options_;
  std::atomic<bool> draining_{false};

  // Last: its pump thread stops before the rest goes.
  LiveCalls<GenerateCall> calls_;
};

}  // namespace ovserve::server
