#include "server/input_limits.h"

#include <variant>

#include "absl/strings/str_cat.h"

namespace ovserve::server {

int64_t PromptTextBytes(const engine::PromptInput& input) {
  if (const auto* raw = std::get_if<engine::RawPrompt>(&input)) {
    return static_cast<int64_t>(raw->text.size());
  }
  int64_t bytes = 0;
  for (const engine::ChatMessage& message : std::get<engine::Conversation>(input).messages) {
    for (const engine::ContentPart& part : message.content) {
      if (part.type == engine::ContentType::kText) bytes += static_cast<int64_t>(part.text.size());
    }
  }
  return bytes;
}

absl::Status CheckPromptBytes(int64_t bytes, const InputLimits& limits) {
  if (bytes <= limits.max_prompt_bytes) return absl::OkStatus();
  return absl::ResourceExhaustedError(absl::StrCat("the prompt's text is ", bytes,
                                                   " bytes, over the limit of ",
                                                   limits.max_prompt_bytes, " (--max-prompt-bytes)"));
}

absl::Status CheckDetokenizeIds(int64_t ids, const InputLimits& limits) {
  if (ids <= limits.max_detokenize_ids) return absl::OkStatus();
  return absl::ResourceExhaustedError(absl::StrCat("Detokenize got ", ids,
                                                   " token ids, over the limit of ",
                                                   limits.max_detokenize_ids));
}

}  // namespace ovserve::server
