// Golden tests against the reference (transformers 4.57 slow Qwen2Tokenizer):
// ../shared/fixtures/tokenizer/tokenizer_goldens.json and every case's prompt.

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "engine/prompt/chat_template.h"
#include "engine/tokenizer/incremental_decoder.h"
#include "engine/tokenizer/tokenizer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/test_support/fixtures.h"

namespace ovserve::engine {
namespace {

using ::ovserve::testing::FixturePath;

nlohmann::json ReadJson(const std::filesystem::path& path) {
  std::ifstream file(path);
  EXPECT_TRUE(file) << "cannot open " << path;
  return nlohmann::json::parse(file);
}

class TokenizerGoldenTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!std::filesystem::exists(FixturePath("tiny-llava-ov/tokenizer.json"))) return;
    auto tokenizer = Tokenizer::Load(FixturePath("tiny-llava-ov"));
    ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
    tokenizer_ = std::move(tokenizer).value().release();
  }
  static void TearDownTestSuite() {
    delete tokenizer_;
    tokenizer_ = nullptr;
  }
  // Loaded once: parsing 151k vocab entries and merges is the slow part.
  static const Tokenizer* tokenizer_;
};

const Tokenizer* TokenizerGoldenTest::tokenizer_ = nullptr;

TEST_F(TokenizerGoldenTest, VocabularyShape) {
  OVSERVE_REQUIRE_FIXTURE("tiny-llava-ov/tokenizer.json");
  ASSERT_NE(tokenizer_, nullptr);
  EXPECT_EQ(tokenizer_->vocab_size(), 151648);
  const std::vector<std::pair<std::string, TokenId>> added = {
      {"<|endoftext|>", 151643}, {"<|im_start|>", 151644}, {"<|im_end|>", 151645},
      {"<image>", 151646},       {"<video>", 151647}};
  for (const auto& [content, id] : added) {
    EXPECT_EQ(tokenizer_->TokenToId(content), id) << content;
    EXPECT_TRUE(tokenizer_->IsSpecial(id)) << content;
  }
  EXPECT_FALSE(tokenizer_->IsSpecial(9707));
  EXPECT_EQ(tokenizer_->TokenToId("Hello"), 9707);
}

TEST_F(TokenizerGoldenTest, GoldenStrings) {
  OVSERVE_REQUIRE_FIXTURE("tokenizer/tokenizer_goldens.json");
  ASSERT_NE(tokenizer_, nullptr);
  const nlohmann::json goldens = ReadJson(FixturePath("tokenizer/tokenizer_goldens.json"));
  const nlohmann::json& cases = goldens.at("cases");
  ASSERT_EQ(cases.size(), 51u);
  for (size_t i = 0; i < cases.size(); ++i) {
    const nlohmann::json& golden = cases[i];
    const std::string text = golden.at("text");
    SCOPED_TRACE(::testing::Message() << "golden " << i << ": " << ::testing::PrintToString(text));
    const auto expected_ids = golden.at("ids").get<std::vector<TokenId>>();
    const auto expected_tokens = golden.at("tokens").get<std::vector<std::string>>();

    auto ids = tokenizer_->Encode(text);
    ASSERT_TRUE(ids.ok()) << ids.status();
    EXPECT_EQ(*ids, expected_ids);
    ASSERT_EQ(expected_tokens.size(), expected_ids.size());
    for (size_t t = 0; t < expected_tokens.size(); ++t) {
      EXPECT_EQ(tokenizer_->TokenToId(expected_tokens[t]), expected_ids[t]) << expected_tokens[t];
    }

    auto decoded = tokenizer_->Decode(expected_ids);
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    EXPECT_EQ(*decoded, golden.at("decoded").get<std::string>());
    auto decoded_skip = tokenizer_->Decode(expected_ids, /*skip_special=*/true);
    ASSERT_TRUE(decoded_skip.ok()) << decoded_skip.status();
    EXPECT_EQ(*decoded_skip, golden.at("decoded_skip_special").get<std::string>());
    EXPECT_EQ(*decoded == text, golden.at("roundtrip_exact").get<bool>());

    // Streaming the same ids gives the same text.
    for (const bool skip : {false, true}) {
      IncrementalDecoder decoder(*tokenizer_, skip);
      std::string streamed;
      for (const TokenId id : expected_ids) streamed += *decoder.Push(id);
      streamed += decoder.Flush();
      EXPECT_EQ(streamed, skip ? *decoded_skip : *decoded);
    }
  }
}

TEST_F(TokenizerGoldenTest, IncrementalDecoderHoldsSplitEmoji) {
  OVSERVE_REQUIRE_FIXTURE("tiny-llava-ov/tokenizer.json");
  ASSERT_NE(tokenizer_, nullptr);
  // U+1F468 MAN is split by the BPE into "ĠðŁĳ" (space + 3 bytes) and "¨".
  const std::string text = "emoji: \xF0\x9F\x91\xA8!";
  auto ids = tokenizer_->Encode(text);
  ASSERT_TRUE(ids.ok()) << ids.status();
  IncrementalDecoder decoder(*tokenizer_, false);
  std::vector<std::string> parts;
  for (const TokenId id : *ids) parts.push_back(*decoder.Push(id));
  parts.push_back(decoder.Flush());
  // The space token carries the first 3 bytes: only " " may appear then.
  const auto space_piece = std::find(parts.begin(), parts.end(), " ");
  ASSERT_NE(space_piece, parts.end()) << ::testing::PrintToString(parts);
  ASSERT_NE(space_piece + 1, parts.end());
  EXPECT_EQ(*(space_piece + 1), "\xF0\x9F\x91\xA8");
  std::string joined;
  for (const std::string& part : parts) joined += part;
  EXPECT_EQ(joined, text);
}

std::vector<ChatMessage> ParseConversation(const nlohmann::json& conversation) {
  std::vector<ChatMessage> messages;
  for (const nlohmann::json& message : conversation) {
    ChatMessage parsed{message.at("role").get<std::string>(), {}};
    for (const nlohmann::json& part : message.at("content")) {
      const std::string type = part.at("type");
      if (type == "text") {
        parsed.content.push_back(ContentPart::Text(part.at("text").get<std::string>()));
      } else if (type == "image") {
        parsed.content.push_back(ContentPart::Image(""));
      } else if (type == "video") {
        parsed.content.push_back(ContentPart::Video(""));
      } else {
        ADD_FAILURE() << "unknown content type " << type;
      }
    }
    messages.push_back(std::move(parsed));
  }
  return messages;
}

TEST_F(TokenizerGoldenTest, CasePromptsTemplateAndEncode) {
  OVSERVE_REQUIRE_FIXTURE("cases");
  ASSERT_NE(tokenizer_, nullptr);
  int checked = 0;
  for (const auto& entry : std::filesystem::directory_iterator(FixturePath("cases"))) {
    const auto case_path = entry.path() / "case.json";
    if (!entry.is_directory() || !std::filesystem::exists(case_path)) continue;
    SCOPED_TRACE(case_path.string());
    const nlohmann::json c = ReadJson(case_path);
    const std::string prompt = c.at("prompt_text");
    EXPECT_EQ(ApplyChatTemplate(ParseConversation(c.at("conversation")), /*add_generation_prompt=*/true), prompt);
    auto ids = tokenizer_->Encode(prompt);
    ASSERT_TRUE(ids.ok()) << ids.status();
    EXPECT_EQ(*ids, c.at("prompt_ids_unexpanded").get<std::vector<TokenId>>());
    ++checked;
  }
  EXPECT_EQ(checked, 5);
}

TEST_F(TokenizerGoldenTest, LargeTextRoundTrips) {
  OVSERVE_REQUIRE_FIXTURE("tokenizer/tokenizer_goldens.json");
  ASSERT_NE(tokenizer_, nullptr);
  const nlohmann::json goldens = ReadJson(FixturePath("tokenizer/tokenizer_goldens.json"));
  std::string text;
  while (text.size() < 100000) {
    for (const nlohmann::json& golden : goldens.at("cases")) {
      if (golden.at("roundtrip_exact").get<bool>()) text += golden.at("text").get<std::string>() + "\n";
    }
  }
  const auto start = std::chrono::steady_clock::now();
  auto ids = tokenizer_->Encode(text);
  const auto elapsed = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start);
  ASSERT_TRUE(ids.ok()) << ids.status();
  EXPECT_EQ(*tokenizer_->Decode(*ids), text);
  // Reported, not asserted: speed belongs to benchmarks.
  std::cout << "[ info     ] encoded " << text.size() << " bytes into " << ids->size() << " tokens in "
            << elapsed.count() << " ms\n";
}

}  // namespace
}  // namespace ovserve::engine
