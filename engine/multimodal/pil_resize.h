#pragma once
// Bit-exact bicubic resizing of 8-bit RGB images, as the reference
// preprocessing does it.
//
// Two fixed-point flavours of one separable algorithm (Pillow's
// ImagingResample, src/libImaging/Resample.c):
//   - kPillow: Pillow `Image.resize(size, BICUBIC)` on mode RGB, what
//     transformers' LlavaOnevisionImageProcessor applies to images.
//   - kTorchUint8: torch `_upsample_bicubic2d_aa` on uint8 (the Pillow-SIMD
//     scheme: int16 weights with a precision picked from the largest weight),
//     what torchvision `resize(..., BICUBIC, antialias=True)` applies to video
//     frames; see torchvision_resize.h.
// Both: bicubic a = -0.5, support 2 scaled by the downscale factor
// (antialiasing), weights normalized per output pixel then rounded half away
// from zero to fixed point, horizontal pass first into an 8-bit buffer, then the
// vertical pass; a pass is skipped when its size is unchanged.
//
// Pure functions; safe to call concurrently from any thread.

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/multimodal/rgb_image.h"

namespace ovserve::engine {

enum class BicubicFlavor {
  kPillow,      // int32 weights, 22 fractional bits (Pillow's PRECISION_BITS)
  kTorchUint8,  // int16 weights, fractional bits chosen per axis (torch CPU uint8 kernel)
};

// Fixed-point taps of one axis: output pixel i reads `count[i]` input pixels
// starting at `first[i]`, weighted by weights[i * ksize + j] / 2^precision_bits.
struct AxisTaps {
  int64_t in_size = 0;
  int64_t out_size = 0;
  int64_t ksize = 0;  // taps stored per output pixel (>= every count)
  int precision_bits = 0;
  std::vector<int32_t> first;
  std::vector<int32_t> count;
  std::vector<int32_t> weights;
};

// The taps that `flavor` computes to resample `in_size` pixels to `out_size`.
// Both sizes must be positive.
AxisTaps ComputeBicubicTaps(int64_t in_size, int64_t out_size, BicubicFlavor flavor);

// Resizes `image` to width x height (squashing: no aspect ratio is kept).
// Returns a copy when the size is unchanged. INVALID_ARGUMENT for an empty or
// inconsistent image or a non-positive target size.
absl::StatusOr<RgbImage> ResizeBicubic(const RgbImage& image, int64_t width, int64_t height,
                                       BicubicFlavor flavor);

// Pillow 11 `Image.resize((width, height), resample=Image.BICUBIC)` on an RGB image.
inline absl::StatusOr<RgbImage> PilResizeBicubic(const RgbImage& image, int64_t width,
                                                 int64_t height) {
  return ResizeBicubic(image, width, height, BicubicFlavor::kPillow);
}

}  // namespace ovserve::engine
