#include "engine/tokenizer/chat_template.h"

namespace ovserve::engine {

std::string ApplyChatTemplate(const std::vector<ChatMessage>& messages, bool add_generation_prompt) {
  std::string prompt;
  for (const ChatMessage& message : messages) {
    prompt += "<|im_start|>";
    prompt += message.role;
    prompt += '\n';
    // The template filters by type in three passes, so media markers come
    // first regardless of where the parts sit in `content`.
    for (const ContentPart& part : message.content) {
      if (part.type == ContentType::kImage) prompt += "<image>\n";
    }
    for (const ContentPart& part : message.content) {
      if (part.type == ContentType::kVideo) prompt += "<video>\n";
    }
    for (const ContentPart& part : message.content) {
      if (part.type == ContentType::kText) prompt += part.text;
    }
    prompt += "<|im_end|>\n";
  }
  if (add_generation_prompt) prompt += "<|im_start|>assistant\n";
  return prompt;
}

}  // namespace ovserve::engine
