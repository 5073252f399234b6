// gRPC GenerateRequest -> engine request: what the server refuses before the engine.

#include "server/request_conversion.h"

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

}  // namespace
}  // namespace ovserve::server
