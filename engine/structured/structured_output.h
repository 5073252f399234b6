#pragma once
// StructuredOutput: what a request asks its output to be (one of a JSON
// Schema, any JSON object, a regex, a choice of strings, a GBNF grammar), as
// both front ends fill it, and its translation to the GBNF grammar the
// engine compiles.
//
// Thread: plain value type and pure functions.

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace ovserve::engine {

// Largest constraint text (schema, regex, grammar, all choices together).
inline constexpr size_t kMaxConstraintBytes = 256u << 10;
inline constexpr size_t kMaxChoices = 1024;

struct StructuredOutput {
  enum class Kind { kNone, kJsonSchema, kJsonObject, kRegex, kChoice, kGrammar };
  Kind kind = Kind::kNone;
  std::string text;                  // the schema (JSON text), regex or GBNF grammar
  std::vector<std::string> choices;  // kChoice
  // JSON kinds: allow (bounded) whitespace between tokens; default compact.
  bool any_whitespace = false;

  bool active() const { return kind != Kind::kNone; }
};

const char* StructuredOutputKindName(StructuredOutput::Kind kind);

// The GBNF grammar (start rule `root`) of `constraint`; INVALID_ARGUMENT
// naming the unsupported keyword, the bad construct or the exceeded limit.
absl::StatusOr<std::string> StructuredOutputGbnf(const StructuredOutput& constraint);

}  // namespace ovserve::engine
