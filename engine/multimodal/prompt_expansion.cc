#include "engine/multimodal/prompt_expansion.h"

#include "absl/strings/str_cat.h"

namespace ovserve::engine {

absl::StatusOr<std::vector<int32_t>> ExpandVisualPlaceholders(const std::vector<int32_t>& ids,
                                                              const PlaceholderIds& placeholders,
                                                              const std::vector<int64_t>& image_tokens,
                                                              const std::vector<int64_t>& video_tokens) {
  size_t images = 0, videos = 0;
  for (int32_t id : ids) {
    images += id == placeholders.image;
    videos += id == placeholders.video;
  }
  if (images != image_tokens.size()) {
    return absl::InvalidArgumentError(absl::StrCat("the prompt has ", images, " <image> placeholders but ",
                                                   image_tokens.size(), " images were given"));
  }
  if (videos != video_tokens.size()) {
    return absl::InvalidArgumentError(absl::StrCat("the prompt has ", videos, " <video> placeholders but ",
                                                   video_tokens.size(), " videos were given"));
  }
  std::vector<int32_t> out;
  size_t total = ids.size();
  for (int64_t n : image_tokens) total += n - 1;
  for (int64_t n : video_tokens) total += n - 1;
  out.reserve(total);
  size_t next_image = 0, next_video = 0;
  for (int32_t id : ids) {
    if (id == placeholders.image) {
      out.insert(out.end(), image_tokens[next_image++], id);
    } else if (id == placeholders.video) {
      out.insert(out.end(), video_tokens[next_video++], id);
    } else {
      out.push_back(id);
    }
  }
  return out;
}

}  // namespace ovserve::engine
