#include "engine/multimodal/media_preprocessor.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/util/status_macros.h"

namespace ovserve::engine {

MediaPreprocessor::MediaPreprocessor(ImageProcessor processor, const MediaPreprocessorOptions& options)
    : processor_(std::move(processor)), options_(options), pool_(options.threads) {}

absl::StatusOr<PreparedMedia> MediaPreprocessor::PrepareImage(const MediaItem& item, bool single) const {
  ASSIGN_OR_RETURN(RgbImage image, DecodeImage(item.bytes, options_.media));
  PreparedMedia out;
  out.original_size = {image.height, image.width};
  const int64_t crop = processor_.config().image_size.height;
  if (single) {
    out.mode = PreprocessMode::kImageAnyRes;
    out.visual_tokens = ComputeAnyResLayout(out.original_size, processor_.config().image_grid_pinpoints,
                                            crop, options_.patches_per_side, options_.anyres_max_crops)
                            .tokens;
    ASSIGN_OR_RETURN(out.pixels, processor_.PreprocessAnyRes(image));
  } else {
    out.mode = PreprocessMode::kImageSingleCrop;
    out.visual_tokens = MultiImageTokens(options_.patches_per_side);
    ASSIGN_OR_RETURN(out.pixels, processor_.PreprocessSingleCrop(image));
  }
  out.hash = HashMediaItem(item.bytes, processor_.PreprocessingKey(out.mode));
  return out;
}

absl::StatusOr<PreparedMedia> MediaPreprocessor::PrepareVideo(const MediaItem& item) const {
  ASSIGN_OR_RETURN(const int64_t frames, FramesToSample(item.num_frames, options_.visual));
  ASSIGN_OR_RETURN(DecodedVideo video, DecodeVideo(item.bytes, frames, options_.media));
  PreparedMedia out;
  out.mode = PreprocessMode::kVideo;
  out.original_size = {video.height, video.width};
  out.frame_indices = std::move(video.frame_indices);
  out.decoded_frames = video.total_frames;
  out.visual_tokens = VideoTokens(static_cast<int64_t>(video.frames.size()), options_.patches_per_side);
  ASSIGN_OR_RETURN(out.pixels, processor_.PreprocessVideo(video.frames));
  out.hash = HashMediaItem(item.bytes, absl::StrCat(processor_.PreprocessingKey(out.mode),
                                                    ";frames=", frames));
  return out;
}

absl::StatusOr<std::vector<PreparedMedia>> MediaPreprocessor::Prepare(std::span<const MediaItem> images,
                                                                      std::span<const MediaItem> videos) {
  const auto n_images = static_cast<int64_t>(images.size());
  const auto n_videos = static_cast<int64_t>(videos.size());
  RETURN_IF_ERROR(ValidateVisualCounts(n_images, n_videos, options_.visual));
  int64_t total_bytes = 0;
  for (const auto& item : images) total_bytes += static_cast<int64_t>(item.bytes.size());
  for (const auto& item : videos) total_bytes += static_cast<int64_t>(item.bytes.size());
  if (total_bytes > options_.max_request_bytes) {
    return absl::InvalidArgumentError(absl::StrCat("media of the request is ", total_bytes,
                                                   " bytes, over the limit of ", options_.max_request_bytes));
  }

  const int64_t n = n_images + n_videos;
  std::vector<absl::StatusOr<PreparedMedia>> results(n, absl::UnknownError("not run"));
  const bool single_image = ImagesUseAnyRes(n_images);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    pool_.ParallelFor(n, 1, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        results[i] = i < n_images ? PrepareImage(images[i], single_image) : PrepareVideo(videos[i - n_images]);
      }
    });
  }
  std::vector<PreparedMedia> prepared;
  prepared.reserve(n);
  for (int64_t i = 0; i < n; ++i) {
    if (!results[i].ok()) {
      const absl::Status& s = results[i].status();
      const std::string what = i < n_images ? absl::StrCat("image ", i) : absl::StrCat("video ", i - n_images);
      return absl::Status(s.code(), absl::StrCat(what, ": ", s.message()));
    }
    prepared.push_back(std::move(*results[i]));
  }
  return prepared;
}

}  // namespace ovserve::engine
