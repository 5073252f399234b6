#include "engine/multimodal/jpeg_decoder.h"

#include <csetjmp>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/multimodal/exif_orientation.h"
#include "engine/multimodal/frame_converter.h"

extern "C" {
#include <jpeglib.h>
#include <jerror.h>
}

namespace ovserve::engine {
namespace {

// libjpeg reports fatal errors through error_exit, which must not return:
// jump back to DecodeJpegLikePillow with the message.
struct ErrorManager {
  jpeg_error_mgr base;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
  absl::StatusCode code;  // of the refusal that jumped
};

// Leaves the decode with a message formatted as printf does; libjpeg's state is freed by
// the caller's jpeg_destroy_decompress. The callbacks below run inside libjpeg's C frames,
// which longjmp skips: they hold nothing with a destructor (no std::string).
[[noreturn]] void Refuse(j_common_ptr cinfo, absl::StatusCode code, const char* format, ...) {
  auto* err = reinterpret_cast<ErrorManager*>(cinfo->err);
  va_list args;
  va_start(args, format);
  std::vsnprintf(err->message, sizeof(err->message), format, args);
  va_end(args);
  err->code = code;
  std::longjmp(err->jump, 1);
}

void OnError(j_common_ptr cinfo) {
  char text[JMSG_LENGTH_MAX];
  (*cinfo->err->format_message)(cinfo, text);
  Refuse(cinfo, absl::StatusCode::kInvalidArgument, "corrupt JPEG: %s", text);
}

void OnMessage(j_common_ptr cinfo, int level) {
  if (level != -1) return;  // trace messages
  // Warnings mean damaged data that libjpeg would conceal; a public server refuses it
  // (a bogus progression is also how scan floods are built). Stray bytes between
  // markers are the exception: many cameras write them and the picture is intact.
  if (cinfo->err->msg_code == JWRN_EXTRANEOUS_DATA) return;
  if (cinfo->err->msg_code == JWRN_JPEG_EOF) {
    Refuse(cinfo, absl::StatusCode::kInvalidArgument, "JPEG data is truncated");
  }
  char text[JMSG_LENGTH_MAX];
  (*cinfo->err->format_message)(cinfo, text);
  Refuse(cinfo, absl::StatusCode::kInvalidArgument, "corrupt JPEG: %s", text);
}

// Called by libjpeg between chunks of work: the scan cap and the deadline.
struct ProgressMonitor {
  jpeg_progress_mgr base;
  const JpegLimits* limits;
};

void OnProgress(j_common_ptr cinfo) {
  const auto* progress = reinterpret_cast<const ProgressMonitor*>(cinfo->progress);
  const JpegLimits& limits = *progress->limits;
  const auto* dinfo = reinterpret_cast<j_decompress_ptr>(cinfo);
  if (dinfo->input_scan_number > limits.max_scans) {
    Refuse(cinfo, absl::StatusCode::kInvalidArgument,
           "JPEG has more than %d scans, over the limit of %d (max_jpeg_scans)",
           dinfo->input_scan_number - 1, limits.max_scans);
  }
  if (limits.budget != nullptr && limits.budget->Exhausted()) {
    // longjmp skips destructors: the status is gone before Refuse jumps.
    char message[256];
    absl::StatusCode code;
    {
      const absl::Status status = limits.budget->Check("decoding the image");
      code = status.code();
      std::snprintf(message, sizeof(message), "%.*s", static_cast<int>(status.message().size()),
                    status.message().data());
    }
    Refuse(cinfo, code, "%s", message);
  }
}

int SavedExifOrientation(const jpeg_decompress_struct& cinfo) {
  for (jpeg_saved_marker_ptr m = cinfo.marker_list; m != nullptr; m = m->next) {
    if (m->marker == JPEG_APP0 + 1) {
      const int orientation = ExifOrientation(std::span<const uint8_t>(m->data, m->data_length));
      if (orientation != 1) return orientation;
    }
  }
  return 1;
}

}  // namespace

bool LooksLikeJpeg(std::span<const uint8_t> bytes) {
  return bytes.size() >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF;
}

namespace {

// The libjpeg calls, in a frame that holds no state of its own: libjpeg's
// errors longjmp back here, and everything it touches lives in the caller.
// Returns false with `status` set when the image is refused or corrupt.
bool Decompress(jpeg_decompress_struct& cinfo, ErrorManager& err, ProgressMonitor& progress,
                std::span<const uint8_t> bytes, int64_t max_pixels, RgbImage& image,
                absl::Status& status) {
  if (setjmp(err.jump) != 0) {
    status = absl::Status(err.code, err.message);
    return false;
  }
  jpeg_create_decompress(&cinfo);
  cinfo.progress = &progress.base;
  jpeg_mem_src(&cinfo, bytes.data(), static_cast<unsigned long>(bytes.size()));
  jpeg_save_markers(&cinfo, JPEG_APP0 + 1, 0xFFFF);  // EXIF, for the orientation
  jpeg_read_header(&cinfo, TRUE);
  // Saved markers live until jpeg_finish_decompress: read the orientation now.
  const int orientation = SavedExifOrientation(cinfo);
  if (cinfo.image_width == 0 || cinfo.image_height == 0) {
    status = absl::InvalidArgumentError("JPEG has a zero width or height");
    return false;
  }
  if (static_cast<int64_t>(cinfo.image_width) * cinfo.image_height > max_pixels) {
    status = absl::InvalidArgumentError(
        absl::StrCat("image is ", cinfo.image_width, "x", cinfo.image_height, " = ",
                     static_cast<int64_t>(cinfo.image_width) * cinfo.image_height,
                     " pixels, over the limit of ", max_pixels));
    return false;
  }
  switch (cinfo.jpeg_color_space) {
    case JCS_YCbCr:
    case JCS_RGB:
    case JCS_GRAYSCALE:
      // Grayscale -> RGB replicates the channel, as Pillow's convert("RGB") from "L".
      cinfo.out_color_space = JCS_RGB;
      break;
    default:
      status = absl::UnimplementedError("JPEG colour space is not YCbCr, RGB or grayscale");
      return false;
  }
  // Pillow keeps libjpeg's defaults: JDCT_ISLOW and fancy upsampling.
  cinfo.dct_method = JDCT_ISLOW;
  cinfo.do_fancy_upsampling = TRUE;
  jpeg_start_decompress(&cinfo);
  image = RgbImage(cinfo.output_width, cinfo.output_height);
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = image.Row(cinfo.output_scanline);
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_decompress(&cinfo);
  image = ApplyExifOrientation(std::move(image), orientation);
  return true;
}

}  // namespace

absl::StatusOr<RgbImage> DecodeJpegLikePillow(std::span<const uint8_t> bytes,
                                              const JpegLimits& limits) {
  jpeg_decompress_struct cinfo{};  // zeroed: destroy is a no-op if create never ran
  ErrorManager err{};
  cinfo.err = jpeg_std_error(&err.base);
  err.base.error_exit = OnError;
  err.base.emit_message = OnMessage;
  ProgressMonitor progress{};
  progress.base.progress_monitor = OnProgress;
  progress.limits = &limits;
  RgbImage image;
  absl::Status status;
  const bool ok = Decompress(cinfo, err, progress, bytes, limits.max_pixels, image, status);
  jpeg_destroy_decompress(&cinfo);
  if (!ok) return status;
  return image;
}

}  // namespace ovserve::engine
