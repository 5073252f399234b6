// The vision-encode workers and the token queue between them and decoding:
// the queue's accounting, the encoder cache, backpressure and cancellation
// in the workers (driven by hand, no engine), and through the engine: the
// worker split gives the single-threaded path's tokens, a small queue
// serializes encodes and loses nothing, random cancellations at every stage
// leave nothing held, and the largest single image fits the default queue.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <iterator>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/engine.h"
#include "engine/model/llava_model.h"
#include "engine/multimodal/image_processor.h"
#include "engine/multimodal/media_preprocessor.h"
#include "engine/runner/greedy_runner.h"
#include "engine/runner/media_inputs.h"
#include "engine/prompt/chat_template.h"
#include "engine/tokenizer/tokenizer.h"
#include "engine/worker/encoder_cache.h"
#include "engine/worker/token_queue.h"
#include "engine/worker/vision_encoder.h"
#include "gtest/gtest.h"
#include "kernels/cpu/cpu_backend.h"
#include "tests/engine/multimodal/media_encoder_for_tests.h"
#include "tests/engine/serving/serving_test_support.h"
#include "tests/test_support/fixtures.h"

namespace ovserve::engine {
namespace {

using std::chrono::milliseconds;

using testing::ChatPrompt;
using testing::Image;
using testing::Raw;
using testing::UserTurn;
using testing::Video;
using testing::AdmissionStatus;
using testing::Drain;
using testing::ExpectNothingHeld;
using testing::ReadMedia;

std::filesystem::path ModelDir() { return ovserve::testing::FixturePath("tiny-llava-ov"); }

// ---- TokenQueue ----

TEST(TokenQueueTest, ReservesWithinCapacityAndReleases) {
  TokenQueue queue(1000, 64 * 4);
  EXPECT_EQ(queue.capacity_bytes(), 1000 * 256);
  EXPECT_TRUE(queue.TryReserve(600));
  EXPECT_FALSE(queue.TryReserve(401));  // would exceed: nothing taken
  EXPECT_EQ(queue.used(), 600);
  EXPECT_TRUE(queue.TryReserve(400));
  EXPECT_FALSE(queue.TryReserve(1));
  queue.Release(600);
  EXPECT_EQ(queue.used(), 400);
  EXPECT_TRUE(queue.TryReserve(600));
  queue.Release(1000);
  EXPECT_EQ(queue.used(), 0);
}

// ---- EncoderCache ----

std::vector<float> Rows(size_t n, float value) { return std::vector<float>(n, value); }

TEST(EncoderCacheTest, HitsMissesAndLruEvictionOfUnheldEntries) {
  EncoderCache cache(3 * 100 * sizeof(float));  // three entries of 100 floats
  const ContentHash a{1, 1}, b{2, 2}, c{3, 3}, d{4, 4};
  EXPECT_EQ(cache.Lookup(a), nullptr);
  cache.Insert(a, Rows(100, 1.0f));
  VisualRows held_b = cache.Insert(b, Rows(100, 2.0f));
  cache.Insert(c, Rows(100, 3.0f));
  ASSERT_NE(cache.Lookup(a), nullptr);  // a is now the most recent
  cache.Insert(d, Rows(100, 4.0f));     // evicts c (b is held, a is recent)
  EXPECT_EQ(cache.Lookup(c), nullptr);
  EXPECT_NE(cache.Lookup(b), nullptr);
  EXPECT_EQ((*cache.Lookup(d))[0], 4.0f);
  const EncoderCacheStats stats = cache.stats();
  EXPECT_EQ(stats.entries, 3);
  EXPECT_EQ(stats.bytes, 3 * 100 * static_cast<int64_t>(sizeof(float)));
  EXPECT_EQ(stats.hits, 3);
  EXPECT_EQ(stats.misses, 2);
}

TEST(EncoderCacheTest, HeldEntriesAreNeverEvictedAndOversizeIsNotKept) {
  EncoderCache cache(2 * 100 * sizeof(float));
  VisualRows a = cache.Insert({1, 1}, Rows(100, 1.0f));
  VisualRows b = cache.Insert({2, 2}, Rows(100, 2.0f));
  VisualRows c = cache.Insert({3, 3}, Rows(100, 3.0f));  // nothing evictable: not kept
  EXPECT_EQ((*c)[0], 3.0f);
  EXPECT_EQ(cache.Lookup({3, 3}), nullptr);
  EXPECT_NE(cache.Lookup({1, 1}), nullptr);
  EXPECT_EQ(cache.Insert({9, 9}, Rows(1000, 9.0f))->size(), 1000u);  // larger than all
  EXPECT_EQ(cache.stats().entries, 2);
}

// ---- VisionEncoder, driven by hand ----

class VisionEncoderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    OVSERVE_REQUIRE_FIXTURE("tiny-llava-ov/config.json");
    auto config = LoadPreprocessorConfig(ModelDir());
    ASSERT_TRUE(config.ok()) << config.status();
    auto processor = ImageProcessor::Create(std::move(*config));
    ASSERT_TRUE(processor.ok()) << processor.status();
    preprocessor_ = std::make_unique<MediaPreprocessor>(std::move(*processor), MediaPreprocessorOptions{});
  }

  // One AnyRes image job.
  EncodeJob ImageJob(int64_t seq_id, const std::string& bytes) {
    const MediaItem item{MediaType::kImage, std::span(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()), 0};
    auto prepared = preprocessor_->Prepare(std::span(&item, 1));
    EXPECT_TRUE(prepared.ok()) << prepared.status();
    EncodeJob job;
    job.seq_id = seq_id;
    job.visual_tokens = (*prepared)[0].visual_tokens;
    job.media = std::move(*prepared);
    return job;
  }

  std::unique_ptr<VisionEncoder> MakeEncoder(int64_t queue_tokens, int64_t cache_bytes) {
    VisionEncoderOptions options{.model_dir = ModelDir(),
                                 .workers = 1,
                                 .threads_per_worker = 1,
                                 .token_queue_tokens = queue_tokens,
                                 .encoder_cache_bytes = cache_bytes};
    auto encoder = VisionEncoder::Create(options, 64 * 4, [this](EncodeResult r) {
      std::lock_guard<std::mutex> lock(mutex_);
      results_.push_back(std::move(r));
      cv_.notify_all();
    });
    EXPECT_TRUE(encoder.ok()) << encoder.status();
    return encoder.ok() ? std::move(*encoder) : nullptr;
  }

  // Waits for the next result (or fails after 30 s).
  EncodeResult Next() {
    std::unique_lock<std::mutex> lock(mutex_);
    EXPECT_TRUE(cv_.wait_for(lock, std::chrono::seconds(30), [this] { return !results_.empty(); }));
    if (results_.empty()) return {};
    EncodeResult r = std::move(results_.front());
    results_.erase(results_.begin());
    return r;
  }
  size_t pending_results() {
    std::lock_guard<std::mutex> lock(mutex_);
    return results_.size();
  }

  std::unique_ptr<MediaPreprocessor> preprocessor_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<EncodeResult> results_;
};

TEST_F(VisionEncoderTest, AFullQueueMakesEncodesWaitUntilTheDecoderReleases) {
  const std::string image = ReadMedia("small_500x333.png");
  EncodeJob first = ImageJob(1, image);
  const int64_t tokens = first.visual_tokens;
  auto encoder = MakeEncoder(tokens + tokens / 2, 0);  // room for one job at a time
  ASSERT_NE(encoder, nullptr);
  std::atomic<int> started{0};
  auto count_start = [&] { ++started; };
  first.on_started = count_start;
  encoder->Submit(std::move(first));
  for (int64_t id : {2, 3}) {
    EncodeJob job = ImageJob(id, image);
    job.on_started = count_start;
    encoder->Submit(std::move(job));
  }
  EncodeResult r1 = Next();
  EXPECT_EQ(r1.seq_id, 1);
  ASSERT_TRUE(r1.status.ok()) << r1.status;
  EXPECT_EQ(r1.reserved_tokens, tokens);
  ASSERT_EQ(r1.rows.size(), 1u);
  EXPECT_EQ(static_cast<int64_t>(r1.rows[0]->size()), tokens * 64);  // [tokens, hidden 64]

  // Job 2 cannot start while job 1's tokens are held.
  std::this_thread::sleep_for(milliseconds(300));
  EXPECT_EQ(pending_results(), 0u);
  VisionEncoderStats stats = encoder->stats();
  EXPECT_EQ(stats.queue_tokens_used, tokens);
  EXPECT_EQ(stats.waiting_jobs, 2);
  EXPECT_EQ(stats.waiting_image_jobs, 2);
  EXPECT_EQ(started.load(), 1);

  encoder->ReleaseTokens(r1.reserved_tokens);  // the decoder prefilled job 1
  EncodeResult r2 = Next();
  EXPECT_EQ(r2.seq_id, 2);
  EXPECT_EQ(*r2.rows[0], *r1.rows[0]);  // same image, same rows
  encoder->ReleaseTokens(r2.reserved_tokens);
  EncodeResult r3 = Next();
  EXPECT_EQ(r3.seq_id, 3);
  encoder->ReleaseTokens(r3.reserved_tokens);
  EXPECT_EQ(encoder->stats().queue_tokens_used, 0);
  EXPECT_EQ(started.load(), 3);
}

TEST_F(VisionEncoderTest, CancelledWhileWaitingLeavesWithoutTakingRoom) {
  const std::string image = ReadMedia("small_500x333.png");
  EncodeJob first = ImageJob(1, image);
  const int64_t tokens = first.visual_tokens;
  auto encoder = MakeEncoder(tokens, 0);
  ASSERT_NE(encoder, nullptr);
  encoder->Submit(std::move(first));
  std::atomic<bool> cancel{false};
  EncodeJob second = ImageJob(2, image);
  second.cancelled = [&] { return cancel.load(); };
  encoder->Submit(std::move(second));
  EncodeResult r1 = Next();
  ASSERT_EQ(r1.seq_id, 1);
  cancel = true;
  encoder->Poke();
  EncodeResult r2 = Next();
  EXPECT_EQ(r2.seq_id, 2);
  EXPECT_TRUE(r2.cancelled);
  EXPECT_EQ(r2.reserved_tokens, 0);
  EXPECT_EQ(encoder->stats().waiting_jobs, 0);
  EXPECT_EQ(encoder->stats().queue_tokens_used, tokens);  // still job 1's
  encoder->ReleaseTokens(tokens);
}

TEST_F(VisionEncoderTest, AFailingEncodeFailsOnlyItsJobAndReleasesItsRoom) {
  const std::string image = ReadMedia("small_500x333.png");
  auto encoder = MakeEncoder(20000, 0);
  ASSERT_NE(encoder, nullptr);
  EncodeJob broken = ImageJob(1, image);
  broken.media[0].pixels.count = 1;  // fewer crops than its geometry needs
  broken.media[0].pixels.data.resize(3 * 384 * 384);
  encoder->Submit(std::move(broken));
  encoder->Submit(ImageJob(2, image));
  EncodeResult r1 = Next();
  EncodeResult r2 = Next();
  if (r1.seq_id == 2) std::swap(r1, r2);
  EXPECT_FALSE(r1.status.ok());
  EXPECT_NE(std::string(r1.status.message()).find("encoding visual item 0"), std::string::npos)
      << r1.status;
  EXPECT_EQ(r1.reserved_tokens, 0);
  ASSERT_TRUE(r2.status.ok()) << r2.status;
  EXPECT_EQ(encoder->stats().queue_tokens_used, r2.reserved_tokens);
  encoder->ReleaseTokens(r2.reserved_tokens);
}

TEST_F(VisionEncoderTest, TheSameImageIsEncodedOnceWithTheCache) {
  const std::string image = ReadMedia("square_384x384.png");
  auto encoder = MakeEncoder(20000, 64 << 20);
  ASSERT_NE(encoder, nullptr);
  encoder->Submit(ImageJob(1, image));
  EncodeResult r1 = Next();
  encoder->Submit(ImageJob(2, image));
  EncodeResult r2 = Next();
  ASSERT_TRUE(r1.status.ok() && r2.status.ok());
  EXPECT_EQ(r1.rows[0], r2.rows[0]);  // the very same rows, shared
  const VisionEncoderStats stats = encoder->stats();
  EXPECT_EQ(stats.items_encoded, 1);
  EXPECT_EQ(stats.cache.hits, 1);
  EXPECT_EQ(stats.cache.misses, 1);
  encoder->ReleaseTokens(r1.reserved_tokens + r2.reserved_tokens);
}

// ---- Through the engine ----

class EngineVisionTest : public ::testing::Test {
 protected:
  void SetUp() override { OVSERVE_REQUIRE_FIXTURE("tiny-llava-ov/config.json"); }

  static EngineConfig Config() {
    EngineConfig config;
    config.model_dir = ModelDir();
    config.threads = 1;
    config.vision_threads = 1;
    config.kv_cache_bytes = int64_t{64} << 20;
    return config;
  }

  static GenerateRequest Request(const std::string& id, const std::string& text,
                                 std::vector<std::string> images, std::vector<std::string> videos,
                                 int64_t max_tokens) {
    GenerateRequest r;
    r.request_id = id;
    std::vector<MediaInput> media;
    for (auto& image : images) media.push_back(Image(std::move(image)));
    for (auto& video : videos) media.push_back(Video(std::move(video), 4));
    r.input = UserTurn(text, std::move(media));
    r.sampling.temperature = 0.0f;
    r.stop.max_tokens = max_tokens;
    r.stop.ignore_eos = true;
    return r;
  }
};

TEST_F(EngineVisionTest, WorkerSplitGivesTheSingleThreadedPathsTokens) {
  EngineConfig config = Config();
  config.vision_workers = 2;
  auto engine = Engine::Create(config);
  ASSERT_TRUE(engine.ok()) << engine.status();

  kernels::CpuBackend backend(kernels::CpuBackendOptions{.num_threads = 1});
  auto model = LlavaOnevisionModel::Load(ModelDir(), backend);
  ASSERT_TRUE(model.ok()) << model.status();
  auto tokenizer = Tokenizer::Load(ModelDir());
  ASSERT_TRUE(tokenizer.ok());
  auto pre_config = LoadPreprocessorConfig(ModelDir());
  auto processor = ImageProcessor::Create(std::move(*pre_config));
  MediaPreprocessor preprocessor(std::move(*processor), MediaPreprocessorOptions{});

  struct Case {
    std::string text;
    std::vector<std::string> images, videos;
  };
  const std::vector<Case> cases = {
      {"What is this?", {ReadMedia("tall_300x820.jpg")}, {}},
      {"Compare.", {ReadMedia("square_384x384.png"), ReadMedia("small_500x333.png")}, {}},
      {"What happens?", {}, {ReadMedia("testsrc2_320x240_48f.mp4")}},
  };
  std::vector<std::unique_ptr<RequestHandle>> handles;
  for (size_t i = 0; i < cases.size(); ++i) {
    auto handle = (*engine)->Submit(
        Request(absl::StrCat("split-", i), cases[i].text, cases[i].images, cases[i].videos, 6));
    ASSERT_TRUE(handle.ok()) << handle.status();
    handles.push_back(std::move(*handle));
  }
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    std::vector<MediaItem> items;
    for (const auto& b : c.images) items.push_back({MediaType::kImage, std::span(reinterpret_cast<const uint8_t*>(b.data()), b.size()), 0});
    for (const auto& b : c.videos) items.push_back({MediaType::kVideo, std::span(reinterpret_cast<const uint8_t*>(b.data()), b.size()), 4});
    auto prepared = preprocessor.Prepare(items);
    ASSERT_TRUE(prepared.ok()) << prepared.status();
    GreedyRequest greedy;
    auto ids = (*tokenizer)->Encode(ChatPrompt(c.text, static_cast<int>(c.images.size()),
                                               static_cast<int>(c.videos.size())));
    greedy.prompt_ids.assign(ids->begin(), ids->end());
    AddPreparedMedia(*prepared, greedy);
    greedy.max_new_tokens = 6;
    auto reference = RunGreedy(**model, greedy);
    ASSERT_TRUE(reference.ok()) << reference.status();
    EXPECT_EQ(Drain(*handles[i]).tokens, reference->generated_ids) << c.text;
  }
  ExpectNothingHeld(**engine);
}

TEST_F(EngineVisionTest, ASmallQueueSerializesEncodesAndLosesNothing) {
  std::vector<GenerateRequest> requests;
  for (int i = 0; i < 4; ++i) {
    requests.push_back(Request(absl::StrCat("big-", i), absl::StrCat("Describe item ", i),
                               {ReadMedia(i % 2 ? "wide_1536x1100.png" : "tall_300x820.jpg")}, {}, 4));
  }
  std::vector<std::vector<int32_t>> expected;
  {
    auto roomy = Engine::Create(Config());
    ASSERT_TRUE(roomy.ok());
    for (const auto& r : requests) expected.push_back(Drain(**(*roomy)->Submit(r)).tokens);
  }
  EngineConfig config = Config();
  config.media.visual = VisualLimits{.max_images = 1, .max_video_frames = 32, .max_videos = 0};
  config.token_queue_tokens = kMaxSingleImageTokens;  // one AnyRes image at a time
  auto engine = Engine::Create(config);
  ASSERT_TRUE(engine.ok()) << engine.status();
  std::vector<std::unique_ptr<RequestHandle>> handles;
  for (const auto& r : requests) {
    auto handle = (*engine)->Submit(r);
    ASSERT_TRUE(handle.ok()) << handle.status();
    handles.push_back(std::move(*handle));
  }
  for (size_t i = 0; i < handles.size(); ++i) {
    const auto got = Drain(*handles[i]);
    EXPECT_EQ(got.tokens, expected[i]) << requests[i].request_id;
    EXPECT_EQ(got.final_output.finish_reason, FinishReason::kLength);
    EXPECT_LE((*engine)->Stats().token_queue_used_tokens, kMaxSingleImageTokens);
  }
  EXPECT_EQ((*engine)->Stats().token_queue_capacity_tokens, kMaxSingleImageTokens);
  ExpectNothingHeld(**engine);

  // A queue below the largest request the limits allow is refused at start-up.
  config.token_queue_tokens = kMaxSingleImageTokens - 1;
  auto too_small = Engine::Create(config);
  ASSERT_FALSE(too_small.ok());
  EXPECT_NE(std::string(too_small.status().message()).find("8765"), std::string::npos)
      << too_small.status();
}

TEST_F(EngineVisionTest, PastTheWaitingLimitMultimodalRequestsAreRefusedWithARetryHint) {
  EngineConfig config = Config();
  config.max_waiting_requests = 0;
  auto engine = Engine::Create(config);
  ASSERT_TRUE(engine.ok());
  auto refused = (*engine)->Submit(Request("mm", "What?", {ReadMedia("square_384x384.png")}, {}, 2));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(std::string(refused.status().message()).find("retry"), std::string::npos);
  // Text-only requests bypass the encoder and its limit.
  auto text = (*engine)->Submit(Request("text", "Hi", {}, {}, 2));
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(Drain(**text).tokens.size(), 2u);
}

TEST_F(EngineVisionTest, DecodedPixelsWaitingForTheEncoderAreBoundedInBytes) {
  EngineConfig config = Config();
  config.max_waiting_media_bytes = 1 << 20;  // below one AnyRes image (several 384x384 crops in fp32)
  auto engine = Engine::Create(config);
  ASSERT_TRUE(engine.ok());
  // Known once decoded: the stream ends with the error.
  const absl::Status refused =
      AdmissionStatus(**engine, Request("big", "What?", {ReadMedia("square_384x384.png")}, {}, 2));
  EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(refused.message()).find("max_waiting_media_bytes 1048576"), std::string::npos)
      << refused;
  auto text = (*engine)->Submit(Request("text", "Hi", {}, {}, 2));
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(Drain(**text).tokens.size(), 2u);

  // Room for about two images: a burst is admitted or shed with RESOURCE_EXHAUSTED naming the
  // limit; cancelled or finished, every admitted request gives its bytes back.
  config.max_waiting_media_bytes = int64_t{24} << 20;
  auto bounded = Engine::Create(config);
  ASSERT_TRUE(bounded.ok());
  std::vector<std::unique_ptr<RequestHandle>> handles;
  for (int i = 0; i < 8; ++i) {
    auto h = (*bounded)->Submit(Request(absl::StrCat("b", i), "What?", {ReadMedia("square_384x384.png")}, {}, 4));
    ASSERT_TRUE(h.ok()) << h.status();
    if (i % 2 == 1) (*h)->Cancel();
    handles.push_back(std::move(*h));
  }
  int served = 0;
  for (auto& h : handles) {
    const RequestOutput last = Drain(*h).final_output;
    if (last.finish_reason == FinishReason::kError) {
      EXPECT_EQ(last.error.code(), absl::StatusCode::kResourceExhausted) << last.error;
      EXPECT_NE(std::string(last.error.message()).find("max_waiting_media_bytes"), std::string::npos)
          << last.error;
    } else if (last.finish_reason != FinishReason::kCancelled) {
      ++served;
    }
  }
  EXPECT_GT(served, 0);
  ExpectNothingHeld(**bounded);
}

TEST_F(EngineVisionTest, RandomCancellationsAtEveryStageLeaveNothingHeld) {
  EngineConfig config = Config();
  config.token_queue_tokens = 16000;  // some requests wait for room
  auto engine = Engine::Create(config);
  ASSERT_TRUE(engine.ok()) << engine.status();
  const std::vector<std::string> media = {ReadMedia("small_500x333.png"), ReadMedia("square_384x384.png"),
                                          ReadMedia("testsrc2_320x240_48f.mp4")};
  std::mt19937 rng(7);
  std::vector<std::unique_ptr<RequestHandle>> handles;
  std::vector<bool> cancel;
  for (int i = 0; i < 20; ++i) {
    GenerateRequest r;
    switch (i % 4) {
      case 0: r = Request(absl::StrCat("r", i), "Text only", {}, {}, 40); break;
      case 1: r = Request(absl::StrCat("r", i), "One image", {media[0]}, {}, 40); break;
      case 2: r = Request(absl::StrCat("r", i), "Two images", {media[0], media[1]}, {}, 40); break;
      case 3: r = Request(absl::StrCat("r", i), "A video", {}, {media[2]}, 40); break;
    }
    auto handle = (*engine)->Submit(r);
    ASSERT_TRUE(handle.ok()) << handle.status();
    handles.push_back(std::move(*handle));
    cancel.push_back(rng() % 2 == 0);
  }
  // Cancel half of them at random moments: waiting for room, encoding,
  // queued, prefilling or decoding.
  std::thread canceller([&] {
    std::mt19937 delays(11);
    for (size_t i = 0; i < handles.size(); ++i) {
      if (!cancel[i]) continue;
      std::this_thread::sleep_for(milliseconds(delays() % 60));
      handles[i]->Cancel();
    }
  });
  int finished = 0, cancelled = 0;
  for (auto& handle : handles) {
    const auto got = Drain(*handle);
    EXPECT_TRUE(got.final_output.finished);
    if (got.final_output.finish_reason == FinishReason::kCancelled) ++cancelled;
    if (got.final_output.finish_reason == FinishReason::kLength) {
      ++finished;
      EXPECT_EQ(got.tokens.size(), 40u);
    }
  }
  canceller.join();
  EXPECT_EQ(finished + cancelled, 20);
  ExpectNothingHeld(**engine);
}

TEST_F(EngineVisionTest, TheLargestSingleImageFitsTheDefaultQueue) {
  // 947 wide x 1157 high: a 4x3 grid kept whole, 8765 tokens (DESIGN.md).
  const int width = 947, height = 1157;
  auto png = ovserve::testing::EncodeMedia(
      {.muxer = "image2pipe", .encoder = "png", .width = width, .height = height},
      [&](int, AVFrame& frame) {
        ovserve::testing::FillFromRgb(frame, [](int x, int y) {
          return std::array<uint8_t, 3>{static_cast<uint8_t>(x), static_cast<uint8_t>(y), 90};
        });
      });
  ASSERT_TRUE(png.ok()) << png.status();
  auto engine = Engine::Create(Config());
  ASSERT_TRUE(engine.ok());
  auto handle = (*engine)->Submit(
      Request("largest", "What is this?", {std::string(png->begin(), png->end())}, {}, 2));
  ASSERT_TRUE(handle.ok()) << handle.status();
  const auto got = Drain(**handle);
  EXPECT_EQ(got.final_output.finish_reason, FinishReason::kLength) << got.final_output.error;
  EXPECT_EQ(got.final_output.usage.visual_tokens, kMaxSingleImageTokens);
  // 8765 + 8760 + 6273 = 23798, rounded up to 1024s.
  EXPECT_EQ((*engine)->Stats().token_queue_capacity_tokens, 24576);
  ExpectNothingHeld(**engine);
}

}  // namespace
}  // namespace ovserve::engine
