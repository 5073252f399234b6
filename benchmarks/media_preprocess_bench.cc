// Media preprocessing benchmark: decode (FFmpeg) + the reference's
// preprocessing, as the engine runs it before any encoding.
//
//   ovserve-bench-media [--repeats 8] [--out FILE.json]
//
// Reports images/s for each fixture image (AnyRes path) and a synthetic 4K
// JPEG, video frames/s for the fixture video, with 1 and 2 threads (items
// spread over a pool, as a request's items are), and ms per 32-frame 720p
// video (H.264 when the encoder exists, else MPEG-4 part 2).

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "engine/multimodal/image_processor.h"
#include "engine/multimodal/media_decoder.h"
#include "kernels/cpu/thread_pool.h"
#include "nlohmann/json.hpp"
#include "tests/engine/multimodal/media_encoder_for_tests.h"

extern "C" {
#include <libavutil/log.h>
}

ABSL_FLAG(int32_t, repeats, 8, "items per measurement");
ABSL_FLAG(std::string, fixtures, OVSERVE_DEFAULT_FIXTURES, "fixtures folder (media/)");
ABSL_FLAG(std::string, out, "", "write the figures as JSON to this file");

namespace ovserve {
namespace {

using engine::ImageProcessor;

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::vector<uint8_t> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// A picture with gradients, bands and noise, so codecs do real work.
void FillPattern(int index, AVFrame& frame) {
  testing::FillFromRgb(frame, [index](int x, int y) -> std::array<uint8_t, 3> {
    const uint32_t h = (static_cast<uint32_t>(x) * 2654435761u) ^ (static_cast<uint32_t>(y + index) * 40503u);
    return {static_cast<uint8_t>(x + index * 3), static_cast<uint8_t>(y), static_cast<uint8_t>((x ^ y) + (h >> 28))};
  });
}

// Seconds per item, over `repeats` items run on `threads` threads.
template <typename Fn>
double SecondsPerItem(int threads, int repeats, const Fn& run_one) {
  kernels::cpu::ThreadPool pool(threads);
  run_one();  // warm-up
  const double t0 = Now();
  pool.ParallelFor(repeats, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) run_one();
  });
  return (Now() - t0) / repeats;
}

int Main() {
  const int repeats = absl::GetFlag(FLAGS_repeats);
  const std::string media = absl::GetFlag(FLAGS_fixtures) + "/media/";
  auto processor_or = ImageProcessor::Create(engine::DefaultPreprocessorConfig());
  if (!processor_or.ok()) {
    std::fprintf(stderr, "%s\n", processor_or.status().ToString().c_str());
    return 1;
  }
  const ImageProcessor& processor = *processor_or;
  nlohmann::json results = nlohmann::json::array();

  struct ImageInput {
    std::string name;
    std::vector<uint8_t> bytes;
  };
  std::vector<ImageInput> images;
  for (const char* f : {"wide_1536x1100.png", "tall_300x820.jpg", "small_500x333.png", "square_384x384.png"}) {
    auto bytes = ReadFile(media + f);
    if (!bytes.empty()) images.push_back({f, std::move(bytes)});
  }
  testing::EncodeSpec jpeg{.muxer = "image2pipe", .encoder = "mjpeg", .pixel_format = AV_PIX_FMT_YUVJ420P,
                           .width = 3840, .height = 2160, .qscale = 3};
  if (auto bytes = testing::EncodeMedia(jpeg, FillPattern); bytes.ok()) {
    images.push_back({"synthetic_3840x2160.jpg", std::move(*bytes)});
  }

  std::printf("%-28s %8s %14s %14s\n", "image (AnyRes path)", "crops", "1 thread img/s", "2 threads img/s");
  for (const auto& image : images) {
    int64_t crops = 0;
    auto run_one = [&] {
      auto rgb = engine::DecodeImage(image.bytes);
      if (!rgb.ok()) return;
      auto px = processor.PreprocessAnyRes(*rgb);
      if (px.ok()) crops = px->count;
    };
    const double s1 = SecondsPerItem(1, repeats, run_one);
    const double s2 = SecondsPerItem(2, repeats, run_one);
    std::printf("%-28s %8lld %14.1f %14.1f\n", image.name.c_str(), static_cast<long long>(crops), 1 / s1, 1 / s2);
    results.push_back({{"item", image.name}, {"kind", "image_anyres"}, {"crops", crops},
                       {"images_per_second_1_thread", 1 / s1}, {"images_per_second_2_threads", 1 / s2}});
  }

  struct VideoInput {
    std::string name;
    std::vector<uint8_t> bytes;
    int64_t frames;
  };
  std::vector<VideoInput> videos;
  if (auto bytes = ReadFile(media + "testsrc2_320x240_48f.mp4"); !bytes.empty()) {
    videos.push_back({"testsrc2_320x240_48f.mp4", std::move(bytes), 8});
  }
  const std::string codec = testing::MissingEncoderOrMuxer("libx264", "mp4").empty() ? "libx264" : "mpeg4";
  testing::EncodeSpec hd{.muxer = "mp4", .encoder = codec, .pixel_format = AV_PIX_FMT_YUV420P,
                         .width = 1280, .height = 720, .num_frames = 96, .time_base = {1, 32}};
  if (auto bytes = testing::EncodeMedia(hd, FillPattern); bytes.ok()) {
    videos.push_back({"synthetic_1280x720_96f_" + codec + ".mp4", std::move(*bytes), 32});
  } else {
    std::fprintf(stderr, "720p video not encoded: %s\n", bytes.status().ToString().c_str());
  }
  std::printf("\n%-34s %7s %12s %14s %14s\n", "video", "frames", "ms/video", "1 thr frames/s", "2 thr frames/s");
  for (const auto& video : videos) {
    auto run_one = [&] {
      auto decoded = engine::DecodeVideo(video.bytes, video.frames);
      if (decoded.ok()) (void)processor.PreprocessVideo(decoded->frames);
    };
    const int video_repeats = std::max(2, repeats / 4);
    const double s1 = SecondsPerItem(1, video_repeats, run_one);
    const double s2 = SecondsPerItem(2, video_repeats, run_one);
    std::printf("%-34s %7lld %12.1f %14.1f %14.1f\n", video.name.c_str(), static_cast<long long>(video.frames),
                s1 * 1e3, video.frames / s1, video.frames / s2);
    results.push_back({{"item", video.name}, {"kind", "video"}, {"sampled_frames", video.frames},
                       {"ms_per_video_1_thread", s1 * 1e3}, {"frames_per_second_1_thread", video.frames / s1},
                       {"frames_per_second_2_threads", video.frames / s2}});
  }
  if (const std::string out = absl::GetFlag(FLAGS_out); !out.empty()) {
    std::ofstream(out) << nlohmann::json{{"benchmark", "media_preprocess"}, {"results", results}}.dump(2) << "\n";
  }
  return 0;
}

}  // namespace
}  // namespace ovserve

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  av_log_set_level(AV_LOG_ERROR);  // the encoders' statistics are noise here
  return ovserve::Main();
}
