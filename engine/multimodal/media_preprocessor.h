#pragma once
// MediaPreprocessor: the media of one request, from encoded bytes to the
// pixel tensors and exact visual-token counts the model consumes.
//
// Per item: decode with FFmpeg (media_decoder.h, limits checked from the
// header before allocating), then the reference's preprocessing
// (image_processor.h): AnyRes when the request has exactly one image,
// one grey-padded crop per image when it has several, sampled frames for a
// video. Items of a request are processed in parallel on a CPU pool. The
// visual-token count of every item is known here, before any encoding.
//
// Thread-safe: concurrent Prepare calls are served one request at a time
// (items within a request in parallel).

#include <cstdint>
#include <mutex>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/multimodal/anyres_geometry.h"
#include "engine/multimodal/image_processor.h"
#include "engine/multimodal/media_decoder.h"
#include "engine/multimodal/visual_budget.h"
#include "kernels/cpu/thread_pool.h"

namespace ovserve::engine {

// One image or video of a request. The bytes are borrowed for the call.
struct MediaItem {
  MediaType type = MediaType::kImage;
  std::span<const uint8_t> bytes;
  int64_t num_frames = 0;  // videos: frames to sample (0 = the maximum)
};

struct PreparedMedia {
  VisualKind kind = VisualKind::kImageAnyRes;
  PixelTensor pixels;
  Size2d original_size;        // decoded (height, width)
  int64_t visual_tokens = 0;   // exact count of placeholder tokens it fills
  ContentHash hash;            // of the bytes + everything that shapes the pixels
  std::vector<int64_t> frame_indices;  // videos: the decoded frames sampled
  int64_t decoded_frames = 0;          // videos: frames in the stream
};

struct MediaPreprocessorOptions {
  MediaLimits media;
  VisualLimits visual;
  int64_t max_request_bytes = int64_t{256} << 20;  // all media bytes of one request
  int64_t patches_per_side = 27;                   // vision image_size / patch_size
  int64_t anyres_max_crops = 9;                    // from vision_aspect_ratio
  UnpadRounding unpad_rounding = UnpadRounding::kRoundTo7Digits;  // the checkpoint format's
  int threads = 2;
};

class MediaPreprocessor {
 public:
  MediaPreprocessor(ImageProcessor processor, const MediaPreprocessorOptions& options);

  const MediaPreprocessorOptions& options() const { return options_; }

  // The items in the order given (images AnyRes when there is one, one crop
  // each when there are several). Errors name the item by its type's count
  // (e.g. "image 2: ...") and, for limits, the limit and the value.
  absl::StatusOr<std::vector<PreparedMedia>> Prepare(std::span<const MediaItem> items);

 private:
  absl::StatusOr<PreparedMedia> PrepareItem(const MediaItem& item, bool single_image) const;
  absl::StatusOr<PreparedMedia> PrepareImage(const MediaItem& item, bool single) const;
  absl::StatusOr<PreparedMedia> PrepareVideo(const MediaItem& item) const;

  ImageProcessor processor_;
  MediaPreprocessorOptions options_;
  std::mutex mutex_;  // one request at a time on the pool
  kernels::cpu::ThreadPool pool_;
};

}  // namespace ovserve::engine
