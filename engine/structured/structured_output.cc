#include "engine/structured/structured_output.h"

#include "absl/strings/str_cat.h"
#include "engine/structured/choice_grammar.h"
#include "engine/structured/json_schema_grammar.h"
#include "engine/structured/regex_grammar.h"

namespace ovserve::engine {

const char* StructuredOutputKindName(StructuredOutput::Kind kind) {
  switch (kind) {
    case StructuredOutput::Kind::kNone: return "none";
    case StructuredOutput::Kind::kJsonSchema: return "json_schema";
    case StructuredOutput::Kind::kJsonObject: return "json_object";
    case StructuredOutput::Kind::kRegex: return "regex";
    case StructuredOutput::Kind::kChoice: return "choice";
    case StructuredOutput::Kind::kGrammar: return "grammar";
  }
  return "unknown";
}

absl::StatusOr<std::string> StructuredOutputGbnf(const StructuredOutput& constraint) {
  size_t bytes = constraint.text.size();
  for (const std::string& c : constraint.choices) bytes += c.size();
  if (bytes > kMaxConstraintBytes) {
    return absl::InvalidArgumentError(absl::StrCat("the ", StructuredOutputKindName(constraint.kind),
                                                   " constraint is ", bytes, " bytes; the limit is ",
                                                   kMaxConstraintBytes));
  }
  const JsonGrammarOptions json{.any_whitespace = constraint.any_whitespace};
  switch (constraint.kind) {
    case StructuredOutput::Kind::kNone: return absl::InvalidArgumentError("no constraint");
    case StructuredOutput::Kind::kJsonSchema: return JsonSchemaToGbnf(constraint.text, json);
    case StructuredOutput::Kind::kJsonObject: return JsonObjectGbnf(json);
    case StructuredOutput::Kind::kRegex: return RegexToGbnf(constraint.text);
    case StructuredOutput::Kind::kChoice:
      if (constraint.choices.size() > kMaxChoices) {
        return absl::InvalidArgumentError(absl::StrCat(constraint.choices.size(), " choices; the limit is ",
                                                       kMaxChoices));
      }
      return ChoiceToGbnf(constraint.choices);
    case StructuredOutput::Kind::kGrammar: return constraint.text;
  }
  return absl::InvalidArgumentError("unknown constraint kind");
}

}  // namespace ovserve::engine
