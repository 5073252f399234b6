#include "server/http/openai_service.h"

#include <algorithm>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "engine/prompt/chat_template.h"
#include "engine/util/random_id.h"
#include "server/grpc_status.h"
#include "server/log_format.h"
#include "spdlog/spdlog.h"

namespace ovserve::server::http {
namespace {

// An input-size refusal as a 400 naming the parameter: the request itself is too large,
// so a 429 (retry later) would mislead.
ApiError TooLarge(const absl::Status& status, std::string param) {
  ApiError e;
  e.message = std::string(status.message());
  e.param = std::move(param);
  return e;
}

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr char kJson[] = "application/json";

int64_t UnixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The metric label of a status code: gRPC's names ("ok", "cancelled", ...).
std::string StatusLabel(absl::StatusCode code) {
  return StatusCodeLabel(static_cast<grpc::StatusCode>(code));
}

// A short, printable, length-capped copy of a client string for the log.

}  // namespace

// One /v1/chat/completions or /v1/completions request: n engine requests,
// answered as one stream or one response. Owned by the service's map (and
// the pump while it pumps); removed when answered.
class HttpGeneration : public std::enable_shared_from_this<HttpGeneration> {
 public:
  HttpGeneration(OpenAiService* service, uint64_t token, Generation generation,
                 std::shared_ptr<HttpResponder> responder, const engine::Tokenizer* tokenizer,
                 std::string peer)
      : service_(service),
        token_(token),
        g_(std::move(generation)),
        responder_(std::move(responder)),
        tokenizer_(tokenizer),
        peer_(std::move(peer)),
        started_at_(Clock::now()),
        images_(engine::CountMedia(g_.request.input, engine::MediaType::kImage)),
        videos_(engine::CountMedia(g_.request.input, engine::MediaType::kVideo)) {
    meta_.endpoint = g_.endpoint;
    meta_.id = engine::RandomRequestId(g_.endpoint == Endpoint::kChat ? "chatcmpl-" : "cmpl-");
    meta_.created = UnixNow();
    meta_.model = g_.model;
    meta_.logprobs = g_.logprobs;
    meta_.top_logprobs = g_.top_logprobs;
    meta_.include_usage = g_.include_usage;
    meta_.return_token_ids = g_.return_token_ids;
    if (const auto* raw = std::get_if<engine::RawPrompt>(&g_.request.input); g_.echo && raw != nullptr) {
      if (!raw->text.empty()) {
        echo_ = raw->text;
      } else if (auto text = tokenizer_->Decode(raw->token_ids); text.ok()) {
        echo_ = *text;
      }
    }
    choices_.resize(g_.n);
  }

  const ResponseMeta& meta() const { return meta_; }
  Generation& generation() { return g_; }

  // The engine requests of the n choices (seeds offset by the index).
  std::vector<engine::GenerateRequest> Requests(const std::shared_ptr<engine::OutputWaker>& waker) const {
    std::vector<engine::GenerateRequest> out;
    for (int i = 0; i < g_.n; ++i) {
      engine::GenerateRequest r = g_.request;
      r.request_id = g_.n == 1 ? meta_.id : absl::StrCat(meta_.id, "-", i);
      if (r.sampling.seed.has_value()) r.sampling.seed = *r.sampling.seed + static_cast<uint64_t>(i);
      r.waker = waker;
      r.waker_token = token_;
      out.push_back(std::move(r));
    }
    return out;
  }

  // Every choice was submitted. A streamed response starts once all are
  // admitted (Pump), so preparation errors still get an error status.
  void Start(std::vector<std::unique_ptr<engine::RequestHandle>> handles) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (size_t i = 0; i < handles.size(); ++i) choices_[i].handle = std::move(handles[i]);
      started_ = true;
      if (client_gone_ || abort_reason_.has_value()) CancelLocked();
    }
    Pump();
  }

  // Admission failed (some choice refused): nothing was sent yet.
  void Fail(const ApiError& error) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (done_) return;
      done_ = true;
      status_code_ = error.status_code;
    }
    responder_->Send(error.http_status(), kJson, ErrorBody(error));
    Finish();
  }

  // The client disconnected: every choice is cancelled; the engine's final
  // outputs then end the generation.
  void ClientGone() {
    std::lock_guard<std::mutex> lock(mutex_);
    client_gone_ = true;
    CancelLocked();
  }

  // The server gives up on it (drain timeout): cancelled, answered with 503.
  void Abort(const std::string& reason) {
    std::lock_guard<std::mutex> lock(mutex_);
    abort_reason_ = reason;
    CancelLocked();
  }

  void Pump() {
    bool finished = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!started_ || done_) return;
      // Admission is read before the outputs are drained: a choice that failed its
      // preparation counts as admitted only once its error output is queued, so the
      // drain below then sees that error and the stream is not opened.
      const bool all_admitted = AllAdmittedLocked();
      for (int i = 0; i < g_.n; ++i) {
        Choice& c = choices_[i];
        if (c.final_output.has_value() || c.handle == nullptr) continue;
        engine::RequestOutput out;
        while (c.handle->TryNext(&out)) Take(i, std::move(out));
      }
      if (g_.stream && !stream_open_ && all_admitted && !AnyFailedLocked()) OpenStreamLocked();
      finished = std::all_of(choices_.begin(), choices_.end(),
                             [](const Choice& c) { return c.final_output.has_value(); });
      if (finished) {
        done_ = true;
        Answer();
      }
    }
    if (finished) Finish();
  }

 private:
  struct Choice {
    std::unique_ptr<engine::RequestHandle> handle;
    std::string text;
    std::vector<int32_t> token_ids;
    std::vector<engine::TokenLogprob> logprobs;
    int64_t text_offset = 0;  // completions' logprob text_offset
    std::optional<engine::RequestOutput> final_output;
    std::vector<engine::RequestOutput> held;  // streamed outputs before the stream opened
  };

  bool AllAdmittedLocked() const {
    return std::all_of(choices_.begin(), choices_.end(),
                       [](const Choice& c) { return c.handle != nullptr && c.handle->admitted(); });
  }
  bool AnyFailedLocked() const {
    return std::any_of(choices_.begin(), choices_.end(), [](const Choice& c) {
      return c.final_output.has_value() && c.final_output->finish_reason == engine::FinishReason::kError;
    });
  }

  // The SSE response starts: headers, each choice's opening chunk, then what
  // the choices produced while it waited for the others' admission.
  void OpenStreamLocked() {
    stream_open_ = true;
    responder_->StartStream(200, "text/event-stream");
    for (int i = 0; i < g_.n; ++i) {
      const std::string first = g_.echo ? echo_ : std::string();
      if (g_.endpoint == Endpoint::kChat || !first.empty()) {
        responder_->Write(SseEvent(StreamChunk(meta_, i, g_.endpoint == Endpoint::kChat, first,
                                               json(), {}, nullptr)));
      }
    }
    for (int i = 0; i < g_.n; ++i) {
      std::vector<engine::RequestOutput> held = std::exchange(choices_[i].held, {});
      for (engine::RequestOutput& out : held) WriteStreamed(i, out);
    }
  }

  void CancelLocked() {
    for (Choice& c : choices_) {
      if (c.handle != nullptr) c.handle->Cancel();
    }
  }

  // One streamed delta of choice `i` (the stream is open).
  void WriteStreamed(int i, const engine::RequestOutput& out) {
    Choice& c = choices_[i];
    const bool has_delta = !out.text.empty() || !out.logprobs.empty() ||
                           (g_.return_token_ids && !out.token_ids.empty());
    if (!has_delta && !out.finished) return;
    json logprobs;
    if (g_.logprobs && !out.logprobs.empty()) {
      logprobs = LogprobsJson(g_.endpoint, out.logprobs, *tokenizer_,
                              c.text_offset + static_cast<int64_t>(echo_.size()));
    }
    c.text_offset += static_cast<int64_t>(out.text.size());
    if (out.finish_reason != engine::FinishReason::kError) {
      responder_->Write(SseEvent(StreamChunk(meta_, i, false, out.text, logprobs, out.token_ids,
                                             out.finished ? &out : nullptr)));
    }
  }

  // One merged delta of choice `i`.
  void Take(int i, engine::RequestOutput out) {
    Choice& c = choices_[i];
    if (!out.token_ids.empty()) inter_token_.OnTokens(service_->metrics_, /*record=*/g_.stream);
    if (g_.stream) {
      if (stream_open_) {
        WriteStreamed(i, out);
      } else {
        c.held.push_back(out);
      }
    } else {
      c.text += out.text;
      c.token_ids.insert(c.token_ids.end(), out.token_ids.begin(), out.token_ids.end());
      c.logprobs.insert(c.logprobs.end(), out.logprobs.begin(), out.logprobs.end());
    }
    if (out.finished) c.final_output = std::move(out);
  }

  // All choices are final: the rest of the stream, or the whole response.
  void Answer() {
    const engine::RequestOutput* error = nullptr;
    for (const Choice& c : choices_) {
      if (c.final_output->finish_reason == engine::FinishReason::kError) error = &*c.final_output;
    }
    std::optional<ApiError> api_error;
    if (error != nullptr) {
      api_error = ToApiError(error->error.ok() ? absl::InternalError("the request failed") : error->error);
    } else if (abort_reason_.has_value()) {
      api_error = ToApiError(absl::UnavailableError(*abort_reason_));
    }
    if (client_gone_) {
      status_code_ = absl::StatusCode::kCancelled;
    } else if (api_error.has_value()) {
      status_code_ = api_error->status_code;
    }
    std::vector<engine::RequestOutput> finals;
    for (const Choice& c : choices_) finals.push_back(*c.final_output);
    if (g_.stream && !stream_open_ && !api_error.has_value()) OpenStreamLocked();
    if (g_.stream && stream_open_) {
      if (api_error.has_value()) {
        responder_->Write(absl::StrCat("data: ", ErrorBody(*api_error), "\n\n"));
      } else if (g_.include_usage) {
        responder_->Write(SseEvent(UsageChunk(meta_, finals)));
      }
      responder_->Write(std::string(kSseDone));
      responder_->End();
    } else if (api_error.has_value()) {
      responder_->Send(api_error->http_status(), kJson, ErrorBody(*api_error));
    } else {
      std::vector<ChoiceResult> results;
      for (Choice& c : choices_) {
        ChoiceResult r;
        r.text = echo_ + c.text;
        if (g_.logprobs) {
          r.logprobs = LogprobsJson(g_.endpoint, c.logprobs, *tokenizer_, static_cast<int64_t>(echo_.size()));
        }
        r.token_ids = c.token_ids;
        r.final_output = *c.final_output;
        results.push_back(std::move(r));
      }
      responder_->Send(200, kJson, FullResponse(meta_, results).dump(-1, ' ', false, json::error_handler_t::replace));
    }
    finals_ = std::move(finals);
  }

  // Metrics, the access log line, and out of the service's map.
  void Finish() {
    RequestRecord record;
    record.frontend = "http";
    record.status = StatusLabel(status_code_);
    if (!finals_.empty()) {
      record.has_output = true;
      record.finish_reason = finals_[0].finish_reason;
      record.usage = finals_[0].usage;
      for (size_t i = 1; i < finals_.size(); ++i) {
        record.usage.completion_tokens += finals_[i].usage.completion_tokens;
      }
      record.timings = finals_[0].timings;
    }
    service_->metrics_.RecordRequest(record);
    const engine::Usage& u = record.usage;
    spdlog::info(fmt::runtime("http request {} peer={} {} n={} images={} videos={} user={} prompt_tokens={} "
                              "(visual {}, cached {}) completion_tokens={} finish={} status={} total={:.3f}s"),
                 meta_.id, peer_, g_.endpoint == Endpoint::kChat ? "chat" : "completion", g_.n,
                 images_, videos_, ClientText(g_.user), u.prompt_tokens,
                 u.visual_tokens, u.cached_tokens, u.completion_tokens,
                 engine::FinishReasonName(record.finish_reason), HttpStatus(status_code_),
                 std::chrono::duration<double>(Clock::now() - started_at_).count());
    service_->live_.Remove(token_);
  }

  OpenAiService* const service_;
  const uint64_t token_;
  Generation g_;
  const std::shared_ptr<HttpResponder> responder_;
  const engine::Tokenizer* const tokenizer_;
  const std::string peer_;
  const Clock::time_point started_at_;
  const int64_t images_;
  const int64_t videos_;
  ResponseMeta meta_;
  std::string echo_;

  std::mutex mutex_;
  std::vector<Choice> choices_;
  bool started_ = false;
  bool stream_open_ = false;  // the SSE response has started
  bool done_ = false;
  bool client_gone_ = false;
  std::optional<std::string> abort_reason_;
  absl::StatusCode status_code_ = absl::StatusCode::kOk;
  InterTokenTimer inter_token_;
  std::vector<engine::RequestOutput> finals_;
};

OpenAiService::OpenAiService(Metrics& metrics, OpenAiServiceOptions options)
    : metrics_(metrics),
      options_(std::move(options)),
      fetcher_(options_.media_fetch),
      created_(UnixNow()) {}

OpenAiService::~OpenAiService() = default;

int64_t OpenAiService::live_requests() const { return live_.size(); }

bool OpenAiService::WaitForIdle(Clock::time_point deadline) { return live_.WaitForIdle(deadline); }

void OpenAiService::AbortAll(const std::string& reason) { live_.AbortAll(reason); }

void OpenAiService::Refuse(const HttpRequest& request, HttpResponder& responder, const ApiError& error) {
  RequestRecord record;
  record.frontend = "http";
  record.status = StatusLabel(error.status_code);
  if (request.path == "/v1/chat/completions" || request.path == "/v1/completions") {
    metrics_.RecordRequest(record);
  }
  spdlog::warn(fmt::runtime("http {} {} peer={} refused: {} {}"), request.method, ClientText(request.path),
               request.peer, error.http_status(), ClientText(error.message));
  std::vector<std::pair<std::string, std::string>> headers;
  if (error.http_status() == 401) headers.emplace_back("WWW-Authenticate", "Bearer");
  responder.Send(error.http_status(), kJson, ErrorBody(error), std::move(headers));
}

void OpenAiService::Handle(HttpRequest request, std::shared_ptr<HttpResponder> responder) {
  const std::string& path = request.path;
  const bool get = request.method == "GET";
  const bool post = request.method == "POST";
  const auto error = [](absl::StatusCode status_code, std::string message, std::string code = "") {
    ApiError e;
    e.status_code = status_code;
    e.message = std::move(message);
    e.code = std::move(code);
    return e;
  };
  engine::Engine* engine = engine_.load();
  if (path == "/health" && get) {
    const bool ok = serving_.load() && engine != nullptr && !draining_.load();
    responder->Send(ok ? 200 : 503, kJson, ok ? "{}" : R"({"status":"not serving"})");
    return;
  }
  if (path == "/version" && get) {
    responder->Send(200, kJson, json{{"version", options_.version}}.dump());
    return;
  }
  const bool known = (get && path == "/v1/models") ||
                     (post && (path == "/v1/chat/completions" || path == "/v1/completions" ||
                               path == "/tokenize" || path == "/detokenize"));
  if (!known) {
    return Refuse(request, *responder,
                  error(absl::StatusCode::kNotFound, absl::StrCat("no route ", request.method, " ", path.substr(0, 200)), "not_found"));
  }
  // The key's name is the tenant (its requests' ids are scoped to it in the engine).
  std::string tenant;
  if (options_.api_keys != nullptr) {
    std::optional<std::string> name = options_.api_keys->current()->Authenticate(request.authorization);
    if (!name.has_value()) {
      return Refuse(request, *responder,
                    error(absl::StatusCode::kUnauthenticated, request.authorization.empty() ? "missing 'Authorization: Bearer <api key>'"
                                                             : "invalid API key",
                          "invalid_api_key"));
    }
    tenant = *std::move(name);
  }
  if (engine == nullptr) {
    return Refuse(request, *responder, error(absl::StatusCode::kUnavailable, "the model is still loading; retry shortly"));
  }
  if (path == "/v1/models") return HandleModels(*responder, *engine);
  if (path == "/tokenize") return HandleTokenize(request, *responder, *engine);
  if (path == "/detokenize") return HandleDetokenize(request, *responder, *engine);
  if (draining_.load()) {
    return Refuse(request, *responder,
                  error(absl::StatusCode::kUnavailable, "the server is shutting down; retry on another replica"));
  }
  const Endpoint endpoint = path == "/v1/chat/completions" ? Endpoint::kChat : Endpoint::kCompletion;
  HandleGeneration(endpoint, std::move(request), std::move(responder), engine, std::move(tenant));
}

void OpenAiService::HandleGeneration(Endpoint endpoint, HttpRequest request,
                                     std::shared_ptr<HttpResponder> responder, engine::Engine* engine,
                                     std::string tenant) {
  const json body = json::parse(request.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) {
    ApiError e;
    e.message = "the request body is not valid JSON";
    return Refuse(request, *responder, e);
  }
  std::variant<Generation, ApiError> parsed = endpoint == Endpoint::kChat
                                                  ? ParseChatCompletion(body, options_.parse, request.body)
                                                  : ParseCompletion(body, options_.parse, request.body);
  if (auto* e = std::get_if<ApiError>(&parsed)) return Refuse(request, *responder, *e);
  Generation& g = std::get<Generation>(parsed);
  g.request.tenant = std::move(tenant);
  if (!options_.share_cache_across_tenants) g.request.cache_salt = g.request.tenant;
  if (absl::Status size = CheckPromptBytes(PromptTextBytes(g.request.input), options_.input_limits);
      !size.ok()) {
    return Refuse(request, *responder,
                  TooLarge(size, endpoint == Endpoint::kChat ? "messages" : "prompt"));
  }
  for (const RemoteMedia& m : g.remote_media) {
    if (absl::Status allowed = fetcher_.CheckAllowed(m.url); !allowed.ok()) {
      ApiError e = ToApiError(allowed);
      e.param = m.video ? "video_url" : "image_url";
      return Refuse(request, *responder, e);
    }
  }
  const std::shared_ptr<HttpGeneration> generation = live_.Add([&](uint64_t token) {
    return std::make_shared<HttpGeneration>(this, token, std::move(g), responder,
                                            &engine->tokenizer(), request.peer);
  });
  std::weak_ptr<HttpGeneration> weak = generation;
  responder->OnClientGone([weak] {
    if (auto g = weak.lock()) g->ClientGone();
  });

  auto submit = [this, engine, generation] {
    Generation& gen = generation->generation();
    for (const RemoteMedia& m : gen.remote_media) {
      absl::StatusOr<std::string> bytes = fetcher_.Fetch(m.url);
      if (!bytes.ok()) {
        ApiError e = ToApiError(bytes.status());
        e.param = m.video ? "video_url" : "image_url";
        return generation->Fail(e);
      }
      RemoteMediaTarget(gen, m).bytes = std::move(*bytes);
    }
    std::vector<std::unique_ptr<engine::RequestHandle>> handles;
    for (engine::GenerateRequest& r : generation->Requests(live_.waker())) {
      absl::StatusOr<std::unique_ptr<engine::RequestHandle>> handle = engine->Submit(std::move(r));
      if (!handle.ok()) {
        for (auto& h : handles) h->Cancel();
        return generation->Fail(ToApiError(handle.status()));
      }
      handles.push_back(std::move(*handle));
    }
    // The media bytes are not needed once preprocessed.
    gen.request.input = engine::PromptInput{};
    generation->Start(std::move(handles));
  };
  if (generation->generation().remote_media.empty()) {
    submit();
  } else {
    fetch_pool_.Post(std::move(submit));  // blocking downloads off the I/O thread
  }
}

void OpenAiService::HandleModels(HttpResponder& responder, engine::Engine& engine) {
  const json model = {{"id", options_.parse.model_name},
                      {"object", "model"},
                      {"created", created_},
                      {"owned_by", "ovserve"},
                      {"max_model_len", engine.max_model_len()},
                      {"checkpoint_format", std::string(engine::CheckpointFormatName(engine.model_config().format))}};
  responder.Send(200, kJson, json{{"object", "list"}, {"data", json::array({model})}}.dump());
}

void OpenAiService::HandleTokenize(const HttpRequest& request, HttpResponder& responder,
                                   engine::Engine& engine) {
  const json body = json::parse(request.body, nullptr, false);
  ApiError e;
  if (!body.is_object()) {
    e.message = "the request body must be a JSON object";
    return Refuse(request, responder, e);
  }
  std::string text;
  if (body.contains("messages")) {
    // The chat template over the messages (media as their placeholders).
    std::variant<Generation, ApiError> parsed = ParseChatCompletion(body, options_.parse, request.body);
    if (auto* error = std::get_if<ApiError>(&parsed)) return Refuse(request, responder, *error);
    const auto& chat = std::get<engine::Conversation>(std::get<Generation>(parsed).request.input);
    text = engine::ApplyChatTemplate(chat.messages, chat.add_generation_prompt);
  } else if (body.contains("prompt") && body["prompt"].is_string()) {
    text = body["prompt"].get<std::string>();
  } else {
    e.param = "prompt";
    e.message = "give 'prompt' (a string) or 'messages'";
    return Refuse(request, responder, e);
  }
  if (absl::Status size = CheckPromptBytes(static_cast<int64_t>(text.size()), options_.input_limits);
      !size.ok()) {
    return Refuse(request, responder, TooLarge(size, body.contains("messages") ? "messages" : "prompt"));
  }
  absl::StatusOr<std::vector<int32_t>> ids = engine.tokenizer().Encode(text);
  if (!ids.ok()) return Refuse(request, responder, ToApiError(ids.status()));
  const json out = {{"count", ids->size()}, {"max_model_len", engine.max_model_len()}, {"tokens", *ids}};
  responder.Send(200, kJson, out.dump());
}

void OpenAiService::HandleDetokenize(const HttpRequest& request, HttpResponder& responder,
                                     engine::Engine& engine) {
  const json body = json::parse(request.body, nullptr, false);
  ApiError e;
  e.param = "tokens";
  if (!body.is_object() || !body.contains("tokens") || !body["tokens"].is_array()) {
    e.message = "'tokens' (an array of token ids) is required";
    return Refuse(request, responder, e);
  }
  if (absl::Status size = CheckDetokenizeIds(static_cast<int64_t>(body["tokens"].size()),
                                             options_.input_limits);
      !size.ok()) {
    return Refuse(request, responder, TooLarge(size, "tokens"));
  }
  std::vector<int32_t> ids;
  for (const json& id : body["tokens"]) {
    if (!id.is_number_integer()) {
      e.message = "'tokens' must be integers";
      return Refuse(request, responder, e);
    }
    ids.push_back(id.get<int32_t>());
  }
  absl::StatusOr<std::string> text = engine.tokenizer().Decode(ids);
  if (!text.ok()) return Refuse(request, responder, ToApiError(text.status()));
  responder.Send(200, kJson, json{{"prompt", *text}}.dump(-1, ' ', false, json::error_handler_t::replace));
}

}  // namespace ovserve::server::http
