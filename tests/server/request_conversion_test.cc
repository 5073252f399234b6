// gRPC GenerateRequest -> engine request: what the server refuses before the engine.

#include "server/request_conversion.h"

#include <functional>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ovserve::server {
namespace {

v1::GenerateRequest PromptWithPriority(int32_t priority) {
  v1::GenerateRequest request;
  request.mutable_prompt()->set_text("hi");
  request.set_priority(priority);
  return request;
}

TEST(RequestConversionTest, PriorityStaysInTheOperatorsRange) {
  // By default every request has the same priority: only 0 is allowed.
  EXPECT_TRUE(ToEngineRequest(PromptWithPriority(0), RequestDefaults{}).ok());
  const absl::Status urgent = ToEngineRequest(PromptWithPriority(-5), RequestDefaults{}).status();
  EXPECT_EQ(urgent.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(urgent.message(), "priority -5 is outside 0..0, the range this server allows (--max-priority)");

  RequestDefaults defaults;
  defaults.max_priority = 10;
  absl::StatusOr<engine::GenerateRequest> yielding = ToEngineRequest(PromptWithPriority(10), defaults);
  ASSERT_TRUE(yielding.ok()) << yielding.status();
  EXPECT_EQ(yielding->priority, 10);
  EXPECT_EQ(ToEngineRequest(PromptWithPriority(11), defaults).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ToEngineRequest(PromptWithPriority(-1), defaults).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(RequestConversionTest, TheConstraintOneofBecomesTheEnginesStructuredOutput) {
  using Kind = engine::StructuredOutput::Kind;
  auto convert = [](const std::function<void(v1::SamplingParams*)>& set) {
    v1::GenerateRequest request = PromptWithPriority(0);
    set(request.mutable_sampling());
    absl::StatusOr<engine::GenerateRequest> out = ToEngineRequest(request, RequestDefaults{});
    EXPECT_TRUE(out.ok()) << out.status();
    return out.ok() ? out->structured : engine::StructuredOutput{};
  };
  EXPECT_EQ(convert([](v1::SamplingParams*) {}).kind, Kind::kNone);
  const auto schema = convert([](v1::SamplingParams* p) {
    p->set_json_schema(R"({"type":"integer"})");
    p->set_json_any_whitespace(true);
  });
  EXPECT_EQ(schema.kind, Kind::kJsonSchema);
  EXPECT_EQ(schema.text, R"({"type":"integer"})");
  EXPECT_TRUE(schema.any_whitespace);
  EXPECT_EQ(convert([](v1::SamplingParams* p) { p->set_json_object(true); }).kind, Kind::kJsonObject);
  EXPECT_EQ(convert([](v1::SamplingParams* p) { p->set_json_object(false); }).kind, Kind::kNone);
  const auto regex = convert([](v1::SamplingParams* p) { p->set_regex("a|b"); });
  EXPECT_EQ(regex.kind, Kind::kRegex);
  EXPECT_EQ(regex.text, "a|b");
  const auto choice = convert([](v1::SamplingParams* p) {
    p->mutable_choice()->add_values(std::string("x"));
    p->mutable_choice()->add_values(std::string("y"));
  });
  EXPECT_EQ(choice.kind, Kind::kChoice);
  EXPECT_THAT(choice.choices, ::testing::ElementsAre("x", "y"));
  const auto grammar = convert([](v1::SamplingParams* p) { p->set_grammar("root ::= \"a\""); });
  EXPECT_EQ(grammar.kind, Kind::kGrammar);
  EXPECT_EQ(grammar.text, "root ::= \"a\"");
}

}  // namespace
}  // namespace ovserve::server
