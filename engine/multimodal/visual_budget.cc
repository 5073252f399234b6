#include "engine/multimodal/visual_budget.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace ovserve::engine {

bool ImagesUseAnyRes(int64_t images_in_prompt) { return images_in_prompt == 1; }

Modality RequestModality(int64_t images, int64_t videos) {
  if (videos > 0) return images > 0 ? Modality::kImagesAndVideo : Modality::kVideo;
  if (ImagesUseAnyRes(images)) return Modality::kSingleImage;
  if (images > 1) return Modality::kMultiImage;
  return Modality::kText;
}

int64_t NominalVisualBudget(int64_t images, int64_t videos) {
  const int64_t image_budget =
      ImagesUseAnyRes(images) ? kNominalSingleImageTokens : (images > 1 ? kNominalMultiImageTokens : 0);
  return image_budget + (videos > 0 ? kNominalVideoTokens : 0);
}

absl::Status ValidateVisualCounts(int64_t images, int64_t videos, const VisualLimits& limits) {
  if (images > limits.max_images) {
    return absl::InvalidArgumentError(absl::StrCat("too many images: ", images, " given, at most ",
                                                   limits.max_images, " per request"));
  }
  if (videos > limits.max_videos) {
    return absl::InvalidArgumentError(absl::StrCat("too many videos: ", videos, " given, at most ",
                                                   limits.max_videos, " per request"));
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> FramesToSample(int64_t requested, const VisualLimits& limits) {
  if (requested < 0) {
    return absl::InvalidArgumentError(absl::StrCat("num_frames must be >= 0 (0 = default of ",
                                                   limits.max_video_frames, "), got ", requested));
  }
  if (requested == 0) return limits.max_video_frames;
  return std::min(requested, limits.max_video_frames);
}

int64_t MaxVisualTokensPerRequest(const VisualLimits& limits) {
  int64_t images = 0;
  if (limits.max_images >= 1) images = kMaxSingleImageTokens;
  if (limits.max_images >= 2) images = std::max(images, limits.max_images * (729 + 1));
  const int64_t videos = limits.max_videos * (limits.max_video_frames * 196 + 1);
  return images + videos;
}

}  // namespace ovserve::engine
