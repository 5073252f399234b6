// Hostile JPEGs made here with libjpeg: a scan flood (one scan repeated thousands of
// times, each re-decoding the picture), a bogus progression, and a legal file with more
// scans than the cap. Each is refused with the limit named, during the decode.

#include <cstdint>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "engine/multimodal/media_decoder.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/engine/multimodal/jpeg_for_tests.h"

namespace ovserve::engine {
namespace {

using ::testing::HasSubstr;

constexpr int kSide = 64;

std::vector<uint8_t> EncodeGray(const std::vector<jpeg_scan_info>& scans) {
  return ovserve::testing::EncodeGrayJpeg(kSide, kSide, scans);
}

jpeg_scan_info Scan(int ss, int se, int ah, int al) {
  jpeg_scan_info scan{};
  scan.comps_in_scan = 1;
  scan.component_index[0] = 0;
  scan.Ss = ss;
  scan.Se = se;
  scan.Ah = ah;
  scan.Al = al;
  return scan;
}

// A legal progression of 316 scans: DC, then each AC coefficient alone, its top bits
// first (Al 4) and one bit per refinement after.
std::vector<jpeg_scan_info> ManyScans() {
  std::vector<jpeg_scan_info> scans = {Scan(0, 0, 0, 0)};
  for (int k = 1; k < 64; ++k) {
    scans.push_back(Scan(k, k, 0, 4));
    for (int al = 3; al >= 0; --al) scans.push_back(Scan(k, k, al + 1, al));
  }
  return scans;
}

// [begin, end) of each scan (its SOS segment and entropy-coded data) in a JPEG.
std::vector<std::pair<size_t, size_t>> ScanRanges(const std::vector<uint8_t>& jpeg) {
  std::vector<std::pair<size_t, size_t>> ranges;
  size_t at = 2;  // after SOI
  while (at + 4 <= jpeg.size() && jpeg[at] == 0xFF) {
    const uint8_t marker = jpeg[at + 1];
    if (marker == 0xD9) break;  // EOI
    const size_t length = (static_cast<size_t>(jpeg[at + 2]) << 8) | jpeg[at + 3];
    size_t next = at + 2 + length;
    if (marker == 0xDA) {  // SOS: entropy-coded data runs to the next real marker
      while (next + 1 < jpeg.size() &&
             !(jpeg[next] == 0xFF && jpeg[next + 1] != 0x00 && (jpeg[next + 1] & 0xF8) != 0xD0)) {
        ++next;
      }
      ranges.emplace_back(at, next);
    }
    at = next;
  }
  return ranges;
}

// `jpeg` with scan `index` repeated `times` more times right after itself.
std::vector<uint8_t> RepeatScan(const std::vector<uint8_t>& jpeg, size_t index, int times) {
  const auto [begin, end] = ScanRanges(jpeg).at(index);
  std::vector<uint8_t> out(jpeg.begin(), jpeg.begin() + end);
  for (int i = 0; i < times; ++i) out.insert(out.end(), jpeg.begin() + begin, jpeg.begin() + end);
  out.insert(out.end(), jpeg.begin() + end, jpeg.end());
  return out;
}

TEST(JpegLimitsTest, MoreScansThanTheCapAreRefusedAndUnderItDecodeExactly) {
  const std::vector<uint8_t> progressive = EncodeGray(ManyScans());
  ASSERT_EQ(ScanRanges(progressive).size(), 316u);

  const absl::StatusOr<RgbImage> refused = DecodeImage(progressive);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.status().message(), HasSubstr("over the limit of 256 (max_jpeg_scans)"));

  // Under a higher cap the same file decodes, to exactly the baseline encoding's pixels
  // (both carry the same quantized coefficients).
  MediaLimits generous;
  generous.max_jpeg_scans = 400;
  const absl::StatusOr<RgbImage> decoded = DecodeImage(progressive, generous);
  const absl::StatusOr<RgbImage> baseline = DecodeImage(EncodeGray({}));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  ASSERT_TRUE(baseline.ok()) << baseline.status();
  ASSERT_EQ(decoded->width, kSide);
  ASSERT_EQ(decoded->height, kSide);
  EXPECT_EQ(decoded->pixels, baseline->pixels);
}

TEST(JpegLimitsTest, ASilentlyRepeatedScanFloodStopsAtTheCap) {
  // The DC scan (Al 0) repeated 20,000 times: libjpeg finds nothing wrong with it, and
  // every copy re-decodes the picture. 700 KB of this decoded for minutes before.
  const std::vector<uint8_t> flood = RepeatScan(EncodeGray(ManyScans()), 0, 20000);
  const absl::StatusOr<RgbImage> refused = DecodeImage(flood);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.status().message(), HasSubstr("max_jpeg_scans"));
}

TEST(JpegLimitsTest, ABogusProgressionIsRefusedAsCorrupt) {
  // An AC first scan (Al 4) sent twice: the second claims bits already sent, which
  // libjpeg only warns about; a public server refuses it.
  const std::vector<uint8_t> bogus = RepeatScan(EncodeGray(ManyScans()), 1, 1);
  const absl::StatusOr<RgbImage> refused = DecodeImage(bogus);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.status().message(), HasSubstr("corrupt JPEG"));
  EXPECT_TRUE(DecodeImage(EncodeGray(ManyScans()), MediaLimits{.max_jpeg_scans = 400}).ok());
}

TEST(JpegLimitsTest, TheDeadlineIsCheckedWhileLibjpegDecodes) {
  MediaLimits limits;
  limits.max_jpeg_scans = 400;
  limits.max_decode_seconds = 1e-9;
  const absl::StatusOr<RgbImage> late = DecodeImage(EncodeGray(ManyScans()), limits);
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(late.status().message(), HasSubstr("max_decode_seconds"));
}

}  // namespace
}  // namespace ovserve::engine
