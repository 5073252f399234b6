#pragma once
// RgbImage: an 8-bit RGB picture in host memory, rows top to bottom, pixels
// interleaved R, G, B (what PIL's "RGB" mode and FFmpeg's RGB24 hold).

#include <cstdint>
#include <vector>

namespace ovserve::engine {

struct RgbImage {
  int64_t width = 0;
  int64_t height = 0;
  std::vector<uint8_t> pixels;  // height * width * 3

  RgbImage() = default;
  RgbImage(int64_t w, int64_t h) : width(w), height(h), pixels(static_cast<size_t>(w * h * 3)) {}

  uint8_t* Row(int64_t y) { return pixels.data() + y * width * 3; }
  const uint8_t* Row(int64_t y) const { return pixels.data() + y * width * 3; }
};

}  // namespace ovserve::engine
