#pragma once
// The EXIF Orientation tag of a JPEG's APP1 segment: client bytes, parsed
// with every offset checked against the segment's length.

#include <cstdint>
#include <span>

namespace ovserve::engine {

// The Orientation tag (0x0112) of an APP1 "Exif" payload (the bytes after the
// marker's length field): 1..8, or 1 (as stored) when absent or malformed.
int ExifOrientation(std::span<const uint8_t> app1);

}  // namespace ovserve::engine
