#include "engine/multimodal/pil_resize.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace ovserve::engine {
namespace {

// Pillow: PRECISION_BITS = 32 - 8 - 2, room for 8-bit values times weights
// whose positive parts sum a little above 1, in an int32 accumulator.
constexpr int kPillowPrecisionBits = 32 - 8 - 2;
// torch: weights are int16; the precision search stops below 22 bits.
constexpr int kTorchMaxPrecisionBits = 22;
// Larger sizes would overflow the int32 tap indices; no real input comes close.
constexpr int64_t kMaxSide = int64_t{1} << 24;

// Pillow's bicubic_filter (a = -0.5), with its own evaluation order: the
// order changes the last bits of the weights, which can move a rounding.
double PillowBicubic(double x) {
  constexpr double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

// torch's HelperInterpCubic::aa_filter: cubic_convolution1/2 with A = -0.5.
double TorchBicubic(double x) {
  constexpr double A = -0.5;
  x = std::abs(x);
  if (x < 1.0) return ((A + 2) * x - (A + 3)) * x * x + 1;
  if (x < 2.0) return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
  return 0.0;
}

// Both libraries round the scaled weight half away from zero by truncation.
int32_t ToFixed(double weight, int bits) {
  const double v = weight * static_cast<double>(int64_t{1} << bits);
  return static_cast<int32_t>(v < 0 ? -0.5 + v : 0.5 + v);
}

// Pillow's clip8 (and torch's shift + saturating packs): floor(acc / 2^bits) clamped to a byte.
inline uint8_t Clip8(int32_t acc, int bits) {
  const int32_t v = acc >> bits;  // arithmetic shift: floor, negative stays negative
  return static_cast<uint8_t>(v < 0 ? 0 : (v > 255 ? 255 : v));
}

// Horizontal pass over input rows [row_begin, row_end): one output row each.
void ResampleHorizontal(const RgbImage& in, int64_t row_begin, int64_t row_end, const AxisTaps& taps,
                        RgbImage& out) {
  const int bits = taps.precision_bits;
  const int32_t half = int32_t{1} << (bits - 1);
  for (int64_t y = row_begin; y < row_end; ++y) {
    const uint8_t* src = in.Row(y);
    uint8_t* dst = out.Row(y - row_begin);
    for (int64_t x = 0; x < taps.out_size; ++x) {
      const int32_t* k = taps.weights.data() + x * taps.ksize;
      const uint8_t* s = src + static_cast<int64_t>(taps.first[x]) * 3;
      int32_t r = half, g = half, b = half;
      for (int32_t j = 0; j < taps.count[x]; ++j) {
        r += s[3 * j + 0] * k[j];
        g += s[3 * j + 1] * k[j];
        b += s[3 * j + 2] * k[j];
      }
      dst[3 * x + 0] = Clip8(r, bits);
      dst[3 * x + 1] = Clip8(g, bits);
      dst[3 * x + 2] = Clip8(b, bits);
    }
  }
}

// Vertical pass; `in` holds input rows starting at `row_offset`. Whole rows are
// accumulated at once so the inner loop runs over contiguous bytes.
void ResampleVertical(const RgbImage& in, int64_t row_offset, const AxisTaps& taps, RgbImage& out) {
  const int bits = taps.precision_bits;
  const int32_t half = int32_t{1} << (bits - 1);
  const int64_t row_len = in.width * 3;
  std::vector<int32_t> acc(static_cast<size_t>(row_len));
  for (int64_t y = 0; y < taps.out_size; ++y) {
    std::fill(acc.begin(), acc.end(), half);
    const int32_t* k = taps.weights.data() + y * taps.ksize;
    for (int32_t j = 0; j < taps.count[y]; ++j) {
      const uint8_t* s = in.Row(taps.first[y] + j - row_offset);
      const int32_t w = k[j];
      int32_t* a = acc.data();
      for (int64_t i = 0; i < row_len; ++i) a[i] += s[i] * w;
    }
    uint8_t* dst = out.Row(y);
    for (int64_t i = 0; i < row_len; ++i) dst[i] = Clip8(acc[i], bits);
  }
}

}  // namespace

AxisTaps ComputeBicubicTaps(int64_t in_size, int64_t out_size, BicubicFlavor flavor) {
  AxisTaps taps;
  taps.in_size = in_size;
  taps.out_size = out_size;
  const double scale = static_cast<double>(in_size) / static_cast<double>(out_size);
  // Downscaling widens the filter by the scale factor: that is the antialiasing.
  const double filterscale = std::max(scale, 1.0);
  const double support = 2.0 * filterscale;
  const double inv_filterscale = 1.0 / filterscale;
  taps.ksize = static_cast<int64_t>(std::ceil(support)) * 2 + 1;
  double (*filter)(double) = flavor == BicubicFlavor::kPillow ? PillowBicubic : TorchBicubic;

  std::vector<double> weights(static_cast<size_t>(out_size * taps.ksize), 0.0);
  taps.first.resize(static_cast<size_t>(out_size));
  taps.count.resize(static_cast<size_t>(out_size));
  double max_weight = 0.0;
  for (int64_t i = 0; i < out_size; ++i) {
    const double center = (static_cast<double>(i) + 0.5) * scale;
    // Truncation toward zero, then clamping, exactly as both C sources round.
    const int64_t xmin = std::max<int64_t>(static_cast<int64_t>(center - support + 0.5), 0);
    const int64_t xmax = std::min<int64_t>(static_cast<int64_t>(center + support + 0.5), in_size);
    const int64_t count = std::clamp<int64_t>(xmax - xmin, 0, taps.ksize);
    double* w = weights.data() + i * taps.ksize;
    double total = 0.0;
    for (int64_t j = 0; j < count; ++j) {
      w[j] = filter((static_cast<double>(j + xmin) - center + 0.5) * inv_filterscale);
      total += w[j];
    }
    if (total != 0.0) {
      for (int64_t j = 0; j < count; ++j) {
        w[j] /= total;
        max_weight = std::max(max_weight, w[j]);
      }
    }
    taps.first[i] = static_cast<int32_t>(xmin);
    taps.count[i] = static_cast<int32_t>(count);
  }

  if (flavor == BicubicFlavor::kPillow) {
    taps.precision_bits = kPillowPrecisionBits;
  } else {
    // torch's _compute_index_ranges_int16_weights: the most fractional bits for
    // which the largest weight, doubled, still rounds below 2^15.
    int bits = 0;
    for (; bits < kTorchMaxPrecisionBits; ++bits) {
      const int next = static_cast<int>(0.5 + max_weight * static_cast<double>(int64_t{1} << (bits + 1)));
      if (next >= (1 << 15)) break;
    }
    taps.precision_bits = bits;
  }
  taps.weights.resize(weights.size());
  for (size_t i = 0; i < weights.size(); ++i) taps.weights[i] = ToFixed(weights[i], taps.precision_bits);
  return taps;
}

absl::StatusOr<RgbImage> ResizeBicubic(const RgbImage& image, int64_t width, int64_t height,
                                       BicubicFlavor flavor) {
  if (image.width <= 0 || image.height <= 0 || image.width > kMaxSide || image.height > kMaxSide ||
      image.pixels.size() != static_cast<size_t>(image.width * image.height * 3)) {
    return absl::InvalidArgumentError(absl::StrCat("resize: invalid ", image.width, "x", image.height,
                                                   " RGB image with ", image.pixels.size(), " bytes"));
  }
  if (width <= 0 || height <= 0 || width > kMaxSide || height > kMaxSide) {
    return absl::InvalidArgumentError(absl::StrCat("resize: invalid target size ", width, "x", height));
  }
  const bool need_horizontal = width != image.width;
  const bool need_vertical = height != image.height;
  if (!need_horizontal && !need_vertical) return image;

  if (!need_vertical) {
    RgbImage out(width, height);
    ResampleHorizontal(image, 0, image.height, ComputeBicubicTaps(image.width, width, flavor), out);
    return out;
  }
  const AxisTaps vertical = ComputeBicubicTaps(image.height, height, flavor);
  if (!need_horizontal) {
    RgbImage out(width, height);
    ResampleVertical(image, 0, vertical, out);
    return out;
  }
  // Only the input rows the vertical pass reads go through the horizontal pass
  // (Pillow's ybox); the result is the same, the work smaller.
  int64_t row_begin = image.height, row_end = 0;
  for (int64_t y = 0; y < height; ++y) {
    if (vertical.count[y] == 0) continue;
    row_begin = std::min<int64_t>(row_begin, vertical.first[y]);
    row_end = std::max<int64_t>(row_end, vertical.first[y] + vertical.count[y]);
  }
  if (row_end <= row_begin) row_begin = row_end = 0;
  RgbImage temp(width, row_end - row_begin);
  ResampleHorizontal(image, row_begin, row_end, ComputeBicubicTaps(image.width, width, flavor), temp);
  RgbImage out(width, height);
  ResampleVertical(temp, row_begin, vertical, out);
  return out;
}

}  // namespace ovserve::engine
