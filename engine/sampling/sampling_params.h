#pragma once
// SamplingParams: how one request turns a row of logits into its next token
// (vLLM / HF transformers / OpenAI semantics), plus the validation the
// server runs on untrusted input before the engine ever sees the params.
//
// Thread: plain value type; ValidateSamplingParams is a pure function.

#include <cstdint>
#include <optional>

#include "absl/status/status.h"

namespace ovserve::engine {

// Largest number of top alternatives a request may ask for (OpenAI / vLLM cap).
inline constexpr int32_t kMaxLogprobs = 20;

struct SamplingParams {
  // Softmax temperature; 0 means greedy (argmax, lowest id on ties).
  float temperature = 1.0f;
  // Keep only the k highest logits; 0 or -1 disables.
  int32_t top_k = 0;
  // Nucleus sampling: keep the smallest highest-probability set whose
  // cumulative probability is >= top_p; 1 disables.
  float top_p = 1.0f;
  // Drop tokens whose probability is < min_p * (max probability); 0 disables.
  float min_p = 0.0f;
  // HF-style multiplicative penalty over every prompt + output token; 1 disables.
  float repetition_penalty = 1.0f;
  // OpenAI-style additive penalties over OUTPUT tokens only; 0 disables.
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  // Makes the request's samples reproducible (and independent of batching).
  std::optional<uint64_t> seed;
  // Number of top alternatives to report per token, 0 = none.
  int32_t logprobs = 0;
};

// OK, or INVALID_ARGUMENT naming the offending field, its value and the
// allowed range. `vocab_size` is the model's logits width (> 0). NaN is
// rejected everywhere. A top_k larger than the vocabulary is allowed (it
// keeps everything).
[[nodiscard]] absl::Status ValidateSamplingParams(const SamplingParams& params,
                                                  int64_t vocab_size);

}  // namespace ovserve::engine
