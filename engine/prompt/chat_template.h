#pragma once
// The LLaVA-OneVision chat template, implemented natively (no Jinja engine).
//
// Mirrors the checkpoint's `chat_template.jinja`: for each message,
// "<|im_start|>{role}\n", then one "<image>\n" per image part, then one
// "<video>\n" per video part (media always before text, whatever their order
// in `content`), then the text parts concatenated, then "<|im_end|>\n";
// finally "<|im_start|>assistant\n" when `add_generation_prompt`. There is no
// default system prompt. Pure functions: safe from any thread.

#include <string>
#include <vector>

#include "engine/prompt/prompt_input.h"

namespace ovserve::engine {

// The prompt text; its `<image>` / `<video>` markers are the added tokens the
// prompt builder later expands into visual tokens.
std::string ApplyChatTemplate(const std::vector<ChatMessage>& messages, bool add_generation_prompt);

// The media parts in the order ApplyChatTemplate places their markers.
std::vector<const MediaInput*> MediaInTemplateOrder(const std::vector<ChatMessage>& messages);

}  // namespace ovserve::engine
