#include "engine/runner/media_inputs.h"

namespace ovserve::engine {

VisualKind VisualKindOf(PreprocessMode mode) {
  switch (mode) {
    case PreprocessMode::kImageAnyRes: return VisualKind::kImageAnyRes;
    case PreprocessMode::kImageSingleCrop: return VisualKind::kImageSingleCrop;
    case PreprocessMode::kVideo: return VisualKind::kVideo;
  }
  return VisualKind::kImageAnyRes;
}

void AddPreparedMedia(const std::vector<PreparedMedia>& media, GreedyRequest& request) {
  for (const PreparedMedia& item : media) {
    const VisualInput input{VisualKindOf(item.mode), item.pixels.View(), item.original_size};
    (item.mode == PreprocessMode::kVideo ? request.videos : request.images).push_back(input);
  }
}

}  // namespace ovserve::engine
