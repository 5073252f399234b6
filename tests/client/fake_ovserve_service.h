#pragma once
// An in-process fake of the Ovserve gRPC service, for client tests: deterministic
// answers, no model. It binds 127.0.0.1 on a free port.
//
// Generate echoes the last user message's text back word by word: response i carries
// " word_i" (no leading space for the first) and token id 1000 + i, then one final
// response (finished, FINISH_REASON_STOP, usage: prompt_tokens = words + 10 per image
// + 20 per video). max_tokens cuts it short with FINISH_REASON_LENGTH; logprobs > 0 adds
// logprob -(i+1)/10 per token; stream = false sends one response with everything.
// Prompts with special behavior:
//   "forever ..."   streams " tick" every 5 ms until the client cancels;
//   "fail ..."      one response, then RESOURCE_EXHAUSTED "fake: out of KV blocks";
//   "unfinished ..." the words, then OK without a final response;
//   "unavailable ..." UNAVAILABLE before any response, the first time this service sees
//                    such a prompt (a draining replica); later ones are answered;
//   "drop ..."       one response, then UNAVAILABLE "fake: replica went away".
// A request with no text, image or video is INVALID_ARGUMENT "fake: empty request: ...".
// Tokenize: one id per byte. Detokenize: bytes back; ids >= 256 are "<|id|>", dropped
// with skip_special_tokens. Abort: ids starting with "live-" are aborted, others not found.
// With `api_key` set, every RPC without "authorization: Bearer <api_key>" is
// UNAUTHENTICATED.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "ovserve/v1/ovserve.grpc.pb.h"

namespace ovserve::testing {

class FakeOvserveService final : public v1::Ovserve::Service {
 public:
  explicit FakeOvserveService(std::string api_key = "") : api_key_(std::move(api_key)) {}

  grpc::Status Generate(grpc::ServerContext* context, const v1::GenerateRequest* request,
                        grpc::ServerWriter<v1::GenerateResponse>* writer) override;
  grpc::Status GetModelInfo(grpc::ServerContext* context, const v1::GetModelInfoRequest* request,
                            v1::ModelInfo* response) override;
  grpc::Status Tokenize(grpc::ServerContext* context, const v1::TokenizeRequest* request,
                        v1::TokenizeResponse* response) override;
  grpc::Status Detokenize(grpc::ServerContext* context, const v1::DetokenizeRequest* request,
                          v1::DetokenizeResponse* response) override;
  grpc::Status Abort(grpc::ServerContext* context, const v1::AbortRequest* request,
                     v1::AbortResponse* response) override;

  // Generate calls received (every attempt of a retried call counts).
  int generate_calls() const;
  // The last GenerateRequest received.
  std::optional<v1::GenerateRequest> last_generate_request() const;
  // The "authorization" metadata of the last RPC ("" when absent).
  std::string last_authorization() const;
  // Waits up to `timeout` for a "forever" Generate to see its client's cancellation.
  bool WaitForCancellation(absl::Duration timeout) const;

 private:
  grpc::Status CheckAuthorization(const grpc::ServerContext& context);

  const std::string api_key_;
  mutable absl::Mutex mu_;
  std::optional<v1::GenerateRequest> last_generate_request_ ABSL_GUARDED_BY(mu_);
  std::string last_authorization_ ABSL_GUARDED_BY(mu_);
  bool saw_cancellation_ ABSL_GUARDED_BY(mu_) = false;
  int generate_calls_ ABSL_GUARDED_BY(mu_) = 0;
  bool refused_unavailable_ ABSL_GUARDED_BY(mu_) = false;
};

// A gRPC server running a FakeOvserveService on 127.0.0.1:<free port>.
class FakeOvserveServer {
 public:
  explicit FakeOvserveServer(std::string api_key = "");
  ~FakeOvserveServer();

  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  FakeOvserveService& service() { return service_; }

 private:
  FakeOvserveService service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace ovserve::testing
