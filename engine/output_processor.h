#pragma once
// The output processor (vLLM v1's update step, in pure functions): what one
// sampled token becomes for its request's stream — the stop checker's
// verdict and the delta to emit (ids, whole-character text, logprobs) — and
// the one final output every way of ending builds (a stop, max_tokens, a
// cancel, an error, shutdown), with usage and timings. The engine thread
// calls them for the request it is updating.

#include <span>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/engine.h"
#include "engine/sampling/sampler.h"
#include "engine/sampling/stop_checker.h"
#include "engine/structured/token_bitmask.h"

namespace ovserve::engine {

// The ids the sampler must not pick now (StopChecker::BannedTokens) to -inf.
void MaskBannedTokens(std::span<float> logits, std::span<const int32_t> banned);

struct TokenOutput {
  RequestOutput delta;                        // the token, its text so far, its logprobs
  FinishReason finish = FinishReason::kNone;  // kNone: the request goes on
};

// Feeds `sample` (already appended to the sequence) to `stop`. When it ends
// the request, the delta carries the stop string / stop token. Errors are
// the stop checker's (an id the tokenizer cannot decode). `output_complete`:
// the request's grammar allows nothing after this token (it stops here).
absl::StatusOr<TokenOutput> ProcessToken(const SampleResult& sample, bool return_logprobs, StopChecker& stop,
                                         bool output_complete = false);

// Sets every logit the grammar's `allowed` mask leaves out to -inf.
void MaskDisallowedTokens(std::span<float> logits, const TokenBitmask& allowed);

// `last` (the ending token's delta, or an empty one) as the final output.
RequestOutput FinalOutput(RequestOutput last, FinishReason reason, absl::Status error, const Usage& usage,
                          const Timings& timings);

}  // namespace ovserve::engine
