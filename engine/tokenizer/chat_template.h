#pragma once
// The LLaVA-OneVision chat template, implemented natively (no Jinja engine).
//
// Mirrors the checkpoint's `chat_template.jinja`: for each message,
// "<|im_start|>{role}\n", then one "<image>\n" per image part, then one
// "<video>\n" per video part (media always before text, whatever their order
// in `content`), then the text parts concatenated, then "<|im_end|>\n";
// finally "<|im_start|>assistant\n" when `add_generation_prompt`. There is no
// default system prompt. Pure function: safe from any thread.

#include <string>
#include <vector>

namespace ovserve::engine {

enum class ContentType { kText, kImage, kVideo };

struct ContentPart {
  ContentType type = ContentType::kText;
  std::string text;  // kText only
};

struct ChatMessage {
  std::string role;  // "system", "user", "assistant", ...
  std::vector<ContentPart> content;
};

// The prompt text; its `<image>` / `<video>` markers are the added tokens the
// processor later expands into visual tokens.
std::string ApplyChatTemplate(const std::vector<ChatMessage>& messages, bool add_generation_prompt);

}  // namespace ovserve::engine
