#pragma once
// Per-request visual limits and token budgets of LLaVA-OneVision.
//
// The paper's nominal budgets (7290 single image, 8748 for 12 images, 6272
// for 32 frames) and the exact maxima under the reference's arithmetic
// (8765, 12 x 730 = 8760, 32 x 196 + 1 = 6273; see DESIGN.md) — the exact
// ones size the token queue and KV admission, both are reported in usage.

#include <cstdint>

#include "absl/status/statusor.h"

namespace ovserve::engine {

enum class Modality { kText, kSingleImage, kMultiImage, kVideo, kImagesAndVideo };

struct VisualLimits {
  int64_t max_images = 12;
  int64_t max_video_frames = 32;
  int64_t max_videos = 1;
};

inline constexpr int64_t kNominalSingleImageTokens = 7290;  // (1 + 9) x 729
inline constexpr int64_t kNominalMultiImageTokens = 8748;   // 12 x 729
inline constexpr int64_t kNominalVideoTokens = 6272;        // 32 x 196
inline constexpr int64_t kMaxSingleImageTokens = 8765;      // e.g. 947 wide x 1157 high
inline constexpr int64_t kMaxMultiImageTokens = 8760;       // 12 x (729 + 1)
inline constexpr int64_t kMaxVideoTokens = 6273;            // 32 x 196 + 1

// Whether a prompt's images take the AnyRes path: the reference gives the only
// image of a prompt AnyRes crops and each of several images one crop
// (transformers 4.53+, images nested per sample). Videos do not change it.
bool ImagesUseAnyRes(int64_t images_in_prompt);

// The modality of a request with these item counts (images take the single
// or multi-image path by count, as the chat template's prompt does).
Modality RequestModality(int64_t images, int64_t videos);

// Nominal budget of a request with these item counts (0 for text), for usage
// reports: single or multi-image, plus the video budget when it has a video.
int64_t NominalVisualBudget(int64_t images, int64_t videos);

// The most visual tokens one request can carry under `limits` (exact
// arithmetic): the larger of one AnyRes image and max_images single crops,
// plus max_videos videos of max_video_frames frames. 15038 by default.
int64_t MaxVisualTokensPerRequest(const VisualLimits& limits);

// OK, or INVALID_ARGUMENT naming the limit and the value: more images than
// max_images or more videos than max_videos.
absl::Status ValidateVisualCounts(int64_t images, int64_t videos, const VisualLimits& limits);

// Frames to sample for a video: the request's num_frames (0 = the maximum)
// capped at max_video_frames — more is sampled down, not refused. Negative is
// INVALID_ARGUMENT.
absl::StatusOr<int64_t> FramesToSample(int64_t requested, const VisualLimits& limits);

}  // namespace ovserve::engine
