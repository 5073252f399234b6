#include "engine/multimodal/frame_converter.h"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/util/status_macros.h"

extern "C" {
#include <libavutil/pixdesc.h>
}

namespace ovserve::engine {
namespace {

// libjpeg-turbo's YCbCr -> RGB tables (jdcolor.c build_ycc_rgb_table): 16-bit
// fixed point, rounding folded into the tables, arithmetic right shifts.
struct JpegColorTables {
  std::array<int, 256> cr_r, cb_b;
  std::array<int32_t, 256> cr_g, cb_g;
};

const JpegColorTables& JpegTables() {
  static const JpegColorTables tables = [] {
    constexpr int kScaleBits = 16;
    constexpr int32_t kHalf = int32_t{1} << (kScaleBits - 1);
    auto fix = [](double x) { return static_cast<int32_t>(x * (1 << kScaleBits) + 0.5); };
    JpegColorTables t;
    for (int i = 0; i < 256; ++i) {
      const int32_t x = i - 128;
      t.cr_r[i] = (fix(1.40200) * x + kHalf) >> kScaleBits;
      t.cb_b[i] = (fix(1.77200) * x + kHalf) >> kScaleBits;
      t.cr_g[i] = -fix(0.71414) * x;
      t.cb_g[i] = -fix(0.34414) * x + kHalf;
    }
    return t;
  }();
  return tables;
}

uint8_t Clamp8(int v) { return static_cast<uint8_t>(std::clamp(v, 0, 255)); }

// One output row of a chroma plane upsampled as libjpeg-turbo's "fancy"
// upsamplers do (jdsample.c: h2v1, h1v2, h2v2; a triangle filter with
// libjpeg's rounding biases and edge rules). `near` is the chroma row closest
// to the output row, `far` the next closest (the same row at the image edges);
// `lower` says the output row is the lower one of its pair. Writes 2*cw (or
// cw when not subsampled horizontally) values to `out`.
void FancyUpsampleRow(const uint8_t* near, const uint8_t* far, int cw, bool sub_h, bool sub_v,
                      bool lower, int* out) {
  if (!sub_h) {
    for (int i = 0; i < cw; ++i) {
      out[i] = sub_v ? (3 * near[i] + far[i] + (lower ? 2 : 1)) >> 2 : near[i];
    }
    return;
  }
  if (!sub_v) {  // h2v1
    auto c = [&](int i) { return int{near[std::clamp(i, 0, cw - 1)]}; };
    for (int i = 0; i < cw; ++i) {
      out[2 * i] = i == 0 ? c(0) : (3 * c(i) + c(i - 1) + 1) >> 2;
      out[2 * i + 1] = i == cw - 1 ? c(i) : (3 * c(i) + c(i + 1) + 2) >> 2;
    }
    return;
  }
  // h2v2: column sums 3*near + far, then the horizontal triangle in 1/16ths.
  auto sum = [&](int i) {
    i = std::clamp(i, 0, cw - 1);
    return 3 * near[i] + far[i];
  };
  for (int i = 0; i < cw; ++i) {
    const int s = sum(i);
    out[2 * i] = i == 0 ? (4 * s + 8) >> 4 : (3 * s + sum(i - 1) + 8) >> 4;
    out[2 * i + 1] = i == cw - 1 ? (4 * s + 7) >> 4 : (3 * s + sum(i + 1) + 7) >> 4;
  }
}

// Full-range 8-bit planar YCbCr as libjpeg-turbo decodes it (what Pillow does
// for JPEG). Chroma planes are ceil(W / 2^log2_w) x ceil(H / 2^log2_h).
void JpegYcbcrToRgb(const AVFrame& frame, bool sub_h, bool sub_v, std::vector<int>& rows,
                    RgbImage& out) {
  const int w = frame.width, h = frame.height;
  const int cw = sub_h ? (w + 1) / 2 : w;
  const int ch = sub_v ? (h + 1) / 2 : h;
  rows.resize(2 * static_cast<size_t>(2 * cw));
  int* cb_row = rows.data();
  int* cr_row = rows.data() + 2 * cw;
  const JpegColorTables& t = JpegTables();
  for (int y = 0; y < h; ++y) {
    const int near = sub_v ? y / 2 : y;
    const bool lower = sub_v && (y & 1);
    const int far = sub_v ? std::clamp(lower ? near + 1 : near - 1, 0, ch - 1) : near;
    const uint8_t* luma = frame.data[0] + static_cast<ptrdiff_t>(y) * frame.linesize[0];
    auto plane_row = [&](int plane, int row) {
      return frame.data[plane] + static_cast<ptrdiff_t>(row) * frame.linesize[plane];
    };
    FancyUpsampleRow(plane_row(1, near), plane_row(1, far), cw, sub_h, sub_v, lower, cb_row);
    FancyUpsampleRow(plane_row(2, near), plane_row(2, far), cw, sub_h, sub_v, lower, cr_row);
    uint8_t* dst = out.Row(y);
    for (int x = 0; x < w; ++x) {
      const int yy = luma[x], cb = cb_row[x], cr = cr_row[x];
      dst[3 * x + 0] = Clamp8(yy + t.cr_r[cr]);
      dst[3 * x + 1] = Clamp8(yy + ((t.cb_g[cb] + t.cr_g[cr]) >> 16));
      dst[3 * x + 2] = Clamp8(yy + t.cb_b[cb]);
    }
  }
}

// libwebp's YUV -> RGB (dsp/yuv.h): BT.601 limited range, 14-bit constants,
// results in 1/64ths clipped to 8 bits.
int WebpMultHi(int v, int coeff) { return (v * coeff) >> 8; }
uint8_t WebpClip8(int v) {
  return static_cast<uint8_t>((v & ~16383) == 0 ? v >> 6 : (v < 0 ? 0 : 255));
}

// One row of a chroma plane upsampled as libwebp's UpsampleRgbLinePair does
// (dsp/upsampling.c, with each channel computed apart): `top` and `cur` are
// the chroma rows above and below the pair of output rows, `upper` says which
// row of the pair this is.
void WebpUpsampleRow(const uint8_t* top, const uint8_t* cur, bool upper, int w, int* out) {
  int tl = top[0], l = cur[0];
  out[0] = upper ? (3 * tl + l + 2) >> 2 : (3 * l + tl + 2) >> 2;
  for (int x = 1; x <= (w - 1) / 2; ++x) {
    const int t = top[x], c = cur[x];
    const int avg = tl + t + l + c + 8;
    const int diag_12 = (avg + 2 * (t + l)) >> 3;
    const int diag_03 = (avg + 2 * (tl + c)) >> 3;
    out[2 * x - 1] = upper ? (diag_12 + tl) >> 1 : (diag_03 + l) >> 1;
    out[2 * x] = upper ? (diag_03 + t) >> 1 : (diag_12 + c) >> 1;
    tl = t;
    l = c;
  }
  if (w % 2 == 0) out[w - 1] = upper ? (3 * tl + l + 2) >> 2 : (3 * l + tl + 2) >> 2;
}

// Lossy WebP (4:2:0) as libwebp decodes it with its default fancy upsampling
// (what Pillow uses). Rows pair up as in io_dec.c EmitFancyRGB: row 0 alone,
// then (1, 2), (3, 4), ... between chroma rows k-1 and k; the last row of an
// even height alone again.
void WebpYuvToRgb(const AVFrame& frame, std::vector<int>& rows, RgbImage& out) {
  const int w = frame.width, h = frame.height;
  const int ch = (h + 1) / 2;
  rows.resize(2 * static_cast<size_t>(w));
  int* u_row = rows.data();
  int* v_row = rows.data() + w;
  for (int y = 0; y < h; ++y) {
    int top = 0, cur = 0;
    bool upper = true;
    if (y > 0) {
      const int k = (y + 1) / 2;
      top = k - 1;
      cur = k < ch ? k : k - 1;
      upper = (y % 2) == 1;
    }
    auto plane_row = [&](int plane, int row) {
      return frame.data[plane] + static_cast<ptrdiff_t>(row) * frame.linesize[plane];
    };
    WebpUpsampleRow(plane_row(1, top), plane_row(1, cur), upper, w, u_row);
    WebpUpsampleRow(plane_row(2, top), plane_row(2, cur), upper, w, v_row);
    const uint8_t* luma = plane_row(0, y);
    uint8_t* dst = out.Row(y);
    for (int x = 0; x < w; ++x) {
      const int yy = WebpMultHi(luma[x], 19077), u = u_row[x], v = v_row[x];
      dst[3 * x + 0] = WebpClip8(yy + WebpMultHi(v, 26149) - 14234);
      dst[3 * x + 1] = WebpClip8(yy - WebpMultHi(u, 6419) - WebpMultHi(v, 13320) + 8708);
      dst[3 * x + 2] = WebpClip8(yy + WebpMultHi(u, 33050) - 17685);
    }
  }
}

// 16-bit packed gray / gray+alpha / RGB(A) as Pillow reads them: RGB and
// gray+alpha keep the high byte ("RGB;16B", "LA;16B" raw modes); plain 16-bit
// gray opens as I;16 and convert("RGB") clips it to 255. Returns false for
// other formats.
bool Pillow16BitToRgb(const AVFrame& frame, const AVPixFmtDescriptor& desc, RgbImage& out) {
  if (desc.flags & (AV_PIX_FMT_FLAG_PLANAR | AV_PIX_FMT_FLAG_PAL | AV_PIX_FMT_FLAG_BITSTREAM |
                    AV_PIX_FMT_FLAG_FLOAT)) {
    return false;
  }
  const bool rgb = desc.flags & AV_PIX_FMT_FLAG_RGB;
  // RGB(A), or gray with at most an alpha channel (not packed 16-bit YUV).
  if (rgb ? desc.nb_components < 3 : desc.nb_components > 2) return false;
  for (int c = 0; c < desc.nb_components; ++c) {
    if (desc.comp[c].depth != 16 || desc.comp[c].shift != 0) return false;
  }
  const bool big_endian = desc.flags & AV_PIX_FMT_FLAG_BE;
  const bool clip_gray = !rgb && desc.nb_components == 1;
  const int step = desc.comp[0].step;
  for (int y = 0; y < frame.height; ++y) {
    const uint8_t* src = frame.data[0] + static_cast<ptrdiff_t>(y) * frame.linesize[0];
    uint8_t* dst = out.Row(y);
    for (int x = 0; x < frame.width; ++x, src += step, dst += 3) {
      for (int c = 0; c < 3; ++c) {
        const uint8_t* s = src + desc.comp[rgb ? c : 0].offset;
        const int hi = big_endian ? s[0] : s[1];
        const int lo = big_endian ? s[1] : s[0];
        dst[c] = clip_gray ? static_cast<uint8_t>(hi ? 255 : lo) : static_cast<uint8_t>(hi);
      }
    }
  }
  return true;
}

// Plain 8-bit gray (+alpha): Pillow's L / LA -> RGB replicates the value
// (swscale would treat gray as limited-range luma in some paths).
bool Gray8ToRgb(const AVFrame& frame, RgbImage& out) {
  int step = 0;
  if (frame.format == AV_PIX_FMT_GRAY8) step = 1;
  if (frame.format == AV_PIX_FMT_YA8) step = 2;
  if (step == 0) return false;
  for (int y = 0; y < frame.height; ++y) {
    const uint8_t* src = frame.data[0] + static_cast<ptrdiff_t>(y) * frame.linesize[0];
    uint8_t* dst = out.Row(y);
    for (int x = 0; x < frame.width; ++x) {
      dst[3 * x] = dst[3 * x + 1] = dst[3 * x + 2] = src[step * x];
    }
  }
  return true;
}

// The EXIF orientation (1..8) FFmpeg's JPEG and WebP decoders export as frame
// metadata; 1 (as stored) when absent or unreadable.
int ExifOrientation(const AVFrame& frame) {
  const AVDictionaryEntry* entry = av_dict_get(frame.metadata, "Orientation", nullptr, 0);
  if (entry == nullptr) return 1;
  const long value = std::strtol(entry->value, nullptr, 10);  // the value is space-padded
  return value >= 1 && value <= 8 ? static_cast<int>(value) : 1;
}


// The non-deprecated format for a "J" (full-range) pixel format; swscale wants
// the range given separately.
AVPixelFormat WithoutJ(AVPixelFormat f, bool& full_range) {
  switch (f) {
    case AV_PIX_FMT_YUVJ420P:
      full_range = true;
      return AV_PIX_FMT_YUV420P;
    case AV_PIX_FMT_YUVJ422P:
      full_range = true;
      return AV_PIX_FMT_YUV422P;
    case AV_PIX_FMT_YUVJ444P:
      full_range = true;
      return AV_PIX_FMT_YUV444P;
    case AV_PIX_FMT_YUVJ440P:
      full_range = true;
      return AV_PIX_FMT_YUV440P;
    case AV_PIX_FMT_YUVJ411P:
      full_range = true;
      return AV_PIX_FMT_YUV411P;
    default:
      return f;
  }
}

}  // namespace

RgbImage ApplyExifOrientation(RgbImage in, int orientation) {
  if (orientation <= 1) return in;
  const int64_t w = in.width, h = in.height;
  // The source pixel of output pixel (x, y), as PIL's transposes map it.
  auto source = [&](int64_t x, int64_t y) -> std::pair<int64_t, int64_t> {
    switch (orientation) {
      case 2:  // FLIP_LEFT_RIGHT
        return {w - 1 - x, y};
      case 3:  // ROTATE_180
        return {w - 1 - x, h - 1 - y};
      case 4:  // FLIP_TOP_BOTTOM
        return {x, h - 1 - y};
      case 5:  // TRANSPOSE
        return {y, x};
      case 6:  // ROTATE_270 (90 degrees clockwise)
        return {y, h - 1 - x};
      case 7:  // TRANSVERSE
        return {w - 1 - y, h - 1 - x};
      default:  // 8: ROTATE_90 (90 degrees counter-clockwise)
        return {w - 1 - y, x};
    }
  };
  const bool swap = orientation >= 5;
  RgbImage out(swap ? h : w, swap ? w : h);
  for (int64_t y = 0; y < out.height; ++y) {
    for (int64_t x = 0; x < out.width; ++x) {
      const auto [sx, sy] = source(x, y);
      std::memcpy(out.Row(y) + 3 * x, in.Row(sy) + 3 * sx, 3);
    }
  }
  return out;
}

absl::StatusOr<RgbImage> FrameConverter::Convert(const AVFrame& frame, int64_t width,
                                                 int64_t height) {
  const auto* desc = av_pix_fmt_desc_get(static_cast<AVPixelFormat>(frame.format));
  if (desc == nullptr || frame.width <= 0 || frame.height <= 0 || width <= 0 || height <= 0) {
    return absl::InvalidArgumentError("decoder returned a picture without a valid size or format");
  }
  RgbImage out(width, height);
  const bool same_size = frame.width == width && frame.height == height;
  if (rules_ == RgbRules::kPillow && same_size) {
    ASSIGN_OR_RETURN(out, ConvertLikePillow(frame, *desc, std::move(out)));
    return ApplyExifOrientation(std::move(out), ExifOrientation(frame));
  }
  RETURN_IF_ERROR(ConvertWithSwscale(frame, out));
  return out;
}

absl::StatusOr<RgbImage> FrameConverter::ConvertLikePillow(const AVFrame& frame,
                                                           const AVPixFmtDescriptor& desc,
                                                           RgbImage out) {
  bool full_range = frame.color_range == AVCOL_RANGE_JPEG;
  const AVPixelFormat base = WithoutJ(static_cast<AVPixelFormat>(frame.format), full_range);
  const bool jpeg_ycbcr = codec_ == AV_CODEC_ID_MJPEG && full_range &&
                          (base == AV_PIX_FMT_YUV420P || base == AV_PIX_FMT_YUV422P ||
                           base == AV_PIX_FMT_YUV444P || base == AV_PIX_FMT_YUV440P);
  if (jpeg_ycbcr) {
    JpegYcbcrToRgb(frame, desc.log2_chroma_w == 1, desc.log2_chroma_h == 1, chroma_rows_, out);
    return out;
  }
  if (codec_ == AV_CODEC_ID_WEBP &&
      (frame.format == AV_PIX_FMT_YUV420P || frame.format == AV_PIX_FMT_YUVA420P)) {
    WebpYuvToRgb(frame, chroma_rows_, out);  // lossy WebP (VP8), alpha or not
    return out;
  }
  if (Gray8ToRgb(frame, out) || Pillow16BitToRgb(frame, desc, out)) return out;
  RETURN_IF_ERROR(ConvertWithSwscale(frame, out));
  return out;
}

absl::Status FrameConverter::ConvertWithSwscale(const AVFrame& frame, RgbImage& out) {
  bool full_range = frame.color_range == AVCOL_RANGE_JPEG;
  const AVPixelFormat format = WithoutJ(static_cast<AVPixelFormat>(frame.format), full_range);
  const SwsKey key{format,
                   frame.width,
                   frame.height,
                   static_cast<int>(out.width),
                   static_cast<int>(out.height),
                   full_range ? 1 : 0,
                   frame.colorspace};
  if (!sws_ || !(key == sws_key_)) {
    // Stills: accurate rounding and full chroma interpolation, the closest
    // swscale came to Pillow on subsampled YUV without a dedicated path above
    // (none of the supported image formats needs it today).
    // Video: exactly the ffmpeg CLI's default (bicubic), which reproduced the
    // reference frames bit for bit.
    const int flags = rules_ == RgbRules::kPillow
                          ? SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT
                          : SWS_BICUBIC;
    sws_.reset(sws_getContext(frame.width, frame.height, format, key.out_width, key.out_height,
                              AV_PIX_FMT_RGB24, flags, nullptr, nullptr, nullptr));
    if (!sws_) {
      return absl::InvalidArgumentError(absl::StrCat(
          "cannot convert pixel format ",
          av_get_pix_fmt_name(format) ? av_get_pix_fmt_name(format) : "unknown", " to RGB"));
    }
    // The scale filter's "auto" colour matrix: the frame's own, BT.601 when
    // unspecified (sws_getCoefficients maps unknown values to its default).
    // Fails harmlessly (keeps the defaults) for RGB or palette inputs.
    sws_setColorspaceDetails(sws_.get(), sws_getCoefficients(frame.colorspace), full_range ? 1 : 0,
                             sws_getCoefficients(SWS_CS_DEFAULT),
                             /*dstRange=*/1, /*brightness=*/0, /*contrast=*/1 << 16,
                             /*saturation=*/1 << 16);
    sws_key_ = key;
  }
  const int row_bytes = static_cast<int>(out.width) * 3;
  const int stride = (row_bytes + 63) / 64 * 64 + 64;
  scratch_.resize(static_cast<size_t>(stride) * static_cast<size_t>(out.height + 1));
  uint8_t* dst[4] = {scratch_.data(), nullptr, nullptr, nullptr};
  const int dst_stride[4] = {stride, 0, 0, 0};
  const int rows =
      sws_scale(sws_.get(), frame.data, frame.linesize, 0, frame.height, dst, dst_stride);
  if (rows != out.height) {
    return absl::InternalError(
        absl::StrCat("swscale produced ", rows, " rows, expected ", out.height));
  }
  for (int64_t y = 0; y < out.height; ++y) {
    std::memcpy(out.Row(y), scratch_.data() + y * stride, static_cast<size_t>(row_bytes));
  }
  return absl::OkStatus();
}

}  // namespace ovserve::engine
