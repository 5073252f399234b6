#include "engine/output_processor.h"

#include <algorithm>
#include <limits>
#include <utility>

namespace ovserve::engine {

void MaskBannedTokens(std::span<float> logits, std::span<const int32_t> banned) {
  for (int32_t id : banned) logits[static_cast<size_t>(id)] = -std::numeric_limits<float>::infinity();
}

void MaskDisallowedTokens(std::span<float> logits, const TokenBitmask& allowed) {
  const std::span<const uint64_t> words = allowed.words();
  for (size_t w = 0; w < words.size(); ++w) {
    if (words[w] == ~uint64_t{0}) continue;
    const size_t end = std::min(logits.size(), (w + 1) * 64);
    for (size_t id = w * 64; id < end; ++id) {
      if (((words[w] >> (id & 63)) & 1u) == 0) logits[id] = -std::numeric_limits<float>::infinity();
    }
  }
  // Ids past the mask (a logits row wider than the vocabulary) are never allowed.
  for (size_t id = words.size() * 64; id < logits.size(); ++id) logits[id] = -std::numeric_limits<float>::infinity();
}

absl::StatusOr<TokenOutput> ProcessToken(const SampleResult& sample, bool return_logprobs, StopChecker& stop,
                                         bool output_complete) {
  absl::StatusOr<StopUpdate> update = stop.Push(sample.token, output_complete);
  if (!update.ok()) return update.status();
  TokenOutput out;
  out.delta.token_ids.push_back(sample.token);
  if (return_logprobs) out.delta.logprobs.push_back({sample.token, sample.logprob, sample.top_logprobs});
  out.delta.text = std::move(update->text);
  out.finish = update->finish;
  if (out.finish != FinishReason::kNone) {
    out.delta.stop_string = std::move(update->stop_string);
    out.delta.stop_token = update->stop_token;
  }
  return out;
}

RequestOutput FinalOutput(RequestOutput last, FinishReason reason, absl::Status error, const Usage& usage,
                          const Timings& timings) {
  last.finished = true;
  last.finish_reason = reason;
  last.error = std::move(error);
  last.usage = usage;
  last.timings = timings;
  return last;
}

}  // namespace ovserve::engine
