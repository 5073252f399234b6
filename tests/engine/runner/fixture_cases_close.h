#pragma once
// Shared by the golden tests of reduced-precision paths (the CPU's bf16-dot
// mode, the CUDA backend): every fixture case run greedily on a model, its
// last-position logits within a tolerance of transformers' and a prefix of
// its greedy tokens equal (a near-tie may flip late at bf16 precision).

#include <cstddef>
#include <cstdint>
#include <string>

#include "engine/model/llava_model.h"
#include "engine/tokenizer/tokenizer.h"

namespace ovserve::engine::testing {

// Prints "[ case NAME ] LABEL max|diff| ..." per case. `prefill_chunk`
// (0 = the whole prompt at once) applies to every case but text_only, so the
// chunked path over cached blocks is covered too.
void ExpectFixtureCasesClose(LlavaOnevisionModel& model, const Tokenizer& tokenizer, const std::string& label,
                             double logit_tolerance, size_t equal_prefix, int64_t prefill_chunk = 0);

// Every fixture case under teacher forcing (the reference's generated tokens
// fed back): its last-prompt-position logits within `logit_tolerance` of
// transformers' and, over all cases together, at least `min_agreement` of
// the steps' argmax equal to the reference token. Prints the figures per
// case; returns the overall agreement.
double ExpectTeacherForcedAgreement(LlavaOnevisionModel& model, const Tokenizer& tokenizer,
                                    const std::string& label, double logit_tolerance, double min_agreement);

}  // namespace ovserve::engine::testing
