#pragma once
// The video processor's resize: torchvision
// `resize(frames, size, interpolation=BICUBIC, antialias=True)` on a uint8
// tensor, which on the CPU runs torch's `_upsample_bicubic2d_aa` uint8 kernel.
//
// That kernel is Pillow's separable algorithm (see pil_resize.h) with int16
// weights whose fractional bits are chosen from the largest weight of each
// axis (14 for 320x240 -> 384x384, against Pillow's 22), so it differs from
// Pillow by one level on a few hundred of 3.5M values of the video fixture;
// this flavour reproduces the reference exactly there.
//
// Pure function; safe to call concurrently from any thread.

#include <cstdint>

#include "absl/status/statusor.h"
#include "engine/multimodal/rgb_image.h"

namespace ovserve::engine {

// Resizes (squashes) one frame to width x height; a copy when the size is unchanged.
// INVALID_ARGUMENT for an empty or inconsistent frame or a non-positive size.
absl::StatusOr<RgbImage> TorchvisionResizeBicubicAntialias(const RgbImage& frame, int64_t width,
                                                           int64_t height);

}  // namespace ovserve::engine
