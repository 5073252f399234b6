// ExifOrientation over APP1 payloads made here: both byte orders, the tag
// after others, and segments whose offsets point past their end.

#include "engine/multimodal/exif_orientation.h"

#include <cstdint>
#include <vector>

#include "gtest/gtest.h"

namespace ovserve::engine {
namespace {

// "Exif\0\0" + a TIFF header + one IFD of `tags` (tag, value) SHORT entries.
std::vector<uint8_t> Exif(bool little, const std::vector<std::pair<uint16_t, uint16_t>>& tags,
                          uint32_t ifd_offset = 8) {
  std::vector<uint8_t> out = {'E', 'x', 'i', 'f', 0, 0};
  auto u16 = [&](uint32_t v) {
    if (little) {
      out.push_back(v & 0xFF), out.push_back((v >> 8) & 0xFF);
    } else {
      out.push_back((v >> 8) & 0xFF), out.push_back(v & 0xFF);
    }
  };
  auto u32 = [&](uint32_t v) {
    if (little) {
      u16(v & 0xFFFF), u16(v >> 16);
    } else {
      u16(v >> 16), u16(v & 0xFFFF);
    }
  };
  out.push_back(little ? 'I' : 'M');
  out.push_back(little ? 'I' : 'M');
  u16(42);
  u32(ifd_offset);
  u16(static_cast<uint32_t>(tags.size()));
  for (const auto& [tag, value] : tags) {
    u16(tag), u16(3), u32(1), u16(value), u16(0);
  }
  return out;
}

TEST(ExifOrientationTest, ReadsTheTagInBothByteOrders) {
  EXPECT_EQ(ExifOrientation(Exif(true, {{0x0112, 6}})), 6);
  EXPECT_EQ(ExifOrientation(Exif(false, {{0x0112, 8}})), 8);
  EXPECT_EQ(ExifOrientation(Exif(true, {{0x010F, 5}, {0x0110, 7}, {0x0112, 3}})), 3);
}

TEST(ExifOrientationTest, MalformedOrAbsentIsAsStored) {
  EXPECT_EQ(ExifOrientation(Exif(true, {{0x010F, 6}})), 1);      // no orientation tag
  EXPECT_EQ(ExifOrientation(Exif(true, {{0x0112, 9}})), 1);      // out of range
  EXPECT_EQ(ExifOrientation(Exif(true, {{0x0112, 6}}, 0xFFFFFFF0u)), 1);  // IFD past the end
  std::vector<uint8_t> truncated = Exif(true, {{0x010F, 1}, {0x0112, 6}});
  truncated.resize(truncated.size() - 4);  // the second entry cut short
  EXPECT_EQ(ExifOrientation(truncated), 1);
  std::vector<uint8_t> not_exif = Exif(true, {{0x0112, 6}});
  not_exif[0] = 'X';
  EXPECT_EQ(ExifOrientation(not_exif), 1);
  EXPECT_EQ(ExifOrientation({}), 1);
}

}  // namespace
}  // namespace ovserve::engine
