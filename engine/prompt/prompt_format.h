#pragma once
// How a checkpoint format turns a request's prompt into ids (the prompt
// builder's one switch between the two formats, checkpoint_format.h):
//   - kLlavaHfTemplate: the checkpoint's chat template (chat_template.h),
//     media first in each message, marked by the <image> / <video> added
//     tokens the tokenizer produces;
//   - kLmmsConversation: LLaVA-NeXT's qwen_1_5 conversation
//     (lmms_conversation.h), each media part "<image>\n" at its place; the
//     text is split at "<image>" and its chunks tokenized apart, as
//     tokenizer_image_token does, each marker becoming the placeholder of its
//     item's type (video included: the original code marks a video with
//     <image> too). Raw token ids mark media with -200, as the original does.

#include <cstdint>
#include <string_view>

#include "engine/model/model_config.h"
#include "engine/multimodal/prompt_expansion.h"

namespace ovserve::engine {

enum class PromptStyle { kLlavaHfTemplate, kLmmsConversation };

struct PromptFormat {
  PromptStyle style = PromptStyle::kLlavaHfTemplate;
  PlaceholderIds placeholders;
};

// LLaVA-NeXT's media marker: the text "<image>", the id IMAGE_TOKEN_INDEX.
inline constexpr std::string_view kLmmsMediaMarker = "<image>";
inline constexpr int32_t kLmmsMediaMarkerId = -200;

inline PromptFormat PromptFormatOf(const LlavaOnevisionConfig& config) {
  return {config.format == CheckpointFormat::kLmmsLab ? PromptStyle::kLmmsConversation
                                                      : PromptStyle::kLlavaHfTemplate,
          {static_cast<int32_t>(config.image_token_id), static_cast<int32_t>(config.video_token_id)}};
}

}  // namespace ovserve::engine
