#pragma once
// ReadImageHeaderSize: the width and height an image file announces in its
// header (PNG IHDR, JPEG SOFn, GIF logical screen, BMP info header, WebP
// VP8/VP8L/VP8X), read without decoding anything.
//
// Why: the pixel limit must refuse a 20000x20000 PNG before any decoder
// allocates for it, and with a message that names the size; FFmpeg's image
// decoders only learn the size while decoding (its own max_pixels check stays
// on as the backstop for other formats). Pure function; thread-safe.

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace ovserve::engine {

struct ImageHeaderSize {
  std::string_view format;  // "png", "jpeg", "gif", "bmp", "webp" (static storage)
  int64_t width = 0;
  int64_t height = 0;
};

// The announced size, or nullopt when the bytes are none of these formats or
// the header is cut short (the decoder then reports what is wrong). The values
// are as announced: zero, or huge, are returned for the caller to refuse.
std::optional<ImageHeaderSize> ReadImageHeaderSize(std::span<const uint8_t> bytes);

}  // namespace ovserve::engine
