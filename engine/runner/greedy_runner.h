#pragma once
// Offline, single-request greedy generation on a LlavaOnevisionModel: expand
// the placeholders, encode every visual item, prefill, then decode token by
// token. The path `ovserve-run` and the golden tests share. The sequence's KV
// lives in the same paged cache the serving engine uses (blocks 0..n-1 of a
// cache of its own).

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/model/llava_model.h"

namespace ovserve::engine {

struct GreedyRequest {
  std::vector<int32_t> prompt_ids;  // tokenized prompt with one id per <image>/<video>
  std::vector<VisualInput> images;  // in placeholder order
  std::vector<VisualInput> videos;  // in placeholder order
  int64_t max_new_tokens = 16;
  std::vector<int32_t> stop_token_ids;  // generation ends after emitting one
  int64_t prefill_chunk = 0;  // prompt tokens per forward (chunked prefill); 0 = all at once
  int kv_block_size = 16;     // paged KV cache block size
  // Teacher forcing (accuracy checks of reduced-precision paths): step i
  // feeds forced_ids[i] instead of its own argmax, while generated_ids still
  // records each step's argmax; stop tokens do not end it. Empty: greedy.
  std::vector<int32_t> forced_ids = {};
};

struct GreedyResult {
  std::vector<int32_t> input_ids;     // expanded prompt
  std::vector<int64_t> visual_tokens; // per visual item, in prompt order
  std::vector<int32_t> generated_ids;
  std::vector<float> last_logits;     // logits at the last prompt position
  double encode_seconds = 0, prefill_seconds = 0, decode_seconds = 0;
};

absl::StatusOr<GreedyResult> RunGreedy(LlavaOnevisionModel& model, const GreedyRequest& request);

}  // namespace ovserve::engine
