#pragma once
// A minimal PNG reader for tests only: 8-bit RGB, non-interlaced (what the
// fixture images are), inflated with zlib, filters 0-4. The engine decodes
// media with FFmpeg (engine/multimodal/media_decoder.h); this lets the
// preprocessing golden tests run on their own.

#include <filesystem>

#include "absl/status/statusor.h"
#include "engine/multimodal/rgb_image.h"

namespace ovserve::testing {

// UNIMPLEMENTED for any other PNG flavour (palette, alpha, 16-bit, interlaced).
absl::StatusOr<engine::RgbImage> ReadRgbPngForTests(const std::filesystem::path& path);

}  // namespace ovserve::testing
