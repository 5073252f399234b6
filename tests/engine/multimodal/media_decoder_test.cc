#include "engine/multimodal/media_decoder.h"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "engine/model/safetensors.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/engine/multimodal/media_encoder_for_tests.h"
#include "tests/test_support/fixtures.h"

extern "C" {
#include <libavutil/log.h>
#include <libavutil/pixdesc.h>
}

namespace ovserve::engine {
namespace {

using ::ovserve::testing::EncodeMedia;
using ::ovserve::testing::EncodeSpec;
using ::ovserve::testing::FillFromRgb;
using ::ovserve::testing::FixturePath;
using ::ovserve::testing::MissingEncoderOrMuxer;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;

constexpr char kVideo[] = "media/testsrc2_320x240_48f.mp4";

std::vector<uint8_t> ReadFile(const std::string& relative) {
  std::ifstream in(FixturePath(relative), std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

#define SKIP_WITHOUT(encoder, muxer)                                                 \
  if (std::string missing = MissingEncoderOrMuxer(encoder, muxer); !missing.empty()) \
  GTEST_SKIP() << "this FFmpeg build has no " << missing

class MediaDecoderTest : public ::testing::Test {
 protected:
  // Decoding damaged data on purpose: keep FFmpeg's complaints out of the log.
  static void SetUpTestSuite() { av_log_set_level(AV_LOG_FATAL); }
};

// Deterministic test pattern: every channel differs, every value occurs.
uint8_t Pattern(int x, int y, int c) { return static_cast<uint8_t>(x * 7 + y * 13 + c * 85); }

// ---- frame sampling ---------------------------------------------------------

TEST(LinspaceFrameIndicesTest, MatchesNumpy) {
  // Expected values from np.linspace(0, n - 1, k, dtype=int).
  EXPECT_THAT(LinspaceFrameIndices(48, 8), ElementsAre(0, 6, 13, 20, 26, 33, 40, 47));
  EXPECT_THAT(LinspaceFrameIndices(5, 8), ElementsAre(0, 0, 1, 1, 2, 2, 3, 4));
  EXPECT_THAT(LinspaceFrameIndices(1, 3), ElementsAre(0, 0, 0));
  EXPECT_THAT(LinspaceFrameIndices(10, 1), ElementsAre(0));
  EXPECT_THAT(LinspaceFrameIndices(2, 5), ElementsAre(0, 0, 0, 0, 1));
  EXPECT_THAT(LinspaceFrameIndices(100, 32),
              ElementsAreArray({0,  3,  6,  9,  12, 15, 19, 22, 25, 28, 31, 35, 38, 41, 44, 47,
                                51, 54, 57, 60, 63, 67, 70, 73, 76, 79, 83, 86, 89, 92, 95, 99}));
  const auto big = LinspaceFrameIndices(481, 32);
  EXPECT_EQ(big[3], 46);
  EXPECT_EQ(big[30], 464);
  EXPECT_EQ(big.back(), 480);
}

// ---- fixtures ---------------------------------------------------------------

TEST_F(MediaDecoderTest, FixtureImagesDecodeAtTheirSize) {
  OVSERVE_REQUIRE_FIXTURE("media/wide_1536x1100.png");
  struct Case {
    const char* file;
    int64_t width, height;
  };
  for (const Case& c :
       {Case{"media/wide_1536x1100.png", 1536, 1100}, Case{"media/square_384x384.png", 384, 384},
        Case{"media/small_500x333.png", 500, 333}, Case{"media/tall_300x820.jpg", 300, 820}}) {
    const auto image = DecodeImage(ReadFile(c.file));
    ASSERT_TRUE(image.ok()) << c.file << ": " << image.status();
    EXPECT_EQ(image->width, c.width) << c.file;
    EXPECT_EQ(image->height, c.height) << c.file;
    EXPECT_EQ(image->pixels.size(), static_cast<size_t>(c.width * c.height * 3));
  }
}

TEST_F(MediaDecoderTest, FixtureVideoMatchesReferenceFrames) {
  OVSERVE_REQUIRE_FIXTURE(kVideo);
  OVSERVE_REQUIRE_FIXTURE("cases/video_8f/tensors.safetensors");
  const auto video = DecodeVideo(ReadFile(kVideo), 8);
  ASSERT_TRUE(video.ok()) << video.status();
  EXPECT_EQ(video->total_frames, 48);
  EXPECT_THAT(video->frame_indices, ElementsAre(0, 6, 13, 20, 26, 33, 40, 47));
  EXPECT_EQ(video->width, 320);
  EXPECT_EQ(video->height, 240);
  ASSERT_EQ(video->frames.size(), 8u);

  auto file = SafetensorsFile::Open(FixturePath("cases/video_8f/tensors.safetensors"));
  ASSERT_TRUE(file.ok()) << file.status();
  const kernels::Tensor* reference = (*file)->Find("video_frames_rgb");
  ASSERT_NE(reference, nullptr);
  ASSERT_EQ(reference->ShapeString(), "[8, 240, 320, 3]");
  const auto* expected = reference->as<const uint8_t>();
  int max_diff = 0;
  for (size_t f = 0; f < 8; ++f) {
    const RgbImage& frame = video->frames[f];
    ASSERT_EQ(frame.pixels.size(), 240u * 320u * 3u);
    for (size_t i = 0; i < frame.pixels.size(); ++i) {
      max_diff = std::max(max_diff, std::abs(frame.pixels[i] - expected[f * 240 * 320 * 3 + i]));
    }
  }
  // swscale's bicubic rgb24 conversion, as the ffmpeg CLI does: bit-exact on
  // x86-64 (measured 0); one level is left for other SIMD paths.
  EXPECT_LE(max_diff, 1);
}

// ---- still images: exact layouts ------------------------------------------

using Rgb = std::array<uint8_t, 3>;

// One lossless PNG layout: how to write pixel (x, y) and what Pillow's
// convert("RGB") makes of it.
struct PngLayout {
  const char* name;
  AVPixelFormat format;
  int bytes_per_pixel;
  std::function<void(int x, int y, uint8_t* pixel)> write;
  std::function<Rgb(int x, int y)> expect;
};

Rgb PatternRgb(int x, int y) { return {Pattern(x, y, 0), Pattern(x, y, 1), Pattern(x, y, 2)}; }
Rgb PaletteColor(int index) { return PatternRgb(index, 1); }

std::vector<PngLayout> PngLayouts() {
  auto copy = [](const Rgb& rgb, uint8_t* p) { std::memcpy(p, rgb.data(), 3); };
  return {
      {"rgb24", AV_PIX_FMT_RGB24, 3, [=](int x, int y, uint8_t* p) { copy(PatternRgb(x, y), p); },
       PatternRgb},
      // Alpha 0 on every other pixel: Pillow drops alpha, the RGB must survive.
      {"rgba", AV_PIX_FMT_RGBA, 4,
       [=](int x, int y, uint8_t* p) {
         copy(PatternRgb(x, y), p);
         p[3] = (x + y) % 2 ? 0 : 200;
       },
       PatternRgb},
      {"gray", AV_PIX_FMT_GRAY8, 1, [](int x, int y, uint8_t* p) { p[0] = Pattern(x, y, 0); },
       [](int x, int y) {
         return Rgb{Pattern(x, y, 0), Pattern(x, y, 0), Pattern(x, y, 0)};
       }},
      {"ya8", AV_PIX_FMT_YA8, 2,
       [](int x, int y, uint8_t* p) {
         p[0] = Pattern(x, y, 0);
         p[1] = x % 2 ? 0 : 255;
       },
       [](int x, int y) {
         return Rgb{Pattern(x, y, 0), Pattern(x, y, 0), Pattern(x, y, 0)};
       }},
      {"pal8", AV_PIX_FMT_PAL8, 1, [](int x, int y, uint8_t* p) { p[0] = (x + 3 * y) % 256; },
       [](int x, int y) { return PaletteColor((x + 3 * y) % 256); }},
      // 16-bit: Pillow keeps the high byte (the low byte here is unrelated noise).
      {"rgb48be", AV_PIX_FMT_RGB48BE, 6,
       [](int x, int y, uint8_t* p) {
         for (int k = 0; k < 3; ++k) {
           p[2 * k] = Pattern(x, y, k);
           p[2 * k + 1] = Pattern(y, x, k);
         }
       },
       PatternRgb},
      {"rgba64be", AV_PIX_FMT_RGBA64BE, 8,
       [](int x, int y, uint8_t* p) {
         for (int k = 0; k < 4; ++k) {
           p[2 * k] = k < 3 ? Pattern(x, y, k) : (x % 3 ? 0 : 255);
           p[2 * k + 1] = Pattern(y, x, k);
         }
       },
       PatternRgb},
      // 16-bit gray opens as I;16 and convert("RGB") clips it: 0..255 stay,
      // anything larger becomes 255 (not value >> 8).
      {"gray16be", AV_PIX_FMT_GRAY16BE, 2,
       [](int x, int y, uint8_t* p) {
         p[0] = x % 4 == 0 ? 0 : Pattern(x, y, 0);
         p[1] = Pattern(x, y, 1);
       },
       [](int x, int y) {
         const uint8_t v = (x % 4 == 0 || Pattern(x, y, 0) == 0) ? Pattern(x, y, 1) : 255;
         return Rgb{v, v, v};
       }},
  };
}

TEST_F(MediaDecoderTest, PngPixelLayoutsFollowPillow) {
  const int w = 37, h = 23;
  for (const PngLayout& layout : PngLayouts()) {
    SCOPED_TRACE(layout.name);
    EncodeSpec spec{.muxer = "image2pipe",
                    .encoder = "png",
                    .pixel_format = layout.format,
                    .width = w,
                    .height = h};
    auto bytes = EncodeMedia(spec, [&](int, AVFrame& frame) {
      for (int y = 0; y < h; ++y) {
        for (int x = 0; x < w; ++x) {
          layout.write(x, y, frame.data[0] + y * frame.linesize[0] + x * layout.bytes_per_pixel);
        }
      }
      if (layout.format == AV_PIX_FMT_PAL8) {  // native-endian 0xAARRGGBB entries
        auto* palette = reinterpret_cast<uint32_t*>(frame.data[1]);
        for (int i = 0; i < 256; ++i) {
          const Rgb c = PaletteColor(i);
          palette[i] = 0xff000000u | (uint32_t{c[0]} << 16) | (uint32_t{c[1]} << 8) | c[2];
        }
      }
    });
    ASSERT_TRUE(bytes.ok()) << bytes.status();
    const auto image = DecodeImage(*bytes);
    ASSERT_TRUE(image.ok()) << image.status();
    ASSERT_EQ(image->width, w);
    ASSERT_EQ(image->height, h);
    int mismatches = 0;
    for (int y = 0; y < h; ++y) {
      for (int x = 0; x < w; ++x) {
        const Rgb want = layout.expect(x, y);
        if (std::memcmp(image->Row(y) + 3 * x, want.data(), 3) != 0 && mismatches++ < 3) {
          ADD_FAILURE() << "pixel (" << x << ", " << y << ") is " << int{image->Row(y)[3 * x]}
                        << "," << int{image->Row(y)[3 * x + 1]} << ","
                        << int{image->Row(y)[3 * x + 2]} << ", expected " << int{want[0]} << ","
                        << int{want[1]} << "," << int{want[2]};
        }
      }
    }
    EXPECT_EQ(mismatches, 0);
  }
}

using PixelFn = std::function<Rgb(int x, int y)>;
using Options = std::vector<std::pair<std::string, std::string>>;

// A smooth gradient, for lossy codecs (no wrap-around edges).
Rgb Gradient(int x, int y) {
  return {uint8_t(30 + x + y), uint8_t(70 + 2 * x), uint8_t(200 - 2 * y)};
}

absl::StatusOr<RgbImage> RoundTrip(const std::string& muxer, const std::string& encoder,
                                   AVPixelFormat format, int w, int h, const PixelFn& pixel,
                                   Options options = {}, int qscale = 0) {
  EncodeSpec spec{.muxer = muxer,
                  .encoder = encoder,
                  .pixel_format = format,
                  .width = w,
                  .height = h,
                  .qscale = qscale,
                  .encoder_options = std::move(options)};
  auto bytes = EncodeMedia(spec, [&](int, AVFrame& frame) { FillFromRgb(frame, pixel); });
  if (!bytes.ok()) return bytes.status();
  return DecodeImage(*bytes);
}

// Max and mean absolute difference from `pixel`.
std::pair<int, double> DiffFrom(const RgbImage& image, const PixelFn& pixel) {
  int max_diff = 0;
  double total = 0;
  for (int64_t y = 0; y < image.height; ++y) {
    for (int64_t x = 0; x < image.width; ++x) {
      const Rgb want = pixel(static_cast<int>(x), static_cast<int>(y));
      for (int c = 0; c < 3; ++c) {
        const int d = std::abs(image.Row(y)[3 * x + c] - want[c]);
        max_diff = std::max(max_diff, d);
        total += d;
      }
    }
  }
  return {max_diff, total / static_cast<double>(image.pixels.size())};
}

TEST_F(MediaDecoderTest, LosslessFormatsAreExact) {
  struct Case {
    const char* encoder;
    AVPixelFormat format;
    Options options;
  };
  for (const Case& c : {Case{"bmp", AV_PIX_FMT_BGR24, {}}, Case{"tiff", AV_PIX_FMT_RGB24, {}},
                        Case{"libwebp", AV_PIX_FMT_BGRA, {{"lossless", "1"}}}}) {
    SCOPED_TRACE(c.encoder);
    SKIP_WITHOUT(c.encoder, "image2pipe");
    const auto image = RoundTrip("image2pipe", c.encoder, c.format, 41, 29, PatternRgb, c.options);
    ASSERT_TRUE(image.ok()) << image.status();
    EXPECT_EQ(DiffFrom(*image, PatternRgb).first, 0);
  }
}

TEST_F(MediaDecoderTest, LossyFormatsStayClose) {
  // JPEG 4:2:0 / 4:2:2 / 4:4:4 (the libjpeg-compatible path) and lossy WebP
  // (swscale) on a gradient: back within compression error, so a colour
  // matrix, range or chroma-siting bug shows.
  struct Case {
    const char* encoder;
    AVPixelFormat format;
    Options options;
    int qscale;
  };
  for (const Case& c :
       {Case{"mjpeg", AV_PIX_FMT_YUVJ444P, {}, 1}, Case{"mjpeg", AV_PIX_FMT_YUVJ422P, {}, 1},
        Case{"mjpeg", AV_PIX_FMT_YUVJ420P, {}, 1},
        Case{"libwebp", AV_PIX_FMT_YUV420P, {{"quality", "100"}}, 0}}) {
    SCOPED_TRACE(std::string(c.encoder) + " " + av_get_pix_fmt_name(c.format));
    SKIP_WITHOUT(c.encoder, "image2pipe");
    for (const auto& [w, h] : {std::pair{64, 48}, std::pair{37, 23}}) {
      const auto image =
          RoundTrip("image2pipe", c.encoder, c.format, w, h, Gradient, c.options, c.qscale);
      ASSERT_TRUE(image.ok()) << image.status();
      ASSERT_EQ(image->width, w);
      const auto [max_diff, mean_diff] = DiffFrom(*image, Gradient);
      EXPECT_LE(max_diff, 6) << w << "x" << h;
      EXPECT_LT(mean_diff, 1.5) << w << "x" << h;
    }
  }
}

// A JPEG with an EXIF APP1 segment carrying `orientation`, right after SOI.
std::vector<uint8_t> WithExifOrientation(std::vector<uint8_t> jpeg, uint8_t orientation) {
  const uint8_t app1[] = {
      0xff, 0xe1, 0,  34, 'E', 'x', 'i', 'f', 0,           0,        // segment, length
      'I',  'I',  42, 0,  8,   0,   0,   0,                          // TIFF header, IFD at 8
      1,    0,                                                       // one entry:
      0x12, 0x01, 3,  0,  1,   0,   0,   0,   orientation, 0, 0, 0,  // Orientation
      0,    0,    0,  0};                                            // no next IFD
  jpeg.insert(jpeg.begin() + 2, std::begin(app1), std::end(app1));
  return jpeg;
}

TEST_F(MediaDecoderTest, ExifOrientationIsAppliedLikeExifTranspose) {
  SKIP_WITHOUT("mjpeg", "image2pipe");
  // Quadrants: red | green over blue | white, 32 x 16.
  const Rgb kRed{255, 0, 0}, kGreen{0, 255, 0}, kBlue{0, 0, 255}, kWhite{255, 255, 255};
  auto quadrants = [&](int x, int y) {
    return y < 8 ? (x < 16 ? kRed : kGreen) : (x < 16 ? kBlue : kWhite);
  };
  EncodeSpec spec{.muxer = "image2pipe",
                  .encoder = "mjpeg",
                  .pixel_format = AV_PIX_FMT_YUVJ444P,
                  .width = 32,
                  .height = 16,
                  .qscale = 1};
  auto jpeg = EncodeMedia(spec, [&](int, AVFrame& frame) { FillFromRgb(frame, quadrants); });
  ASSERT_TRUE(jpeg.ok()) << jpeg.status();
  struct Case {
    uint8_t orientation;
    int64_t width, height;
    Rgb top_left, top_right, bottom_left, bottom_right;
  };
  for (const Case& c :
       {Case{1, 32, 16, kRed, kGreen, kBlue, kWhite}, Case{2, 32, 16, kGreen, kRed, kWhite, kBlue},
        Case{3, 32, 16, kWhite, kBlue, kGreen, kRed}, Case{6, 16, 32, kBlue, kRed, kWhite, kGreen},
        Case{8, 16, 32, kGreen, kWhite, kRed, kBlue}}) {
    SCOPED_TRACE(int{c.orientation});
    const auto image = DecodeImage(WithExifOrientation(*jpeg, c.orientation));
    ASSERT_TRUE(image.ok()) << image.status();
    ASSERT_EQ(image->width, c.width);
    ASSERT_EQ(image->height, c.height);
    auto near = [&](int64_t x, int64_t y, const Rgb& want) {
      for (int k = 0; k < 3; ++k)
        EXPECT_NEAR(image->Row(y)[3 * x + k], want[k], 12) << x << "," << y;
    };
    near(3, 3, c.top_left);
    near(c.width - 4, 3, c.top_right);
    near(3, c.height - 4, c.bottom_left);
    near(c.width - 4, c.height - 4, c.bottom_right);
  }
}

TEST_F(MediaDecoderTest, GifGivesItsFirstFrameAsImageAndAllAsVideo) {
  SKIP_WITHOUT("gif", "gif");
  // Frame i is palette entry i everywhere; the palette is the pattern.
  EncodeSpec spec{.muxer = "gif",
                  .encoder = "gif",
                  .pixel_format = AV_PIX_FMT_PAL8,
                  .width = 16,
                  .height = 8,
                  .num_frames = 3,
                  .time_base = {1, 10}};
  auto bytes = EncodeMedia(spec, [&](int i, AVFrame& frame) {
    for (int y = 0; y < frame.height; ++y) {
      std::memset(frame.data[0] + y * frame.linesize[0], i, 16);
    }
    auto* palette = reinterpret_cast<uint32_t*>(frame.data[1]);
    for (int k = 0; k < 256; ++k) {
      const Rgb c = PaletteColor(k);
      palette[k] = 0xff000000u | (uint32_t{c[0]} << 16) | (uint32_t{c[1]} << 8) | c[2];
    }
  });
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  const auto image = DecodeImage(*bytes);
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->width, 16);
  EXPECT_THAT(std::vector<uint8_t>(image->pixels.begin(), image->pixels.begin() + 3),
              ElementsAreArray(PaletteColor(0)));
  const auto video = DecodeVideo(*bytes, 3);
  ASSERT_TRUE(video.ok()) << video.status();
  EXPECT_EQ(video->total_frames, 3);
  EXPECT_THAT(
      std::vector<uint8_t>(video->frames[2].pixels.begin(), video->frames[2].pixels.begin() + 3),
      ElementsAreArray(PaletteColor(2)));
}

// ---- videos -------------------------------------------------------------------

// Frame i of a synthetic video is flat gray at this level, so a kept frame
// tells which frame it was.
uint8_t FrameLevel(int64_t i) { return static_cast<uint8_t>(16 + 16 * i); }

absl::StatusOr<std::vector<uint8_t>> EncodeLevels(const std::string& muxer,
                                                  const std::string& encoder, AVPixelFormat format,
                                                  int num_frames, std::vector<int64_t> pts = {},
                                                  Options options = {}) {
  EncodeSpec spec{.muxer = muxer,
                  .encoder = encoder,
                  .pixel_format = format,
                  .width = 64,
                  .height = 48,
                  .num_frames = num_frames,
                  .pts = std::move(pts),
                  .encoder_options = std::move(options)};
  return EncodeMedia(spec, [](int i, AVFrame& frame) {
    FillFromRgb(frame, [i](int, int) { return Rgb{FrameLevel(i), FrameLevel(i), FrameLevel(i)}; });
  });
}

double MeanLevel(const RgbImage& image) {
  double total = 0;
  for (uint8_t v : image.pixels) total += v;
  return total / static_cast<double>(image.pixels.size());
}

// Every kept frame is the frame its index names.
void ExpectFramesMatchIndices(const DecodedVideo& video) {
  ASSERT_EQ(video.frames.size(), video.frame_indices.size());
  for (size_t k = 0; k < video.frames.size(); ++k) {
    EXPECT_EQ(video.frames[k].width, video.width);
    EXPECT_NEAR(MeanLevel(video.frames[k]), FrameLevel(video.frame_indices[k]), 5.0)
        << "kept frame " << k << " (index " << video.frame_indices[k] << ")";
  }
}

TEST_F(MediaDecoderTest, VideoContainersAndCodecs) {
  struct Case {
    const char* muxer;
    const char* encoder;
    AVPixelFormat format;
    Options options;
  };
  const Case cases[] = {
      {"mp4", "libx264", AV_PIX_FMT_YUV420P, {{"preset", "ultrafast"}}},
      {"avi", "mpeg4", AV_PIX_FMT_YUV420P, {}},
      {"matroska", "mpeg4", AV_PIX_FMT_YUV420P, {}},
      {"webm", "libvpx-vp9", AV_PIX_FMT_YUV420P, {{"deadline", "realtime"}, {"cpu-used", "8"}}},
      {"webm", "libvpx", AV_PIX_FMT_YUV420P, {{"deadline", "realtime"}}},
      {"avi", "mjpeg", AV_PIX_FMT_YUVJ420P, {}},
      {"matroska", "ffv1", AV_PIX_FMT_YUV420P, {}},
      {"mpegts", "mpeg2video", AV_PIX_FMT_YUV420P, {}},
      {"ogg", "libtheora", AV_PIX_FMT_YUV420P, {}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(c.muxer) + " / " + c.encoder);
    if (!MissingEncoderOrMuxer(c.encoder, c.muxer).empty()) continue;  // not in this build
    auto bytes = EncodeLevels(c.muxer, c.encoder, c.format, 13, {}, c.options);
    ASSERT_TRUE(bytes.ok()) << bytes.status();
    const auto video = DecodeVideo(*bytes, 4);
    ASSERT_TRUE(video.ok()) << video.status();
    EXPECT_EQ(video->total_frames, 13);
    EXPECT_THAT(video->frame_indices, ElementsAre(0, 4, 8, 12));
    EXPECT_EQ(video->width, 64);
    EXPECT_EQ(video->height, 48);
    ExpectFramesMatchIndices(*video);
  }
}

TEST_F(MediaDecoderTest, VariableFrameRateCountsDecodedFrames) {
  SKIP_WITHOUT("mpeg4", "matroska");
  // Ten frames at irregular times: duration x frame rate says nothing useful.
  auto bytes = EncodeLevels("matroska", "mpeg4", AV_PIX_FMT_YUV420P, 10,
                            {0, 1, 2, 5, 6, 20, 21, 22, 40, 41});
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  const auto video = DecodeVideo(*bytes, 4);
  ASSERT_TRUE(video.ok()) << video.status();
  EXPECT_EQ(video->total_frames, 10);
  EXPECT_THAT(video->frame_indices, ElementsAre(0, 3, 6, 9));
  ExpectFramesMatchIndices(*video);
}

TEST_F(MediaDecoderTest, FewerFramesThanRequestedRepeatsFrames) {
  SKIP_WITHOUT("mpeg4", "avi");
  auto bytes = EncodeLevels("avi", "mpeg4", AV_PIX_FMT_YUV420P, 5);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  const auto video = DecodeVideo(*bytes, 8);
  ASSERT_TRUE(video.ok()) << video.status();
  EXPECT_EQ(video->total_frames, 5);
  EXPECT_THAT(video->frame_indices, ElementsAre(0, 0, 1, 1, 2, 2, 3, 4));
  ExpectFramesMatchIndices(*video);
  EXPECT_EQ(video->frames[0].pixels, video->frames[1].pixels);
}

}  // namespace
}  // namespace ovserve::engine
