// ovserve's own tokenizer for generated checkpoints: loads as a Qwen2
// tokenizer.json, round-trips any text (byte-level), keeps Qwen2's special
// ids, decodes every id below them, and is the same every time.
#include "engine/model/demo_tokenizer.h"

#include <string>

#include "engine/tokenizer/tokenizer.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace ovserve::engine {
namespace {

TEST(DemoTokenizerTest, LoadsRoundTripsAndKeepsQwenSpecialIds) {
  const DemoTokenizerFiles files = MakeDemoTokenizer();
  auto tokenizer = Tokenizer::FromJson(files.tokenizer_json);
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  const Tokenizer& t = **tokenizer;
  EXPECT_EQ(t.TokenToId("<|endoftext|>"), 151643);
  EXPECT_EQ(t.TokenToId("<|im_start|>"), 151644);
  EXPECT_EQ(t.TokenToId("<|im_end|>"), 151645);
  EXPECT_EQ(t.TokenToId("<image>"), 151646);
  EXPECT_EQ(t.TokenToId("<video>"), 151647);
  EXPECT_EQ(t.vocab_size(), 151648);
  EXPECT_TRUE(t.IsSpecial(151646));

  for (const std::string& text : {std::string("Hello! What is in this image?"),
                                 std::string("tabs\tand\nnewlines  and 12345"),
                                 std::string("\xe4\xbd\xa0\xe5\xa5\xbd, caf\xc3\xa9 \xf0\x9f\x98\x80")}) {
    auto ids = t.Encode(text);
    ASSERT_TRUE(ids.ok()) << ids.status();
    auto back = t.Decode(*ids);
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, text);
  }
  // The learned merges make the text's common words single tokens.
  auto the = t.Encode(" the");
  ASSERT_TRUE(the.ok());
  EXPECT_EQ(the->size(), 1u);
  auto sentence = t.Encode("The answer is yes.");
  ASSERT_TRUE(sentence.ok());
  EXPECT_LT(sentence->size(), 10u);  // 18 bytes
  // Special tokens stay whole inside text.
  auto chat = t.Encode("<|im_start|>user\n<image>\nHi<|im_end|>");
  ASSERT_TRUE(chat.ok());
  EXPECT_EQ(chat->front(), 151644);
  EXPECT_NE(std::find(chat->begin(), chat->end(), 151646), chat->end());
  // Every id below the specials decodes to some text.
  for (int32_t id : {300, 5000, 100000, 151642}) {
    EXPECT_TRUE(t.HasToken(id)) << id;
    auto text = t.Decode({id});
    ASSERT_TRUE(text.ok());
    EXPECT_FALSE(text->empty()) << id;
  }
}

TEST(DemoTokenizerTest, DeterministicWithTheChatTemplate) {
  const DemoTokenizerFiles a = MakeDemoTokenizer();
  const DemoTokenizerFiles b = MakeDemoTokenizer();
  EXPECT_EQ(a.tokenizer_json, b.tokenizer_json);
  const nlohmann::json config = nlohmann::json::parse(a.tokenizer_config_json);
  EXPECT_EQ(config["eos_token"], "<|im_end|>");
  EXPECT_EQ(config["chat_template"], a.chat_template_jinja);
  EXPECT_NE(a.chat_template_jinja.find("<|im_start|>assistant"), std::string::npos);
}

}  // namespace
}  // namespace ovserve::engine
