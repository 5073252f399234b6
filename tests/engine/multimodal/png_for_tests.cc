#include "tests/engine/multimodal/png_for_tests.h"

#include <zlib.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

namespace ovserve::testing {
namespace {

uint32_t BigEndian32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

uint8_t Paeth(int a, int b, int c) {
  const int p = a + b - c;
  const int pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
  if (pa <= pb && pa <= pc) return static_cast<uint8_t>(a);
  if (pb <= pc) return static_cast<uint8_t>(b);
  return static_cast<uint8_t>(c);
}

}  // namespace

absl::StatusOr<engine::RgbImage> ReadRgbPngForTests(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path.string()));
  const std::vector<uint8_t> file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  static constexpr uint8_t kSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (file.size() < 8 || std::memcmp(file.data(), kSignature, 8) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(path.string(), ": not a PNG"));
  }
  int64_t width = 0, height = 0;
  std::vector<uint8_t> compressed;
  size_t pos = 8;
  while (pos + 12 <= file.size()) {
    const uint32_t length = BigEndian32(&file[pos]);
    const std::string type(reinterpret_cast<const char*>(&file[pos + 4]), 4);
    if (pos + 12 + length > file.size()) break;
    const uint8_t* data = &file[pos + 8];
    if (type == "IHDR") {
      width = BigEndian32(data);
      height = BigEndian32(data + 4);
      const int bit_depth = data[8], color_type = data[9], interlace = data[12];
      if (bit_depth != 8 || color_type != 2 || interlace != 0) {
        return absl::UnimplementedError(absl::StrCat(path.string(), ": only 8-bit RGB non-interlaced PNG"));
      }
    } else if (type == "IDAT") {
      compressed.insert(compressed.end(), data, data + length);
    } else if (type == "IEND") {
      break;
    }
    pos += 12 + length;
  }
  if (width <= 0 || height <= 0) return absl::InvalidArgumentError(absl::StrCat(path.string(), ": no IHDR"));

  const int64_t stride = width * 3;
  std::vector<uint8_t> raw(static_cast<size_t>(height * (stride + 1)));
  uLongf raw_size = static_cast<uLongf>(raw.size());
  if (uncompress(raw.data(), &raw_size, compressed.data(), static_cast<uLong>(compressed.size())) != Z_OK ||
      raw_size != raw.size()) {
    return absl::DataLossError(absl::StrCat(path.string(), ": bad image data"));
  }
  engine::RgbImage image(width, height);
  std::vector<uint8_t> zero_row(static_cast<size_t>(stride), 0);
  for (int64_t y = 0; y < height; ++y) {
    const uint8_t filter = raw[static_cast<size_t>(y * (stride + 1))];
    const uint8_t* src = &raw[static_cast<size_t>(y * (stride + 1) + 1)];
    uint8_t* dst = image.Row(y);
    const uint8_t* up = y > 0 ? image.Row(y - 1) : zero_row.data();
    for (int64_t i = 0; i < stride; ++i) {
      const int a = i >= 3 ? dst[i - 3] : 0;
      const int b = up[i];
      const int c = i >= 3 ? up[i - 3] : 0;
      int predictor = 0;
      switch (filter) {
        case 0: predictor = 0; break;
        case 1: predictor = a; break;
        case 2: predictor = b; break;
        case 3: predictor = (a + b) / 2; break;
        case 4: predictor = Paeth(a, b, c); break;
        default: return absl::DataLossError(absl::StrCat(path.string(), ": bad filter ", int{filter}));
      }
      dst[i] = static_cast<uint8_t>(src[i] + predictor);
    }
  }
  return image;
}

}  // namespace ovserve::testing
