#include "server/ovserve_service.h"

#include <algorithm>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/multimodal/visual_budget.h"
#include "server/api_key_auth_processor.h"
#include "server/grpc_status.h"
#include "server/log_format.h"
#include "spdlog/spdlog.h"

namespace ovserve::server {
namespace {

using Clock = std::chrono::steady_clock;

// Ends a Generate call at once (refused before it reached the engine).
class RefusedCall final : public grpc::ServerWriteReactor<v1::GenerateResponse> {
 public:
  explicit RefusedCall(const grpc::Status& status) { Finish(status); }
  void OnDone() override { delete this; }
};

}  // namespace

// One Generate call. Owned by the service's map (shared with the pump while
// it pumps); OnDone removes it.
class GenerateCall final : public grpc::ServerWriteReactor<v1::GenerateResponse> {
 public:
  GenerateCall(OvserveService* service, uint64_t token, std::string peer, bool stream,
               int64_t images, int64_t videos)
      : service_(service),
        token_(token),
        peer_(std::move(peer)),
        stream_(stream),
        images_(images),
        videos_(videos) {}

  void Start(std::unique_ptr<engine::RequestHandle> handle) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      handle_ = std::move(handle);
      id_ = handle_->id();
      // Cancelled or aborted while Submit ran: the request must not outlive the call.
      if (cancelled_by_client_ || finishing_) handle_->Cancel();
    }
    Pump();
  }

  // Submit refused the request (after the call was handed to gRPC).
  void Fail(const grpc::Status& status) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (finishing_) return;
      finishing_ = true;
      status_code_ = status.error_code();
    }
    Finish(status);
  }

  // Writes what the engine has queued, unless a write is in flight.
  void Pump() {
    v1::GenerateResponse* to_write = nullptr;
    bool last = false;
    std::optional<grpc::Status> finish;  // end the call without a write
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (writing_ || finishing_) return;
      if (abort_reason_.has_value()) {
        finishing_ = true;
        status_code_ = grpc::StatusCode::UNAVAILABLE;
        finish = grpc::Status(grpc::StatusCode::UNAVAILABLE, *abort_reason_);
      } else {
        if (handle_ == nullptr) return;
        engine::RequestOutput out;
        if (!handle_->TryNext(&out)) return;
        if (!out.token_ids.empty()) inter_token_.OnTokens(service_->metrics_);
        grpc::Status final_status;
        if (out.finished) {
          record_.finish_reason = out.finish_reason;
          record_.usage = out.usage;
          record_.timings = out.timings;
          record_.has_output = true;
          final_status = FinalStatus(out);
          finishing_ = true;
          status_code_ = cancelled_by_client_ && final_status.ok() ? grpc::StatusCode::CANCELLED
                                                                   : final_status.error_code();
          // Recorded before the client can see the end, so a scrape after a
          // finished call always counts it.
          RecordOnce();
        }
        if (!final_status.ok()) {
          finish = final_status;
        } else {
          if (stream_) response_.Clear();
          response_.set_request_id(id_);
          AppendToResponse(out, &response_);
          if (!stream_ && !out.finished) return;  // unary: one response at the end
          writing_ = true;
          to_write = &response_;
          last = out.finished;
        }
      }
    }
    // Outside the lock: gRPC may run reactions (OnWriteDone, OnDone) inline.
    if (finish.has_value()) {
      Finish(*finish);
    } else if (last) {
      StartWriteAndFinish(to_write, grpc::WriteOptions(), grpc::Status::OK);
    } else {
      StartWrite(to_write);
    }
  }

  void OnWriteDone(bool ok) override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      writing_ = false;
      // The client is gone: stop the request and count the call as cancelled
      // (OnCancel may run only after the final output is pumped). Pump on
      // regardless, so the final output (already queued, or coming) still
      // ends the call with Finish — without it OnDone never runs.
      if (!ok) {
        cancelled_by_client_ = true;
        if (handle_ != nullptr) handle_->Cancel();
      }
    }
    Pump();
  }

  // Client cancellation or deadline.
  void OnCancel() override {
    std::lock_guard<std::mutex> lock(mutex_);
    cancelled_by_client_ = true;
    if (handle_ != nullptr) handle_->Cancel();
  }

  // Drain timeout: cancel the request and end the call with UNAVAILABLE
  // (after the write in flight, if any).
  void Abort(const std::string& reason) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      abort_reason_ = reason;
      if (handle_ != nullptr) handle_->Cancel();
    }
    Pump();
  }

  void OnDone() override {
    std::shared_ptr<GenerateCall> self = service_->calls_.Remove(token_);
    {
      // handle_ is set by Start on a gRPC thread: read it under the lock.
      std::lock_guard<std::mutex> lock(mutex_);
      if (handle_ != nullptr && !handle_->finished()) handle_->Cancel();
      if (cancelled_by_client_ && !recorded_) status_code_ = grpc::StatusCode::CANCELLED;
      RecordOnce();
    }
    const engine::Usage& u = record_.usage;
    const engine::Timings& t = record_.timings;
    spdlog::info(fmt::runtime("request {} peer={} images={} videos={} prompt_tokens={} (text {}, visual {}, "
                              "cached {}) completion_tokens={} finish={} status={} ttft={:.3f}s total={:.3f}s"),
                 ClientText(id_), peer_, images_, videos_, u.prompt_tokens, u.prompt_text_tokens,
                 u.visual_tokens,
                 u.cached_tokens, u.completion_tokens,
                 engine::FinishReasonName(record_.finish_reason), record_.status,
                 std::max(0.0, t.first_token), std::max(0.0, t.finished));
    // `self` (possibly the last reference) is released on return.
  }

 private:
  void RecordOnce() {
    if (recorded_) return;
    recorded_ = true;
    record_.status = StatusCodeLabel(status_code_);
    service_->metrics_.RecordRequest(record_);
  }

  // The call's status for a final output: engine errors keep their code
  // (e.g. INVALID_ARGUMENT for media found corrupt while encoding).
  grpc::Status FinalStatus(const engine::RequestOutput& out) const {
    if (out.finish_reason == engine::FinishReason::kError) {
      absl::Status error = out.error.ok() ? absl::InternalError("the request failed") : out.error;
      // A client's own fault (corrupt media, a bad schema, a limit) is a warning;
      // a fault of the server's is an error.
      const bool server_fault = error.code() == absl::StatusCode::kInternal ||
                                error.code() == absl::StatusCode::kUnknown ||
                                error.code() == absl::StatusCode::kDataLoss;
      spdlog::log(server_fault ? spdlog::level::err : spdlog::level::warn, fmt::runtime("request {} failed: {}"),
                  id_, ClientText(error.ToString(), 512));
      return ToGrpcStatus(error);
    }
    return grpc::Status::OK;
  }

  OvserveService* const service_;
  const uint64_t token_;
  const std::string peer_;
  const bool stream_;
  const int64_t images_;
  const int64_t videos_;

  std::mutex mutex_;
  std::unique_ptr<engine::RequestHandle> handle_;
  std::string id_;
  v1::GenerateResponse response_;  // the write in flight, or the unary response being built
  bool writing_ = false;
  bool finishing_ = false;  // Finish or StartWriteAndFinish was called
  bool cancelled_by_client_ = false;
  bool recorded_ = false;  // in the metrics
  std::optional<std::string> abort_reason_;
  grpc::StatusCode status_code_ = grpc::StatusCode::OK;
  InterTokenTimer inter_token_;
  RequestRecord record_;
};

OvserveService::OvserveService(Metrics& metrics, ServiceOptions options)
    : metrics_(metrics), options_(std::move(options)) {}

OvserveService::~OvserveService() = default;

grpc::Status OvserveService::CheckReady(const grpc::CallbackServerContext& context,
                                        engine::Engine** engine, std::string* tenant) const {
  if (grpc::Status auth = CheckAuth(context, tenant); !auth.ok()) return auth;
  *engine = engine_.load();
  if (*engine == nullptr) {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "the model is still loading; retry shortly");
  }
  return grpc::Status::OK;
}

grpc::Status OvserveService::CheckAuth(const grpc::CallbackServerContext& context,
                                       std::string* tenant) const {
  if (options_.api_keys == nullptr) return grpc::Status::OK;
  // Checked already by the TLS port's ApiKeyAuthProcessor: its tenant.
  if (const std::shared_ptr<const grpc::AuthContext> auth = context.auth_context(); auth != nullptr) {
    const std::vector<grpc::string_ref> checked = auth->FindPropertyValues(kTenantProperty);
    if (!checked.empty()) {
      if (tenant != nullptr) *tenant = std::string(checked.front().data(), checked.front().size());
      return grpc::Status::OK;
    }
  }
  std::string name;
  if (grpc::Status status = AuthenticateCall(*options_.api_keys->current(), context.client_metadata(), &name);
      !status.ok()) {
    return status;
  }
  if (tenant != nullptr) *tenant = std::move(name);
  return grpc::Status::OK;
}

int64_t OvserveService::live_calls() const { return calls_.size(); }

bool OvserveService::WaitForIdle(Clock::time_point deadline) { return calls_.WaitForIdle(deadline); }

void OvserveService::AbortAll(const std::string& reason) { calls_.AbortAll(reason); }

grpc::ServerWriteReactor<v1::GenerateResponse>* OvserveService::Generate(
    grpc::CallbackServerContext* context, const v1::GenerateRequest* request) {
  const auto refuse = [&](const grpc::Status& status) {
    RequestRecord record;
    record.status = StatusCodeLabel(status.error_code());
    metrics_.RecordRequest(record);
    spdlog::warn(fmt::runtime("request {} peer={} refused: {} {}"),
                 request->request_id().empty() ? "-" : ClientText(request->request_id()),
                 context->peer(), record.status, ClientText(status.error_message(), 512));
    return new RefusedCall(status);
  };
  engine::Engine* engine = nullptr;
  std::string tenant;
  if (grpc::Status ready = CheckReady(*context, &engine, &tenant); !ready.ok()) return refuse(ready);
  if (draining_.load()) {
    return refuse(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                               "the server is shutting down; retry on another replica"));
  }
  absl::StatusOr<engine::GenerateRequest> converted = ToEngineRequest(*request, options_.defaults);
  if (!converted.ok()) return refuse(ToGrpcStatus(converted.status()));
  converted->tenant = std::move(tenant);
  if (!options_.share_cache_across_tenants) converted->cache_salt = converted->tenant;
  if (absl::Status size = CheckPromptBytes(PromptTextBytes(converted->input), options_.input_limits);
      !size.ok()) {
    return refuse(ToGrpcStatus(size));
  }

  const int64_t images = engine::CountMedia(converted->input, engine::MediaType::kImage);
  const int64_t videos = engine::CountMedia(converted->input, engine::MediaType::kVideo);
  uint64_t token = 0;
  const std::shared_ptr<GenerateCall> call = calls_.Add([&](uint64_t t) {
    token = t;
    return std::make_shared<GenerateCall>(this, t, context->peer(),
                                          !request->has_stream() || request->stream(), images,
                                          videos);
  });
  converted->waker = calls_.waker();
  converted->waker_token = token;
  // Submit never blocks on media or grammars (the engine prepares them on its
  // pool; their errors end the stream and so the call).
  absl::StatusOr<std::unique_ptr<engine::RequestHandle>> handle = engine->Submit(std::move(*converted));
  if (!handle.ok()) {
    calls_.Remove(token);
    return refuse(ToGrpcStatus(handle.status()));
  }
  call->Start(std::move(*handle));
  return call.get();
}

grpc::ServerUnaryReactor* OvserveService::GetModelInfo(grpc::CallbackServerContext* context,
                                                       const v1::GetModelInfoRequest*,
                                                       v1::ModelInfo* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  engine::Engine* engine = nullptr;
  if (grpc::Status ready = CheckReady(*context, &engine); !ready.ok()) {
    reactor->Finish(ready);
    return reactor;
  }
  const auto& config = engine->model_config();
  response->set_model_name(options_.model_name);
  response->set_context_length(static_cast<uint32_t>(engine->max_model_len()));
  response->set_vocab_size(static_cast<uint32_t>(config.text.vocab_size));
  response->set_backend(options_.backend);
  response->set_tensor_parallel_size(static_cast<uint32_t>(options_.tensor_parallel_size));
  response->set_kv_cache_tokens(static_cast<uint32_t>(engine->kv_capacity_tokens()));
  for (int32_t id : engine->eos_token_ids()) response->add_eos_token_ids(id);
  const std::string_view format = engine::CheckpointFormatName(config.format);
  response->set_checkpoint_format(std::string(format));
  const engine::VisualLimits limits;
  v1::ModalityLimits* out = response->mutable_limits();
  out->set_max_images(static_cast<uint32_t>(limits.max_images));
  out->set_max_video_frames(static_cast<uint32_t>(limits.max_video_frames));
  out->set_max_videos(static_cast<uint32_t>(limits.max_videos));
  out->set_single_image_max_tokens(engine::kMaxSingleImageTokens);
  out->set_multi_image_max_tokens(engine::kMaxMultiImageTokens);
  out->set_video_max_tokens(engine::kMaxVideoTokens);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* OvserveService::Tokenize(grpc::CallbackServerContext* context,
                                                   const v1::TokenizeRequest* request,
                                                   v1::TokenizeResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  engine::Engine* engine = nullptr;
  grpc::Status status = CheckReady(*context, &engine);
  if (status.ok()) {
    status = ToGrpcStatus(
        CheckPromptBytes(static_cast<int64_t>(request->text().size()), options_.input_limits));
  }
  if (status.ok()) {
    auto ids = engine->tokenizer().Encode(request->text());
    if (ids.ok()) {
      for (int32_t id : *ids) response->add_token_ids(id);
    } else {
      status = ToGrpcStatus(ids.status());
    }
  }
  reactor->Finish(status);
  return reactor;
}

grpc::ServerUnaryReactor* OvserveService::Detokenize(grpc::CallbackServerContext* context,
                                                     const v1::DetokenizeRequest* request,
                                                     v1::DetokenizeResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  engine::Engine* engine = nullptr;
  grpc::Status status = CheckReady(*context, &engine);
  if (status.ok()) {
    status = ToGrpcStatus(CheckDetokenizeIds(request->token_ids_size(), options_.input_limits));
  }
  if (status.ok()) {
    const std::vector<int32_t> ids(request->token_ids().begin(), request->token_ids().end());
    auto text = engine->tokenizer().Decode(ids, request->skip_special_tokens());
    if (text.ok()) {
      response->set_text(std::move(*text));
    } else {
      status = ToGrpcStatus(text.status());
    }
  }
  reactor->Finish(status);
  return reactor;
}

grpc::ServerUnaryReactor* OvserveService::Abort(grpc::CallbackServerContext* context,
                                                const v1::AbortRequest* request,
                                                v1::AbortResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  engine::Engine* engine = nullptr;
  std::string tenant;
  grpc::Status status = CheckReady(*context, &engine, &tenant);
  if (status.ok()) {
    for (const std::string& id : request->request_ids()) {
      // Only the caller's own requests: another tenant's id is "not found".
      if (engine->Cancel(id, tenant)) {
        response->add_aborted(id);
      } else {
        response->add_not_found(id);
      }
    }
  }
  reactor->Finish(status);
  return reactor;
}

}  // namespace ovserve::server
