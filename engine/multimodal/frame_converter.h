#pragma once
// FrameConverter: turns a decoded FFmpeg picture (any pixel format) into an
// RgbImage the way the reference pipeline did, so that pixels match it:
//
// - kPillow (still images; the reference decoded them with Pillow and called
//   convert("RGB")): JPEG YCbCr is upsampled and converted as libjpeg-turbo
//   does (fancy upsampling, libjpeg's fixed-point tables), lossy WebP as
//   libwebp does (its fancy upsampler and 14-bit BT.601), because swscale's
//   chroma upsampling differs from both by up to tens of levels at colour edges;
//   16-bit samples keep their high byte, except 16-bit grayscale, which PIL
//   clips to 255 (I;16 -> RGB); alpha is dropped, never composited;
//   everything else goes through swscale (exact for 8-bit RGB, gray, palette).
//   Then the EXIF orientation FFmpeg reports (JPEG, WebP) is applied, as the
//   reference's load_image does (PIL.ImageOps.exif_transpose).
// - kFfmpegCli (video frames; the reference ran `ffmpeg ... -pix_fmt rgb24`):
//   swscale with the CLI's default SWS_BICUBIC flags and the frame's own
//   range and matrix (BT.601 when unspecified), as its scale filter does.
//
// Who: one decode call at a time (a converter caches a SwsContext for the
// frames of one stream). Not shared between threads; independent converters
// are fully independent.

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/multimodal/ffmpeg_raii.h"
#include "engine/multimodal/rgb_image.h"

struct AVPixFmtDescriptor;

namespace ovserve::engine {

enum class RgbRules {
  kPillow,
  kFfmpegCli,
};

// PIL.ImageOps.exif_transpose for an EXIF orientation 1..8 (the reference's
// load_image applies it before convert("RGB")); 5..8 swap width and height.
RgbImage ApplyExifOrientation(RgbImage in, int orientation);

class FrameConverter {
 public:
  // `codec` is the stream's decoder: the libjpeg-compatible path is for MJPEG.
  FrameConverter(RgbRules rules, AVCodecID codec) : rules_(rules), codec_(codec) {}

  // Converts `frame` to RGB at `width` x `height`. Still images use the frame's
  // own size (the result is transposed for EXIF orientations 5..8); video
  // frames use the first frame's size (a mid-stream size change is scaled back
  // to it). Errors: INVALID_ARGUMENT for a pixel format swscale cannot convert.
  absl::StatusOr<RgbImage> Convert(const AVFrame& frame, int64_t width, int64_t height);

 private:
  absl::StatusOr<RgbImage> ConvertLikePillow(const AVFrame& frame, const AVPixFmtDescriptor& desc,
                                             RgbImage out);
  absl::Status ConvertWithSwscale(const AVFrame& frame, RgbImage& out);

  RgbRules rules_;
  AVCodecID codec_;
  ffmpeg::SwsContextPtr sws_;
  // What sws_ was made for, to rebuild it only when the input changes.
  struct SwsKey {
    int format = -1, width = 0, height = 0, out_width = 0, out_height = 0;
    int full_range = 0, colorspace = 0;
    bool operator==(const SwsKey&) const = default;
  } sws_key_;
  // swscale's SIMD writers may store past the end of a row, so it writes into
  // this padded buffer and rows are copied out.
  std::vector<uint8_t> scratch_;
  std::vector<int> chroma_rows_;  // libjpeg path: upsampled Cb / Cr for one row
};

}  // namespace ovserve::engine
