// ovserve-bench's HTTP mode wire format: request bodies from bench requests,
// server-sent events split across reads, and chunks read into counts.
#include "benchmarks/openai_wire.h"

#include "absl/strings/escaping.h"
#include "gtest/gtest.h"

namespace ovserve::bench {
namespace {

using nlohmann::json;

TEST(OpenAiWireTest, ChatBodyCarriesThePartsAndTheSamplingTheRequestSets) {
  v1::GenerateRequest request;
  v1::ChatMessage* m = request.mutable_chat()->add_messages();
  m->set_role("user");
  m->add_content()->mutable_image()->set_data("\x89PNG....");
  v1::VideoPart* video = m->add_content()->mutable_video();
  video->set_data("mp4bytes");
  video->set_num_frames(8);
  m->add_content()->set_text("What is shown?");
  request.mutable_sampling()->set_max_tokens(12);
  request.mutable_sampling()->set_temperature(0.0f);
  request.mutable_sampling()->set_ignore_eos(true);
  auto body = ChatCompletionBody(request, "tiny");
  ASSERT_TRUE(body.ok()) << body.status();
  const json& b = *body;
  EXPECT_EQ(b["model"], "tiny");
  EXPECT_EQ(b["stream"], true);
  EXPECT_EQ(b["stream_options"]["include_usage"], true);
  EXPECT_EQ(b["return_token_ids"], true);
  EXPECT_EQ(b["max_tokens"], 12);
  EXPECT_EQ(b["temperature"], 0.0);
  EXPECT_EQ(b["ignore_eos"], true);
  EXPECT_FALSE(b.contains("top_p"));  // unset: the server's default
  const json& content = b["messages"][0]["content"];
  ASSERT_EQ(content.size(), 3u);
  EXPECT_EQ(content[0]["image_url"]["url"],
            "data:image/png;base64," + absl::Base64Escape(std::string("\x89PNG....")));
  EXPECT_EQ(content[1]["video_url"]["url"], "data:video/mp4;base64," + absl::Base64Escape("mp4bytes"));
  EXPECT_EQ(content[1]["video_url"]["num_frames"], 8);
  EXPECT_EQ(content[2]["text"], "What is shown?");

  v1::GenerateRequest raw;
  raw.mutable_prompt()->set_text("hi");
  EXPECT_EQ(ChatCompletionBody(raw, "tiny").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(OpenAiWireTest, EventsSplitAcrossReadsComeOutWhole) {
  SseReader reader;
  EXPECT_TRUE(reader.Feed("data: {\"a\"").empty());
  EXPECT_EQ(reader.Feed(":1}\n\ndata: [DO"), (std::vector<std::string>{"{\"a\":1}"}));
  EXPECT_EQ(reader.Feed("NE]\r\n\r\n: comment\n\n"), (std::vector<std::string>{"[DONE]"}));
}

TEST(OpenAiWireTest, ChunksGiveTokensFinishUsageAndErrors) {
  auto tokens = ParseStreamEvent(
      R"({"choices":[{"index":0,"delta":{"content":"ab"},"token_ids":[5,6],"finish_reason":null}]})");
  ASSERT_TRUE(tokens.ok());
  EXPECT_EQ(tokens->tokens, 2);
  EXPECT_FALSE(tokens->finished);

  // Without token ids, a content chunk counts as one token; a role chunk as none.
  EXPECT_EQ(ParseStreamEvent(R"({"choices":[{"delta":{"content":"x"}}]})")->tokens, 1);
  EXPECT_EQ(ParseStreamEvent(R"({"choices":[{"delta":{"role":"assistant","content":""}}]})")->tokens, 0);

  auto last = ParseStreamEvent(R"({"choices":[{"delta":{},"token_ids":[],"finish_reason":"length"}]})");
  EXPECT_TRUE(last->finished);
  EXPECT_EQ(last->finish_reason, "length");

  auto usage = ParseStreamEvent(
      R"({"choices":[],"usage":{"prompt_tokens":800,"completion_tokens":4,"prompt_tokens_details":{"cached_tokens":16}},)"
      R"("ovserve":{"prompt_text_tokens":70,"image_tokens":730,"video_tokens":0}})");
  ASSERT_TRUE(usage.ok());
  EXPECT_TRUE(usage->has_usage);
  EXPECT_EQ(usage->completion_tokens, 4);
  EXPECT_EQ(usage->cached_tokens, 16);
  EXPECT_EQ(usage->image_tokens, 730);
  EXPECT_EQ(usage->prompt_text_tokens, 70);

  EXPECT_EQ(ParseStreamEvent(R"({"error":{"message":"too many images","type":"invalid_request_error"}})")->error,
            "too many images");
  EXPECT_TRUE(ParseStreamEvent("[DONE]")->done);
  EXPECT_FALSE(ParseStreamEvent("not json").ok());
  EXPECT_EQ(StatusNameOfHttp(429), "RESOURCE_EXHAUSTED");
  EXPECT_EQ(StatusNameOfHttp(400), "INVALID_ARGUMENT");
}

}  // namespace
}  // namespace ovserve::bench
