#pragma once
// MediaPreprocessor: the media of one request, from encoded bytes to the
// pixel tensors and exact visual-token counts the model consumes.
//
// Per item: decode with FFmpeg (media_decoder.h, limits checked from the
// header before allocating), then the reference's preprocessing
// (image_processor.h): AnyRes when the request has exactly one image,
// one grey-padded crop per image when it has several, sampled frames for a
// video. The visual-token count of every item is known here, before any
// encoding.
//
// Every item is one task on a TaskPool shared by all requests, so several
// requests' items run at once and a slow item (a long video) holds one thread,
// not the others' requests. Each item has a WorkBudget: max_decode_seconds
// and its request's cancellation reach into the decoders and resize stages.
//
// Thread-safe.

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <stop_token>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/multimodal/anyres_geometry.h"
#include "engine/multimodal/image_processor.h"
#include "engine/multimodal/media_decoder.h"
#include "engine/multimodal/visual_budget.h"
#include "engine/util/task_pool.h"

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

using PreparedMediaCallback = std::function<void(absl::StatusOr<std::vector<PreparedMedia>>)>;

class MediaPreprocessor {
 public:
  // Items run on `pool` (not owned; it must outlive this object), or, when
  // null, on a pool of options.threads threads of its own.
  MediaPreprocessor(ImageProcessor processor, const MediaPreprocessorOptions& options,
                    TaskPool* pool = nullptr);
  ~MediaPreprocessor();
  // Pool tasks hold `this`.
  MediaPreprocessor(const MediaPreprocessor&) = delete;
  MediaPreprocessor& operator=(const MediaPreprocessor&) = delete;

  const MediaPreprocessorOptions& options() const { return options_; }

  // What can be refused before any decoding: item counts and request bytes.
  absl::Status Validate(std::span<const MediaItem> items) const;

  // The items in the order given (images AnyRes when there is one, one crop
  // each when there are several), each item a pool task. `done` runs exactly
  // once, on a pool thread (inline when Validate fails or there are no
  // items); the bytes the items borrow must live until then. Errors name the
  // item by its type's count (e.g. "image 2: ...") and, for limits, the limit
  // and the value; the first item to fail ends the request's other items
  // before they start. `stop` requested: CANCELLED, work in progress stops.
  void PrepareAsync(std::vector<MediaItem> items, std::stop_token stop, PreparedMediaCallback done);

  // PrepareAsync, waited for. Never call it from a task of the same pool.
  absl::StatusOr<std::vector<PreparedMedia>> Prepare(std::span<const MediaItem> items,
                                                     std::stop_token stop = {});

 private:
  struct Batch;
  void RunItem(const std::shared_ptr<Batch>& batch, size_t index) const;
  absl::StatusOr<PreparedMedia> PrepareItem(const MediaItem& item, bool single_image,
                                            const WorkBudget& budget) const;
  absl::StatusOr<PreparedMedia> PrepareImage(const MediaItem& item, bool single,
                                             const WorkBudget& budget) const;
  absl::StatusOr<PreparedMedia> PrepareVideo(const MediaItem& item, const WorkBudget& budget) const;

  ImageProcessor processor_;
  MediaPreprocessorOptions options_;
  std::unique_ptr<TaskPool> own_pool_;  // when none was given
  TaskPool* pool_;
};

}  // namespace ovserve::engine
