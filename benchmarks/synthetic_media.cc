#include "benchmarks/synthetic_media.h"

#include <algorithm>
#include <array>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmarks/seeded_random.h"
#include "tests/engine/multimodal/media_encoder_for_tests.h"

extern "C" {
#include <libavutil/log.h>
}

namespace ovserve::bench {
namespace {

struct Rect {
  int x0, y0, w, h, dx, dy;
  std::array<uint8_t, 3> color;
};

// The picture of frame `index`: a seeded gradient, six rectangles moving a few
// pixels per frame, and hash noise so encoders do real work.
class Pattern {
 public:
  Pattern(ImageSize size, uint64_t seed) : size_(size), seed_(seed) {
    Rng rng(MixSeed(seed, 0x91c7));
    for (auto& c : base_) c = static_cast<int>(rng.UniformInt(0, 255));
    for (int i = 0; i < 6; ++i) {
      Rect r;
      r.w = static_cast<int>(rng.UniformInt(1, std::max(1, size.width / 3)));
      r.h = static_cast<int>(rng.UniformInt(1, std::max(1, size.height / 3)));
      r.x0 = static_cast<int>(rng.UniformInt(0, size.width - 1));
      r.y0 = static_cast<int>(rng.UniformInt(0, size.height - 1));
      r.dx = static_cast<int>(rng.UniformInt(-8, 8));
      r.dy = static_cast<int>(rng.UniformInt(-8, 8));
      for (auto& c : r.color) c = static_cast<uint8_t>(rng.UniformInt(0, 255));
      rects_.push_back(r);
    }
  }

  void Fill(int index, AVFrame& frame) const {
    testing::FillFromRgb(frame, [&](int x, int y) -> std::array<uint8_t, 3> {
      for (const Rect& r : rects_) {
        const int rx = Wrap(r.x0 + r.dx * index, size_.width);
        const int ry = Wrap(r.y0 + r.dy * index, size_.height);
        if (x >= rx && x < rx + r.w && y >= ry && y < ry + r.h) return r.color;
      }
      const uint64_t h = MixSeed(seed_, static_cast<uint64_t>(x) << 20 | static_cast<uint64_t>(y),
                                 static_cast<uint64_t>(index));
      const int noise = static_cast<int>(h & 15) - 8;
      return {Byte(base_[0] + x * 255 / std::max(1, size_.width) + noise),
              Byte(base_[1] + y * 255 / std::max(1, size_.height) + noise),
              Byte(base_[2] + (x + y + index * 4) % 256 / 2 + noise)};
    });
  }

 private:
  static int Wrap(int v, int n) { return ((v % n) + n) % n; }
  static uint8_t Byte(int v) { return static_cast<uint8_t>(v & 255); }  // wraps around

  ImageSize size_;
  uint64_t seed_;
  std::array<int, 3> base_{};
  std::vector<Rect> rects_;
};

// swscale warns about the JPEG (full-range) pixel format on every picture; the
// encoders' statistics are noise too.
void QuietFfmpeg() {
  static std::once_flag once;
  std::call_once(once, [] { av_log_set_level(AV_LOG_ERROR); });
}

std::string ToString(const std::vector<uint8_t>& bytes) {
  return std::string(bytes.begin(), bytes.end());
}

}  // namespace

absl::StatusOr<std::string> EncodeSyntheticImage(ImageSize size, ImageFormat format,
                                                 uint64_t seed) {
  QuietFfmpeg();
  testing::EncodeSpec spec;
  spec.muxer = "image2pipe";
  spec.width = size.width;
  spec.height = size.height;
  if (format == ImageFormat::kJpeg) {
    spec.encoder = "mjpeg";
    spec.pixel_format = AV_PIX_FMT_YUVJ420P;
    spec.qscale = 3;
  } else {
    spec.encoder = "png";
    spec.pixel_format = AV_PIX_FMT_RGB24;
  }
  const Pattern pattern(size, seed);
  absl::StatusOr<std::vector<uint8_t>> bytes =
      testing::EncodeMedia(spec, [&](int index, AVFrame& frame) { pattern.Fill(index, frame); });
  if (!bytes.ok()) return bytes.status();
  return ToString(*bytes);
}

absl::StatusOr<std::string> EncodeSyntheticVideo(ImageSize size, int frames,
                                                 std::string_view codec, uint64_t seed) {
  QuietFfmpeg();
  const std::string encoder(codec);
  if (const std::string missing = testing::MissingEncoderOrMuxer(encoder, "mp4");
      !missing.empty()) {
    return absl::NotFoundError(absl::StrCat("FFmpeg has no ", missing));
  }
  testing::EncodeSpec spec;
  spec.muxer = "mp4";
  spec.encoder = encoder;
  spec.pixel_format = AV_PIX_FMT_YUV420P;
  // 4:2:0 needs even sizes.
  spec.width = size.width + (size.width & 1);
  spec.height = size.height + (size.height & 1);
  spec.num_frames = frames;
  spec.time_base = {1, 8};
  if (encoder == "mpeg4") spec.qscale = 4;
  const Pattern pattern({spec.width, spec.height}, seed);
  absl::StatusOr<std::vector<uint8_t>> bytes =
      testing::EncodeMedia(spec, [&](int index, AVFrame& frame) { pattern.Fill(index, frame); });
  if (!bytes.ok()) return bytes.status();
  return ToString(*bytes);
}

std::string ImageMimeType(ImageFormat format) {
  return format == ImageFormat::kJpeg ? "image/jpeg" : "image/png";
}

}  // namespace ovserve::bench
