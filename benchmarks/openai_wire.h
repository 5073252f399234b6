#pragma once
// The OpenAI chat-completions wire format as ovserve-bench's HTTP mode speaks
// it: a bench request (an ovserve.v1.GenerateRequest with chat messages) as
// the JSON body a vLLM-compatible server takes, and the server-sent events
// of a streamed answer read back into token counts, usage and errors.
// Pure functions and a small parser; any thread.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "ovserve/v1/ovserve.pb.h"

namespace ovserve::bench {

// POST /v1/chat/completions body: the messages (images and videos as base64
// data: URLs), the sampling parameters the request sets, streaming with
// usage, and vLLM's return_token_ids (exact token counts per chunk).
// INVALID_ARGUMENT for a raw-prompt request.
absl::StatusOr<nlohmann::json> ChatCompletionBody(const v1::GenerateRequest& request, const std::string& model);

// Splits a byte stream of server-sent events into their data payloads.
class SseReader {
 public:
  // Appends `bytes`; returns the data of every event they complete, in order.
  std::vector<std::string> Feed(std::string_view bytes);

 private:
  std::string buffer_;
};

// What one event of a streamed chat completion says.
struct StreamEvent {
  bool done = false;        // "data: [DONE]"
  int64_t tokens = 0;       // generated tokens it carries
  bool finished = false;    // a choice's finish_reason is set
  std::string finish_reason;
  std::optional<std::string> error;  // an error event's message
  // The usage chunk's counts (prompt_tokens_details.cached_tokens, and
  // ovserve's own text / image / video split when the server sends it).
  bool has_usage = false;
  int64_t completion_tokens = 0;
  int64_t prompt_tokens = 0;
  int64_t prompt_text_tokens = -1;  // -1: not reported
  int64_t image_tokens = 0;
  int64_t video_tokens = 0;
  int64_t cached_tokens = 0;
};

// The canonical status name (as gRPC maps HTTP) of an HTTP error status, so
// both transports' failures are counted under the same names.
std::string StatusNameOfHttp(long http_status);

// INVALID_ARGUMENT when `data` is neither [DONE] nor a JSON object.
absl::StatusOr<StreamEvent> ParseStreamEvent(std::string_view data);

}  // namespace ovserve::bench
