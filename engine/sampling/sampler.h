#pragma once
// Sampler: turns one sequence's row of logits into its next token, with the
// logprobs the request asked for. Order of operations follows vLLM v1:
//   1. repetition penalty (HF): every distinct id in prompt + output,
//      logit > 0 ? logit / penalty : logit * penalty;
//   2. frequency / presence penalties (OpenAI) over OUTPUT ids only:
//      logit -= frequency * count + presence * (count > 0);
//   3. logprobs for reporting: log_softmax of these processed logits
//      (before temperature, top-k, top-p, min-p);
//   4. temperature == 0: greedy argmax (lowest id wins ties); otherwise
//      temperature, top-k, top-p, min-p, then one draw from the
//      renormalized survivors using the sequence's own SequenceRng.
//
// Precondition: logits are finite or -inf (a -inf token is never sampled),
// params passed ValidateSamplingParams. Broken invariants (empty logits)
// abort with a message. History ids outside [0, vocab) are ignored.
//
// Cost: expected O(vocab) per call whatever top-k / top-p keep: top-k is one
// nth_element, top-p a selection by probability mass over logit bins (only
// the ids of the one bin the cut falls in are sorted); the
// logprobs top-N is a bounded heap. The 152k vocabulary is never sorted.
//
// Thread: NOT thread-safe: a Sampler keeps reusable scratch buffers so a call
// allocates nothing in steady state. Use one Sampler per sampling thread; it
// holds no per-request state, so any sequence may be sampled by any Sampler.

#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "engine/sampling/sampling_params.h"
#include "engine/sampling/sequence_rng.h"

namespace ovserve::engine {

// The ids a sequence has seen so far; borrowed for the duration of a call.
struct TokenHistory {
  std::span<const int32_t> prompt;
  std::span<const int32_t> output;
};

struct SampleResult {
  int32_t token = -1;
  // log_softmax of the processed (penalized, pre-temperature) logits at `token`.
  float logprob = 0.0f;
  // The params.logprobs best (id, logprob) pairs of the same distribution,
  // descending by logprob (lower id first on ties).
  std::vector<std::pair<int32_t, float>> top_logprobs;
};

class Sampler {
 public:
  Sampler() = default;
  Sampler(const Sampler&) = delete;
  Sampler& operator=(const Sampler&) = delete;

  // `logits`: one row of width vocab, modified in place: on return it holds
  // the penalized, pre-temperature logits (what logprobs were computed from).
  // `rng` advances by one draw unless the request is greedy.
  SampleResult Sample(std::span<float> logits, const SamplingParams& params,
                      const TokenHistory& history, SequenceRng& rng);

 private:
  void ApplyPenalties(std::span<float> logits, const SamplingParams& params,
                      const TokenHistory& history);
  // Returns the sampled id; `logits` already penalized, temperature > 0.
  int32_t SampleStochastic(std::span<const float> logits, const SamplingParams& params,
                           SequenceRng& rng);

  // top-p over the candidates ids_[0, pool) (weights_ filled for them):
  // moves the nucleus to ids_[0, n) and returns n >= 1.
  size_t TopP(std::span<const float> logits, float top_p, size_t pool);

  // Scratch, sized to the vocabulary on first use and reused across calls.
  std::vector<int32_t> counts_;   // per id, all zero between calls
  std::vector<int32_t> touched_;  // ids whose counts_ entry is non-zero
  std::vector<int32_t> ids_;      // candidate ids
  std::vector<double> weights_;   // per id: exp((logit - max) / temperature)
  std::vector<double> bin_mass_;  // top-p: probability mass per logit bin
  std::vector<int32_t> boundary_ids_;  // top-p: ids of the bin the cut falls in
};

}  // namespace ovserve::engine
