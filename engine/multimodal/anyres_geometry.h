#pragma once
// AnyRes geometry of LLaVA-OneVision, as transformers 4.57 computes it (and,
// with UnpadRounding::kTruncate, as LLaVA-NeXT's original code does): the
// pinpoint choice, the crop grid, unpadding, the anyres_max_N shrink, and the
// resulting visual-token counts. Pure functions over sizes (no pixels), used
// both before encoding (token accounting) and when packing features.

#include <cstdint>
#include <utility>
#include <vector>

namespace ovserve::engine {

struct Size2d {
  int64_t height = 0;
  int64_t width = 0;
  bool operator==(const Size2d&) const = default;
};

// select_best_resolution: the pinpoint (h, w) that keeps the most of the
// original resolution, ties broken by the least wasted area, then list order.
Size2d SelectBestResolution(Size2d original, const std::vector<std::pair<int64_t, int64_t>>& pinpoints);

// Size of the image resized into `target` keeping its aspect ratio
// (get_patch_output_size), before padding.
Size2d ResizeToFit(Size2d original, Size2d target);

// How unpad_image turns the scaled original side into feature rows/columns:
// transformers computes int(round(x, 7)), LLaVA-NeXT int(x). They differ when
// x lands just below an integer (1107x820 in a 3x3 grid: 59.99999999999999
// gives 61 rows vs 59).
enum class UnpadRounding { kRoundTo7Digits, kTruncate };

// The layout of one AnyRes image's features after packing.
struct AnyResLayout {
  Size2d best_resolution;    // chosen pinpoint (pixels)
  int64_t grid_rows = 0;     // crops down
  int64_t grid_cols = 0;     // crops across
  Size2d feature_grid;       // rows*P x cols*P (P = patches per crop side, 27)
  Size2d unpadded;           // after unpad_image
  double shrink_ratio = 0;   // sqrt(h*w / (max_crops * P^2))
  bool shrunk = false;       // ratio > 1.1: bilinearly resized
  Size2d final_grid;         // feature rows x cols that get a newline each
  int64_t base_tokens = 0;   // P*P for the base view
  int64_t tokens = 0;        // base + final rows*cols + final rows (newlines)
  int64_t num_crops() const { return 1 + grid_rows * grid_cols; }
};

// Full layout of a single image of `original` size (h, w) under AnyRes-Max-N.
// `crop_size` is the vision tower's image size (384), `patches_per_side` 27.
AnyResLayout ComputeAnyResLayout(Size2d original,
                                 const std::vector<std::pair<int64_t, int64_t>>& pinpoints,
                                 int64_t crop_size, int64_t patches_per_side, int64_t max_crops,
                                 UnpadRounding rounding = UnpadRounding::kRoundTo7Digits);

// unpad_image's output size for a (rows x cols) feature map of an image of `original` size.
Size2d UnpaddedFeatureSize(Size2d feature_grid, Size2d original,
                           UnpadRounding rounding = UnpadRounding::kRoundTo7Digits);

// Python's float floor division (a // b) for positive finite operands.
double PyFloorDiv(double a, double b);

// One image of a multi-image prompt: one crop, P*P tokens + 1 newline.
int64_t MultiImageTokens(int64_t patches_per_side);

// A video of `frames` frames: per frame ceil(P/2)^2 pooled tokens, then one newline.
int64_t VideoTokens(int64_t frames, int64_t patches_per_side);
int64_t PooledSide(int64_t patches_per_side);

}  // namespace ovserve::engine
