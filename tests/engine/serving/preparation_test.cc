// The engine prepares requests (media decode and resize, grammar compilation)
// on its own pool, off the submitting thread: a slow item delays only its own
// request, cancelling reaches the work in progress, and shutting down ends
// requests still being prepared.

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "engine/engine.h"
#include "gtest/gtest.h"
#include "tests/engine/multimodal/jpeg_for_tests.h"
#include "tests/engine/serving/serving_test_support.h"
#include "tests/test_support/fixtures.h"

namespace ovserve::engine {
namespace {

using testing::Drain;
using testing::ExpectNothingHeld;
using testing::Finished;
using testing::Image;
using testing::ReadMedia;
using testing::UserTurn;

class PreparationTest : public ::testing::Test {
 protected:
  void SetUp() override { OVSERVE_REQUIRE_FIXTURE("tiny-llava-ov/config.json"); }

  static EngineConfig Config() {
    EngineConfig config;
    config.model_dir = ovserve::testing::FixturePath("tiny-llava-ov");
    config.threads = 2;  // two preparation threads
    config.kv_cache_bytes = int64_t{64} << 20;
    return config;
  }

  // A 7000 x 7000 picture (49M pixels, under max_pixels): seconds of decode
  // and AnyRes resizing on one thread, from a file of a few MB.
  static std::string SlowImage() {
    const std::vector<uint8_t> jpeg = ovserve::testing::EncodeGrayJpeg(7000, 7000);
    return std::string(jpeg.begin(), jpeg.end());
  }

  static GenerateRequest Request(std::string id, std::vector<MediaInput> media, int64_t max_tokens = 2) {
    GenerateRequest r;
    r.request_id = std::move(id);
    r.input = UserTurn("What is this?", std::move(media));
    r.stop.max_tokens = max_tokens;
    r.stop.ignore_eos = true;
    return r;
  }
};

TEST_F(PreparationTest, ASlowItemDelaysOnlyItsOwnRequestAndCancelStopsIt) {
  auto engine = Engine::Create(Config());
  ASSERT_TRUE(engine.ok()) << engine.status();
  auto slow = (*engine)->Submit(Request("slow", {Image(SlowImage())}));
  ASSERT_TRUE(slow.ok()) << slow.status();  // Submit did not wait for the decode
  EXPECT_FALSE((*slow)->admitted());

  auto quick = (*engine)->Submit(Request("quick", {Image(ReadMedia("small_500x333.png"))}, 3));
  ASSERT_TRUE(quick.ok()) << quick.status();
  const Finished answered = Drain(**quick);
  EXPECT_EQ(answered.final_output.finish_reason, FinishReason::kLength) << answered.final_output.error;
  EXPECT_EQ(answered.tokens.size(), 3u);
  // Served while the big picture was still being decoded or resized.
  EXPECT_FALSE((*slow)->admitted());

  (*slow)->Cancel();
  const Finished cancelled = Drain(**slow);
  EXPECT_EQ(cancelled.final_output.finish_reason, FinishReason::kCancelled);
  EXPECT_TRUE(cancelled.tokens.empty());
  ExpectNothingHeld(**engine);
}

TEST_F(PreparationTest, ShuttingDownEndsRequestsBeingPrepared) {
  std::unique_ptr<RequestHandle> slow;
  {
    auto engine = Engine::Create(Config());
    ASSERT_TRUE(engine.ok()) << engine.status();
    auto submitted = (*engine)->Submit(Request("slow", {Image(SlowImage())}));
    ASSERT_TRUE(submitted.ok()) << submitted.status();
    slow = std::move(*submitted);
  }  // the engine goes while the item decodes
  const Finished ended = Drain(*slow);
  EXPECT_EQ(ended.final_output.finish_reason, FinishReason::kCancelled);
}

TEST_F(PreparationTest, PreparationErrorsEndTheStreamAndFreeTheirSlot) {
  EngineConfig config = Config();
  config.max_waiting_requests = 1;
  auto engine = Engine::Create(config);
  ASSERT_TRUE(engine.ok()) << engine.status();
  for (int i = 0; i < 3; ++i) {  // each failure gives its waiting slot back
    auto bad = (*engine)->Submit(Request("bad", {Image("not an image at all")}));
    ASSERT_TRUE(bad.ok()) << bad.status();
    const RequestOutput last = Drain(**bad).final_output;
    EXPECT_EQ(last.finish_reason, FinishReason::kError);
    EXPECT_EQ(last.error.code(), absl::StatusCode::kInvalidArgument) << last.error;
    EXPECT_NE(last.error.message().find("image 0:"), std::string::npos) << last.error;
  }
  auto good = (*engine)->Submit(Request("good", {Image(ReadMedia("small_500x333.png"))}));
  ASSERT_TRUE(good.ok()) << good.status();
  EXPECT_EQ(Drain(**good).final_output.finish_reason, FinishReason::kLength);
  ExpectNothingHeld(**engine);
}

}  // namespace
}  // namespace ovserve::engine
