#pragma once
// Encoding small synthetic images and videos in memory with FFmpeg's own
// encoders and muxers, so media-decoder tests cover formats, pixel layouts and
// containers without committing binary files. Test-only; not thread-safe per
// call (each call owns its contexts, so separate calls may run concurrently).

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

extern "C" {
#include <libavutil/frame.h>
#include <libavutil/pixfmt.h>
#include <libavutil/rational.h>
}

namespace ovserve::testing {

struct EncodeSpec {
  std::string muxer{};    // "image2pipe", "gif", "matroska", "webm", "avi", "mp4", ...
  std::string encoder{};  // "png", "bmp", "gif", "libwebp", "mjpeg", "mpeg4", "libvpx-vp9", ...
  AVPixelFormat pixel_format = AV_PIX_FMT_RGB24;
  int width = 0;
  int height = 0;
  int num_frames = 1;
  AVRational time_base{1, 25};
  // Presentation times in time_base units, one per frame (variable frame
  // rate); empty means 0, 1, 2, ...
  std::vector<int64_t> pts{};
  // Fixed quantizer (1 = best) for encoders that take one (mjpeg, mpeg4); 0: default.
  int qscale = 0;
  std::vector<std::pair<std::string, std::string>> encoder_options{};
  std::vector<std::pair<std::string, std::string>> muxer_options{};
};

// Writes the pixels of frame `index` into `frame` (already allocated with the
// spec's format and size; planes and linesizes as FFmpeg lays them out).
using FrameFiller = std::function<void(int index, AVFrame& frame)>;

// Empty when both exist in this FFmpeg build, else what is missing (for GTEST_SKIP).
std::string MissingEncoderOrMuxer(const std::string& encoder, const std::string& muxer);

// The encoded file's bytes.
absl::StatusOr<std::vector<uint8_t>> EncodeMedia(const EncodeSpec& spec, const FrameFiller& fill);

// One second of 16-bit PCM silence in `muxer` (no video stream at all).
absl::StatusOr<std::vector<uint8_t>> EncodeAudioOnly(const std::string& muxer);

// Fills a frame of any pixel format from a function of (x, y) -> {r, g, b},
// converting with swscale (for lossy formats where exact values do not matter).
void FillFromRgb(AVFrame& frame, const std::function<std::array<uint8_t, 3>(int x, int y)>& pixel);

}  // namespace ovserve::testing
