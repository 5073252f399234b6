#pragma once
// LLaVA-NeXT's `conv_templates["qwen_1_5"]` (SeparatorStyle.CHATML), the
// conversation the lmms-lab checkpoints were trained and are used with:
//   "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
//   then per message "<|im_start|>{role}\n{content}<|im_end|>\n",
//   then "<|im_start|>assistant\n" when `add_generation_prompt`.
// A leading system message replaces the default system text (an empty one
// drops the system block, as Conversation.get_prompt does for system "").
// Content parts render in their order: text as is, each image or video as
// "<image>\n" (the seed's usage code writes DEFAULT_IMAGE_TOKEN + "\n" + the
// question). Pure functions: safe from any thread.

#include <string>
#include <string_view>
#include <vector>

#include "engine/prompt/prompt_input.h"

namespace ovserve::engine {

inline constexpr std::string_view kLmmsDefaultSystemPrompt = "You are a helpful assistant.";

std::string ApplyLmmsConversation(const std::vector<ChatMessage>& messages, bool add_generation_prompt);

// The media parts in the order ApplyLmmsConversation places their markers.
std::vector<const MediaInput*> MediaInMessageOrder(const std::vector<ChatMessage>& messages);

}  // namespace ovserve::engine
