// The prompt builder: conversations and raw prompts to ids with one
// placeholder per item (media in placeholder order, checked), then expanded
// by each item's visual tokens with the spans the prefix hashes use.
#include "engine/prompt/prompt_builder.h"

#include <algorithm>
#include <memory>
#include <string>

#include "absl/strings/str_split.h"
#include "engine/prompt/chat_template.h"
#include "engine/prompt/lmms_conversation.h"
#include "gtest/gtest.h"
#include "tests/test_support/demo_tokenizer.h"

namespace ovserve::engine {
namespace {

constexpr PlaceholderIds kPlaceholders{151646, 151647};
constexpr int64_t kVocab = 151648;
const PromptFormat kFormat{PromptStyle::kLlavaHfTemplate, kPlaceholders};
const PromptFormat kLmms{PromptStyle::kLmmsConversation, kPlaceholders};

using ovserve::testing::DemoTokenizer;

std::vector<int32_t> Placeholders(const std::vector<int32_t>& ids) {
  std::vector<int32_t> out;
  std::copy_if(ids.begin(), ids.end(), std::back_inserter(out),
               [](int32_t id) { return id == kPlaceholders.image || id == kPlaceholders.video; });
  return out;
}

TEST(PromptBuilderTest, ConversationMediaFollowTheTemplateOrderAcrossMessages) {
  Conversation chat;
  chat.messages = {
      {"system", {ContentPart::Text("Be brief.")}},
      {"user", {ContentPart::Text("Compare "), ContentPart::Video("v0", 4), ContentPart::Image("i0"),
                ContentPart::Text("these."), ContentPart::Image("i1")}},
      {"assistant", {ContentPart::Text("Sure.")}},
      {"user", {ContentPart::Video("v1"), ContentPart::Text("And this?"), ContentPart::Image("i2")}},
  };
  auto prompt = TokenizePrompt(chat, DemoTokenizer(), kFormat, kVocab);
  ASSERT_TRUE(prompt.ok()) << prompt.status();
  // Each message's images, then its videos (the template's passes).
  const std::vector<int32_t> slots = {kPlaceholders.image, kPlaceholders.image, kPlaceholders.video,
                                      kPlaceholders.image, kPlaceholders.video};
  EXPECT_EQ(Placeholders(prompt->ids), slots);
  ASSERT_EQ(prompt->media.size(), 5u);
  const std::vector<std::string> order = {"i0", "i1", "v0", "i2", "v1"};
  for (size_t k = 0; k < order.size(); ++k) {
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(prompt->media[k].bytes.data()),
                          prompt->media[k].bytes.size()),
              order[k])
        << k;
  }
  EXPECT_EQ(prompt->media[2].num_frames, 4);
  EXPECT_EQ(prompt->images, 3);
  EXPECT_EQ(prompt->videos, 2);
  // The ids are the template's text, tokenized.
  auto expected = DemoTokenizer().Encode(ApplyChatTemplate(chat.messages, true));
  ASSERT_TRUE(expected.ok());
  EXPECT_EQ(prompt->ids, std::vector<int32_t>(expected->begin(), expected->end()));
}

TEST(PromptBuilderTest, RawPromptMediaMustMatchThePlaceholdersInOrder) {
  RawPrompt raw;
  raw.text = "<|im_start|>user\n<video>\n<image>\nWhat happens?<|im_end|>\n";
  raw.media = {{MediaType::kVideo, "v", 8}, {MediaType::kImage, "i", 0}};
  auto ok = TokenizePrompt(raw, DemoTokenizer(), kFormat, kVocab);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(Placeholders(ok->ids), (std::vector<int32_t>{kPlaceholders.video, kPlaceholders.image}));
  EXPECT_EQ(ok->media[0].type, MediaType::kVideo);

  std::swap(raw.media[0], raw.media[1]);
  auto swapped = TokenizePrompt(raw, DemoTokenizer(), kFormat, kVocab);
  EXPECT_EQ(swapped.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(swapped.status().message().find("placeholder 0 of the prompt is <video> but media item 0 is image"),
            std::string::npos)
      << swapped.status();

  raw.media.pop_back();
  auto missing = TokenizePrompt(raw, DemoTokenizer(), kFormat, kVocab);
  EXPECT_NE(missing.status().message().find(
                "the prompt has 1 <image> and 1 <video> placeholders but the request carries 1 images and 0 videos"),
            std::string::npos)
      << missing.status();
}

TEST(PromptBuilderTest, RawPromptErrorsSayWhatIsWrong) {
  const Tokenizer& t = DemoTokenizer();
  RawPrompt both;
  both.text = "hi";
  both.token_ids = {1};
  EXPECT_EQ(TokenizePrompt(both, t, kFormat, kVocab).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(TokenizePrompt(RawPrompt{}, t, kFormat, kVocab).status().code(),
            absl::StatusCode::kInvalidArgument);

  RawPrompt ids;
  ids.token_ids = {5, kPlaceholders.image, static_cast<int32_t>(kVocab)};
  ids.media = {{MediaType::kImage, "i", 0}};
  auto outside = TokenizePrompt(ids, t, kFormat, kVocab);
  EXPECT_NE(outside.status().message().find("prompt_token_ids[2] = 151648 is outside the vocabulary [0, 151648)"),
            std::string::npos)
      << outside.status();
  ids.token_ids.pop_back();
  auto fine = TokenizePrompt(ids, t, kFormat, kVocab);
  ASSERT_TRUE(fine.ok()) << fine.status();
  EXPECT_EQ(fine->ids, (std::vector<int32_t>{5, kPlaceholders.image}));

  EXPECT_NE(TokenizePrompt(Conversation{}, t, kFormat, kVocab).status().message().find("no messages"),
            std::string::npos);
}

TEST(LmmsConversationTest, RendersQwen15WithTheSystemPromptAndMediaInPlace) {
  const std::vector<ChatMessage> one = {
      {"user", {ContentPart::Text("Compare "), ContentPart::Image("a"), ContentPart::Video("v"), ContentPart::Text("now.")}}};
  EXPECT_EQ(ApplyLmmsConversation(one, true),
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
            "<|im_start|>user\nCompare <image>\n<image>\nnow.<|im_end|>\n<|im_start|>assistant\n");
  const auto media = MediaInMessageOrder(one);
  ASSERT_EQ(media.size(), 2u);
  EXPECT_EQ(media[0]->bytes, "a");
  EXPECT_EQ(media[1]->bytes, "v");

  const std::vector<ChatMessage> turns = {{"system", {ContentPart::Text("Be brief.")}},
                                          {"user", {ContentPart::Text("Hi")}},
                                          {"assistant", {ContentPart::Text("Hello.")}},
                                          {"user", {ContentPart::Text("Bye")}}};
  EXPECT_EQ(ApplyLmmsConversation(turns, false),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
            "<|im_start|>assistant\nHello.<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n");
  // An empty system message drops the block, as get_prompt does for system "".
  const std::vector<ChatMessage> silent = {{"system", {}}, {"user", {ContentPart::Text("Hi")}}};
  EXPECT_EQ(ApplyLmmsConversation(silent, true), "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
}

TEST(PromptBuilderTest, LmmsMarkersAreTokenizedApartAndTakeTheirItemsType) {
  Conversation chat;
  chat.messages = {{"user", {ContentPart::Video("v", 4), ContentPart::Text("What moves? "), ContentPart::Image("i")}}};
  auto prompt = TokenizePrompt(chat, DemoTokenizer(), kLmms, kVocab);
  ASSERT_TRUE(prompt.ok()) << prompt.status();
  EXPECT_EQ(Placeholders(prompt->ids), (std::vector<int32_t>{kPlaceholders.video, kPlaceholders.image}));
  ASSERT_EQ(prompt->media.size(), 2u);
  EXPECT_EQ(prompt->media[0].type, MediaType::kVideo);
  EXPECT_EQ(prompt->videos, 1);
  EXPECT_EQ(prompt->images, 1);
  // tokenizer_image_token: each chunk between markers encoded on its own.
  const std::string text = ApplyLmmsConversation(chat.messages, true);
  const std::vector<std::string> chunks = absl::StrSplit(text, "<image>");
  ASSERT_EQ(chunks.size(), 3u);
  std::vector<int32_t> expected;
  const int32_t slots[] = {kPlaceholders.video, kPlaceholders.image};
  for (size_t i = 0; i < chunks.size(); ++i) {
    if (i > 0) expected.push_back(slots[i - 1]);
    auto ids = DemoTokenizer().Encode(chunks[i]);
    ASSERT_TRUE(ids.ok());
    expected.insert(expected.end(), ids->begin(), ids->end());
  }
  EXPECT_EQ(prompt->ids, expected);
}

TEST(PromptBuilderTest, LmmsRawPromptsUseTextMarkersOrMinus200Ids) {
  const Tokenizer& t = DemoTokenizer();
  RawPrompt text;
  text.text = "<|im_start|>user\n<image>\nHi<|im_end|>\n";
  text.media = {{MediaType::kImage, "i", 0}, {MediaType::kImage, "j", 0}};
  auto extra = TokenizePrompt(text, t, kLmms, kVocab);
  EXPECT_NE(extra.status().message().find("the prompt has 1 <image> markers but the request carries 2 media items"),
            std::string::npos)
      << extra.status();

  RawPrompt ids;
  ids.token_ids = {5, -200, 6};
  ids.media = {{MediaType::kVideo, "v", 8}};
  auto fine = TokenizePrompt(ids, t, kLmms, kVocab);
  ASSERT_TRUE(fine.ok()) << fine.status();
  EXPECT_EQ(fine->ids, (std::vector<int32_t>{5, kPlaceholders.video, 6}));

  ids.token_ids = {5, -200, -200};
  EXPECT_NE(TokenizePrompt(ids, t, kLmms, kVocab).status().message().find("more -200 media markers"),
            std::string::npos);
  ids.token_ids = {5};
  EXPECT_NE(TokenizePrompt(ids, t, kLmms, kVocab).status().message().find("has 0 -200 media markers"),
            std::string::npos);
  ids.token_ids = {5, -7};
  EXPECT_NE(TokenizePrompt(ids, t, kLmms, kVocab).status().message().find("media markers are -200"),
            std::string::npos);
  // The llava-hf form has no -200 marker.
  ids.token_ids = {5, -200};
  EXPECT_EQ(TokenizePrompt(ids, t, kFormat, kVocab).status().code(), absl::StatusCode::kInvalidArgument);
}

PreparedMedia Prepared(VisualKind kind, int64_t tokens, uint64_t hash) {
  PreparedMedia m;
  m.kind = kind;
  m.visual_tokens = tokens;
  m.hash = {hash, ~hash};
  return m;
}

TEST(PromptBuilderTest, ExpansionPlacesEachItemsRowsAndCountsThem) {
  const int32_t I = kPlaceholders.image, V = kPlaceholders.video;
  const std::vector<int32_t> ids = {7, I, 8, V, I, 9};
  const std::vector<PreparedMedia> media = {Prepared(VisualKind::kImageSingleCrop, 3, 1),
                                            Prepared(VisualKind::kVideo, 2, 2),
                                            Prepared(VisualKind::kImageSingleCrop, 4, 3)};
  auto out = ExpandPrompt(ids, kPlaceholders, media);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->ids, (std::vector<int32_t>{7, I, I, I, 8, V, V, I, I, I, I, 9}));
  ASSERT_EQ(out->spans.size(), 3u);
  const int64_t starts[] = {1, 5, 7}, lengths[] = {3, 2, 4};
  for (size_t k = 0; k < 3; ++k) {
    EXPECT_EQ(out->spans[k].start, starts[k]) << k;
    EXPECT_EQ(out->spans[k].length, lengths[k]) << k;
    EXPECT_EQ(out->spans[k].content_hash_high, k + 1) << k;
    EXPECT_EQ(out->spans[k].content_hash_low, ~(k + 1)) << k;
  }
  EXPECT_EQ(out->image_tokens, 7);
  EXPECT_EQ(out->video_tokens, 2);
  EXPECT_EQ(out->text_tokens(), 3);

  const std::vector<PreparedMedia> wrong_type = {media[1], media[0], media[2]};
  EXPECT_EQ(ExpandPrompt(ids, kPlaceholders, wrong_type).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ExpandPrompt(ids, kPlaceholders, std::span(media).first(2)).status().code(),
            absl::StatusCode::kInvalidArgument);
  const std::vector<int32_t> one_slot = {7, I};
  EXPECT_EQ(ExpandPrompt(one_slot, kPlaceholders, media).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace ovserve::engine
