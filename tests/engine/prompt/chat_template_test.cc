#include "engine/prompt/chat_template.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace ovserve::engine {
namespace {

ContentPart Text(std::string text) { return ContentPart::Text(std::move(text)); }
ContentPart Image(std::string bytes = "") { return ContentPart::Image(std::move(bytes)); }
ContentPart Video(std::string bytes = "") { return ContentPart::Video(std::move(bytes)); }

TEST(ChatTemplateTest, MediaComeBeforeTextInEveryMessage) {
  const std::vector<ChatMessage> messages = {
      {"user", {Text("Compare "), Video(), Image(), Text("these."), Image()}},
  };
  EXPECT_EQ(ApplyChatTemplate(messages, /*add_generation_prompt=*/false),
            "<|im_start|>user\n<image>\n<image>\n<video>\nCompare these.<|im_end|>\n");
}

TEST(ChatTemplateTest, MediaOrderIsTheMarkersOrder) {
  const std::vector<ChatMessage> messages = {
      {"user", {Text("Compare "), Video("v0"), Image("i0"), Text("these."), Image("i1")}},
      {"assistant", {Text("ok")}},
      {"user", {Video("v1"), Image("i2")}},
  };
  std::vector<std::string> order;
  for (const MediaInput* media : MediaInTemplateOrder(messages)) order.push_back(media->bytes);
  EXPECT_EQ(order, (std::vector<std::string>{"i0", "i1", "v0", "i2", "v1"}));
}

TEST(ChatTemplateTest, MultiTurnWithGenerationPrompt) {
  const std::vector<ChatMessage> messages = {
      {"system", {Text("Be brief.")}},
      {"user", {Image(), Text("What is it?")}},
      {"assistant", {Text("A cat.")}},
      {"user", {Text("Color?")}},
  };
  EXPECT_EQ(ApplyChatTemplate(messages, /*add_generation_prompt=*/true),
            "<|im_start|>system\nBe brief.<|im_end|>\n"
            "<|im_start|>user\n<image>\nWhat is it?<|im_end|>\n"
            "<|im_start|>assistant\nA cat.<|im_end|>\n"
            "<|im_start|>user\nColor?<|im_end|>\n"
            "<|im_start|>assistant\n");
}

TEST(ChatTemplateTest, NoDefaultSystemPromptAndEmptyContent) {
  EXPECT_EQ(ApplyChatTemplate({}, /*add_generation_prompt=*/true), "<|im_start|>assistant\n");
  EXPECT_EQ(ApplyChatTemplate({{"user", {}}}, /*add_generation_prompt=*/false),
            "<|im_start|>user\n<|im_end|>\n");
}

}  // namespace
}  // namespace ovserve::engine
