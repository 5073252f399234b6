#include "engine/runner/media_inputs.h"

namespace ovserve::engine {

void AddPreparedMedia(const std::vector<PreparedMedia>& media, GreedyRequest& request) {
  for (const PreparedMedia& item : media) {
    const VisualInput input{item.kind, item.pixels.View(), item.original_size};
    (item.kind == VisualKind::kVideo ? request.videos : request.images).push_back(input);
  }
}

}  // namespace ovserve::engine
