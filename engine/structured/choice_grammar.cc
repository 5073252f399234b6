#include "engine/structured/choice_grammar.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/structured/gbnf_literal.h"
#include "engine/tokenizer/utf8.h"

namespace ovserve::engine {

absl::StatusOr<std::string> ChoiceToGbnf(const std::vector<std::string>& choices) {
  if (choices.empty()) return absl::InvalidArgumentError("guided choice needs at least one choice");
  std::string out = "root ::= ";
  for (size_t i = 0; i < choices.size(); ++i) {
    if (!IsValidUtf8(choices[i])) {
      return absl::InvalidArgumentError(absl::StrCat("guided choice ", i, " is not valid UTF-8"));
    }
    absl::StrAppend(&out, i ? " | " : "", GbnfLiteral(choices[i]));
  }
  out += "\n";
  return out;
}

}  // namespace ovserve::engine
