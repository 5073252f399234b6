// The OpenAI wire format <-> engine requests and responses: what each field
// becomes, which errors name which parameter, and the shapes of the chunks.
#include "server/http/openai_protocol.h"

#include <string>

#include "absl/strings/escaping.h"
#include "gtest/gtest.h"

namespace ovserve::server::http {
namespace {

using json = nlohmann::json;

ParseOptions Options() {
  ParseOptions o;
  o.model_name = "tiny";
  o.default_max_tokens = 33;
  o.max_n = 4;
  o.max_priority = 3;
  return o;
}

Generation ChatOk(const json& body) {
  auto parsed = ParseChatCompletion(body, Options());
  if (auto* e = std::get_if<ApiError>(&parsed)) ADD_FAILURE() << e->message;
  return std::get<Generation>(std::move(parsed));
}

ApiError ChatError(const json& body) {
  auto parsed = ParseChatCompletion(body, Options());
  if (std::holds_alternative<Generation>(parsed)) {
    ADD_FAILURE() << "accepted: " << body.dump();
    return {};
  }
  return std::get<ApiError>(parsed);
}

std::string DataUrl(const std::string& bytes, const std::string& mime = "image/png") {
  return "data:" + mime + ";base64," + absl::Base64Escape(bytes);
}

TEST(OpenAiProtocolTest, StringContentThroughTheChatTemplateWithDefaults) {
  const Generation g = ChatOk({{"messages", {{{"role", "system"}, {"content", "Be brief."}},
                                             {{"role", "user"}, {"content", "Hi"}}}}});
  const auto& chat = std::get<engine::Conversation>(g.request.input);
  ASSERT_EQ(chat.messages.size(), 2u);
  EXPECT_EQ(chat.messages[0].role, "system");
  ASSERT_EQ(chat.messages[0].content.size(), 1u);
  EXPECT_EQ(chat.messages[0].content[0].text, "Be brief.");
  EXPECT_EQ(chat.messages[1].role, "user");
  EXPECT_EQ(chat.messages[1].content[0].text, "Hi");
  EXPECT_TRUE(chat.add_generation_prompt);
  EXPECT_EQ(g.request.stop.max_tokens, 33);
  EXPECT_EQ(g.model, "tiny");
  EXPECT_EQ(g.n, 1);
  EXPECT_FALSE(g.stream);
  EXPECT_EQ(engine::CountMedia(g.request.input, engine::MediaType::kImage), 0);
}

TEST(OpenAiProtocolTest, PartsKeepTheirItemsInTemplateOrder) {
  const json body = {
      {"messages",
       {{{"role", "user"},
         {"content",
          {{{"type", "text"}, {"text", "Compare"}},
           {{"type", "image_url"}, {"image_url", {{"url", DataUrl("first")}}}},
           {{"type", "video_url"}, {"video_url", {{"url", DataUrl("clip", "video/mp4")}, {"num_frames", 8}}}},
           {{"type", "image_url"}, {"image_url", DataUrl("second")}}}}}}},
      {"add_generation_prompt", false}};
  const Generation g = ChatOk(body);
  const auto& chat = std::get<engine::Conversation>(g.request.input);
  EXPECT_FALSE(chat.add_generation_prompt);
  ASSERT_EQ(chat.messages.size(), 1u);
  const std::vector<engine::ContentPart>& parts = chat.messages[0].content;
  ASSERT_EQ(parts.size(), 4u);
  EXPECT_EQ(parts[0].type, engine::ContentType::kText);
  EXPECT_EQ(parts[0].text, "Compare");
  EXPECT_EQ(parts[1].type, engine::ContentType::kImage);
  EXPECT_EQ(parts[1].media.bytes, "first");
  EXPECT_EQ(parts[2].type, engine::ContentType::kVideo);
  EXPECT_EQ(parts[2].media.type, engine::MediaType::kVideo);
  EXPECT_EQ(parts[2].media.bytes, "clip");
  EXPECT_EQ(parts[2].media.num_frames, 8);
  EXPECT_EQ(parts[3].media.bytes, "second");
}

TEST(OpenAiProtocolTest, SamplingAndVllmExtensionsMapOntoTheEngine) {
  const Generation g = ChatOk({{"messages", {{{"role", "user"}, {"content", "x"}}}},
                               {"model", "tiny"},
                               {"max_tokens", 5},
                               {"max_completion_tokens", 7},
                               {"temperature", 0.5},
                               {"top_p", 0.9},
                               {"top_k", 40},
                               {"min_p", 0.05},
                               {"seed", 11},
                               {"n", 3},
                               {"stop", {"END", "\n\n"}},
                               {"presence_penalty", 0.5},
                               {"frequency_penalty", -0.5},
                               {"repetition_penalty", 1.1},
                               {"min_tokens", 2},
                               {"ignore_eos", true},
                               {"skip_special_tokens", false},
                               {"include_stop_str_in_output", true},
                               {"logprobs", true},
                               {"top_logprobs", 3},
                               {"stream", true},
                               {"stream_options", {{"include_usage", true}}},
                               {"priority", 2},
                               {"return_token_ids", true},
                               {"user", "u1"}});
  const engine::GenerateRequest& r = g.request;
  EXPECT_EQ(r.stop.max_tokens, 7);  // max_completion_tokens wins
  EXPECT_TRUE(g.return_token_ids);
  EXPECT_FLOAT_EQ(r.sampling.temperature, 0.5f);
  EXPECT_FLOAT_EQ(r.sampling.top_p, 0.9f);
  EXPECT_EQ(r.sampling.top_k, 40);
  EXPECT_FLOAT_EQ(r.sampling.min_p, 0.05f);
  ASSERT_TRUE(r.sampling.seed.has_value());
  EXPECT_EQ(*r.sampling.seed, 11u);
  EXPECT_EQ(g.n, 3);
  EXPECT_EQ(r.stop.stop, (std::vector<std::string>{"END", "\n\n"}));
  EXPECT_FLOAT_EQ(r.sampling.presence_penalty, 0.5f);
  EXPECT_FLOAT_EQ(r.sampling.frequency_penalty, -0.5f);
  EXPECT_FLOAT_EQ(r.sampling.repetition_penalty, 1.1f);
  EXPECT_EQ(r.stop.min_tokens, 2);
  EXPECT_TRUE(r.stop.ignore_eos);
  EXPECT_FALSE(r.stop.skip_special_tokens);
  EXPECT_TRUE(r.stop.include_stop_str_in_output);
  EXPECT_TRUE(r.return_logprobs);
  EXPECT_EQ(r.sampling.logprobs, 3);
  EXPECT_TRUE(g.stream);
  EXPECT_TRUE(g.include_usage);
  EXPECT_EQ(r.priority, 2);
  EXPECT_EQ(g.user, "u1");
}

TEST(OpenAiProtocolTest, BadParametersNameTheParameter) {
  const json messages = {{{"role", "user"}, {"content", "x"}}};
  struct Case {
    json extra;
    std::string param;
  };
  const Case cases[] = {
      {{{"temperature", "hot"}}, "temperature"},
      {{{"temperature", 2.5}}, "temperature"},
      {{{"max_tokens", 0}}, "max_tokens"},
      {{{"max_tokens", 1.5}}, "max_tokens"},
      {{{"n", 5}}, "n"},  // over max_n
      {{{"top_logprobs", 2}}, "top_logprobs"},  // without logprobs
      {{{"logprobs", true}, {"top_logprobs", 21}}, "top_logprobs"},
      {{{"stop", 3}}, "stop"},
      {{{"stop", {""}}}, "stop"},
      {{{"seed", "x"}}, "seed"},
      {{{"stream_options", {{"include_usage", "yes"}}}}, "stream_options.include_usage"},
      {{{"response_format", {{"type", "json_schema"}}}}, "response_format.json_schema"},
      {{{"response_format", {{"type", "xml"}}}}, "response_format"},
      {{{"tools", {{{"type", "function"}}}}}, "tools"},
      {{{"logit_bias", {{"42", 5}}}}, "logit_bias"},
      {{{"guided_json", 5}}, "guided_json"},
      {{{"guided_choice", json::array()}}, "guided_choice"},
      {{{"guided_regex", "a+"}, {"guided_choice", {"x"}}}, "guided_choice"},  // two constraints
      {{{"structured_outputs", {{"regex", 3}}}}, "structured_outputs.regex"},
      {{{"structured_outputs", {{"structural_tag", "x"}}}}, "structured_outputs.structural_tag"},
      {{{"priority", -1}}, "priority"},  // more urgent than the default: starves others
      {{{"priority", 4}}, "priority"},   // over --max-priority
  };
  for (const Case& c : cases) {
    json body = c.extra;
    body["messages"] = messages;
    const ApiError e = ChatError(body);
    EXPECT_EQ(e.http_status(), 400) << body.dump();
    EXPECT_EQ(e.param, c.param) << body.dump() << " -> " << e.message;
    EXPECT_NE(e.message.find(c.param.substr(0, c.param.find('.'))), std::string::npos) << e.message;
  }
}

TEST(OpenAiProtocolTest, StructuredOutputFieldsBecomeTheRequestsConstraint) {
  using Kind = engine::StructuredOutput::Kind;
  const json messages = {{{"role", "user"}, {"content", "x"}}};
  const json schema = {{"type", "object"}, {"properties", {{"a", {{"type", "integer"}}}}}};
  auto parsed = [&](json extra) {
    extra["messages"] = messages;
    return ChatOk(extra).request.structured;
  };
  const auto rf_schema = parsed({{"response_format",
                                  {{"type", "json_schema"}, {"json_schema", {{"name", "s"}, {"schema", schema}}}}}});
  EXPECT_EQ(rf_schema.kind, Kind::kJsonSchema);
  EXPECT_EQ(json::parse(rf_schema.text), schema);
  EXPECT_EQ(parsed({{"response_format", {{"type", "json_object"}}}}).kind, Kind::kJsonObject);
  EXPECT_EQ(parsed({{"response_format", {{"type", "text"}}}}).kind, Kind::kNone);
  EXPECT_EQ(parsed({{"guided_json", schema.dump()}}).text, schema.dump());
  const auto regex = parsed({{"guided_regex", "[0-9]+"}});
  EXPECT_EQ(regex.kind, Kind::kRegex);
  EXPECT_EQ(regex.text, "[0-9]+");
  const auto choice = parsed({{"guided_choice", {"yes", "no"}}});
  EXPECT_EQ(choice.kind, Kind::kChoice);
  EXPECT_EQ(choice.choices, (std::vector<std::string>{"yes", "no"}));
  EXPECT_EQ(parsed({{"guided_grammar", "root ::= \"a\""}}).kind, Kind::kGrammar);
  const auto so = parsed({{"structured_outputs", {{"choice", {"a"}}, {"disable_any_whitespace", true}}}});
  EXPECT_EQ(so.kind, Kind::kChoice);
  EXPECT_EQ(parsed({{"structured_outputs", {{"json", schema}}}}).kind, Kind::kJsonSchema);
  EXPECT_EQ(parsed({{"structured_outputs", {{"json_object", true}}}}).kind, Kind::kJsonObject);
  EXPECT_EQ(parsed({}).kind, Kind::kNone);

  // A schema object keeps the order of its properties as the client wrote them
  // (the output follows it), though nlohmann::json sorts parsed keys.
  const std::string text =
      R"({"messages":[{"role":"user","content":"x"}],"guided_json":{"type":"object","properties":)"
      R"({"zeta":{"type":"integer"},"alpha":{"type":"string"}},"required":["zeta","alpha"]}})";
  auto in_order = ParseChatCompletion(json::parse(text), Options(), text);
  ASSERT_TRUE(std::holds_alternative<Generation>(in_order));
  const std::string& ordered = std::get<Generation>(in_order).request.structured.text;
  EXPECT_LT(ordered.find("zeta"), ordered.find("alpha")) << ordered;
}

TEST(OpenAiProtocolTest, PriorityOutsideTheOperatorsRangeNamesTheFlag) {
  const ApiError e = ChatError({{"messages", {{{"role", "user"}, {"content", "x"}}}}, {"priority", 9}});
  EXPECT_EQ(e.message, "'priority' = 9 is outside 0..3, the range this server allows (--max-priority)");
  EXPECT_EQ(ChatOk({{"messages", {{{"role", "user"}, {"content", "x"}}}}}).request.priority, 0);
}

TEST(OpenAiProtocolTest, MalformedMessagesAreRefused) {
  EXPECT_EQ(ChatError({{"model", "tiny"}}).param, "messages");
  EXPECT_EQ(ChatError({{"messages", json::array()}}).param, "messages");
  EXPECT_EQ(ChatError({{"messages", {{{"role", "tool"}, {"content", "x"}}}}}).param, "messages[0].role");
  EXPECT_EQ(ChatError({{"messages", {{{"role", "user"}, {"content", 5}}}}}).param, "messages[0].content");
  const ApiError unknown_part = ChatError(
      {{"messages", {{{"role", "user"}, {"content", {{{"type", "audio_url"}, {"audio_url", "x"}}}}}}}});
  EXPECT_EQ(unknown_part.param, "messages[0].content[0].type");
  EXPECT_NE(unknown_part.message.find("audio_url"), std::string::npos);
  const ApiError file_url = ChatError(
      {{"messages",
        {{{"role", "user"}, {"content", {{{"type", "image_url"}, {"image_url", {{"url", "file:///etc/passwd"}}}}}}}}}});
  EXPECT_EQ(file_url.param, "messages[0].content[0].image_url");
  const ApiError frames = ChatError(
      {{"messages",
        {{{"role", "user"},
          {"content",
           {{{"type", "video_url"}, {"video_url", {{"url", DataUrl("v")}, {"num_frames", 33}}}}}}}}}});
  EXPECT_NE(frames.message.find("32"), std::string::npos) << frames.message;
}

TEST(OpenAiProtocolTest, AnotherModelIs404) {
  const ApiError e = ChatError({{"model", "gpt-4o"}, {"messages", {{{"role", "user"}, {"content", "x"}}}}});
  EXPECT_EQ(e.http_status(), 404);
  EXPECT_EQ(e.code, "model_not_found");
  EXPECT_NE(e.message.find("gpt-4o"), std::string::npos);
}

TEST(OpenAiProtocolTest, DataUrls) {
  auto ok = DecodeDataUrl("data:image/jpeg;base64," + absl::Base64Escape("\xff\xd8\xff"), "p");
  ASSERT_TRUE(std::holds_alternative<std::string>(ok));
  EXPECT_EQ(std::get<std::string>(ok), "\xff\xd8\xff");
  EXPECT_TRUE(std::holds_alternative<ApiError>(DecodeDataUrl("data:image/png,plain", "p")));
  EXPECT_TRUE(std::holds_alternative<ApiError>(DecodeDataUrl("data:image/png;base64,!!!", "p")));
  EXPECT_TRUE(std::holds_alternative<ApiError>(DecodeDataUrl("data:image/png;base64", "p")));
  EXPECT_TRUE(std::holds_alternative<ApiError>(DecodeDataUrl("data:image/png;base64,", "p")));
}

TEST(OpenAiProtocolTest, HttpUrlsAreLeftToFetch) {
  const Generation g = ChatOk(
      {{"messages",
        {{{"role", "user"},
          {"content",
           {{{"type", "image_url"}, {"image_url", {{"url", DataUrl("a")}}}},
            {{"type", "image_url"}, {"image_url", {{"url", "https://img.example.com/b.png"}}}}}}}}}});
  ASSERT_EQ(g.remote_media.size(), 1u);
  EXPECT_EQ(g.remote_media[0].message, 0u);
  EXPECT_EQ(g.remote_media[0].part, 1u);
  EXPECT_FALSE(g.remote_media[0].video);
  EXPECT_EQ(g.remote_media[0].url, "https://img.example.com/b.png");
  EXPECT_EQ(engine::CountMedia(g.request.input, engine::MediaType::kImage), 2);
  Generation filled = g;
  RemoteMediaTarget(filled, filled.remote_media[0]).bytes = "fetched";
  EXPECT_EQ(std::get<engine::Conversation>(filled.request.input).messages[0].content[1].media.bytes, "fetched");
}

TEST(OpenAiProtocolTest, CompletionPrompts) {
  auto text = ParseCompletion({{"prompt", "Once"}, {"echo", true}, {"logprobs", 2}}, Options());
  ASSERT_TRUE(std::holds_alternative<Generation>(text));
  const Generation& g = std::get<Generation>(text);
  EXPECT_EQ(std::get<engine::RawPrompt>(g.request.input).text, "Once");
  EXPECT_TRUE(g.echo);
  EXPECT_TRUE(g.logprobs);
  EXPECT_EQ(g.request.sampling.logprobs, 2);

  auto ids = ParseCompletion({{"prompt", {1, 2, 3}}}, Options());
  ASSERT_TRUE(std::holds_alternative<Generation>(ids));
  const auto& raw_ids = std::get<engine::RawPrompt>(std::get<Generation>(ids).request.input);
  EXPECT_EQ(raw_ids.token_ids, (std::vector<int32_t>{1, 2, 3}));
  EXPECT_TRUE(raw_ids.text.empty());

  auto one = ParseCompletion({{"prompt", {"only"}}}, Options());
  ASSERT_TRUE(std::holds_alternative<Generation>(one));
  EXPECT_EQ(std::get<engine::RawPrompt>(std::get<Generation>(one).request.input).text, "only");

  for (const json& bad : {json{{"prompt", {"a", "b"}}}, json{{"prompt", ""}}, json{{"max_tokens", 3}},
                          json{{"prompt", {1, "x"}}}}) {
    auto r = ParseCompletion(bad, Options());
    ASSERT_TRUE(std::holds_alternative<ApiError>(r)) << bad.dump();
    EXPECT_EQ(std::get<ApiError>(r).param, "prompt") << bad.dump();
  }
}

TEST(OpenAiProtocolTest, StatusesMapToTheCodesClientsExpect) {
  EXPECT_EQ(ToApiError(absl::InvalidArgumentError("x")).http_status(), 400);
  EXPECT_EQ(ToApiError(absl::UnauthenticatedError("x")).http_status(), 401);
  EXPECT_EQ(ToApiError(absl::NotFoundError("x")).http_status(), 404);
  const ApiError shed = ToApiError(absl::ResourceExhaustedError("queue full"));
  EXPECT_EQ(shed.http_status(), 429);
  EXPECT_EQ(shed.type(), "rate_limit_error");
  EXPECT_EQ(shed.message, "queue full");
  EXPECT_EQ(ToApiError(absl::UnavailableError("x")).http_status(), 503);
  EXPECT_EQ(ToApiError(absl::DeadlineExceededError("x")).http_status(), 504);
  EXPECT_EQ(ToApiError(absl::InternalError("x")).http_status(), 500);

  ApiError e;
  e.message = "bad \"thing\"";
  e.param = "temperature";
  const json body = json::parse(ErrorBody(e));
  EXPECT_EQ(body["error"]["message"], "bad \"thing\"");
  EXPECT_EQ(body["error"]["type"], "invalid_request_error");
  EXPECT_EQ(body["error"]["param"], "temperature");
  EXPECT_TRUE(body["error"]["code"].is_null());
}

TEST(OpenAiProtocolTest, ChunkAndResponseShapes) {
  ResponseMeta meta;
  meta.id = "chatcmpl-1";
  meta.created = 5;
  meta.model = "tiny";
  meta.include_usage = true;
  const json role = StreamChunk(meta, 0, true, "", json(), {}, nullptr);
  EXPECT_EQ(role["object"], "chat.completion.chunk");
  EXPECT_EQ(role["choices"][0]["delta"]["role"], "assistant");
  EXPECT_TRUE(role["choices"][0]["finish_reason"].is_null());
  EXPECT_TRUE(role["usage"].is_null());

  engine::RequestOutput done;
  done.finished = true;
  done.finish_reason = engine::FinishReason::kStopString;
  done.stop_string = "END";
  done.usage.prompt_tokens = 10;
  done.usage.cached_tokens = 4;
  done.usage.completion_tokens = 3;
  done.usage.image_tokens = 6;
  const json last = StreamChunk(meta, 1, false, "ab", json(), {17, 18}, &done);
  EXPECT_FALSE(last["choices"][0].contains("token_ids"));  // not asked for
  meta.return_token_ids = true;
  EXPECT_EQ(StreamChunk(meta, 1, false, "ab", json(), {17, 18}, &done)["choices"][0]["token_ids"],
            json({17, 18}));
  meta.return_token_ids = false;
  EXPECT_EQ(last["choices"][0]["index"], 1);
  EXPECT_EQ(last["choices"][0]["delta"]["content"], "ab");
  EXPECT_FALSE(last["choices"][0]["delta"].contains("role"));
  EXPECT_EQ(last["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(last["choices"][0]["stop_reason"], "END");
  EXPECT_EQ(SseEvent(json{{"a", 1}}), "data: {\"a\":1}\n\n");

  engine::RequestOutput other = done;
  other.finish_reason = engine::FinishReason::kLength;
  other.usage.completion_tokens = 5;
  const json usage = UsageChunk(meta, {done, other});
  EXPECT_TRUE(usage["choices"].empty());
  EXPECT_EQ(usage["usage"]["prompt_tokens"], 10);  // counted once
  EXPECT_EQ(usage["usage"]["completion_tokens"], 8);
  EXPECT_EQ(usage["usage"]["total_tokens"], 18);
  EXPECT_EQ(usage["usage"]["prompt_tokens_details"]["cached_tokens"], 4);
  EXPECT_EQ(usage["ovserve"]["image_tokens"], 6);

  meta.endpoint = Endpoint::kCompletion;
  const json full = FullResponse(meta, {ChoiceResult{"hello", {}, json(), other}});
  EXPECT_EQ(full["object"], "text_completion");
  EXPECT_EQ(full["choices"][0]["text"], "hello");
  EXPECT_EQ(full["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(full["usage"]["completion_tokens"], 5);
}

}  // namespace
}  // namespace ovserve::server::http
