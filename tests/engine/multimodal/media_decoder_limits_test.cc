// Media decoder: malformed input, limits, deadlines and concurrency. Every case
// must come back as a clear status: no crash, hang or leak (the libFuzzer
// target in tests/fuzz pushes the same paths much further).

#include <array>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <functional>
#include <mutex>
#include <fstream>
#include <iterator>
#include <random>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "engine/multimodal/media_decoder.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/engine/multimodal/media_encoder_for_tests.h"
#include "tests/test_support/fixtures.h"

extern "C" {
#include <libavutil/log.h>
}

namespace ovserve::engine {
namespace {

using ::ovserve::testing::EncodeAudioOnly;
using ::ovserve::testing::FixturePath;
using ::testing::HasSubstr;

constexpr char kPng[] = "media/small_500x333.png";
constexpr char kJpeg[] = "media/tall_300x820.jpg";
constexpr char kVideo[] = "media/testsrc2_320x240_48f.mp4";
constexpr absl::StatusCode kInvalid = absl::StatusCode::kInvalidArgument;

std::vector<uint8_t> ReadFile(const std::string& relative) {
  std::ifstream in(FixturePath(relative), std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

std::vector<uint8_t> Bytes(std::initializer_list<int> values) {
  return std::vector<uint8_t>(values.begin(), values.end());
}

void Append(std::vector<uint8_t>& out, const std::string& text) {
  out.insert(out.end(), text.begin(), text.end());
}
void AppendBe32(std::vector<uint8_t>& out, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<uint8_t>(v >> s));
}
void AppendLe(std::vector<uint8_t>& out, uint32_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

// Expects a failed status of `code` whose message contains `text`.
#define EXPECT_ERROR(expr, status_code, text)                               \
  do {                                                                      \
    const auto result_ = (expr);                                            \
    ASSERT_FALSE(result_.ok()) << "expected an error containing: " << text; \
    EXPECT_EQ(result_.status().code(), status_code) << result_.status();    \
    EXPECT_THAT(std::string(result_.status().message()), HasSubstr(text));  \
  } while (0)

class MediaLimitsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { av_log_set_level(AV_LOG_FATAL); }
};

// A PNG whose IHDR announces width x height (no image data follows).
std::vector<uint8_t> PngHeader(uint32_t width, uint32_t height) {
  std::vector<uint8_t> png = Bytes({0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'});
  AppendBe32(png, 13);
  Append(png, "IHDR");
  AppendBe32(png, width);
  AppendBe32(png, height);
  png.insert(png.end(), {8, 2, 0, 0, 0, 0, 0, 0, 0});  // 8-bit RGB, CRC left 0
  return png;
}

TEST_F(MediaLimitsTest, EmptyUnknownAndOversizedInput) {
  EXPECT_ERROR(DecodeImage({}), kInvalid, "image data is empty");
  EXPECT_ERROR(DecodeVideo({}, 8), kInvalid, "video data is empty");
  const std::string text = "hello, this is not an image at all";
  const std::vector<uint8_t> junk(text.begin(), text.end());
  EXPECT_ERROR(DecodeImage(junk), kInvalid, "unrecognized image format");
  EXPECT_ERROR(DecodeVideo(junk, 8), kInvalid, "unrecognized video format");
  EXPECT_ERROR(DecodeImage(PngHeader(16, 16), MediaLimits{.max_encoded_bytes = 10}), kInvalid,
               "image is 33 bytes, over the limit of 10 bytes (max_encoded_bytes)");
  EXPECT_ERROR(DecodeImage(junk, MediaLimits{.max_pixels = 0}), kInvalid, "must all be positive");
}

TEST_F(MediaLimitsTest, AnnouncedSizeOverThePixelLimitIsRefusedBeforeDecoding) {
  EXPECT_ERROR(DecodeImage(PngHeader(20000, 20000)), kInvalid,
               "image is 20000x20000 = 400000000 pixels, over the limit of 64000000 (max_pixels)");
  EXPECT_ERROR(DecodeImage(PngHeader(0, 16)), kInvalid, "image has no pixels (0x16)");
  EXPECT_ERROR(DecodeImage(PngHeader(0xffffffff, 0xffffffff)), kInvalid,
               "image is 4294967295x4294967295 = 18446744065119617025 pixels");

  // BMP, 24-bit, 30000 x -30000 (top-down).
  std::vector<uint8_t> bmp = Bytes({'B', 'M'});
  AppendLe(bmp, 54, 4);
  AppendLe(bmp, 0, 4);
  AppendLe(bmp, 54, 4);
  AppendLe(bmp, 40, 4);
  AppendLe(bmp, 30000, 4);
  AppendLe(bmp, static_cast<uint32_t>(-30000), 4);
  AppendLe(bmp, 1, 2);
  AppendLe(bmp, 24, 2);
  bmp.resize(54, 0);
  EXPECT_ERROR(DecodeImage(bmp), kInvalid, "image is 30000x30000 = 900000000 pixels");

  std::vector<uint8_t> gif;
  Append(gif, "GIF89a");
  AppendLe(gif, 0xffff, 2);
  AppendLe(gif, 0xffff, 2);
  gif.insert(gif.end(), {0, 0, 0, ';'});
  EXPECT_ERROR(DecodeImage(gif), kInvalid, "image is 65535x65535 = 4294836225 pixels");

  std::vector<uint8_t> webp;
  Append(webp, "RIFF");
  AppendLe(webp, 22, 4);
  Append(webp, "WEBPVP8X");
  AppendLe(webp, 10, 4);
  AppendLe(webp, 0, 4);
  AppendLe(webp, 9999, 3);  // width - 1
  AppendLe(webp, 9999, 3);
  EXPECT_ERROR(DecodeImage(webp), kInvalid, "image is 10000x10000 = 100000000 pixels");

  // JPEG: SOI, an APP0 segment to skip, then SOF0 for 65000 x 60000.
  std::vector<uint8_t> jpeg = Bytes({0xff, 0xd8, 0xff, 0xe0, 0, 4, 0, 0, 0xff, 0xc0, 0, 11, 8});
  jpeg.insert(jpeg.end(), {60000 >> 8, 60000 & 0xff, 65000 >> 8, 65000 & 0xff, 1, 1, 0x11, 0});
  EXPECT_ERROR(DecodeImage(jpeg), kInvalid, "image is 65000x60000 = 3900000000 pixels");

  OVSERVE_REQUIRE_FIXTURE(kPng);
  EXPECT_ERROR(DecodeImage(ReadFile(kPng), MediaLimits{.max_pixels = 500 * 333 - 1}), kInvalid,
               "image is 500x333 = 166500 pixels, over the limit of 166499 (max_pixels)");
}

TEST_F(MediaLimitsTest, TruncatedAndCorruptImages) {
  OVSERVE_REQUIRE_FIXTURE(kPng);
  for (const char* file : {kPng, kJpeg}) {
    SCOPED_TRACE(file);
    const std::vector<uint8_t> bytes = ReadFile(file);
    for (double keep : {0.9, 0.5, 0.1}) {
      const std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + bytes.size() * keep);
      const auto image = DecodeImage(cut);
      EXPECT_FALSE(image.ok()) << "kept " << keep;
      if (!image.ok()) {
        EXPECT_EQ(image.status().code(), kInvalid) << image.status();
      }
    }
    std::vector<uint8_t> corrupt = bytes;
    for (size_t i = bytes.size() / 3; i < bytes.size() / 3 + 64; ++i) corrupt[i] ^= 0x5a;
    const auto image = DecodeImage(corrupt);
    EXPECT_FALSE(image.ok());
  }
}

TEST_F(MediaLimitsTest, VideoLimitsNameTheLimit) {
  OVSERVE_REQUIRE_FIXTURE(kVideo);
  const std::vector<uint8_t> video = ReadFile(kVideo);
  EXPECT_ERROR(DecodeVideo(video, 0), kInvalid, "num_frames is 0");
  EXPECT_ERROR(DecodeVideo(video, -3), kInvalid, "num_frames is -3");
  EXPECT_ERROR(DecodeVideo(video, 8, MediaLimits{.max_pixels = 1000}), kInvalid,
               "video frame is 320x240 = 76800 pixels, over the limit of 1000 (max_pixels)");
  EXPECT_ERROR(DecodeVideo(video, 8, MediaLimits{.max_video_frames_scanned = 20}), kInvalid,
               "video has more than 20 frames (max_video_frames_scanned)");
  EXPECT_ERROR(DecodeVideo(video, 8, MediaLimits{.max_video_seconds = 1}), kInvalid,
               "over the limit of 1 s (max_video_seconds)");
  EXPECT_ERROR(DecodeVideo(video, 8, MediaLimits{.max_decode_seconds = 1e-9}),
               absl::StatusCode::kDeadlineExceeded, "max_decode_seconds");
  EXPECT_ERROR(DecodeImage(ReadFile(kJpeg), MediaLimits{.max_decode_seconds = 1e-9}),
               absl::StatusCode::kDeadlineExceeded, "decoding the image took longer");
}

// A request cancelled meanwhile stops the decoders it is in (libjpeg's
// progress monitor, FFmpeg's interrupt callback and decode loop).
TEST_F(MediaLimitsTest, ACancelledRequestStopsEveryDecoder) {
  OVSERVE_REQUIRE_FIXTURE(kVideo);
  std::stop_source cancel;
  cancel.request_stop();
  const WorkBudget cancelled(30.0, cancel.get_token());
  EXPECT_ERROR(DecodeImage(ReadFile(kJpeg), {}, &cancelled), absl::StatusCode::kCancelled,
               "cancelled while decoding the image");
  EXPECT_ERROR(DecodeImage(ReadFile(kPng), {}, &cancelled), absl::StatusCode::kCancelled,
               "cancelled while decoding the image");
  EXPECT_ERROR(DecodeVideo(ReadFile(kVideo), 8, {}, &cancelled), absl::StatusCode::kCancelled,
               "cancelled while decoding the video");
  // The same budget, not cancelled, decodes them.
  const WorkBudget open(30.0, std::stop_source().get_token());
  EXPECT_TRUE(DecodeImage(ReadFile(kJpeg), {}, &open).ok());
  EXPECT_TRUE(DecodeVideo(ReadFile(kVideo), 8, {}, &open).ok());
}

TEST_F(MediaLimitsTest, WrongKindOrNoVideoStream) {
  OVSERVE_REQUIRE_FIXTURE(kVideo);
  EXPECT_ERROR(DecodeImage(ReadFile(kVideo)), kInvalid, "unsupported image format 'mov,mp4");
  EXPECT_ERROR(DecodeVideo(ReadFile(kPng), 4), kInvalid, "unsupported video format 'png_pipe'");
  auto audio = EncodeAudioOnly("matroska");
  ASSERT_TRUE(audio.ok()) << audio.status();
  EXPECT_ERROR(DecodeVideo(*audio, 4), kInvalid, "no video stream");
}

// FFmpeg's log lines while `run` runs (its callback is process-wide).
std::string CaptureAvLog(const std::function<void()>& run) {
  static std::mutex mutex;
  static std::string* captured = nullptr;
  std::string text;
  {
    std::lock_guard<std::mutex> lock(mutex);
    captured = &text;
  }
  av_log_set_callback([](void* avcl, int level, const char* format, va_list args) {
    char line[1024];
    std::vsnprintf(line, sizeof(line), format, args);
    std::lock_guard<std::mutex> lock(mutex);
    if (captured != nullptr) captured->append(line);
  });
  run();
  av_log_set_callback(av_log_default_callback);
  std::lock_guard<std::mutex> lock(mutex);
  captured = nullptr;
  return text;
}

TEST_F(MediaLimitsTest, StreamProbingOpensOnlyAllowedDecoders) {
  // A Matroska file carrying JPEG 2000 (a decoder with a history of CVEs and no place in
  // this product): probing the streams must not run it, and the item is refused by name.
  const std::string missing = ::ovserve::testing::MissingEncoderOrMuxer("jpeg2000", "matroska");
  if (!missing.empty()) GTEST_SKIP() << missing;
  ::ovserve::testing::EncodeSpec spec{.muxer = "matroska", .encoder = "jpeg2000",
                                      .pixel_format = AV_PIX_FMT_RGB24, .width = 64, .height = 48,
                                      .num_frames = 2};
  auto j2k = ::ovserve::testing::EncodeMedia(spec, [](int, AVFrame& frame) {
    ::ovserve::testing::FillFromRgb(frame, [](int x, int y) {
      return std::array<uint8_t, 3>{static_cast<uint8_t>(x * 4), static_cast<uint8_t>(y * 5), 90};
    });
  });
  ASSERT_TRUE(j2k.ok()) << j2k.status();
  absl::StatusOr<DecodedVideo> video;
  const std::string log = CaptureAvLog([&] { video = DecodeVideo(*j2k, 2); });
  ASSERT_FALSE(video.ok());
  EXPECT_EQ(video.status().code(), kInvalid);
  EXPECT_THAT(std::string(video.status().message()), HasSubstr("jpeg2000"));
  // The probe's attempt to open the decoder met libavformat's codec whitelist.
  EXPECT_THAT(log, HasSubstr("not on whitelist"));
}

TEST_F(MediaLimitsTest, TruncatedVideoNeverCrashes) {
  OVSERVE_REQUIRE_FIXTURE(kVideo);
  const std::vector<uint8_t> video = ReadFile(kVideo);
  for (double keep : {0.95, 0.6, 0.3, 0.05}) {
    const std::vector<uint8_t> cut(video.begin(), video.begin() + video.size() * keep);
    const auto decoded = DecodeVideo(cut, 8);
    if (decoded.ok()) {
      EXPECT_LE(decoded->total_frames, 48);
      EXPECT_EQ(decoded->frames.size(), 8u);
    } else {
      EXPECT_EQ(decoded.status().code(), kInvalid) << decoded.status();
    }
  }
}

// A cheap in-test fuzz: random byte flips of real files, all decoded with
// tight limits. Only the absence of crashes, hangs and sanitizer reports is
// checked.
TEST_F(MediaLimitsTest, MutatedFilesNeverCrash) {
  OVSERVE_REQUIRE_FIXTURE(kVideo);
  const MediaLimits tight{
      .max_pixels = 1 << 20, .max_video_frames_scanned = 200, .max_decode_seconds = 5};
  std::mt19937 rng(1234);
  for (const char* file : {kPng, kJpeg, kVideo}) {
    const std::vector<uint8_t> original = ReadFile(file);
    for (int round = 0; round < 40; ++round) {
      std::vector<uint8_t> bytes = original;
      const int flips = 1 + static_cast<int>(rng() % 16);
      for (int i = 0; i < flips; ++i) {
        // Mostly in the first kilobytes, where the headers are.
        const size_t span = rng() % 2 ? std::min<size_t>(bytes.size(), 4096) : bytes.size();
        bytes[rng() % span] = static_cast<uint8_t>(rng());
      }
      (void)DecodeImage(bytes, tight);
      (void)DecodeVideo(bytes, 4, tight);
    }
  }
}

TEST_F(MediaLimitsTest, ConcurrentDecodesAgree) {
  OVSERVE_REQUIRE_FIXTURE(kVideo);
  const std::vector<uint8_t> jpeg = ReadFile(kJpeg), video = ReadFile(kVideo);
  const auto want_image = DecodeImage(jpeg);
  const auto want_video = DecodeVideo(video, 8);
  ASSERT_TRUE(want_image.ok() && want_video.ok());
  std::vector<std::thread> threads;
  std::vector<int> agree(6, 0);
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2; ++i) {
        const auto image = DecodeImage(jpeg);
        const auto frames = DecodeVideo(video, 8);
        agree[t] += image.ok() && image->pixels == want_image->pixels && frames.ok() &&
                    frames->frames.back().pixels == want_video->frames.back().pixels;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int t = 0; t < 6; ++t) EXPECT_EQ(agree[t], 2) << "thread " << t;
}

}  // namespace
}  // namespace ovserve::engine
