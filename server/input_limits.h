#pragma once
// Bounds on what a request asks the tokenizer to do, checked before any tokenization:
// prompt text (all messages' text parts, or a raw prompt) for Generate and Tokenize, and
// the ids of a Detokenize. Shared by the gRPC and HTTP front ends.

#include <cstdint>

#include "absl/status/status.h"
#include "engine/prompt/prompt_input.h"

namespace ovserve::server {

struct InputLimits {
  int64_t max_prompt_bytes = int64_t{8} << 20;  // --max-prompt-bytes
  int64_t max_detokenize_ids = int64_t{1} << 20;
};

// Bytes of text in `input` (message text parts, or the raw prompt's text).
int64_t PromptTextBytes(const engine::PromptInput& input);

// RESOURCE_EXHAUSTED naming the limit and the value when over it.
absl::Status CheckPromptBytes(int64_t bytes, const InputLimits& limits);
absl::Status CheckDetokenizeIds(int64_t ids, const InputLimits& limits);

}  // namespace ovserve::server
