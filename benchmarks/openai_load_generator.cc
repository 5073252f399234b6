#include "benchmarks/openai_load_generator.h"

#include <curl/curl.h>

#include <atomic>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmarks/openai_wire.h"

namespace ovserve::bench {
namespace {

using Clock = std::chrono::steady_clock;

// One streamed chat completion; its transfer callbacks run on the generator's
// thread.
class HttpCall final : public PendingCall {
 public:
  using PendingCall::PendingCall;
  ~HttpCall() override {
    if (easy_ != nullptr) curl_easy_cleanup(easy_);
    if (headers_ != nullptr) curl_slist_free_all(headers_);
  }

  // Sets up the transfer; false (and the call ended) when it cannot be.
  bool Prepare(const OpenAiConnectionOptions& options, double timeout_s) {
    absl::StatusOr<nlohmann::json> body = ChatCompletionBody(request_.request, options.model);
    easy_ = curl_easy_init();
    if (!body.ok() || easy_ == nullptr) {
      Fail("CLIENT", body.ok() ? "curl_easy_init failed" : std::string(body.status().message()));
      return false;
    }
    body_ = body->dump();
    url_ = absl::StrCat(options.base_url, "/v1/chat/completions");
    headers_ = curl_slist_append(headers_, "Content-Type: application/json");
    headers_ = curl_slist_append(headers_, "Accept: text/event-stream");
    if (!options.api_key.empty()) {
      headers_ = curl_slist_append(headers_, absl::StrCat("Authorization: Bearer ", options.api_key).c_str());
    }
    curl_easy_setopt(easy_, CURLOPT_URL, url_.c_str());
    curl_easy_setopt(easy_, CURLOPT_HTTPHEADER, headers_);
    curl_easy_setopt(easy_, CURLOPT_POSTFIELDS, body_.data());
    curl_easy_setopt(easy_, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body_.size()));
    curl_easy_setopt(easy_, CURLOPT_WRITEFUNCTION, &HttpCall::OnBytes);
    curl_easy_setopt(easy_, CURLOPT_WRITEDATA, this);
    curl_easy_setopt(easy_, CURLOPT_PRIVATE, this);
    curl_easy_setopt(easy_, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy_, CURLOPT_TCP_NODELAY, 1L);
    if (!options.tls_ca_path.empty()) curl_easy_setopt(easy_, CURLOPT_CAINFO, options.tls_ca_path.c_str());
    if (timeout_s > 0) curl_easy_setopt(easy_, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_s * 1e3));
    return true;
  }

  CURL* easy() const { return easy_; }
  void MarkSent() { timeline_.send_s = Now(); }

  // The transfer is over (`code` from curl).
  void Done(CURLcode code) {
    long http_status = 0;
    curl_easy_getinfo(easy_, CURLINFO_RESPONSE_CODE, &http_status);
    timeline_.end_s = Now();
    if (code != CURLE_OK) {
      return Fail(code == CURLE_OPERATION_TIMEDOUT ? "DEADLINE_EXCEEDED" : "UNAVAILABLE",
                  curl_easy_strerror(code));
    }
    if (http_status != 200) {
      // The error body came as one piece; its message is OpenAI-shaped.
      std::string message = unparsed_;
      if (const auto body = nlohmann::json::parse(unparsed_, nullptr, false);
          body.is_object() && body.contains("error") && body["error"].is_object()) {
        message = body["error"].value("message", unparsed_);
      }
      return Fail(StatusNameOfHttp(http_status), absl::StrCat("HTTP ", http_status, ": ", message));
    }
    if (error_.has_value()) return Fail("STREAM_ERROR", *error_);
    if (!done_ || !finished_) return Fail("INCOMPLETE", "the stream ended before its last choice finished");
    timeline_.ok = true;
    timeline_.status = "OK";
    if (timeline_.output_tokens == 0) timeline_.output_tokens = counted_tokens_;
    Ended();
  }

  // Ends the call as failed before or without a transfer.
  void Fail(const std::string& status, const std::string& message) {
    if (timeline_.end_s == 0) timeline_.end_s = Now();
    timeline_.ok = false;
    timeline_.status = status;
    timeline_.error = message;
    timeline_.output_tokens = timeline_.prompt_text_tokens = timeline_.image_tokens = 0;
    timeline_.video_tokens = timeline_.cached_tokens = 0;
    Ended();
  }

 private:
  static size_t OnBytes(char* data, size_t size, size_t count, void* self) {
    static_cast<HttpCall*>(self)->Receive(std::string_view(data, size * count));
    return size * count;
  }

  void Receive(std::string_view bytes) {
    long http_status = 0;
    curl_easy_getinfo(easy_, CURLINFO_RESPONSE_CODE, &http_status);
    if (http_status != 200) {
      unparsed_.append(bytes.substr(0, 1 << 16));
      return;
    }
    const double now = Now();
    for (const std::string& data : sse_.Feed(bytes)) {
      ++timeline_.responses;
      absl::StatusOr<StreamEvent> event = ParseStreamEvent(data);
      if (!event.ok()) {
        error_ = std::string(event.status().message());
        continue;
      }
      if (event->error.has_value()) error_ = event->error;
      if (event->done) done_ = true;
      if (event->finished) finished_ = true;
      if (event->tokens > 0) {
        timeline_.chunks.push_back({now, event->tokens});
        counted_tokens_ += event->tokens;
      }
      if (event->has_usage) {
        timeline_.output_tokens = event->completion_tokens;
        timeline_.image_tokens = event->image_tokens;
        timeline_.video_tokens = event->video_tokens;
        timeline_.cached_tokens = event->cached_tokens;
        timeline_.prompt_text_tokens = event->prompt_text_tokens >= 0
                                           ? event->prompt_text_tokens
                                           : event->prompt_tokens - event->image_tokens - event->video_tokens;
      }
    }
  }

  CURL* easy_ = nullptr;
  curl_slist* headers_ = nullptr;
  std::string url_;
  std::string body_;
  SseReader sse_;
  std::string unparsed_;  // a non-200 answer's body
  std::optional<std::string> error_;
  int64_t counted_tokens_ = 0;
  bool done_ = false;
  bool finished_ = false;
};

class OpenAiLoadGenerator final : public LoadGenerator {
 public:
  explicit OpenAiLoadGenerator(OpenAiConnectionOptions options) : options_(std::move(options)) {
    multi_ = curl_multi_init();
    thread_ = std::thread([this] { Loop(); });
  }

  ~OpenAiLoadGenerator() override {
    stopping_ = true;
    curl_multi_wakeup(multi_);
    thread_.join();
    curl_multi_cleanup(multi_);
  }

 protected:
  std::unique_ptr<PendingCall> Start(int64_t index, const BenchRequest& request, Clock::time_point t0,
                                     RunState& state, RunProgress* progress, double timeout_s) override {
    auto call = std::make_unique<HttpCall>(index, request, t0, state, progress);
    if (call->Prepare(options_, timeout_s)) {
      call->MarkSent();
      {
        std::lock_guard<std::mutex> lock(mutex_);
        pending_.push_back(call.get());
      }
      curl_multi_wakeup(multi_);
    }
    return call;
  }

 private:
  // Every transfer runs here: new calls join the multi handle, finished ones
  // are ended (the sending thread keeps them alive until every call ended).
  void Loop() {
    while (!stopping_) {
      {
        std::lock_guard<std::mutex> lock(mutex_);
        for (HttpCall* call : pending_) curl_multi_add_handle(multi_, call->easy());
        pending_.clear();
      }
      int running = 0;
      curl_multi_perform(multi_, &running);
      int queued = 0;
      while (CURLMsg* message = curl_multi_info_read(multi_, &queued)) {
        if (message->msg != CURLMSG_DONE) continue;
        HttpCall* call = nullptr;
        curl_easy_getinfo(message->easy_handle, CURLINFO_PRIVATE, reinterpret_cast<char**>(&call));
        const CURLcode code = message->data.result;
        curl_multi_remove_handle(multi_, message->easy_handle);
        call->Done(code);
      }
      curl_multi_poll(multi_, nullptr, 0, 100, nullptr);
    }
  }

  const OpenAiConnectionOptions options_;
  CURLM* multi_ = nullptr;
  std::atomic<bool> stopping_{false};
  std::mutex mutex_;
  std::vector<HttpCall*> pending_;  // guarded by mutex_
  std::thread thread_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<LoadGenerator>> CreateOpenAiLoadGenerator(const OpenAiConnectionOptions& options) {
  if (options.base_url.rfind("http://", 0) != 0 && options.base_url.rfind("https://", 0) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--http-url '", options.base_url, "' must start with http:// or https://"));
  }
  static const CURLcode global = curl_global_init(CURL_GLOBAL_DEFAULT);
  if (global != CURLE_OK) return absl::InternalError("curl_global_init failed");
  return std::make_unique<OpenAiLoadGenerator>(options);
}

}  // namespace ovserve::bench
