// The output processor: one sampled token to its stream delta and the stop
// verdict, and the final output every ending builds.
#include "engine/output_processor.h"

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/test_support/demo_tokenizer.h"

namespace ovserve::engine {
namespace {

constexpr int32_t kImEnd = 151645;

using ovserve::testing::DemoTokenizer;

std::vector<int32_t> Ids(const std::string& text) {
  auto ids = DemoTokenizer().Encode(text);
  EXPECT_TRUE(ids.ok()) << ids.status();
  return std::vector<int32_t>(ids->begin(), ids->end());
}

SampleResult Sample(int32_t token) { return {token, -0.25f, {{token, -0.25f}, {7, -2.0f}}}; }

TEST(OutputProcessorTest, ATokenBecomesItsDeltaWithLogprobsOnlyWhenAsked) {
  StopParams params;
  params.max_tokens = 8;
  StopChecker stop(params, {kImEnd}, DemoTokenizer());
  const std::vector<int32_t> hello = Ids("Hello");
  ASSERT_FALSE(hello.empty());
  auto out = ProcessToken(Sample(hello[0]), /*return_logprobs=*/true, stop);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->finish, FinishReason::kNone);
  EXPECT_EQ(out->delta.token_ids, std::vector<int32_t>{hello[0]});
  EXPECT_FALSE(out->delta.finished);
  ASSERT_EQ(out->delta.logprobs.size(), 1u);
  EXPECT_EQ(out->delta.logprobs[0].token, hello[0]);
  EXPECT_FLOAT_EQ(out->delta.logprobs[0].logprob, -0.25f);
  EXPECT_EQ(out->delta.logprobs[0].top.size(), 2u);

  std::string text = out->delta.text;
  for (size_t i = 1; i < hello.size(); ++i) {
    auto next = ProcessToken(Sample(hello[i]), /*return_logprobs=*/false, stop);
    ASSERT_TRUE(next.ok()) << next.status();
    EXPECT_TRUE(next->delta.logprobs.empty());
    text += next->delta.text;
  }
  EXPECT_EQ(text, "Hello");
}

TEST(OutputProcessorTest, EndingsCarryWhatEndedThem) {
  StopParams params;
  params.max_tokens = 8;
  params.stop = {"."};
  StopChecker eos(params, {kImEnd}, DemoTokenizer());
  auto end = ProcessToken(Sample(kImEnd), false, eos);
  ASSERT_TRUE(end.ok()) << end.status();
  EXPECT_EQ(end->finish, FinishReason::kStop);
  EXPECT_EQ(end->delta.stop_token, kImEnd);
  EXPECT_EQ(end->delta.text, "");  // special tokens are skipped

  StopChecker dot(params, {kImEnd}, DemoTokenizer());
  FinishReason finish = FinishReason::kNone;
  std::string text, stop_string;
  for (int32_t id : Ids("Yes. No")) {
    auto out = ProcessToken(Sample(id), false, dot);
    ASSERT_TRUE(out.ok()) << out.status();
    text += out->delta.text;
    finish = out->finish;
    stop_string = out->delta.stop_string;
    if (finish != FinishReason::kNone) break;
  }
  EXPECT_EQ(finish, FinishReason::kStopString);
  EXPECT_EQ(stop_string, ".");
  EXPECT_EQ(text, "Yes");

  params.max_tokens = 1;
  StopChecker one(params, {kImEnd}, DemoTokenizer());
  auto length = ProcessToken(Sample(Ids("A")[0]), false, one);
  ASSERT_TRUE(length.ok());
  EXPECT_EQ(length->finish, FinishReason::kLength);
  // A push after the end is the checker's error, not a second ending.
  EXPECT_FALSE(ProcessToken(Sample(Ids("B")[0]), false, one).ok());
}

TEST(OutputProcessorTest, FinalOutputKeepsTheLastDeltaAndReportsUsage) {
  RequestOutput last;
  last.token_ids = {5};
  last.text = "x";
  Usage usage;
  usage.prompt_tokens = 40;
  usage.cached_tokens = 32;
  usage.completion_tokens = 3;
  Timings timings;
  timings.first_token = 0.5;
  timings.finished = 1.25;
  const RequestOutput out = FinalOutput(last, FinishReason::kCancelled, absl::OkStatus(), usage, timings);
  EXPECT_TRUE(out.finished);
  EXPECT_EQ(out.finish_reason, FinishReason::kCancelled);
  EXPECT_EQ(out.token_ids, std::vector<int32_t>{5});
  EXPECT_EQ(out.text, "x");
  EXPECT_EQ(out.usage.cached_tokens, 32);
  EXPECT_EQ(out.usage.completion_tokens, 3);
  EXPECT_EQ(out.timings.finished, 1.25);

  const RequestOutput failed =
      FinalOutput({}, FinishReason::kError, absl::InternalError("boom"), usage, timings);
  EXPECT_TRUE(failed.token_ids.empty());
  EXPECT_EQ(failed.error.message(), "boom");
}

TEST(OutputProcessorTest, BannedTokensAreMaskedAndNothingElse) {
  std::vector<float> logits = {1.0f, 2.0f, 3.0f, 4.0f};
  const std::vector<int32_t> banned = {1, 3};
  MaskBannedTokens(logits, banned);
  EXPECT_EQ(logits[0], 1.0f);
  EXPECT_TRUE(std::isinf(logits[1]) && logits[1] < 0);
  EXPECT_EQ(logits[2], 3.0f);
  EXPECT_TRUE(std::isinf(logits[3]) && logits[3] < 0);
}

}  // namespace
}  // namespace ovserve::engine
