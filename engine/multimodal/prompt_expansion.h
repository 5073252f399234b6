#pragma once
// Expansion of <image>/<video> placeholders into their visual-token runs, as
// LlavaOnevisionProcessor does before the model sees the ids.

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"

namespace ovserve::engine {

struct PlaceholderIds {
  int32_t image = 151646;
  int32_t video = 151647;
};

// Replaces the k-th image placeholder by image_tokens[k] copies of its id (and
// likewise for videos). The number of placeholders must equal the number of
// items of each kind; the error says which count is off.
absl::StatusOr<std::vector<int32_t>> ExpandVisualPlaceholders(const std::vector<int32_t>& ids,
                                                              const PlaceholderIds& placeholders,
                                                              const std::vector<int64_t>& image_tokens,
                                                              const std::vector<int64_t>& video_tokens);

}  // namespace ovserve::engine
