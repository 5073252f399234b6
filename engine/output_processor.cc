#include "engine/output_processor.h"

#include <limits>
#include <utility>

namespace ovserve::engine {

void MaskBannedTokens(std::span<float> logits, std::span<const int32_t> banned) {
  for (int32_t id : banned) logits[static_cast<size_t>(id)] = -std::numeric_limits<float>::infinity();
}

absl::StatusOr<TokenOutput> ProcessToken(const SampleResult& sample, bool return_logprobs, StopChecker& stop) {
  absl::StatusOr<StopUpdate> update = stop.Push(sample.token);
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
