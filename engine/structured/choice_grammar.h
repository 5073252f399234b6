#pragma once
// Choice list -> GBNF, for vLLM's `guided_choice`: the output must be exactly one of the given strings.
//
// Thread: pure function; safe from any thread.

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace ovserve::engine {

// `root ::= "a" | "b" ...`, every byte escaped. INVALID_ARGUMENT for an empty list or a choice that is not
// valid UTF-8. An empty choice is allowed (matches the empty output).
absl::StatusOr<std::string> ChoiceToGbnf(const std::vector<std::string>& choices);

}  // namespace ovserve::engine
