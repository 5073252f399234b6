#include "engine/prompt/chat_template.h"

namespace ovserve::engine {
namespace {

// The template filters each message's parts by type in three passes, so media
// markers come first regardless of where the parts sit in `content`.
constexpr ContentType kPassOrder[] = {ContentType::kImage, ContentType::kVideo, ContentType::kText};

}  // namespace

std::string ApplyChatTemplate(const std::vector<ChatMessage>& messages, bool add_generation_prompt) {
  std::string prompt;
  for (const ChatMessage& message : messages) {
    prompt += "<|im_start|>";
    prompt += message.role;
    prompt += '\n';
    for (ContentType pass : kPassOrder) {
      for (const ContentPart& part : message.content) {
        if (part.type != pass) continue;
        switch (pass) {
          case ContentType::kImage: prompt += "<image>\n"; break;
          case ContentType::kVideo: prompt += "<video>\n"; break;
          case ContentType::kText: prompt += part.text; break;
        }
      }
    }
    prompt += "<|im_end|>\n";
  }
  if (add_generation_prompt) prompt += "<|im_start|>assistant\n";
  return prompt;
}

std::vector<const MediaInput*> MediaInTemplateOrder(const std::vector<ChatMessage>& messages) {
  std::vector<const MediaInput*> media;
  for (const ChatMessage& message : messages) {
    for (ContentType pass : kPassOrder) {
      if (pass == ContentType::kText) continue;
      for (const ContentPart& part : message.content) {
        if (part.type == pass) media.push_back(&part.media);
      }
    }
  }
  return media;
}

}  // namespace ovserve::engine
