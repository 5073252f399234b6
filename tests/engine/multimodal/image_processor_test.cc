// Pixel preprocessing: bit-exactness against the transformers 4.57 fixtures
// (Pillow bicubic for images, torchvision uint8 bicubic for video), padding and
// squaring offsets, degenerate sizes, configs, content hashing.

#include "engine/multimodal/image_processor.h"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "engine/model/safetensors.h"
#include "engine/multimodal/anyres_geometry.h"
#include "engine/multimodal/media_decoder.h"
#include "engine/multimodal/pil_resize.h"
#include "engine/multimodal/torchvision_resize.h"
#include "gtest/gtest.h"
#include "kernels/dtype.h"
#include "tests/test_support/fixtures.h"

namespace ovserve::engine {
namespace {

using ::ovserve::testing::FixturePath;

// A fixture image decoded as the engine decodes it (libjpeg-turbo / FFmpeg).
absl::StatusOr<RgbImage> DecodeFixtureImage(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  const std::vector<uint8_t> bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  return DecodeImage(bytes);
}

// The fixtures' mean = std = 0.5 make every value (k/255 - 0.5)/0.5: k is the byte.
int Level(float normalized) { return static_cast<int>(std::lround((normalized + 1.0f) * 127.5f)); }

struct Comparison {
  int64_t values = 0;
  int64_t level_mismatches = 0;
  int max_level_diff = 0;
  double max_abs_diff = 0;
};

// Ours (F32) against `count` crops of an F16 fixture tensor starting at element `offset`.
Comparison Compare(const PixelTensor& ours, const kernels::Tensor& reference, int64_t offset) {
  Comparison result;
  const auto* ref = reference.as<const uint16_t>() + offset;
  result.values = static_cast<int64_t>(ours.data.size());
  for (int64_t i = 0; i < result.values; ++i) {
    const float expected = kernels::F16ToF32(ref[i]);
    const float got = ours.data[static_cast<size_t>(i)];
    result.max_abs_diff = std::max(result.max_abs_diff, static_cast<double>(std::abs(got - expected)));
    const int diff = std::abs(Level(got) - Level(expected));
    if (diff != 0) ++result.level_mismatches;
    result.max_level_diff = std::max(result.max_level_diff, diff);
  }
  return result;
}

void Report(const std::string& what, const Comparison& c) {
  std::printf("[ %s ] %lld values: %lld level mismatches (max %d levels), max |diff| %.3g\n", what.c_str(),
              static_cast<long long>(c.values), static_cast<long long>(c.level_mismatches), c.max_level_diff,
              c.max_abs_diff);
}

// fp16 storage rounding of values in [-1, 1]: half an ulp at 1 is 2^-12.
constexpr double kF16Rounding = 2.45e-4;

ImageProcessor FixtureProcessor() {
  auto config = LoadPreprocessorConfig(FixturePath("tiny-llava-ov"));
  EXPECT_TRUE(config.ok()) << config.status();
  auto processor = ImageProcessor::Create(*config);
  EXPECT_TRUE(processor.ok()) << processor.status();
  return *std::move(processor);
}

TEST(ImageProcessorGoldenTest, SingleImageWideAnyRes) {
  OVSERVE_REQUIRE_FIXTURE("cases/single_image_wide/tensors.safetensors");
  auto image = DecodeFixtureImage(FixturePath("media/wide_1536x1100.png"));
  ASSERT_TRUE(image.ok()) << image.status();
  auto tensors = SafetensorsFile::Open(FixturePath("cases/single_image_wide/tensors.safetensors"));
  ASSERT_TRUE(tensors.ok()) << tensors.status();
  const kernels::Tensor* reference = (*tensors)->Find("pixel_values");
  ASSERT_NE(reference, nullptr);
  ASSERT_EQ(reference->ShapeString(), "[1, 13, 3, 384, 384]");

  const ImageProcessor processor = FixtureProcessor();
  auto pixels = processor.PreprocessAnyRes(*image);
  ASSERT_TRUE(pixels.ok()) << pixels.status();
  EXPECT_EQ(pixels->View().ShapeString(), "[13, 3, 384, 384]");
  const Comparison c = Compare(*pixels, *reference, 0);
  Report("single_image_wide", c);
  EXPECT_EQ(c.level_mismatches, 0);
  EXPECT_LE(c.max_abs_diff, kF16Rounding);
}

TEST(ImageProcessorGoldenTest, MultiImageAllThree) {
  OVSERVE_REQUIRE_FIXTURE("cases/multi_image/tensors.safetensors");
  auto tensors = SafetensorsFile::Open(FixturePath("cases/multi_image/tensors.safetensors"));
  ASSERT_TRUE(tensors.ok()) << tensors.status();
  const kernels::Tensor* reference = (*tensors)->Find("pixel_values");
  ASSERT_NE(reference, nullptr);
  ASSERT_EQ(reference->ShapeString(), "[3, 1, 3, 384, 384]");
  const int64_t per_image = 3 * 384 * 384;

  const ImageProcessor processor = FixtureProcessor();
  for (const auto& [index, file] : {std::pair<int64_t, const char*>{0, "media/square_384x384.png"},
                                    std::pair<int64_t, const char*>{1, "media/tall_300x820.jpg"},
                                    std::pair<int64_t, const char*>{2, "media/small_500x333.png"}}) {
    auto image = DecodeFixtureImage(FixturePath(file));
    ASSERT_TRUE(image.ok()) << image.status();
    auto pixels = processor.PreprocessSingleCrop(*image);
    ASSERT_TRUE(pixels.ok()) << pixels.status();
    ASSERT_EQ(pixels->count, 1);
    const Comparison c = Compare(*pixels, *reference, index * per_image);
    Report(std::string("multi_image ") + file, c);
    EXPECT_EQ(c.level_mismatches, 0) << file;
    EXPECT_LE(c.max_abs_diff, kF16Rounding) << file;
  }
}

TEST(ImageProcessorGoldenTest, Video8FramesTorchvisionResize) {
  OVSERVE_REQUIRE_FIXTURE("cases/video_8f/tensors.safetensors");
  auto tensors = SafetensorsFile::Open(FixturePath("cases/video_8f/tensors.safetensors"));
  ASSERT_TRUE(tensors.ok()) << tensors.status();
  const kernels::Tensor* frames_u8 = (*tensors)->Find("video_frames_rgb");
  const kernels::Tensor* reference = (*tensors)->Find("pixel_values_videos");
  ASSERT_NE(frames_u8, nullptr);
  ASSERT_NE(reference, nullptr);
  ASSERT_EQ(frames_u8->ShapeString(), "[8, 240, 320, 3]");
  ASSERT_EQ(reference->ShapeString(), "[1, 8, 3, 384, 384]");

  std::vector<RgbImage> frames;
  const int64_t frame_bytes = 240 * 320 * 3;
  for (int64_t t = 0; t < 8; ++t) {
    RgbImage frame(320, 240);
    const auto* src = frames_u8->as<const uint8_t>() + t * frame_bytes;
    frame.pixels.assign(src, src + frame_bytes);
    frames.push_back(std::move(frame));
  }
  const ImageProcessor processor = FixtureProcessor();
  auto pixels = processor.PreprocessVideo(frames);
  ASSERT_TRUE(pixels.ok()) << pixels.status();
  EXPECT_EQ(pixels->View().ShapeString(), "[8, 3, 384, 384]");
  const Comparison c = Compare(*pixels, *reference, 0);
  Report("video_8f (torchvision flavour)", c);
  EXPECT_EQ(c.level_mismatches, 0);
  EXPECT_LE(c.max_abs_diff, kF16Rounding);

  // Pillow's 22-bit weights differ from torch's int16 ones by a level here and
  // there: the reason for the second flavour.
  int64_t pillow_mismatches = 0;
  for (int64_t t = 0; t < 8; ++t) {
    auto torch = TorchvisionResizeBicubicAntialias(frames[t], 384, 384);
    auto pillow = PilResizeBicubic(frames[t], 384, 384);
    ASSERT_TRUE(torch.ok() && pillow.ok());
    for (size_t i = 0; i < torch->pixels.size(); ++i) pillow_mismatches += torch->pixels[i] != pillow->pixels[i];
  }
  std::printf("[ video_8f ] Pillow flavour would differ on %lld values\n",
              static_cast<long long>(pillow_mismatches));
  EXPECT_GT(pillow_mismatches, 0);
}

// ---- resize units ----

RgbImage Pattern(int64_t width, int64_t height) {
  RgbImage image(width, height);
  for (int64_t y = 0; y < height; ++y) {
    for (int64_t x = 0; x < width; ++x) {
      for (int64_t c = 0; c < 3; ++c) {
        image.Row(y)[x * 3 + c] = static_cast<uint8_t>((x * 37 + y * 91 + c * 53 + x * y * 7) % 256);
      }
    }
  }
  return image;
}

RgbImage Constant(int64_t width, int64_t height, std::array<uint8_t, 3> color) {
  RgbImage image(width, height);
  for (int64_t i = 0; i < width * height; ++i) {
    for (int c = 0; c < 3; ++c) image.pixels[static_cast<size_t>(i * 3 + c)] = color[c];
  }
  return image;
}

// Goldens from Pillow's Image.resize(size, BICUBIC) on Pattern(11, 7).
TEST(PilResizeTest, MatchesPillowOnSmallPattern) {
  const std::vector<uint8_t> down_4x3 = {104, 130, 143, 123, 136, 146, 120, 124, 134, 113, 127, 140,
                                         127, 135, 128, 145, 139, 132, 137, 129, 122, 130, 133, 126,
                                         110, 155, 123, 130, 131, 110, 141, 142, 121, 128, 129, 97};
  auto down = PilResizeBicubic(Pattern(11, 7), 4, 3);
  ASSERT_TRUE(down.ok());
  EXPECT_EQ(down->pixels, down_4x3);

  const std::vector<uint8_t> mixed_17x5 = {
      21,  71,  138, 36,  95,  161, 65,  133, 177, 101, 163, 138, 134, 147, 140, 151, 116, 172, 112, 140, 204,
      109, 175, 168, 140, 193, 79,  178, 104, 97,  149, 63,  132, 54,  100, 156, 64,  132, 125, 100, 134, 109,
      127, 95,  139, 102, 111, 177, 74,  134, 201, 144, 208, 99,  174, 153, 130, 189, 97,  152, 109, 144, 96,
      110, 124, 95,  145, 79,  135, 90,  109, 176, 82,  149, 154, 122, 175, 92,  163, 113, 117, 150, 91,  158,
      83,  132, 188, 103, 171, 143, 144, 171, 123, 178, 114, 169, 140, 137, 114, 101, 168, 59,  49,  106, 122,
      84,  116, 123, 128, 129, 138, 132, 130, 197, 134, 171, 161, 144, 206, 90,  203, 121, 134, 180, 108, 137,
      100, 153, 108, 138, 124, 153, 150, 127, 140, 118, 171, 55,  167, 100, 90,  169, 64,  131, 70,  123, 132,
      97,  138, 145, 139, 139, 155, 156, 204, 149, 125, 189, 103, 104, 150, 63,  164, 85,  125, 147, 102, 120,
      101, 153, 87,  153, 112, 141, 154, 121, 134, 116, 169, 86,  165, 121, 134, 174, 115, 144, 120, 168, 102,
      76,  135, 153, 72,  130, 170, 123, 192, 106, 180, 153, 66,  215, 106, 52,  88,  138, 99,  78,  130, 150,
      82,  136, 192, 145, 210, 114, 120, 187, 76,  63,  113, 83,  119, 99,  145, 140, 132, 131, 129, 182, 68,
      188, 118, 118, 190, 105, 151, 120, 167, 137, 100, 174, 63,  121, 136, 40,  181, 58,  114, 128, 100, 120,
      71,  151, 113};
  auto mixed = PilResizeBicubic(Pattern(11, 7), 17, 5);
  ASSERT_TRUE(mixed.ok());
  EXPECT_EQ(mixed->pixels, mixed_17x5);
}

TEST(PilResizeTest, ConstantImageStaysConstant) {
  for (const BicubicFlavor flavor : {BicubicFlavor::kPillow, BicubicFlavor::kTorchUint8}) {
    for (const std::array<uint8_t, 3> color :
         {std::array<uint8_t, 3>{200, 13, 77}, std::array<uint8_t, 3>{0, 255, 128}}) {
      for (const auto& [w, h, tw, th] : {std::array<int64_t, 4>{37, 23, 384, 384},
                                         std::array<int64_t, 4>{1000, 700, 384, 384},
                                         std::array<int64_t, 4>{5, 900, 301, 7}}) {
        auto out = ResizeBicubic(Constant(w, h, color), tw, th, flavor);
        ASSERT_TRUE(out.ok());
        EXPECT_EQ(out->pixels, Constant(tw, th, color).pixels) << w << "x" << h << " -> " << tw << "x" << th;
      }
    }
  }
}

TEST(PilResizeTest, ShapesAndIdentity) {
  const RgbImage image = Pattern(50, 30);
  for (const auto& [tw, th] : {std::pair<int64_t, int64_t>{100, 90}, {20, 10}, {50, 7}, {3, 30}, {1, 1}}) {
    auto out = PilResizeBicubic(image, tw, th);
    ASSERT_TRUE(out.ok());
    EXPECT_EQ(out->width, tw);
    EXPECT_EQ(out->height, th);
    EXPECT_EQ(out->pixels.size(), static_cast<size_t>(tw * th * 3));
  }
  auto same = PilResizeBicubic(image, 50, 30);
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(same->pixels, image.pixels);
  EXPECT_FALSE(PilResizeBicubic(image, 0, 5).ok());
  EXPECT_FALSE(PilResizeBicubic(RgbImage(), 5, 5).ok());
}

TEST(PilResizeTest, TorchPrecisionFromLargestWeight) {
  // Upscaling puts weights near 1: 14 fractional bits keep 2 * w * 2^14 below 2^15.
  EXPECT_EQ(ComputeBicubicTaps(320, 384, BicubicFlavor::kTorchUint8).precision_bits, 14);
  EXPECT_EQ(ComputeBicubicTaps(320, 384, BicubicFlavor::kPillow).precision_bits, 22);
  // Strong downscaling spreads the weights: more bits fit.
  EXPECT_GT(ComputeBicubicTaps(4000, 384, BicubicFlavor::kTorchUint8).precision_bits, 14);
}

// ---- padding, squaring, AnyRes crop counts ----

TEST(ImageProcessorTest, PadCenteredPutsOddPixelBottomRight) {
  const RgbImage image = Constant(3, 2, {9, 9, 9});
  auto padded = PadCentered(image, 6, 5, {1, 2, 3});
  ASSERT_TRUE(padded.ok());
  // diff 3 across: 1 left, 2 right; diff 3 down: 1 top, 2 bottom.
  for (int64_t y = 0; y < 5; ++y) {
    for (int64_t x = 0; x < 6; ++x) {
      const bool inside = y >= 1 && y < 3 && x >= 1 && x < 4;
      EXPECT_EQ(padded->Row(y)[x * 3], inside ? 9 : 1) << x << "," << y;
      EXPECT_EQ(padded->Row(y)[x * 3 + 2], inside ? 9 : 3) << x << "," << y;
    }
  }
  EXPECT_FALSE(PadCentered(image, 2, 5, {0, 0, 0}).ok());
}

TEST(ImageProcessorTest, ExpandToSquareOffsets) {
  auto wide = ExpandToSquare(Constant(6, 3, {200, 200, 200}), {127, 127, 127});
  ASSERT_TRUE(wide.ok());
  ASSERT_EQ(wide->width, 6);
  ASSERT_EQ(wide->height, 6);
  for (int64_t y = 0; y < 6; ++y) EXPECT_EQ(wide->Row(y)[0], (y >= 1 && y < 4) ? 200 : 127) << y;  // (6-3)//2 = 1
  auto tall = ExpandToSquare(Constant(2, 7, {200, 200, 200}), {127, 127, 127});
  ASSERT_TRUE(tall.ok());
  ASSERT_EQ(tall->width, 7);
  for (int64_t x = 0; x < 7; ++x) EXPECT_EQ(tall->Row(3)[x * 3], (x >= 2 && x < 4) ? 200 : 127) << x;
  EXPECT_EQ(SquareBackground({0.5, 0.5, 0.5}), (std::array<uint8_t, 3>{127, 127, 127}));
  EXPECT_EQ(SquareBackground(kOpenAiClipMean), (std::array<uint8_t, 3>{122, 116, 104}));
}

TEST(ImageProcessorTest, DegenerateSizesGiveTheLayoutsCropCount) {
  auto processor = ImageProcessor::Create(DefaultPreprocessorConfig());
  ASSERT_TRUE(processor.ok()) << processor.status();
  for (const auto& [w, h] : {std::pair<int64_t, int64_t>{1, 1}, {1, 4000}, {4000, 1}, {947, 1157}, {384, 384}}) {
    const RgbImage image = Pattern(w, h);
    auto pixels = processor->PreprocessAnyRes(image);
    ASSERT_TRUE(pixels.ok()) << pixels.status();
    const AnyResLayout layout =
        ComputeAnyResLayout({h, w}, processor->config().image_grid_pinpoints, 384, 27, 9);
    EXPECT_EQ(pixels->count, layout.num_crops()) << w << "x" << h;
    EXPECT_EQ(pixels->data.size(), static_cast<size_t>(layout.num_crops() * 3 * 384 * 384));
    auto single = processor->PreprocessSingleCrop(image);
    ASSERT_TRUE(single.ok());
    EXPECT_EQ(single->count, 1);
  }
  std::vector<RgbImage> frames = {Pattern(1, 1), Pattern(7, 3)};
  auto video = processor->PreprocessVideo(frames);
  ASSERT_TRUE(video.ok()) << video.status();
  EXPECT_EQ(video->count, 2);
  EXPECT_FALSE(processor->PreprocessVideo({}).ok());
  EXPECT_FALSE(processor->PreprocessAnyRes(RgbImage()).ok());
}

TEST(ImageProcessorTest, PaddingIsNormalizedBlack) {
  PreprocessorConfig config = DefaultPreprocessorConfig();
  config.image_normalize.mean = {0.5, 0.5, 0.5};
  config.image_normalize.std = {0.5, 0.5, 0.5};
  auto processor = ImageProcessor::Create(config);
  ASSERT_TRUE(processor.ok());
  // 384 wide, 100 high: best pinpoint 384x384, 142 rows of black above, 142 below.
  auto pixels = processor->PreprocessAnyRes(Constant(384, 100, {255, 255, 255}));
  ASSERT_TRUE(pixels.ok());
  ASSERT_EQ(pixels->count, 2);
  const float* grid = pixels->data.data() + 3 * 384 * 384;
  EXPECT_EQ(grid[0], -1.0f);
  EXPECT_EQ(grid[141 * 384], -1.0f);
  EXPECT_EQ(grid[142 * 384], 1.0f);
  EXPECT_EQ(grid[241 * 384], 1.0f);
  EXPECT_EQ(grid[242 * 384], -1.0f);
}

// ---- configs and hashing ----

TEST(PreprocessorConfigTest, FixtureFileAndDefaults) {
  OVSERVE_REQUIRE_FIXTURE("tiny-llava-ov/preprocessor_config.json");
  auto config = LoadPreprocessorConfig(FixturePath("tiny-llava-ov"));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->image_size, (Size2d{384, 384}));
  EXPECT_EQ(config->image_grid_pinpoints.size(), 36u);
  EXPECT_EQ(config->image_grid_pinpoints, DefaultPreprocessorConfig().image_grid_pinpoints);
  EXPECT_EQ(config->image_normalize.mean[1], 0.5);
  EXPECT_EQ(config->video_normalize.std[2], 0.5);
  EXPECT_DOUBLE_EQ(config->image_normalize.rescale_factor, 1.0 / 255.0);

  auto absent = LoadPreprocessorConfig("/nonexistent/model/dir");
  ASSERT_TRUE(absent.ok()) << absent.status();
  EXPECT_EQ(absent->image_normalize.mean, kOpenAiClipMean);
  EXPECT_EQ(absent->video_size, (Size2d{384, 384}));
}

TEST(PreprocessorConfigTest, ParseErrorsAndVideoFallback) {
  EXPECT_FALSE(ParsePreprocessorConfig("{", "").ok());
  EXPECT_EQ(ParsePreprocessorConfig(R"({"resample": 2})", "").status().code(),
            absl::StatusCode::kUnimplemented);
  EXPECT_FALSE(ParsePreprocessorConfig(R"({"image_mean": [0.5, 0.5]})", "").ok());
  EXPECT_FALSE(ParsePreprocessorConfig(R"({"size": {"shortest_edge": 384}})", "").ok());
  // No video file: the video processor reads the image file's values.
  auto fallback = ParsePreprocessorConfig(R"({"image_mean": 0.25, "size": {"height": 336, "width": 336}})", "");
  ASSERT_TRUE(fallback.ok()) << fallback.status();
  EXPECT_EQ(fallback->video_normalize.mean[0], 0.25);
  EXPECT_EQ(fallback->video_size, (Size2d{336, 336}));
  auto separate = ParsePreprocessorConfig(R"({"image_mean": 0.25})", R"({"image_mean": 0.75, "crop_size": null})");
  ASSERT_TRUE(separate.ok()) << separate.status();
  EXPECT_EQ(separate->image_normalize.mean[0], 0.25);
  EXPECT_EQ(separate->video_normalize.mean[0], 0.75);

  PreprocessorConfig bad = DefaultPreprocessorConfig();
  bad.image_grid_pinpoints.push_back({400, 384});
  EXPECT_FALSE(ImageProcessor::Create(bad).ok());
}

TEST(ContentHashTest, BytesAndKeyBothCount) {
  const std::vector<uint8_t> bytes = {1, 2, 3, 4, 5};
  const ContentHash a = HashMediaItem(bytes, "key");
  EXPECT_EQ(a, HashMediaItem(bytes, "key"));
  EXPECT_NE(a, HashMediaItem(bytes, "key2"));
  const std::vector<uint8_t> other = {1, 2, 3, 4, 6};
  EXPECT_NE(a, HashMediaItem(other, "key"));
  // The split between key and bytes matters.
  const std::vector<uint8_t> c = {'c'};
  const std::vector<uint8_t> bc = {'b', 'c'};
  EXPECT_NE(HashMediaItem(c, "ab"), HashMediaItem(bc, "a"));
  EXPECT_EQ(a.ToHex().size(), 32u);

  auto processor = ImageProcessor::Create(DefaultPreprocessorConfig());
  ASSERT_TRUE(processor.ok());
  EXPECT_NE(processor->PreprocessingKey(VisualKind::kImageAnyRes),
            processor->PreprocessingKey(VisualKind::kImageSingleCrop));
  EXPECT_NE(processor->PreprocessingKey(VisualKind::kVideo),
            processor->PreprocessingKey(VisualKind::kImageSingleCrop));
}

}  // namespace
}  // namespace ovserve::engine
