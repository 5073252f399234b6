#pragma once
// What a request asks the model to continue, as both front ends hand it to
// the engine: one ordered list of text and media, as llama.cpp's mtmd chunks
// are. Either a conversation (messages of text / image / video parts, put in
// the model's chat format by engine/prompt/chat_template.h) or a raw prompt
// (text or token ids already in that format, with one <image> / <video>
// placeholder per media item and the items in placeholder order).
// Plain data; the prompt builder (prompt_builder.h) turns it into ids.

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "engine/multimodal/visual_kind.h"

namespace ovserve::engine {

// One encoded image or video (JPEG, PNG, MP4, ...).
struct MediaInput {
  MediaType type = MediaType::kImage;
  std::string bytes;
  int64_t num_frames = 0;  // videos: frames to sample, 0 = the model's maximum (32)
};

enum class ContentType { kText, kImage, kVideo };

struct ContentPart {
  ContentType type = ContentType::kText;
  std::string text;  // kText
  MediaInput media;  // kImage / kVideo

  static ContentPart Text(std::string text) { return {ContentType::kText, std::move(text), {}}; }
  static ContentPart Image(std::string bytes) {
    return {ContentType::kImage, "", {MediaType::kImage, std::move(bytes), 0}};
  }
  static ContentPart Video(std::string bytes, int64_t num_frames = 0) {
    return {ContentType::kVideo, "", {MediaType::kVideo, std::move(bytes), num_frames}};
  }
};

struct ChatMessage {
  std::string role;  // "system", "user", "assistant", ...
  std::vector<ContentPart> content;
};

struct Conversation {
  std::vector<ChatMessage> messages;
  bool add_generation_prompt = true;  // end with the assistant's turn header
};

// Exactly one of `text` and `token_ids` is given.
struct RawPrompt {
  std::string text;
  std::vector<int32_t> token_ids;
  std::vector<MediaInput> media;  // in placeholder order
};

using PromptInput = std::variant<Conversation, RawPrompt>;

// The media items of `input` of one type.
inline int64_t CountMedia(const PromptInput& input, MediaType type) {
  int64_t count = 0;
  if (const auto* chat = std::get_if<Conversation>(&input)) {
    for (const ChatMessage& message : chat->messages) {
      for (const ContentPart& part : message.content) {
        count += part.type != ContentType::kText && part.media.type == type;
      }
    }
  } else {
    for (const MediaInput& media : std::get<RawPrompt>(input).media) count += media.type == type;
  }
  return count;
}

}  // namespace ovserve::engine
