#include "tests/client/fake_ovserve_service.h"

#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"

namespace ovserve::testing {
namespace {

struct PromptSummary {
  std::string text;  // the last user message's text parts, joined
  int images = 0;
  int videos = 0;
};

PromptSummary Summarize(const v1::GenerateRequest& request) {
  PromptSummary summary;
  if (request.has_chat()) {
    for (const v1::ChatMessage& message : request.chat().messages()) {
      if (message.role() != "user") continue;
      summary.text.clear();
      for (const v1::ContentPart& part : message.content()) {
        if (part.has_text()) summary.text += part.text();
        if (part.has_image()) ++summary.images;
        if (part.has_video()) ++summary.videos;
      }
    }
  } else if (request.has_prompt()) {
    summary.text = request.prompt().text();
    summary.images = request.prompt().images_size();
    summary.videos = request.prompt().videos_size();
  }
  return summary;
}

}  // namespace

grpc::Status FakeOvserveService::CheckAuthorization(const grpc::ServerContext& context) {
  std::string authorization;
  const auto& metadata = context.client_metadata();
  if (auto it = metadata.find("authorization"); it != metadata.end()) {
    authorization.assign(it->second.data(), it->second.size());
  }
  {
    absl::MutexLock lock(&mu_);
    last_authorization_ = authorization;
  }
  if (!api_key_.empty() && authorization != "Bearer " + api_key_) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "fake: missing or wrong API key");
  }
  return grpc::Status::OK;
}

grpc::Status FakeOvserveService::Generate(grpc::ServerContext* context,
                                          const v1::GenerateRequest* request,
                                          grpc::ServerWriter<v1::GenerateResponse>* writer) {
  if (grpc::Status status = CheckAuthorization(*context); !status.ok()) return status;
  const PromptSummary prompt = Summarize(*request);
  bool refuse_once = false;
  {
    absl::MutexLock lock(&mu_);
    last_generate_request_ = *request;
    ++generate_calls_;
    if (absl::StartsWith(prompt.text, "unavailable") && !refused_unavailable_) {
      refused_unavailable_ = refuse_once = true;
    }
  }
  if (refuse_once) {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "fake: draining");
  }
  if (prompt.text.empty() && prompt.images == 0 && prompt.videos == 0) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "fake: empty request: no text, image or video");
  }
  const std::string request_id = request->request_id().empty() ? "fake-1" : request->request_id();

  if (absl::StartsWith(prompt.text, "forever")) {
    v1::GenerateResponse tick;
    tick.set_request_id(request_id);
    tick.set_text(" tick");
    tick.add_token_ids(7);
    while (!context->IsCancelled() && writer->Write(tick)) {
      absl::SleepFor(absl::Milliseconds(5));
    }
    // The Write failed or the flag is set: either way the client went away.
    for (int i = 0; i < 2000 && !context->IsCancelled(); ++i) absl::SleepFor(absl::Milliseconds(1));
    if (context->IsCancelled()) {
      absl::MutexLock lock(&mu_);
      saw_cancellation_ = true;
    }
    return grpc::Status::CANCELLED;
  }

  const std::vector<std::string> words = absl::StrSplit(prompt.text, ' ', absl::SkipEmpty());
  if (absl::StartsWith(prompt.text, "fail")) {
    v1::GenerateResponse first;
    first.set_request_id(request_id);
    first.set_text(words[0]);
    writer->Write(first);
    return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "fake: out of KV blocks");
  }
  if (absl::StartsWith(prompt.text, "drop")) {
    v1::GenerateResponse first;
    first.set_request_id(request_id);
    first.set_text(words[0]);
    writer->Write(first);
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "fake: replica went away");
  }

  const v1::SamplingParams& sampling = request->sampling();
  size_t count = words.size();
  v1::FinishReason reason = v1::FINISH_REASON_STOP;
  if (sampling.has_max_tokens() && sampling.max_tokens() < count) {
    count = sampling.max_tokens();
    reason = v1::FINISH_REASON_LENGTH;
  }
  const bool stream = !request->has_stream() || request->stream();
  const bool unfinished = absl::StartsWith(prompt.text, "unfinished");

  v1::GenerateResponse all;  // accumulates when not streaming
  all.set_request_id(request_id);
  for (size_t i = 0; i < count; ++i) {
    v1::GenerateResponse delta;
    delta.set_request_id(request_id);
    delta.set_text(i == 0 ? words[i] : " " + words[i]);
    delta.add_token_ids(static_cast<int32_t>(1000 + i));
    if (sampling.logprobs() > 0) {
      v1::TokenLogprob* logprob = delta.add_logprobs();
      logprob->set_token_id(static_cast<int32_t>(1000 + i));
      logprob->set_logprob(-static_cast<float>(i + 1) / 10.0f);
    }
    if (stream) {
      if (!writer->Write(delta)) return grpc::Status::CANCELLED;
    } else {
      all.mutable_text()->append(delta.text());
      all.mutable_token_ids()->MergeFrom(delta.token_ids());
      all.mutable_logprobs()->MergeFrom(delta.logprobs());
    }
  }
  if (unfinished) return grpc::Status::OK;

  v1::GenerateResponse& final_response = all;
  if (stream) {
    final_response.Clear();
    final_response.set_request_id(request_id);
  }
  final_response.set_finished(true);
  final_response.set_finish_reason(reason);
  v1::Usage* usage = final_response.mutable_usage();
  usage->set_prompt_text_tokens(static_cast<uint32_t>(words.size()));
  usage->set_image_tokens(static_cast<uint32_t>(10 * prompt.images));
  usage->set_video_tokens(static_cast<uint32_t>(20 * prompt.videos));
  usage->set_prompt_tokens(usage->prompt_text_tokens() + usage->image_tokens() +
                           usage->video_tokens());
  usage->set_completion_tokens(static_cast<uint32_t>(count));
  final_response.mutable_timings()->set_time_to_first_token(0.25);
  final_response.mutable_timings()->set_total(0.5);
  writer->Write(final_response);
  return grpc::Status::OK;
}

grpc::Status FakeOvserveService::GetModelInfo(grpc::ServerContext* context,
                                              const v1::GetModelInfoRequest* request,
                                              v1::ModelInfo* response) {
  if (grpc::Status status = CheckAuthorization(*context); !status.ok()) return status;
  response->set_model_name("fake-llava-ov");
  response->set_context_length(4096);
  response->set_vocab_size(152000);
  response->set_backend("cpu");
  response->set_tensor_parallel_size(1);
  response->mutable_limits()->set_max_images(12);
  response->mutable_limits()->set_max_video_frames(32);
  response->add_eos_token_ids(151645);
  return grpc::Status::OK;
}

grpc::Status FakeOvserveService::Tokenize(grpc::ServerContext* context,
                                          const v1::TokenizeRequest* request,
                                          v1::TokenizeResponse* response) {
  if (grpc::Status status = CheckAuthorization(*context); !status.ok()) return status;
  for (unsigned char c : request->text()) response->add_token_ids(c);
  return grpc::Status::OK;
}

grpc::Status FakeOvserveService::Detokenize(grpc::ServerContext* context,
                                            const v1::DetokenizeRequest* request,
                                            v1::DetokenizeResponse* response) {
  if (grpc::Status status = CheckAuthorization(*context); !status.ok()) return status;
  std::string text;
  for (int32_t id : request->token_ids()) {
    if (id < 0) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          absl::StrCat("fake: token id ", id, " out of range"));
    }
    if (id < 256) {
      text.push_back(static_cast<char>(id));
    } else if (!request->skip_special_tokens()) {
      absl::StrAppend(&text, "<|", id, "|>");
    }
  }
  response->set_text(text);
  return grpc::Status::OK;
}

grpc::Status FakeOvserveService::Abort(grpc::ServerContext* context,
                                       const v1::AbortRequest* request,
                                       v1::AbortResponse* response) {
  if (grpc::Status status = CheckAuthorization(*context); !status.ok()) return status;
  for (const std::string& id : request->request_ids()) {
    if (absl::StartsWith(id, "live-")) {
      response->add_aborted(id);
    } else {
      response->add_not_found(id);
    }
  }
  return grpc::Status::OK;
}

int FakeOvserveService::generate_calls() const {
  absl::MutexLock lock(&mu_);
  return generate_calls_;
}

std::optional<v1::GenerateRequest> FakeOvserveService::last_generate_request() const {
  absl::MutexLock lock(&mu_);
  return last_generate_request_;
}

std::string FakeOvserveService::last_authorization() const {
  absl::MutexLock lock(&mu_);
  return last_authorization_;
}

bool FakeOvserveService::WaitForCancellation(absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  return mu_.AwaitWithTimeout(absl::Condition(&saw_cancellation_), timeout);
}

FakeOvserveServer::FakeOvserveServer(std::string api_key) : service_(std::move(api_key)) {
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
  builder.RegisterService(&service_);
  builder.SetMaxReceiveMessageSize(-1);
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || port_ == 0) {
    std::fprintf(stderr, "FakeOvserveServer: cannot listen on 127.0.0.1\n");
    std::abort();
  }
}

FakeOvserveServer::~FakeOvserveServer() {
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  server_->Wait();
}

}  // namespace ovserve::testing
