#include "client/ovserve_client.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace ovserve {

void AppendResponse(const v1::GenerateResponse& response, GenerateResult& result) {
  ++result.num_responses;
  if (result.request_id.empty()) result.request_id = response.request_id();
  result.text += response.text();
  result.token_ids.insert(result.token_ids.end(), response.token_ids().begin(),
                          response.token_ids().end());
  result.logprobs.insert(result.logprobs.end(), response.logprobs().begin(),
                         response.logprobs().end());
  if (response.finished()) {
    result.finish_reason = response.finish_reason();
    result.stop_string = response.stop_string();
    result.stop_token_id = response.stop_token_id();
    result.usage = response.usage();
    result.timings = response.timings();
  }
}

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  // gRPC and absl share the canonical code numbering (0..16).
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

// ---- GenerateCall ----

GenerateCall::GenerateCall(std::unique_ptr<grpc::ClientContext> context,
                           std::unique_ptr<grpc::ClientReader<v1::GenerateResponse>> reader)
    : context_(std::move(context)), reader_(std::move(reader)) {}

GenerateCall::~GenerateCall() {
  if (!finished_) {
    // gRPC requires Finish() on every started call; cancel first so it returns at once.
    context_->TryCancel();
    v1::GenerateResponse drain;
    while (reader_->Read(&drain)) {
    }
    (void)reader_->Finish();
  }
}

bool GenerateCall::Next(v1::GenerateResponse& response) { return reader_->Read(&response); }

void GenerateCall::Cancel() { context_->TryCancel(); }

absl::Status GenerateCall::Finish() {
  if (finished_) return absl::FailedPreconditionError("GenerateCall::Finish called twice");
  finished_ = true;
  return FromGrpcStatus(reader_->Finish());
}

// ---- Client ----

absl::StatusOr<std::unique_ptr<Client>> Client::Connect(const ClientOptions& options) {
  if (options.target.empty()) return absl::InvalidArgumentError("client: empty target");
  if (options.tls_client_cert_pem.empty() != options.tls_client_key_pem.empty()) {
    return absl::InvalidArgumentError(
        "client: a TLS client certificate and its key must be given together");
  }
  if (absl::Status policy = ValidateChannelPolicy(options.channel); !policy.ok()) return policy;
  if (options.default_timeout.count() < 0) {
    return absl::InvalidArgumentError("client: negative default timeout");
  }
  const bool tls =
      options.tls || !options.tls_root_ca_pem.empty() || !options.tls_client_cert_pem.empty();
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (tls) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = options.tls_root_ca_pem;
    ssl.pem_cert_chain = options.tls_client_cert_pem;
    ssl.pem_private_key = options.tls_client_key_pem;
    credentials = grpc::SslCredentials(ssl);
  } else {
    credentials = grpc::InsecureChannelCredentials();
  }
  std::shared_ptr<grpc::Channel> channel = grpc::CreateCustomChannel(
      options.target, credentials, ClientChannelArguments(options.channel));
  if (channel == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("client: cannot create a channel to '", options.target, "'"));
  }
  return std::unique_ptr<Client>(new Client(options, std::move(channel)));
}

Client::Client(ClientOptions options, std::shared_ptr<grpc::Channel> channel)
    : options_(std::move(options)),
      channel_(std::move(channel)),
      stub_(v1::Ovserve::NewStub(channel_)) {}

std::unique_ptr<grpc::ClientContext> Client::NewContext() const {
  auto context = std::make_unique<grpc::ClientContext>();
  if (!options_.api_key.empty()) {
    context->AddMetadata("authorization", absl::StrCat("Bearer ", options_.api_key));
  }
  if (options_.default_timeout.count() > 0) {
    context->set_deadline(std::chrono::system_clock::now() + options_.default_timeout);
  }
  return context;
}

absl::Status Client::WaitForReady(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::system_clock::now() + timeout;
  if (channel_->WaitForConnected(deadline)) return absl::OkStatus();
  return absl::UnavailableError(absl::StrCat("client: cannot connect to '", options_.target,
                                             "' within ", timeout.count(), " ms"));
}

std::unique_ptr<GenerateCall> Client::StartGenerate(const v1::GenerateRequest& request) {
  std::unique_ptr<grpc::ClientContext> context = NewContext();
  std::unique_ptr<grpc::ClientReader<v1::GenerateResponse>> reader =
      stub_->Generate(context.get(), request);
  return std::make_unique<GenerateCall>(std::move(context), std::move(reader));
}

absl::Status Client::GenerateStream(
    const v1::GenerateRequest& request,
    const std::function<bool(const v1::GenerateResponse&)>& on_response) {
  std::unique_ptr<GenerateCall> call = StartGenerate(request);
  v1::GenerateResponse response;
  bool cancelled = false;
  while (call->Next(response)) {
    if (!on_response(response)) {
      cancelled = true;
      call->Cancel();
      break;
    }
  }
  if (cancelled) {
    // Drain whatever was already in flight so Finish() does not wait on it.
    while (call->Next(response)) {
    }
    (void)call->Finish();
    return absl::CancelledError("generation cancelled by the response callback");
  }
  return call->Finish();
}

absl::StatusOr<GenerateResult> Client::Generate(const v1::GenerateRequest& request) {
  GenerateResult result;
  bool finished = false;
  const absl::Status status =
      GenerateStream(request, [&result, &finished](const v1::GenerateResponse& response) {
        AppendResponse(response, result);
        finished = finished || response.finished();
        return true;
      });
  if (!status.ok()) return status;
  if (!finished) {
    return absl::InternalError(absl::StrCat("Generate: the stream ended after ",
                                            result.num_responses,
                                            " responses without a final (finished) one"));
  }
  return result;
}

absl::StatusOr<v1::AbortResponse> Client::Abort(const std::vector<std::string>& request_ids) {
  v1::AbortRequest request;
  for (const std::string& id : request_ids) request.add_request_ids(id);
  v1::AbortResponse response;
  std::unique_ptr<grpc::ClientContext> context = NewContext();
  const grpc::Status status = stub_->Abort(context.get(), request, &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return response;
}

absl::StatusOr<v1::ModelInfo> Client::GetModelInfo() {
  v1::ModelInfo info;
  std::unique_ptr<grpc::ClientContext> context = NewContext();
  const grpc::Status status = stub_->GetModelInfo(context.get(), v1::GetModelInfoRequest(), &info);
  if (!status.ok()) return FromGrpcStatus(status);
  return info;
}

absl::StatusOr<std::vector<int32_t>> Client::Tokenize(std::string_view text) {
  v1::TokenizeRequest request;
  request.set_text(std::string(text));
  v1::TokenizeResponse response;
  std::unique_ptr<grpc::ClientContext> context = NewContext();
  const grpc::Status status = stub_->Tokenize(context.get(), request, &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return std::vector<int32_t>(response.token_ids().begin(), response.token_ids().end());
}

absl::StatusOr<std::string> Client::Detokenize(const std::vector<int32_t>& token_ids,
                                               bool skip_special_tokens) {
  v1::DetokenizeRequest request;
  request.mutable_token_ids()->Add(token_ids.begin(), token_ids.end());
  request.set_skip_special_tokens(skip_special_tokens);
  v1::DetokenizeResponse response;
  std::unique_ptr<grpc::ClientContext> context = NewContext();
  const grpc::Status status = stub_->Detokenize(context.get(), request, &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return std::move(*response.mutable_text());
}

}  // namespace ovserve
