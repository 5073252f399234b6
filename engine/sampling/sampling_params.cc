#include "engine/sampling/sampling_params.h"

#include <cmath>
#include <string>

#include "absl/strings/str_cat.h"

namespace ovserve::engine {
namespace {

// Comparisons are written as !(in range) so that NaN fails them.
absl::Status OutOfRange(const char* field, double value, const char* range) {
  return absl::InvalidArgumentError(
      absl::StrCat("sampling parameter ", field, " = ", value, " is out of range; allowed: ", range));
}

}  // namespace

absl::Status ValidateSamplingParams(const SamplingParams& p, int64_t vocab_size) {
  if (vocab_size <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("vocab_size = ", vocab_size, " must be > 0"));
  }
  if (!(p.temperature >= 0.0f) || std::isinf(p.temperature)) {
    return OutOfRange("temperature", p.temperature, "finite, >= 0 (0 = greedy)");
  }
  if (!(p.top_p > 0.0f && p.top_p <= 1.0f)) {
    return OutOfRange("top_p", p.top_p, "(0, 1]");
  }
  if (!(p.min_p >= 0.0f && p.min_p <= 1.0f)) {
    return OutOfRange("min_p", p.min_p, "[0, 1]");
  }
  if (p.top_k < -1) {
    return OutOfRange("top_k", p.top_k, ">= -1 (0 or -1 = disabled)");
  }
  if (!(p.repetition_penalty > 0.0f) || std::isinf(p.repetition_penalty)) {
    return OutOfRange("repetition_penalty", p.repetition_penalty, "finite, > 0 (1 = disabled)");
  }
  if (!(p.presence_penalty >= -2.0f && p.presence_penalty <= 2.0f)) {
    return OutOfRange("presence_penalty", p.presence_penalty, "[-2, 2]");
  }
  if (!(p.frequency_penalty >= -2.0f && p.frequency_penalty <= 2.0f)) {
    return OutOfRange("frequency_penalty", p.frequency_penalty, "[-2, 2]");
  }
  if (p.logprobs < 0 || p.logprobs > kMaxLogprobs) {
    return OutOfRange("logprobs", p.logprobs, absl::StrCat("[0, ", kMaxLogprobs, "]").c_str());
  }
  return absl::OkStatus();
}

}  // namespace ovserve::engine
