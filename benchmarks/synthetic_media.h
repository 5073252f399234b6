#pragma once
// Synthetic images and videos for the load generator, encoded in memory with
// FFmpeg's own encoders (through the tests' media encoder). The pixels are a
// pure function of the seed (gradients, moving rectangles, a little noise), so
// a run is reproducible while every request can carry media of its own (no
// prefix-cache hits between requests). Callable from any thread.

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "benchmarks/bench_config.h"

namespace ovserve::bench {

// The encoded file: JPEG (mjpeg, quality scale 3) or PNG (RGB24).
absl::StatusOr<std::string> EncodeSyntheticImage(ImageSize size, ImageFormat format,
                                                 uint64_t seed);

// An MP4 of `frames` frames at 8 frames/s, encoded with `codec` ("mpeg4",
// "libx264", ...; FFmpeg encoder names), YUV 4:2:0.
absl::StatusOr<std::string> EncodeSyntheticVideo(ImageSize size, int frames,
                                                 std::string_view codec, uint64_t seed);

std::string ImageMimeType(ImageFormat format);

}  // namespace ovserve::bench
