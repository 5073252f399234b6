#pragma once
// Decoding untrusted image and video bytes (as they arrive in a request) into
// RGB pixels with FFmpeg, reproducing the reference pipeline's pixels:
// images as Pillow's open(...).convert("RGB") gives them, videos as
// `ffmpeg -i video -pix_fmt rgb24` gives every frame, then uniform frame
// sampling `np.linspace(0, n - 1, num_frames, dtype=int)`.
//
// Images: JPEG, PNG (and APNG's first frame), WebP (still), BMP, GIF (first
// frame), TIFF. Videos: MP4/MOV, Matroska/WebM, AVI, MPEG-TS/PS, FLV, Ogg,
// animated GIF, with H.264, HEVC, VP8, VP9, AV1, MPEG-4 part 2, MPEG-1/2,
// MJPEG, Theora, H.263, FFV1, raw video. Anything else is INVALID_ARGUMENT.
// Rotation metadata is ignored (as PyAV and decord do; the ffmpeg CLI would
// auto-rotate); EXIF orientation is ignored too.
//
// Who may call: any thread, concurrently; no state is shared between calls
// (each call owns its FFmpeg contexts and runs the decoders single-threaded,
// so a CPU pool sets the parallelism). The input bytes are borrowed for the
// duration of the call only.
//
// Errors: INVALID_ARGUMENT for empty, unknown, corrupt or truncated data, a
// missing video stream, or a limit exceeded (the message names the limit and
// the value); DEADLINE_EXCEEDED when decoding one item takes longer than
// max_decode_seconds; RESOURCE_EXHAUSTED when memory runs out.

#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/multimodal/rgb_image.h"
#include "engine/multimodal/work_budget.h"

namespace ovserve::engine {

// Per-item limits. Sizes are checked from headers before anything is decoded
// or allocated; the time budget is checked between packets and frames.
struct MediaLimits {
  int64_t max_encoded_bytes = int64_t{64} << 20;  // size of the encoded item
  int64_t max_pixels = 64'000'000;                // width * height of a picture
  // The square one of several images is padded to (side: its longer edge),
  // checked from the header before decoding: a 1,000,000 x 16 picture is 16M
  // pixels but pads to 10^12.
  int64_t max_padded_pixels = 64'000'000;
  int64_t max_video_frames_scanned = 10'000;      // frames decoded to count them
  double max_decode_seconds = 30.0;               // wall clock for one item
  int max_jpeg_scans = 256;                       // scans of a progressive JPEG
  int64_t max_video_seconds = 3600;               // container duration, when known
  // Sampled frames held at once (num_frames x width x height): 32 frames of 4K.
  int64_t max_video_kept_pixels = int64_t{32} * 3840 * 2160;
};

// Decodes the first picture of an image file to RGB at its own size.
// `budget`: the item's deadline and cancellation (DEADLINE_EXCEEDED /
// CANCELLED, checked inside the decoders); null = max_decode_seconds from now.
absl::StatusOr<RgbImage> DecodeImage(std::span<const uint8_t> bytes,
                                     const MediaLimits& limits = {},
                                     const WorkBudget* budget = nullptr);

struct DecodedVideo {
  std::vector<RgbImage> frames;        // num_frames pictures, in index order
  int64_t total_frames = 0;            // frames the decoder produced (n)
  std::vector<int64_t> frame_indices;  // index (0-based, decode order) of each kept frame
  int64_t width = 0;                   // of every frame (the first frame's size)
  int64_t height = 0;
};

// Decodes every frame of the first video stream (to count them) and keeps
// `num_frames` of them at LinspaceFrameIndices(n, num_frames). When n <
// num_frames indices repeat, so frames are duplicated, as the reference does.
// At most num_frames pictures are held at any time, never all n.
absl::StatusOr<DecodedVideo> DecodeVideo(std::span<const uint8_t> bytes, int64_t num_frames,
                                         const MediaLimits& limits = {},
                                         const WorkBudget* budget = nullptr);

// np.linspace(0, num_decoded - 1, num_frames, dtype=int) for num_decoded >= 1
// and num_frames >= 1: float64 steps, truncated, the last index exactly n - 1.
std::vector<int64_t> LinspaceFrameIndices(int64_t num_decoded, int64_t num_frames);

}  // namespace ovserve::engine
