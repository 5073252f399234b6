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
#include "engine/multimodal/work_budget.h"

namespace ovserve::engine {

// True for data that starts with a JPEG SOI marker followed by another marker.
bool LooksLikeJpeg(std::span<const uint8_t> bytes);

struct JpegLimits {
  int64_t max_pixels = 64'000'000;  // width * height, checked from the header
  // Scans of a progressive JPEG. Each scan re-decodes the whole picture, so a small file
  // repeating one scan 20,000 times would decode for minutes; 256 is nvImageCodec's cap
  // (real encoders write about 10).
  int max_scans = 256;
  // The item's deadline and cancellation, checked while libjpeg decodes (its progress
  // monitor), not only after it returns. Null: no limit.
  const WorkBudget* budget = nullptr;
};

// Decodes a baseline or progressive JPEG in YCbCr, RGB or grayscale.
// UNIMPLEMENTED for CMYK/YCCK (the caller may fall back to another decoder);
// INVALID_ARGUMENT for corrupt or truncated data, more than `max_pixels` or `max_scans`,
// or a libjpeg warning that says the data is damaged (bogus progression, bad Huffman
// code, premature end; Pillow would conceal those) except stray bytes between markers,
// which cameras commonly write; DEADLINE_EXCEEDED past the deadline, CANCELLED once the
// request is.
absl::StatusOr<RgbImage> DecodeJpegLikePillow(std::span<const uint8_t> bytes,
                                              const JpegLimits& limits);

}  // namespace ovserve::engine
