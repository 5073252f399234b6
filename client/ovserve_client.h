#pragma once
// ovserve::Client: a C++ client of the ovserve gRPC API (proto/ovserve/v1/ovserve.proto).
//
//   ClientOptions options;
//   options.target = "127.0.0.1:50051";
//   ASSIGN_OR_RETURN(std::unique_ptr<Client> client, Client::Connect(options));
//   ASSIGN_OR_RETURN(v1::GenerateRequest request, ChatRequest("Describe it", {"a.jpg"}, {}));
//   ASSIGN_OR_RETURN(GenerateResult result, client->Generate(request));
//
// Every call returns absl::Status / StatusOr; a gRPC status becomes the absl status of the
// same code with the server's message kept. A Client is thread-safe: any thread may issue
// calls concurrently. A GenerateCall belongs to the thread that reads it, except Cancel(),
// which any thread may call.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "client/channel_config.h"
#include "grpcpp/grpcpp.h"
#include "ovserve/v1/ovserve.grpc.pb.h"

namespace ovserve {

struct ClientOptions {
  // "host:port" or any gRPC target URI: "unix:/run/ovserve.sock", a headless Service
  // "dns:///ovserve-headless.ns.svc.cluster.local:50051", a list "ipv4:10.0.0.1:50051,10.0.0.2:50051".
  std::string target = "127.0.0.1:50051";
  // Round-robin over every address of the target, UNAVAILABLE retried while nothing was
  // received (client/channel_config.h).
  ChannelPolicy channel;
  // TLS: on when `tls` is true or any PEM below is set. An empty root CA means the
  // system's roots. A client certificate and key together enable mutual TLS.
  bool tls = false;
  std::string tls_root_ca_pem;
  std::string tls_client_cert_pem;
  std::string tls_client_key_pem;
  // Sent as "authorization: Bearer <api_key>" metadata on every call when not empty.
  std::string api_key;
  // Deadline of every call, from its start; zero = none.
  std::chrono::milliseconds default_timeout{0};
};

// A whole generation, assembled from its responses (blocking Generate).
struct GenerateResult {
  std::string request_id;
  std::string text;                        // every delta, concatenated
  std::vector<int32_t> token_ids;          // every generated id, in order
  std::vector<v1::TokenLogprob> logprobs;  // one per token id when requested
  // From the final response (finished = true).
  v1::FinishReason finish_reason = v1::FINISH_REASON_UNSPECIFIED;
  std::string stop_string;
  int32_t stop_token_id = 0;
  v1::Usage usage;
  v1::Timings timings;
  int num_responses = 0;  // responses received, the final one included
};

// Appends `response` to `result` (text, ids, logprobs; the final fields when finished).
void AppendResponse(const v1::GenerateResponse& response, GenerateResult& result);

// The absl status of a gRPC status: same code, same message.
[[nodiscard]] absl::Status FromGrpcStatus(const grpc::Status& status);

// One streaming Generate call in flight. Read responses with Next() until it yields
// false, then Finish() for the status. Cancel() may come from any thread at any time;
// the server then stops the request and Finish() reports CANCELLED.
class GenerateCall {
 public:
  GenerateCall(std::unique_ptr<grpc::ClientContext> context,
               std::unique_ptr<grpc::ClientReader<v1::GenerateResponse>> reader);
  ~GenerateCall();
  GenerateCall(const GenerateCall&) = delete;
  GenerateCall& operator=(const GenerateCall&) = delete;

  // Blocks for the next response; false when the stream has ended (call Finish()).
  [[nodiscard]] bool Next(v1::GenerateResponse& response);
  // Cancels the call. Thread-safe; idempotent.
  void Cancel();
  // The call's final status. Call once, after Next() returned false.
  [[nodiscard]] absl::Status Finish();

 private:
  std::unique_ptr<grpc::ClientContext> context_;
  std::unique_ptr<grpc::ClientReader<v1::GenerateResponse>> reader_;
  bool finished_ = false;
};

class Client {
 public:
  // Creates the channel. The connection itself is made lazily, on the first call
  // (or by WaitForReady). Fails only on invalid options.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<Client>> Connect(
      const ClientOptions& options);

  // Blocks until the channel is connected or `timeout` passes (UNAVAILABLE then).
  [[nodiscard]] absl::Status WaitForReady(std::chrono::milliseconds timeout);

  // Runs a generation to the end and returns it whole. A stream that ends OK without
  // a final (finished) response is an INTERNAL error.
  [[nodiscard]] absl::StatusOr<GenerateResult> Generate(const v1::GenerateRequest& request);

  // Streams: `on_response` runs on the calling thread for every response, in order.
  // Returning false from it cancels the call; GenerateStream then returns CANCELLED.
  // Otherwise returns the call's final status.
  [[nodiscard]] absl::Status GenerateStream(
      const v1::GenerateRequest& request,
      const std::function<bool(const v1::GenerateResponse&)>& on_response);

  // Starts a streaming call and returns it; the caller owns it.
  [[nodiscard]] std::unique_ptr<GenerateCall> StartGenerate(const v1::GenerateRequest& request);

  [[nodiscard]] absl::StatusOr<v1::AbortResponse> Abort(
      const std::vector<std::string>& request_ids);
  [[nodiscard]] absl::StatusOr<v1::ModelInfo> GetModelInfo();
  [[nodiscard]] absl::StatusOr<std::vector<int32_t>> Tokenize(std::string_view text);
  [[nodiscard]] absl::StatusOr<std::string> Detokenize(const std::vector<int32_t>& token_ids,
                                                       bool skip_special_tokens);

 private:
  Client(ClientOptions options, std::shared_ptr<grpc::Channel> channel);
  // A context carrying the options' metadata and deadline.
  std::unique_ptr<grpc::ClientContext> NewContext() const;

  const ClientOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Ovserve::Stub> stub_;
};

}  // namespace ovserve
