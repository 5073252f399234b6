#pragma once
// The OpenAI wire format <-> the engine: request bodies of
// /v1/chat/completions and /v1/completions become engine::GenerateRequests
// (with vLLM's extensions), engine outputs become response objects and
// Server-Sent Event chunks shaped as OpenAI sends them, and statuses become
// OpenAI error objects. Pure functions over JSON; any thread.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include "absl/strings/string_view.h"
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "engine/engine.h"
#include "engine/tokenizer/tokenizer.h"
#include "nlohmann/json.hpp"

namespace ovserve::server::http {

// The HTTP status a client expects for a status code: 400 invalid, 401
// unauthenticated, 404 not found, 429 shed, 499 cancelled by the client,
// 503 unavailable, 504 deadline, 500 otherwise.
int HttpStatus(absl::StatusCode code);

// {"error": {"message", "type", "param", "code"}}; the HTTP status and the
// error type follow from `status_code`.
struct ApiError {
  absl::StatusCode status_code = absl::StatusCode::kInvalidArgument;
  std::string message;
  std::string param;  // empty: null
  std::string code;   // OpenAI's error code ("model_not_found"); empty: null

  int http_status() const { return HttpStatus(status_code); }
  std::string type() const;  // "invalid_request_error", "rate_limit_error", ...
};

std::string ErrorBody(const ApiError& error);
ApiError ToApiError(const absl::Status& status);

enum class Endpoint { kChat, kCompletion };

// A media item given by an http(s) URL, fetched before Submit.
struct RemoteMedia {
  bool video = false;
  size_t message = 0;  // the part of the conversation it fills
  size_t part = 0;
  std::string url;
};

// One parsed generation request; `request` is each choice's template.
struct Generation;
// The media part of `g`'s conversation that `m` is fetched into.
engine::MediaInput& RemoteMediaTarget(Generation& g, const RemoteMedia& m);

struct Generation {
  Endpoint endpoint = Endpoint::kChat;
  engine::GenerateRequest request;
  std::vector<RemoteMedia> remote_media;
  std::string model;
  int n = 1;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  bool logprobs = false;       // report the chosen tokens' logprobs
  int top_logprobs = 0;
  bool echo = false;           // completions: the prompt precedes the text
  bool return_token_ids = false;  // vLLM's: each choice also carries its token ids
  std::string user;
};

struct ParseOptions {
  std::string model_name;  // the one model served; requests may omit "model"
  int64_t default_max_tokens = 256;
  int max_n = 16;
  int64_t max_media_items = 64;  // parts counted before any base64 is decoded
  int32_t max_priority = 0;      // "priority" allowed: 0 .. max_priority (--max-priority)
};

// 400 naming the parameter for anything malformed or unsupported (tools,
// logit_bias, a JSON Schema keyword ovserve cannot enforce, ...); 404 for
// another model. `body_text` (the body as sent, optional) keeps a JSON
// Schema's properties in the client's order (`body` has its keys sorted).
std::variant<Generation, ApiError> ParseChatCompletion(const nlohmann::json& body, const ParseOptions& options,
                                                       std::string_view body_text = {});
std::variant<Generation, ApiError> ParseCompletion(const nlohmann::json& body, const ParseOptions& options,
                                                   std::string_view body_text = {});

// Bytes of a "data:<mime>;base64,<data>" URL; 400 for other forms.
std::variant<std::string, ApiError> DecodeDataUrl(absl::string_view url, absl::string_view param);

// What a response says about the request as a whole.
struct ResponseMeta {
  Endpoint endpoint = Endpoint::kChat;
  std::string id;  // "chatcmpl-..." / "cmpl-..."
  int64_t created = 0;
  std::string model;
  bool logprobs = false;
  int top_logprobs = 0;
  bool include_usage = false;
  bool return_token_ids = false;
};

std::string FinishReasonString(engine::FinishReason reason);

// The "logprobs" object of a choice for these tokens (chat: {"content": [...]};
// completions: tokens / token_logprobs / top_logprobs / text_offset, offsets
// counted from `text_offset`).
nlohmann::json LogprobsJson(Endpoint endpoint, const std::vector<engine::TokenLogprob>& logprobs,
                            const engine::Tokenizer& tokenizer, int64_t text_offset);

// Usage of a request's choices: the prompt counted once, completions summed,
// prompt_tokens_details.cached_tokens; the "ovserve" extension (visual tokens,
// timings of the first choice) goes in `extension`.
nlohmann::json UsageJson(const std::vector<engine::RequestOutput>& finals);
nlohmann::json ExtensionJson(const engine::RequestOutput& final_output);

// Server-Sent Events ("data: {...}\n\n").
std::string SseEvent(const nlohmann::json& chunk);
inline constexpr absl::string_view kSseDone = "data: [DONE]\n\n";

// One streaming chunk for choice `index`: chat {"delta": {...}}, completions
// {"text": ...}. `role` adds the assistant role (the first chat chunk);
// `token_ids` go in "token_ids" when meta.return_token_ids; `finish` (when
// set) closes the choice.
nlohmann::json StreamChunk(const ResponseMeta& meta, int index, bool role, const std::string& text,
                           const nlohmann::json& logprobs, const std::vector<int32_t>& token_ids,
                           const engine::RequestOutput* finish);
nlohmann::json UsageChunk(const ResponseMeta& meta, const std::vector<engine::RequestOutput>& finals);

// One finished choice of a non-streamed response.
struct ChoiceResult {
  std::string text;
  std::vector<int32_t> token_ids;  // reported when meta.return_token_ids
  nlohmann::json logprobs;  // null when not requested
  engine::RequestOutput final_output;
};
nlohmann::json FullResponse(const ResponseMeta& meta, const std::vector<ChoiceResult>& choices);

}  // namespace ovserve::server::http
