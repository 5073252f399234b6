#pragma once
// The stable output contract of `ovserve-run --out DIR` (other checks read it):
// DIR/result.json with `input_ids` (expanded ids run), `visual_tokens` (count
// per image/video item, in prompt order) and `greedy_ids` (new tokens), and
// DIR/last_logits.f32: the last prompt position's logits, raw little-endian
// float32, vocab_size values.

#include <filesystem>

#include "absl/status/status.h"
#include "engine/runner/greedy_runner.h"

namespace ovserve::engine {

absl::Status WriteRunOutput(const std::filesystem::path& out_dir, const GreedyResult& result);

}  // namespace ovserve::engine
