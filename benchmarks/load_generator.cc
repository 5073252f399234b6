#include "benchmarks/load_generator.h"

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/grpcpp.h"
#include "ovserve/v1/ovserve.grpc.pb.h"

namespace ovserve::bench {
namespace {

using Clock = std::chrono::steady_clock;

std::string CodeName(grpc::StatusCode code) {
  // gRPC and absl share the canonical code numbering (0..16).
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

// One streaming Generate call. Its callbacks run on gRPC's threads, one at a
// time; the timeline is read by the sending thread only after OnDone.
class GrpcCall final : public PendingCall, public grpc::ClientReadReactor<v1::GenerateResponse> {
 public:
  using PendingCall::PendingCall;

  void Start(v1::Ovserve::Stub& stub, const ConnectionOptions& connection, double timeout_s) {
    if (!connection.api_key.empty()) {
      context_.AddMetadata("authorization", absl::StrCat("Bearer ", connection.api_key));
    }
    if (timeout_s > 0) {
      context_.set_deadline(std::chrono::system_clock::now() +
                            std::chrono::microseconds(static_cast<int64_t>(timeout_s * 1e6)));
    }
    stub.async()->Generate(&context_, &request_.request, this);
    StartRead(&response_);
    timeline_.send_s = Now();
    StartCall();
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // the stream has ended; OnDone follows
    const double now = Now();
    ++timeline_.responses;
    if (response_.token_ids_size() > 0) {
      timeline_.chunks.push_back({now, response_.token_ids_size()});
      counted_tokens_ += response_.token_ids_size();
    }
    if (response_.finished()) {
      final_ = true;
      timeline_.end_s = now;
      const v1::Usage& u = response_.usage();
      timeline_.output_tokens = u.completion_tokens();
      timeline_.prompt_text_tokens = u.prompt_text_tokens();
      timeline_.image_tokens = u.image_tokens();
      timeline_.video_tokens = u.video_tokens();
      timeline_.cached_tokens = u.cached_tokens();
      if (response_.finish_reason() == v1::FINISH_REASON_ERROR) error_finish_ = true;
    }
    StartRead(&response_);
  }

  void OnDone(const grpc::Status& status) override {
    if (!final_) timeline_.end_s = Now();
    timeline_.status = CodeName(status.error_code());
    timeline_.ok = status.ok() && final_ && !error_finish_;
    if (!status.ok()) {
      timeline_.error = status.error_message();
    } else if (!final_) {
      timeline_.status = "INCOMPLETE";
      timeline_.error = "the stream ended without a final response";
    } else if (error_finish_) {
      timeline_.status = "FINISH_REASON_ERROR";
      timeline_.error = "the final response has finish reason ERROR";
    }
    if (!timeline_.ok) {
      // Usage of a failed request is not counted.
      timeline_.output_tokens = timeline_.prompt_text_tokens = timeline_.image_tokens = 0;
      timeline_.video_tokens = timeline_.cached_tokens = 0;
    } else if (timeline_.output_tokens == 0) {
      timeline_.output_tokens = counted_tokens_;
    }
    Ended();
  }

 private:
  grpc::ClientContext context_;
  v1::GenerateResponse response_;
  int64_t counted_tokens_ = 0;
  bool final_ = false;
  bool error_finish_ = false;
};

class GrpcLoadGenerator final : public LoadGenerator {
 public:
  explicit GrpcLoadGenerator(ConnectionOptions options) : options_(std::move(options)) {}

  absl::Status Connect() {
    std::shared_ptr<grpc::ChannelCredentials> credentials;
    if (options_.tls || !options_.tls_root_ca_pem.empty()) {
      grpc::SslCredentialsOptions ssl;
      ssl.pem_root_certs = options_.tls_root_ca_pem;
      credentials = grpc::SslCredentials(ssl);
    } else {
      credentials = grpc::InsecureChannelCredentials();
    }
    for (int i = 0; i < options_.num_connections; ++i) {
      grpc::ChannelArguments arguments = ClientChannelArguments(options_.channel);
      // A subchannel pool per channel, and distinct arguments, give each channel
      // its own connection.
      arguments.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
      arguments.SetInt("ovserve.bench.connection", i);
      std::shared_ptr<grpc::Channel> channel = grpc::CreateCustomChannel(options_.target, credentials, arguments);
      if (channel == nullptr) {
        return absl::InvalidArgumentError(absl::StrCat("cannot create a channel to ", options_.target));
      }
      stubs_.push_back(v1::Ovserve::NewStub(channel));
      channels_.push_back(std::move(channel));
    }
    return absl::OkStatus();
  }

 protected:
  std::unique_ptr<PendingCall> Start(int64_t index, const BenchRequest& request, Clock::time_point t0,
                                     RunState& state, RunProgress* progress, double timeout_s) override {
    auto call = std::make_unique<GrpcCall>(index, request, t0, state, progress);
    call->Start(*stubs_[static_cast<size_t>(index) % stubs_.size()], options_, timeout_s);
    return call;
  }

 private:
  ConnectionOptions options_;
  std::vector<std::shared_ptr<grpc::Channel>> channels_;
  std::vector<std::unique_ptr<v1::Ovserve::Stub>> stubs_;
};

}  // namespace

PendingCall::PendingCall(int64_t index, const BenchRequest& request, Clock::time_point t0, RunState& state,
                         RunProgress* progress)
    : request_(request), t0_(t0), state_(state), progress_(progress) {
  timeline_.index = index;
  timeline_.workload = request.workload;
}

double PendingCall::Now() const { return std::chrono::duration<double>(Clock::now() - t0_).count(); }

void PendingCall::Ended() {
  if (progress_ != nullptr) {
    progress_->done.fetch_add(1);
    if (!timeline_.ok) progress_->failed.fetch_add(1);
  }
  // Last: once in_flight drops, the sending thread may destroy this call.
  std::lock_guard<std::mutex> lock(state_.mutex);
  state_.last_end_s = std::max(state_.last_end_s, timeline_.end_s);
  --state_.in_flight;
  state_.changed.notify_all();
}

absl::StatusOr<std::unique_ptr<LoadGenerator>> LoadGenerator::Create(const ConnectionOptions& options) {
  if (options.target.empty()) return absl::InvalidArgumentError("no server target");
  if (options.num_connections < 1) {
    return absl::InvalidArgumentError("--num-connections must be >= 1");
  }
  if (absl::Status policy = ValidateChannelPolicy(options.channel); !policy.ok()) return policy;
  auto generator = std::make_unique<GrpcLoadGenerator>(options);
  if (absl::Status s = generator->Connect(); !s.ok()) return s;
  return generator;
}

LoadGenerator::~LoadGenerator() = default;

RunOutcome LoadGenerator::Run(const std::vector<BenchRequest>& requests, const RunOptions& options,
                              RunProgress* progress) {
  RunState state;
  RunOutcome outcome;
  const int64_t count = static_cast<int64_t>(requests.size());
  if (progress != nullptr) {
    progress->total = count;
    progress->sent = progress->done = progress->failed = 0;
  }
  std::vector<std::unique_ptr<PendingCall>> calls;
  calls.reserve(requests.size());
  const Clock::time_point t0 = Clock::now();
  const bool bounded = options.duration_s > 0;
  const Clock::time_point stop =
      t0 + std::chrono::microseconds(static_cast<int64_t>((bounded ? options.duration_s : 0) * 1e6));
  Clock::time_point last_send = t0;
  for (int64_t i = 0; i < count; ++i) {
    const double offset = i < static_cast<int64_t>(options.offsets.size())
                              ? options.offsets[static_cast<size_t>(i)]
                              : 0.0;
    const Clock::time_point due =
        t0 + std::chrono::microseconds(static_cast<int64_t>(offset * 1e6));
    if (bounded && due >= stop) {
      outcome.not_sent = count - i;
      break;
    }
    std::this_thread::sleep_until(due);
    {
      std::unique_lock<std::mutex> lock(state.mutex);
      auto has_slot = [&] {
        return options.max_concurrency <= 0 || state.in_flight < options.max_concurrency;
      };
      // The request goes out at its due time (a sleep that overshot it does
      // not count), or when a slot frees up; with a bound, only before it.
      Clock::time_point intended = std::max(due, last_send);
      if (!has_slot()) {
        if (bounded) {
          state.changed.wait_until(lock, stop, has_slot);
        } else {
          state.changed.wait(lock, has_slot);
        }
        intended = Clock::now();
      }
      if (!has_slot() || (bounded && intended >= stop)) {
        outcome.not_sent = count - i;
        break;
      }
      ++state.in_flight;
    }
    calls.push_back(Start(i, requests[static_cast<size_t>(i)], t0, state, progress, options.request_timeout_s));
    last_send = Clock::now();
    if (progress != nullptr) progress->sent.fetch_add(1);
  }
  {
    std::unique_lock<std::mutex> lock(state.mutex);
    state.changed.wait(lock, [&] { return state.in_flight == 0; });
    outcome.duration_s = calls.empty()
                             ? std::chrono::duration<double>(Clock::now() - t0).count()
                             : state.last_end_s;
  }
  outcome.timelines.reserve(calls.size());
  for (const std::unique_ptr<PendingCall>& call : calls) outcome.timelines.push_back(call->timeline());
  return outcome;
}

}  // namespace ovserve::bench
