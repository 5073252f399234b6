#include "engine/multimodal/anyres_geometry.h"

#include <cmath>
#include <limits>

namespace ovserve::engine {

Size2d SelectBestResolution(Size2d original,
                            const std::vector<std::pair<int64_t, int64_t>>& pinpoints) {
  const double oh = static_cast<double>(original.height);
  const double ow = static_cast<double>(original.width);
  Size2d best{};
  int64_t max_effective = 0;
  int64_t min_wasted = std::numeric_limits<int64_t>::max();
  for (const auto& [h, w] : pinpoints) {
    const double scale = std::min(static_cast<double>(w) / ow, static_cast<double>(h) / oh);
    const int64_t down_w = static_cast<int64_t>(ow * scale);
    const int64_t down_h = static_cast<int64_t>(oh * scale);
    const int64_t effective = std::min(down_w * down_h, original.width * original.height);
    const int64_t wasted = h * w - effective;
    if (effective > max_effective || (effective == max_effective && wasted < min_wasted)) {
      max_effective = effective;
      min_wasted = wasted;
      best = {h, w};
    }
  }
  return best;
}

Size2d ResizeToFit(Size2d original, Size2d target) {
  const double scale_w = static_cast<double>(target.width) / static_cast<double>(original.width);
  const double scale_h = static_cast<double>(target.height) / static_cast<double>(original.height);
  if (scale_w < scale_h) {
    const int64_t new_h = std::min<int64_t>(
        static_cast<int64_t>(std::ceil(static_cast<double>(original.height) * scale_w)), target.height);
    return {new_h, target.width};
  }
  const int64_t new_w = std::min<int64_t>(
      static_cast<int64_t>(std::ceil(static_cast<double>(original.width) * scale_h)), target.width);
  return {target.height, new_w};
}

namespace {

// int(round(x, 7)) or int(x), as Python computes them for the non-negative sizes here.
int64_t UnpadSide(double x, UnpadRounding rounding) {
  if (rounding == UnpadRounding::kTruncate) return static_cast<int64_t>(x);
  const double rounded = std::nearbyint(x * 1e7) / 1e7;
  return static_cast<int64_t>(rounded);
}

}  // namespace

Size2d UnpaddedFeatureSize(Size2d feature_grid, Size2d original, UnpadRounding rounding) {
  const double original_aspect =
      static_cast<double>(original.width) / static_cast<double>(original.height);
  const double current_aspect =
      static_cast<double>(feature_grid.width) / static_cast<double>(feature_grid.height);
  if (original_aspect > current_aspect) {
    const double scale = static_cast<double>(feature_grid.width) / static_cast<double>(original.width);
    const int64_t new_h = UnpadSide(static_cast<double>(original.height) * scale, rounding);
    const int64_t pad = (feature_grid.height - new_h) / 2;
    return {feature_grid.height - 2 * pad, feature_grid.width};
  }
  const double scale = static_cast<double>(feature_grid.height) / static_cast<double>(original.height);
  const int64_t new_w = UnpadSide(static_cast<double>(original.width) * scale, rounding);
  const int64_t pad = (feature_grid.width - new_w) / 2;
  return {feature_grid.height, feature_grid.width - 2 * pad};
}

double PyFloorDiv(double a, double b) {
  // CPython float_floor_div: based on fmod so that a == b*q + r exactly.
  double mod = std::fmod(a, b);
  double div = (a - mod) / b;
  if (mod != 0.0 && ((b < 0) != (mod < 0))) div -= 1.0;
  if (div == 0.0) return std::copysign(0.0, a / b);
  double floordiv = std::floor(div);
  if (div - floordiv > 0.5) floordiv += 1.0;
  return floordiv;
}

AnyResLayout ComputeAnyResLayout(Size2d original,
                                 const std::vector<std::pair<int64_t, int64_t>>& pinpoints,
                                 int64_t crop_size, int64_t patches_per_side, int64_t max_crops,
                                 UnpadRounding rounding) {
  AnyResLayout layout;
  layout.best_resolution = SelectBestResolution(original, pinpoints);
  layout.grid_rows = layout.best_resolution.height / crop_size;
  layout.grid_cols = layout.best_resolution.width / crop_size;
  layout.feature_grid = {layout.grid_rows * patches_per_side, layout.grid_cols * patches_per_side};
  layout.unpadded = UnpaddedFeatureSize(layout.feature_grid, original, rounding);
  layout.final_grid = layout.unpadded;
  if (max_crops > 0) {
    const double h = static_cast<double>(layout.unpadded.height);
    const double w = static_cast<double>(layout.unpadded.width);
    layout.shrink_ratio = std::sqrt(h * w / static_cast<double>(max_crops * patches_per_side * patches_per_side));
    if (layout.shrink_ratio > 1.1) {
      layout.shrunk = true;
      layout.final_grid = {static_cast<int64_t>(PyFloorDiv(h, layout.shrink_ratio)),
                           static_cast<int64_t>(PyFloorDiv(w, layout.shrink_ratio))};
    }
  }
  layout.base_tokens = patches_per_side * patches_per_side;
  layout.tokens = layout.base_tokens + layout.final_grid.height * layout.final_grid.width +
                  layout.final_grid.height;
  return layout;
}

int64_t MultiImageTokens(int64_t patches_per_side) { return patches_per_side * patches_per_side + 1; }

int64_t PooledSide(int64_t patches_per_side) { return (patches_per_side + 1) / 2; }

int64_t VideoTokens(int64_t frames, int64_t patches_per_side) {
  const int64_t side = PooledSide(patches_per_side);
  return frames * side * side + 1;
}

}  // namespace ovserve::engine
