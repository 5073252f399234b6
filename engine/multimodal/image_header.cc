#include "engine/multimodal/image_header.h"

#include <cstdlib>
#include <cstring>

namespace ovserve::engine {
namespace {

bool HasPrefix(std::span<const uint8_t> b, size_t at, const char* text) {
  const size_t n = std::strlen(text);
  return b.size() >= at + n && std::memcmp(b.data() + at, text, n) == 0;
}
uint32_t Be16(std::span<const uint8_t> b, size_t at) { return (b[at] << 8) | b[at + 1]; }
uint32_t Be32(std::span<const uint8_t> b, size_t at) {
  return (uint32_t{b[at]} << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3];
}
uint32_t Le16(std::span<const uint8_t> b, size_t at) { return b[at] | (b[at + 1] << 8); }
uint32_t Le24(std::span<const uint8_t> b, size_t at) { return Le16(b, at) | (b[at + 2] << 16); }
uint32_t Le32(std::span<const uint8_t> b, size_t at) {
  return Le24(b, at) | (uint32_t{b[at + 3]} << 24);
}

std::optional<ImageHeaderSize> Png(std::span<const uint8_t> b) {
  // Signature, then the first chunk must be IHDR: length, "IHDR", width, height.
  if (b.size() < 24 || !HasPrefix(b, 0, "\x89PNG\r\n\x1a\n") || !HasPrefix(b, 12, "IHDR")) {
    return std::nullopt;
  }
  return ImageHeaderSize{"png", Be32(b, 16), Be32(b, 20)};
}

std::optional<ImageHeaderSize> Gif(std::span<const uint8_t> b) {
  if (b.size() < 10 || !(HasPrefix(b, 0, "GIF87a") || HasPrefix(b, 0, "GIF89a"))) {
    return std::nullopt;
  }
  return ImageHeaderSize{"gif", Le16(b, 6), Le16(b, 8)};
}

std::optional<ImageHeaderSize> Bmp(std::span<const uint8_t> b) {
  if (b.size() < 26 || !HasPrefix(b, 0, "BM")) return std::nullopt;
  const uint32_t info_size = Le32(b, 14);
  if (info_size == 12) {  // OS/2 BITMAPCOREHEADER: 16-bit sizes
    return ImageHeaderSize{"bmp", Le16(b, 18), Le16(b, 20)};
  }
  // BITMAPINFOHEADER and later: signed 32-bit; a negative height is top-down.
  const auto width = static_cast<int32_t>(Le32(b, 18));
  const auto height = static_cast<int32_t>(Le32(b, 22));
  return ImageHeaderSize{"bmp", std::llabs(width), std::llabs(height)};
}

std::optional<ImageHeaderSize> Webp(std::span<const uint8_t> b) {
  if (b.size() < 30 || !HasPrefix(b, 0, "RIFF") || !HasPrefix(b, 8, "WEBP")) return std::nullopt;
  if (HasPrefix(b, 12, "VP8 ")) {
    // Key frame: 3-byte tag, start code 9d 01 2a, then 14-bit width / height.
    if (b[23] != 0x9d || b[24] != 0x01 || b[25] != 0x2a) return std::nullopt;
    return ImageHeaderSize{"webp", Le16(b, 26) & 0x3fff, Le16(b, 28) & 0x3fff};
  }
  if (HasPrefix(b, 12, "VP8L")) {
    // Signature 0x2f, then width-1 and height-1 as 14-bit little-endian fields.
    if (b[20] != 0x2f) return std::nullopt;
    const uint32_t bits = Le32(b, 21);
    return ImageHeaderSize{"webp", (bits & 0x3fff) + 1, ((bits >> 14) & 0x3fff) + 1};
  }
  if (HasPrefix(b, 12, "VP8X")) {  // extended: 24-bit canvas width-1, height-1
    return ImageHeaderSize{"webp", Le24(b, 24) + 1, Le24(b, 27) + 1};
  }
  return std::nullopt;
}

std::optional<ImageHeaderSize> Jpeg(std::span<const uint8_t> b) {
  if (b.size() < 4 || b[0] != 0xff || b[1] != 0xd8) return std::nullopt;
  size_t at = 2;
  while (at + 4 <= b.size()) {
    if (b[at] != 0xff) return std::nullopt;
    const uint8_t marker = b[at + 1];
    if (marker == 0xff) {  // fill byte
      ++at;
      continue;
    }
    if (marker == 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {  // no length field
      at += 2;
      continue;
    }
    if (marker == 0xd9 || marker == 0xda) return std::nullopt;  // EOI / scan before a frame
    const uint32_t length = Be16(b, at + 2);
    // SOF0..SOF15 except DHT (c4), JPG (c8) and DAC (cc): length, precision, height, width.
    const bool sof =
        marker >= 0xc0 && marker <= 0xcf && marker != 0xc4 && marker != 0xc8 && marker != 0xcc;
    if (sof) {
      if (at + 9 > b.size()) return std::nullopt;
      return ImageHeaderSize{"jpeg", Be16(b, at + 7), Be16(b, at + 5)};
    }
    if (length < 2) return std::nullopt;
    at += 2 + length;
  }
  return std::nullopt;
}

}  // namespace

std::optional<ImageHeaderSize> ReadImageHeaderSize(std::span<const uint8_t> bytes) {
  for (auto* reader : {&Png, &Jpeg, &Gif, &Bmp, &Webp}) {
    if (auto size = reader(bytes)) return size;
  }
  return std::nullopt;
}

}  // namespace ovserve::engine
