#include "engine/prompt/lmms_conversation.h"

namespace ovserve::engine {
namespace {

void AppendContent(const ChatMessage& message, std::string& out) {
  for (const ContentPart& part : message.content) {
    if (part.type == ContentType::kText) {
      out += part.text;
    } else {
      out += "<image>\n";
    }
  }
}

}  // namespace

std::string ApplyLmmsConversation(const std::vector<ChatMessage>& messages, bool add_generation_prompt) {
  std::string prompt;
  size_t first = 0;
  std::string system(kLmmsDefaultSystemPrompt);
  if (!messages.empty() && messages.front().role == "system") {
    system.clear();
    AppendContent(messages.front(), system);
    first = 1;
  }
  if (!system.empty()) prompt += "<|im_start|>system\n" + system + "<|im_end|>\n";
  for (size_t i = first; i < messages.size(); ++i) {
    prompt += "<|im_start|>";
    prompt += messages[i].role;
    prompt += '\n';
    AppendContent(messages[i], prompt);
    prompt += "<|im_end|>\n";
  }
  if (add_generation_prompt) prompt += "<|im_start|>assistant\n";
  return prompt;
}

std::vector<const MediaInput*> MediaInMessageOrder(const std::vector<ChatMessage>& messages) {
  std::vector<const MediaInput*> media;
  for (const ChatMessage& message : messages) {
    for (const ContentPart& part : message.content) {
      if (part.type != ContentType::kText) media.push_back(&part.media);
    }
  }
  return media;
}

}  // namespace ovserve::engine
