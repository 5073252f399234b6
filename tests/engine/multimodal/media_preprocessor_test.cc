#include "engine/multimodal/media_preprocessor.h"

#include <algorithm>
#include <condition_variable>
#include <fstream>
#include <iterator>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/test_support/fixtures.h"

namespace ovserve::engine {
namespace {

std::vector<uint8_t> ReadMedia(const std::string& name) {
  std::ifstream in(ovserve::testing::FixturePath("media/" + name), std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

MediaPreprocessor MakePreprocessor(MediaPreprocessorOptions options = {}) {
  auto processor = ImageProcessor::Create(DefaultPreprocessorConfig());
  EXPECT_TRUE(processor.ok()) << processor.status();
  return MediaPreprocessor(std::move(*processor), options);
}

TEST(MediaPreprocessorTest, OneImageIsAnyResSeveralAreSingleCrops) {
  OVSERVE_REQUIRE_FIXTURE("media/tall_300x820.jpg");
  const auto tall = ReadMedia("tall_300x820.jpg");
  const auto small = ReadMedia("small_500x333.png");
  MediaPreprocessor pre = MakePreprocessor();

  const MediaItem one[] = {{MediaType::kImage, tall}};
  auto single = pre.Prepare(one);
  ASSERT_TRUE(single.ok()) << single.status();
  ASSERT_EQ(single->size(), 1u);
  EXPECT_EQ((*single)[0].kind, VisualKind::kImageAnyRes);
  EXPECT_EQ((*single)[0].original_size, (Size2d{820, 300}));
  EXPECT_EQ((*single)[0].visual_tokens, 2773);  // the fixture's per_image_layout
  EXPECT_EQ((*single)[0].pixels.count, 4);

  const MediaItem two[] = {{MediaType::kImage, tall}, {MediaType::kImage, small}};
  auto multi = pre.Prepare(two);
  ASSERT_TRUE(multi.ok()) << multi.status();
  for (const auto& m : *multi) {
    EXPECT_EQ(m.kind, VisualKind::kImageSingleCrop);
    EXPECT_EQ(m.visual_tokens, 730);
    EXPECT_EQ(m.pixels.count, 1);
  }
  // The same bytes preprocessed another way must not share a cache key.
  EXPECT_FALSE((*single)[0].hash == (*multi)[0].hash);
  EXPECT_FALSE((*multi)[0].hash == (*multi)[1].hash);
}

TEST(MediaPreprocessorTest, VideoFramesAreSampledAndCapped) {
  OVSERVE_REQUIRE_FIXTURE("media/testsrc2_320x240_48f.mp4");
  const auto video = ReadMedia("testsrc2_320x240_48f.mp4");
  MediaPreprocessor pre = MakePreprocessor();
  const MediaItem eight[] = {{MediaType::kVideo, video, 8}};
  auto prepared = pre.Prepare(eight);
  ASSERT_TRUE(prepared.ok()) << prepared.status();
  EXPECT_EQ((*prepared)[0].frame_indices, (std::vector<int64_t>{0, 6, 13, 20, 26, 33, 40, 47}));
  EXPECT_EQ((*prepared)[0].visual_tokens, 1569);
  EXPECT_EQ((*prepared)[0].decoded_frames, 48);

  const MediaItem too_many[] = {{MediaType::kVideo, video, 33}};  // sampled down to 32, not refused
  prepared = pre.Prepare(too_many);
  ASSERT_TRUE(prepared.ok()) << prepared.status();
  EXPECT_EQ((*prepared)[0].pixels.count, 32);
  EXPECT_EQ((*prepared)[0].visual_tokens, 6273);
}

TEST(MediaPreprocessorTest, LimitsAreNamedInTheError) {
  OVSERVE_REQUIRE_FIXTURE("media/small_500x333.png");
  const auto small = ReadMedia("small_500x333.png");
  MediaPreprocessor pre = MakePreprocessor();
  const std::vector<MediaItem> thirteen(13, MediaItem{MediaType::kImage, small});
  auto result = pre.Prepare(thirteen);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(result.status().message().find("13 given, at most 12"), std::string::npos) << result.status();
  const std::vector<MediaItem> twelve(12, MediaItem{MediaType::kImage, small});
  EXPECT_TRUE(pre.Prepare(twelve).ok());

  MediaPreprocessorOptions tight;
  tight.max_request_bytes = static_cast<int64_t>(small.size()) * 2 - 1;
  MediaPreprocessor small_budget = MakePreprocessor(tight);
  const MediaItem pair[] = {{MediaType::kImage, small}, {MediaType::kImage, small}};
  result = small_budget.Prepare(pair);
  EXPECT_NE(result.status().message().find("over the limit of"), std::string::npos) << result.status();

  const std::vector<uint8_t> garbage = {'n', 'o', 't', ' ', 'a', 'n', ' ', 'i', 'm', 'a', 'g', 'e'};
  const MediaItem mixed[] = {{MediaType::kImage, small}, {MediaType::kImage, garbage}};
  result = pre.Prepare(mixed);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(result.status().message().rfind("image 1: ", 0), 0u) << result.status();
}

}  // namespace
}  // namespace ovserve::engine

namespace ovserve::engine {
namespace {

TEST(MediaPreprocessorTest, KeptVideoFramesAreBoundedInMemory) {
  OVSERVE_REQUIRE_FIXTURE("media/testsrc2_320x240_48f.mp4");
  const auto video = ReadMedia("testsrc2_320x240_48f.mp4");
  MediaPreprocessorOptions options;
  options.media.max_video_kept_pixels = 8 * 320 * 240;  // exactly 8 frames
  MediaPreprocessor pre = MakePreprocessor(options);
  const MediaItem eight[] = {{MediaType::kVideo, video, 8}};
  EXPECT_TRUE(pre.Prepare(eight).ok());
  const MediaItem nine[] = {{MediaType::kVideo, video, 9}};
  auto result = pre.Prepare(nine);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(result.status().message().find("over the limit of 614400 (max_video_kept_pixels)"),
            std::string::npos)
      << result.status();
}


// One of several images is padded to a square of its longer side: the square
// is bounded from the header, before anything is decoded (a 1,000,000 x 16
// PNG beside another image once asked for a 3 TB allocation).
TEST(MediaPreprocessorTest, PaddedSquareOfAMultiImageItemIsBoundedBeforeDecoding) {
  OVSERVE_REQUIRE_FIXTURE("media/small_500x333.png");
  const auto small = ReadMedia("small_500x333.png");
  // A PNG whose header announces 1,000,000 x 16 (16M pixels: under max_pixels).
  std::vector<uint8_t> wide = {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 'I', 'H', 'D', 'R',
                               0x00, 0x0f, 0x42, 0x40, 0, 0, 0, 16, 8, 2, 0, 0, 0, 0, 0, 0, 0};
  MediaPreprocessor pre = MakePreprocessor();
  const MediaItem pair[] = {{MediaType::kImage, small}, {MediaType::kImage, wide}};
  auto result = pre.Prepare(pair);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(result.status().message().find("image 1: a 1000000x16 image of a multi-image request is padded to a "
                                           "1000000x1000000 square = 1000000000000 pixels, over the limit of "
                                           "64000000 (max_padded_pixels)"),
            std::string::npos)
      << result.status();

  // A real picture against a tight limit: refused among several, served alone
  // (AnyRes pads to a pinpoint, not a square of its side).
  MediaPreprocessorOptions tight;
  tight.media.max_padded_pixels = 500 * 500 - 1;
  MediaPreprocessor strict = MakePreprocessor(tight);
  const MediaItem two[] = {{MediaType::kImage, small}, {MediaType::kImage, small}};
  result = strict.Prepare(two);
  EXPECT_NE(result.status().message().find("over the limit of 249999 (max_padded_pixels)"), std::string::npos)
      << result.status();
  const MediaItem one[] = {{MediaType::kImage, small}};
  EXPECT_TRUE(strict.Prepare(one).ok());
  tight.media.max_padded_pixels = 500 * 500;
  EXPECT_TRUE(MakePreprocessor(tight).Prepare(two).ok());
}

TEST(MediaPreprocessorTest, ACancelledRequestIsNotPreprocessed) {
  OVSERVE_REQUIRE_FIXTURE("media/small_500x333.png");
  const auto small = ReadMedia("small_500x333.png");
  MediaPreprocessor pre = MakePreprocessor();
  std::stop_source cancel;
  cancel.request_stop();
  const MediaItem items[] = {{MediaType::kImage, small}, {MediaType::kImage, small}};
  auto prepared = pre.Prepare(items, cancel.get_token());
  ASSERT_FALSE(prepared.ok());
  EXPECT_EQ(prepared.status().code(), absl::StatusCode::kCancelled) << prepared.status();
  EXPECT_TRUE(pre.Prepare(items).ok());
}

// Requests share the pool: many at once each get their own items back.
TEST(MediaPreprocessorTest, ConcurrentRequestsEachGetTheirOwnItems) {
  OVSERVE_REQUIRE_FIXTURE("media/tall_300x820.jpg");
  const auto tall = ReadMedia("tall_300x820.jpg");
  const auto small = ReadMedia("small_500x333.png");
  MediaPreprocessorOptions options;
  options.threads = 2;
  MediaPreprocessor pre = MakePreprocessor(options);
  std::mutex mutex;
  std::condition_variable cv;
  std::vector<std::optional<absl::StatusOr<std::vector<PreparedMedia>>>> results(6);
  for (size_t r = 0; r < results.size(); ++r) {
    std::vector<MediaItem> items = {{MediaType::kImage, r % 2 == 0 ? tall : small}};
    if (r % 3 == 2) items.push_back({MediaType::kImage, tall});
    pre.PrepareAsync(std::move(items), {}, [&, r](absl::StatusOr<std::vector<PreparedMedia>> media) {
      std::lock_guard<std::mutex> lock(mutex);
      results[r] = std::move(media);
      cv.notify_all();
    });
  }
  std::unique_lock<std::mutex> lock(mutex);
  cv.wait(lock, [&] {
    return std::all_of(results.begin(), results.end(), [](const auto& r) { return r.has_value(); });
  });
  for (size_t r = 0; r < results.size(); ++r) {
    ASSERT_TRUE(results[r]->ok()) << r << ": " << results[r]->status();
    const std::vector<PreparedMedia>& media = **results[r];
    ASSERT_EQ(media.size(), r % 3 == 2 ? 2u : 1u) << r;
    const Size2d first = r % 2 == 0 ? Size2d{820, 300} : Size2d{333, 500};
    EXPECT_EQ(media[0].original_size, first) << r;
  }
}

}  // namespace
}  // namespace ovserve::engine
