#pragma once
// JPEG decoding with libjpeg-turbo, configured as Pillow configures it
// (Image.open(...).convert("RGB"): islow IDCT, fancy upsampling, RGB or
// grayscale output), then the EXIF orientation applied as the reference's
// load_image does, so a JPEG's pixels equal the reference's bit for bit.
// FFmpeg's mjpeg decoder uses other IDCTs and colour conversion and lands a
// few levels away (max 3 on the fixture JPEG), enough to move logits by ~4e-3.
//
// Thread-safe (each call owns its decompressor); bytes are borrowed.

#include <cstdint>
#include <span>

#include "absl/status/statusor.h"
#include "engine/multimodal/rgb_image.h"

namespace ovserve::engine {

// True for data that starts with a JPEG SOI marker followed by another marker.
bool LooksLikeJpeg(std::span<const uint8_t> bytes);

// Decodes a baseline or progressive JPEG in YCbCr, RGB or grayscale.
// UNIMPLEMENTED for CMYK/YCCK (the caller may fall back to another decoder);
// INVALID_ARGUMENT for corrupt or truncated data, or more than `max_pixels`
// (checked from the header before allocating).
absl::StatusOr<RgbImage> DecodeJpegLikePillow(std::span<const uint8_t> bytes, int64_t max_pixels);

}  // namespace ovserve::engine
