#include "engine/multimodal/media_preprocessor.h"

#include <algorithm>
#include <exception>
#include <new>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/multimodal/image_header.h"
#include "engine/util/status_macros.h"

namespace ovserve::engine {

namespace {

// One of several images is padded to a square of its longer side before it is
// resized: refuse what that square would allocate beyond the limit.
absl::Status CheckPaddedSize(int64_t width, int64_t height, const MediaLimits& limits) {
  const auto side = static_cast<uint64_t>(std::max<int64_t>(width, height));
  const uint64_t padded = side * side;  // sides are header fields (< 2^32)
  if (padded > static_cast<uint64_t>(limits.max_padded_pixels)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a ", width, "x", height, " image of a multi-image request is padded to a ", side, "x", side,
        " square = ", padded, " pixels, over the limit of ", limits.max_padded_pixels, " (max_padded_pixels)"));
  }
  return absl::OkStatus();
}

}  // namespace

MediaPreprocessor::MediaPreprocessor(ImageProcessor processor, const MediaPreprocessorOptions& options)
    : processor_(std::move(processor)), options_(options), pool_(options.threads) {}

absl::StatusOr<PreparedMedia> MediaPreprocessor::PrepareImage(const MediaItem& item, bool single) const {
  if (const std::optional<ImageHeaderSize> header = ReadImageHeaderSize(item.bytes); header && !single) {
    RETURN_IF_ERROR(CheckPaddedSize(header->width, header->height, options_.media));
  }
  ASSIGN_OR_RETURN(RgbImage image, DecodeImage(item.bytes, options_.media));
  if (!single) RETURN_IF_ERROR(CheckPaddedSize(image.width, image.height, options_.media));
  PreparedMedia out;
  out.original_size = {image.height, image.width};
  const int64_t crop = processor_.config().image_size.height;
  if (single) {
    out.kind = VisualKind::kImageAnyRes;
    out.visual_tokens = ComputeAnyResLayout(out.original_size, processor_.config().image_grid_pinpoints,
                                            crop, options_.patches_per_side, options_.anyres_max_crops,
                                            options_.unpad_rounding)
                            .tokens;
    ASSIGN_OR_RETURN(out.pixels, processor_.PreprocessAnyRes(image));
  } else {
    out.kind = VisualKind::kImageSingleCrop;
    out.visual_tokens = MultiImageTokens(options_.patches_per_side);
    ASSIGN_OR_RETURN(out.pixels, processor_.PreprocessSingleCrop(image));
  }
  out.hash = HashMediaItem(item.bytes, processor_.PreprocessingKey(out.kind));
  return out;
}

absl::StatusOr<PreparedMedia> MediaPreprocessor::PrepareVideo(const MediaItem& item) const {
  ASSIGN_OR_RETURN(const int64_t frames, FramesToSample(item.num_frames, options_.visual));
  ASSIGN_OR_RETURN(DecodedVideo video, DecodeVideo(item.bytes, frames, options_.media));
  PreparedMedia out;
  out.kind = VisualKind::kVideo;
  out.original_size = {video.height, video.width};
  out.frame_indices = std::move(video.frame_indices);
  out.decoded_frames = video.total_frames;
  out.visual_tokens = VideoTokens(static_cast<int64_t>(video.frames.size()), options_.patches_per_side);
  ASSIGN_OR_RETURN(out.pixels, processor_.PreprocessVideo(video.frames));
  out.hash = HashMediaItem(item.bytes, absl::StrCat(processor_.PreprocessingKey(out.kind),
                                                    ";frames=", frames));
  return out;
}

// Nothing an item triggers escapes a pool thread: an allocation failure or
// any other exception becomes that item's error.
absl::StatusOr<PreparedMedia> MediaPreprocessor::PrepareItem(const MediaItem& item, bool single_image) const {
  try {
    return item.type == MediaType::kVideo ? PrepareVideo(item) : PrepareImage(item, single_image);
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError("out of memory while preprocessing it");
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("preprocessing failed: ", e.what()));
  }
}

absl::StatusOr<std::vector<PreparedMedia>> MediaPreprocessor::Prepare(std::span<const MediaItem> items) {
  const auto n = static_cast<int64_t>(items.size());
  // Each item's number among those of its type, for errors.
  std::vector<int64_t> ordinal(items.size());
  int64_t n_images = 0, n_videos = 0, total_bytes = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    ordinal[i] = items[i].type == MediaType::kVideo ? n_videos++ : n_images++;
    total_bytes += static_cast<int64_t>(items[i].bytes.size());
  }
  RETURN_IF_ERROR(ValidateVisualCounts(n_images, n_videos, options_.visual));
  if (total_bytes > options_.max_request_bytes) {
    return absl::InvalidArgumentError(absl::StrCat("media of the request is ", total_bytes,
                                                   " bytes, over the limit of ", options_.max_request_bytes));
  }

  std::vector<absl::StatusOr<PreparedMedia>> results(n, absl::UnknownError("not run"));
  const bool single_image = ImagesUseAnyRes(n_images);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    pool_.ParallelFor(n, 1, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        results[i] = PrepareItem(items[i], single_image);
      }
    });
  }
  std::vector<PreparedMedia> prepared;
  prepared.reserve(n);
  for (int64_t i = 0; i < n; ++i) {
    if (!results[i].ok()) {
      const absl::Status& s = results[i].status();
      const char* what = items[i].type == MediaType::kVideo ? "video " : "image ";
      return absl::Status(s.code(), absl::StrCat(what, ordinal[i], ": ", s.message()));
    }
    prepared.push_back(std::move(*results[i]));
  }
  return prepared;
}

}  // namespace ovserve::engine
