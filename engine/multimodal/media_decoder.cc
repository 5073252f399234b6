#include "engine/multimodal/media_decoder.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/multimodal/ffmpeg_raii.h"
#include "engine/multimodal/frame_converter.h"
#include "engine/multimodal/jpeg_decoder.h"
#include "engine/multimodal/image_header.h"
#include "engine/multimodal/memory_io.h"
#include "engine/util/status_macros.h"

extern "C" {
#include <libavutil/error.h>
}

namespace ovserve::engine {
namespace {

using ffmpeg::CodecContextPtr;
using ffmpeg::FormatContextPtr;
using ffmpeg::FramePtr;
using ffmpeg::PacketPtr;

enum class Kind { kImage, kVideo };

const char* KindName(Kind kind) { return kind == Kind::kImage ? "image" : "video"; }

// Demuxers a request may select, by libavformat name. Probing considers every
// demuxer, but only these are opened: the others (playlists, concat, raw
// codec streams, ...) are attack surface the product does not need.
constexpr std::string_view kImageDemuxers[] = {"png_pipe", "apng",     "jpeg_pipe", "webp_pipe",
                                               "bmp_pipe", "gif_pipe", "gif",       "tiff_pipe"};
constexpr std::string_view kVideoDemuxers[] = {
    "mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", "avi", "mpegts", "mpeg", "flv", "ogg", "gif"};
// Video decoders, for the same reason (a container can carry any codec).
constexpr AVCodecID kVideoCodecs[] = {
    AV_CODEC_ID_H264,  AV_CODEC_ID_HEVC,    AV_CODEC_ID_VP8,        AV_CODEC_ID_VP9,
    AV_CODEC_ID_AV1,   AV_CODEC_ID_MPEG4,   AV_CODEC_ID_MPEG1VIDEO, AV_CODEC_ID_MPEG2VIDEO,
    AV_CODEC_ID_MJPEG, AV_CODEC_ID_THEORA,  AV_CODEC_ID_H263,       AV_CODEC_ID_GIF,
    AV_CODEC_ID_FFV1,  AV_CODEC_ID_RAWVIDEO};

// The same lists for libavformat's own whitelists (comma-separated; a demuxer with several
// names, "mov,mp4,...", matches any of them), and the decoders, by decoder name (Debian's
// FFmpeg may pick libdav1d or libvpx for a codec), that stream probing may open.
constexpr char kImageDemuxerList[] = "png_pipe,apng,jpeg_pipe,webp_pipe,bmp_pipe,gif_pipe,gif,tiff_pipe";
constexpr char kVideoDemuxerList[] = "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,mpegts,mpeg,flv,ogg,gif";
constexpr char kImageDecoderList[] = "png,apng,mjpeg,webp,bmp,gif,tiff";
constexpr char kVideoDecoderList[] =
    "h264,hevc,vp8,vp9,libvpx-vp8,libvpx-vp9,av1,libdav1d,libaom-av1,mpeg4,mpeg1video,mpeg2video,"
    "mjpeg,theora,h263,gif,ffv1,rawvideo";
// Probing reads at most this much and this long of the stream (FFmpeg's defaults, fixed
// here so that no build or option can lift them).
constexpr int64_t kProbeBytes = 5'000'000;
constexpr int64_t kAnalyzeMicroseconds = 5'000'000;

std::string AvError(int code) {
  char text[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(code, text, sizeof(text));
  return text;
}

// The item's WorkBudget (its deadline and its request's cancellation) as the
// decoders see it: stage names for messages.
class Deadline {
 public:
  Deadline(const WorkBudget& budget, Kind kind) : budget_(budget), kind_(kind) {}
  bool Expired() const { return budget_.Exhausted(); }
  absl::Status Check() const {
    return budget_.Check(kind_ == Kind::kImage ? "decoding the image" : "decoding the video");
  }
  Kind kind() const { return kind_; }
  const WorkBudget& budget() const { return budget_; }

 private:
  const WorkBudget& budget_;
  Kind kind_;
};

// AVFormatContext interrupt callback: lets libavformat give up inside long
// operations (stream probing) once the budget is spent.
int InterruptOnDeadline(void* opaque) { return static_cast<const Deadline*>(opaque)->Expired(); }

// Demuxers never open other files or URLs on behalf of a request (playlist
// entries, external mp4 data references, ...).
int DenyNestedOpen(AVFormatContext*, AVIOContext**, const char* url, int, AVDictionary**) {
  return AVERROR(EPERM);
}

absl::Status ValidateLimits(const MediaLimits& limits) {
  if (limits.max_encoded_bytes <= 0 || limits.max_pixels <= 0 || limits.max_padded_pixels <= 0 ||
      limits.max_video_frames_scanned <= 0 || limits.max_video_seconds <= 0 ||
      limits.max_video_kept_pixels <= 0 || limits.max_jpeg_scans <= 0 ||
      !(limits.max_decode_seconds > 0)) {
    return absl::InvalidArgumentError("media limits must all be positive");
  }
  return absl::OkStatus();
}

absl::Status CheckEncodedSize(std::span<const uint8_t> bytes, Kind kind,
                              const MediaLimits& limits) {
  if (bytes.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(KindName(kind), " data is empty"));
  }
  if (static_cast<int64_t>(bytes.size()) > limits.max_encoded_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(KindName(kind), " is ", bytes.size(), " bytes, over the limit of ",
                     limits.max_encoded_bytes, " bytes (max_encoded_bytes)"));
  }
  return absl::OkStatus();
}

absl::Status CheckPictureSize(const char* what, int64_t width, int64_t height,
                              const MediaLimits& limits) {
  if (width <= 0 || height <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " has no pixels (", width, "x", height, ")"));
  }
  // Header fields are at most 32 bits each: the product fits in 64 unsigned bits.
  const uint64_t pixels = static_cast<uint64_t>(width) * static_cast<uint64_t>(height);
  if (pixels > static_cast<uint64_t>(limits.max_pixels)) {
    return absl::InvalidArgumentError(absl::StrCat(what, " is ", width, "x", height, " = ", pixels,
                                                   " pixels, over the limit of ", limits.max_pixels,
                                                   " (max_pixels)"));
  }
  return absl::OkStatus();
}

// An opened demuxer over the bytes. Members are destroyed in reverse order:
// the format context (and its AVIOContext) before the reader they use.
struct Input {
  std::unique_ptr<MemoryReader> reader;
  FormatContextPtr format;
};

absl::StatusOr<Input> OpenInput(std::span<const uint8_t> bytes, const Deadline& deadline) {
  const Kind kind = deadline.kind();
  Input input{std::make_unique<MemoryReader>(bytes), nullptr};
  ASSIGN_OR_RETURN(ffmpeg::AvioContextPtr avio, NewMemoryAvioContext(input.reader.get()));

  const AVInputFormat* format = nullptr;
  const int probed = av_probe_input_buffer2(avio.get(), &format, "", nullptr, 0, 0);
  if (probed < 0 || format == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("unrecognized ", KindName(kind), " format",
                     kind == Kind::kImage
                         ? " (expected JPEG, PNG, WebP, BMP, GIF or TIFF)"
                         : " (expected MP4/MOV, Matroska/WebM, AVI, MPEG-TS/PS, FLV, Ogg or GIF)"));
  }
  const std::span<const std::string_view> allowed =
      kind == Kind::kImage ? std::span<const std::string_view>(kImageDemuxers) : kVideoDemuxers;
  if (std::find(allowed.begin(), allowed.end(), std::string_view(format->name)) == allowed.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("unsupported ", KindName(kind), " format '", format->name, "'"));
  }

  AVFormatContext* ctx = avformat_alloc_context();
  if (ctx == nullptr) return absl::ResourceExhaustedError("out of memory opening the media");
  ctx->pb = avio.get();
  ctx->flags |= AVFMT_FLAG_CUSTOM_IO;
  ctx->io_open = &DenyNestedOpen;
  ctx->interrupt_callback.callback = &InterruptOnDeadline;
  ctx->interrupt_callback.opaque = const_cast<Deadline*>(&deadline);
  // Set before anything is probed: stream probing (avformat_find_stream_info) opens only
  // the allowed decoders, so an MP4 carrying JPEG 2000, audio or subtitles runs none of
  // their decoders. libavformat frees these strings with the context.
  ctx->format_whitelist = av_strdup(kind == Kind::kImage ? kImageDemuxerList : kVideoDemuxerList);
  ctx->codec_whitelist = av_strdup(kind == Kind::kImage ? kImageDecoderList : kVideoDecoderList);
  if (ctx->format_whitelist == nullptr || ctx->codec_whitelist == nullptr) {
    avformat_free_context(ctx);
    return absl::ResourceExhaustedError("out of memory opening the media");
  }
  ctx->probesize = kProbeBytes;
  ctx->max_analyze_duration = kAnalyzeMicroseconds;
  // On failure avformat_open_input frees ctx but not custom I/O: avio keeps it.
  const int opened = avformat_open_input(&ctx, nullptr, format, nullptr);
  if (opened < 0) {
    RETURN_IF_ERROR(deadline.Check());
    return absl::InvalidArgumentError(absl::StrCat("cannot read the ", KindName(kind), " (",
                                                   format->name, "): ", AvError(opened)));
  }
  avio.release();  // now owned through ctx (FormatContextDeleter)
  input.format.reset(ctx);
  return input;
}

absl::StatusOr<CodecContextPtr> OpenDecoder(const AVStream& stream, Kind kind,
                                            const MediaLimits& limits) {
  const AVCodec* decoder = avcodec_find_decoder(stream.codecpar->codec_id);
  if (decoder == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("no decoder for the ", KindName(kind), " codec ",
                                                   avcodec_get_name(stream.codecpar->codec_id)));
  }
  CodecContextPtr codec(avcodec_alloc_context3(decoder));
  if (!codec) return absl::ResourceExhaustedError("out of memory opening the decoder");
  if (avcodec_parameters_to_context(codec.get(), stream.codecpar) < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid ", KindName(kind), " stream parameters"));
  }
  // The CPU pool provides the parallelism: one decoding thread per item.
  codec->thread_count = 1;
  // FFmpeg's own check, before any picture buffer is allocated: the backstop
  // for sizes that no header told us (in-band size changes, TIFF, ...).
  codec->max_pixels = limits.max_pixels;
  codec->pkt_timebase = stream.time_base;
  if (kind == Kind::kImage) {
    // Fail on damaged data instead of concealing it, as Pillow does. Not for
    // TIFF, whose decoder would also refuse every tag it does not know.
    if (stream.codecpar->codec_id != AV_CODEC_ID_TIFF) codec->err_recognition |= AV_EF_EXPLODE;
    // Of FFmpeg's IDCTs, FAAN lands closest to libjpeg-turbo's islow
    // (measured: 0.6% of samples off by one vs 1.5% for the default).
    codec->idct_algo = FF_IDCT_FAAN;
  }
  if (const int ret = avcodec_open2(codec.get(), decoder, nullptr); ret < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot open the ", decoder->name, " decoder: ", AvError(ret)));
  }
  return codec;
}

// Runs the decoder over the packets of `stream_index` and hands each decoded
// frame to `on_frame`, which returns false to stop early. Images stop at the
// first decode error; videos skip damaged packets as the ffmpeg CLI does,
// counting them in `*skipped_errors`.
absl::Status DecodeFrames(AVFormatContext* format, int stream_index, AVCodecContext* codec,
                          const Deadline& deadline,
                          absl::FunctionRef<absl::StatusOr<bool>(const AVFrame&)> on_frame,
                          int64_t* skipped_errors) {
  PacketPtr packet(av_packet_alloc());
  FramePtr frame(av_frame_alloc());
  if (!packet || !frame) return absl::ResourceExhaustedError("out of memory while decoding");
  const Kind kind = deadline.kind();
  auto decode_error = [&](int ret) -> absl::Status {
    if (ret == AVERROR(ENOMEM)) return absl::ResourceExhaustedError("out of memory while decoding");
    if (ret == AVERROR_EXIT) return deadline.Check();
    if (kind == Kind::kVideo) {
      ++*skipped_errors;
      return absl::OkStatus();
    }
    return absl::InvalidArgumentError(
        absl::StrCat("cannot decode the image (corrupt or truncated?): ", AvError(ret)));
  };
  bool flushed = false;
  // Each turn either drains one frame or feeds one packet; the decode API
  // guarantees a send is accepted once receive has returned EAGAIN.
  while (true) {
    RETURN_IF_ERROR(deadline.Check());
    int ret = avcodec_receive_frame(codec, frame.get());
    if (ret >= 0) {
      if (kind == Kind::kImage &&
          ((frame->flags & AV_FRAME_FLAG_CORRUPT) || frame->decode_error_flags)) {
        return absl::InvalidArgumentError("the image data is corrupt or truncated");
      }
      absl::StatusOr<bool> more = on_frame(*frame);
      av_frame_unref(frame.get());
      if (!more.ok()) return more.status();
      if (!*more) return absl::OkStatus();
      continue;
    }
    if (ret == AVERROR_EOF) return absl::OkStatus();
    if (ret != AVERROR(EAGAIN)) {
      RETURN_IF_ERROR(decode_error(ret));
      continue;
    }
    if (flushed) return absl::OkStatus();  // a decoder that wants input after the flush
    ret = av_read_frame(format, packet.get());
    if (ret == AVERROR(ENOMEM)) return absl::ResourceExhaustedError("out of memory while reading");
    if (ret < 0) {
      // End of data, or a read error in a truncated file: decode what was read.
      RETURN_IF_ERROR(deadline.Check());
      avcodec_send_packet(codec, nullptr);
      flushed = true;
      continue;
    }
    if (packet->stream_index == stream_index) ret = avcodec_send_packet(codec, packet.get());
    av_packet_unref(packet.get());
    if (ret < 0) RETURN_IF_ERROR(decode_error(ret));
  }
}

// ---- images ----------------------------------------------------------------

absl::StatusOr<RgbImage> DecodeImageImpl(std::span<const uint8_t> bytes,
                                         const MediaLimits& limits, const WorkBudget& budget) {
  // The announced size is refused before FFmpeg sees the bytes.
  if (std::optional<ImageHeaderSize> header = ReadImageHeaderSize(bytes)) {
    RETURN_IF_ERROR(CheckPictureSize("image", header->width, header->height, limits));
  }
  const Deadline deadline(budget, Kind::kImage);
  // JPEG goes through libjpeg-turbo, as the reference's Pillow does (bit-exact);
  // colour spaces it is not set up for (CMYK, YCCK) fall back to FFmpeg.
  if (LooksLikeJpeg(bytes)) {
    absl::StatusOr<RgbImage> jpeg = DecodeJpegLikePillow(
        bytes, JpegLimits{.max_pixels = limits.max_pixels,
                          .max_scans = limits.max_jpeg_scans,
                          .budget = &budget});
    if (jpeg.ok() || jpeg.status().code() != absl::StatusCode::kUnimplemented) return jpeg;
  }
  ASSIGN_OR_RETURN(Input input, OpenInput(bytes, deadline));
  const int stream_index =
      av_find_best_stream(input.format.get(), AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
  if (stream_index < 0) return absl::InvalidArgumentError("the image file holds no picture");
  const AVStream& stream = *input.format->streams[stream_index];
  if (stream.codecpar->width > 0 || stream.codecpar->height > 0) {
    RETURN_IF_ERROR(
        CheckPictureSize("image", stream.codecpar->width, stream.codecpar->height, limits));
  }
  ASSIGN_OR_RETURN(CodecContextPtr codec, OpenDecoder(stream, Kind::kImage, limits));

  FrameConverter converter(RgbRules::kPillow, stream.codecpar->codec_id);
  std::optional<RgbImage> image;
  int64_t unused_errors = 0;
  RETURN_IF_ERROR(DecodeFrames(
      input.format.get(), stream_index, codec.get(), deadline,
      [&](const AVFrame& frame) -> absl::StatusOr<bool> {
        RETURN_IF_ERROR(CheckPictureSize("image", frame.width, frame.height, limits));
        ASSIGN_OR_RETURN(image, converter.Convert(frame, frame.width, frame.height));
        return false;  // the first picture only (GIF, APNG)
      },
      &unused_errors));
  if (!image) return absl::InvalidArgumentError("the image data holds no decodable picture");
  return std::move(*image);
}

// ---- videos ----------------------------------------------------------------

// One decoding pass over the whole video.
struct VideoPass {
  int64_t decoded = 0;           // frames the decoder produced
  int64_t sampled_for = 0;       // the frame count `frames` were sampled for (0: none kept)
  std::vector<int64_t> indices;  // LinspaceFrameIndices(sampled_for, num_frames)
  std::vector<RgbImage> frames;
  int64_t width = 0, height = 0;
  int64_t skipped_errors = 0;
};

// The container's claim of how many frames there are: the exact count some
// containers store (mp4 sample tables, AVI headers), else duration x frame
// rate; 0 when unknown. Only a guess to sample by in the first pass: edit
// lists, variable frame rates and damaged packets make it wrong, and then a
// second pass samples by the true count.
int64_t FrameCountHint(const AVFormatContext& format, const AVStream& stream) {
  if (stream.nb_frames > 0) return stream.nb_frames;
  const AVRational rate = stream.avg_frame_rate;
  if (rate.num <= 0 || rate.den <= 0) return 0;
  double seconds = 0;
  if (stream.duration != AV_NOPTS_VALUE && stream.duration > 0) {
    seconds = static_cast<double>(stream.duration) * av_q2d(stream.time_base);
  } else if (format.duration != AV_NOPTS_VALUE && format.duration > 0) {
    seconds = static_cast<double>(format.duration) / AV_TIME_BASE;
  }
  const double frames = std::round(seconds * av_q2d(rate));
  return frames >= 1 && frames < 1e9 ? static_cast<int64_t>(frames) : 0;
}

// Decodes every frame, keeping those at LinspaceFrameIndices(n, num_frames)
// where n is `known_total` when given, else the container's hint (none kept
// when there is no hint).
absl::StatusOr<VideoPass> RunVideoPass(std::span<const uint8_t> bytes, int64_t num_frames,
                                       std::optional<int64_t> known_total,
                                       const MediaLimits& limits, const Deadline& deadline) {
  ASSIGN_OR_RETURN(Input input, OpenInput(bytes, deadline));
  AVFormatContext* format = input.format.get();
  // Streams of header-less containers (MPEG-PS, FLV) only appear here. The
  // decoders it opens get the same pixel limit and thread count.
  {
    std::vector<AVDictionary*> options(format->nb_streams, nullptr);
    for (AVDictionary*& dict : options) {
      av_dict_set_int(&dict, "max_pixels", limits.max_pixels, 0);
      av_dict_set(&dict, "threads", "1", 0);
    }
    const int ret = avformat_find_stream_info(format, options.empty() ? nullptr : options.data());
    for (AVDictionary*& dict : options) av_dict_free(&dict);
    RETURN_IF_ERROR(deadline.Check());
    if (ret < 0) {
      return absl::InvalidArgumentError(absl::StrCat("cannot read the video: ", AvError(ret)));
    }
  }
  const int stream_index = av_find_best_stream(format, AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
  if (stream_index < 0) return absl::InvalidArgumentError("the file holds no video stream");
  const AVStream& stream = *format->streams[stream_index];
  const AVCodecID codec_id = stream.codecpar->codec_id;
  if (std::find(std::begin(kVideoCodecs), std::end(kVideoCodecs), codec_id) ==
      std::end(kVideoCodecs)) {
    return absl::InvalidArgumentError(
        absl::StrCat("unsupported video codec '", avcodec_get_name(codec_id), "'"));
  }
  if (stream.codecpar->width > 0 || stream.codecpar->height > 0) {
    RETURN_IF_ERROR(
        CheckPictureSize("video frame", stream.codecpar->width, stream.codecpar->height, limits));
  }
  double seconds = -1;
  if (format->duration != AV_NOPTS_VALUE && format->duration > 0) {
    seconds = static_cast<double>(format->duration) / AV_TIME_BASE;
  } else if (stream.duration != AV_NOPTS_VALUE && stream.duration > 0) {
    seconds = static_cast<double>(stream.duration) * av_q2d(stream.time_base);
  }
  if (seconds > static_cast<double>(limits.max_video_seconds)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("video is %.3f s long, over the limit of %d s (max_video_seconds)", seconds,
                        limits.max_video_seconds));
  }
  ASSIGN_OR_RETURN(CodecContextPtr codec, OpenDecoder(stream, Kind::kVideo, limits));

  VideoPass pass;
  pass.sampled_for = known_total.value_or(
      std::min(FrameCountHint(*format, stream), limits.max_video_frames_scanned));
  if (pass.sampled_for > 0) pass.indices = LinspaceFrameIndices(pass.sampled_for, num_frames);
  FrameConverter converter(RgbRules::kFfmpegCli, codec_id);
  size_t next = 0;  // the next entry of pass.indices to fill
  RETURN_IF_ERROR(DecodeFrames(
      format, stream_index, codec.get(), deadline,
      [&](const AVFrame& frame) -> absl::StatusOr<bool> {
        if (pass.decoded == 0) {
          RETURN_IF_ERROR(CheckPictureSize("video frame", frame.width, frame.height, limits));
          // The kept frames are held together: bound their memory up front.
          const int64_t kept = num_frames * static_cast<int64_t>(frame.width) * frame.height;
          if (kept > limits.max_video_kept_pixels) {
            return absl::InvalidArgumentError(absl::StrCat(
                num_frames, " frames of ", frame.width, "x", frame.height, " = ", kept,
                " pixels to keep, over the limit of ", limits.max_video_kept_pixels,
                " (max_video_kept_pixels)"));
          }
          pass.width = frame.width;
          pass.height = frame.height;
        }
        if (pass.decoded >= limits.max_video_frames_scanned) {
          return absl::InvalidArgumentError(absl::StrCat("video has more than ",
                                                         limits.max_video_frames_scanned,
                                                         " frames (max_video_frames_scanned)"));
        }
        if (next < pass.indices.size() && pass.indices[next] == pass.decoded) {
          ASSIGN_OR_RETURN(RgbImage rgb, converter.Convert(frame, pass.width, pass.height));
          // Indices repeat when the video has fewer frames than requested.
          while (next + 1 < pass.indices.size() && pass.indices[next + 1] == pass.decoded) {
            pass.frames.push_back(rgb);
            ++next;
          }
          pass.frames.push_back(std::move(rgb));
          ++next;
        }
        ++pass.decoded;
        return true;
      },
      &pass.skipped_errors));
  if (pass.decoded == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the video holds no decodable frame (", pass.skipped_errors, " packets failed to decode)"));
  }
  return pass;
}

absl::StatusOr<DecodedVideo> DecodeVideoImpl(std::span<const uint8_t> bytes, int64_t num_frames,
                                             const MediaLimits& limits, const WorkBudget& budget) {
  // Counting frames means decoding them all, but only num_frames pictures may
  // be held. So the first pass samples by the container's frame count and
  // keeps those frames; when the decoded count turns out different (or was
  // unknown), a second pass over the same in-memory bytes keeps the right
  // ones. Most files take one pass; none holds more than num_frames pictures.
  // (A ring buffer cannot work: which frames are needed depends on n, known
  // only at the end.)
  const Deadline deadline(budget, Kind::kVideo);
  ASSIGN_OR_RETURN(VideoPass pass, RunVideoPass(bytes, num_frames, std::nullopt, limits, deadline));
  if (pass.sampled_for != pass.decoded) {
    const int64_t total = pass.decoded;
    ASSIGN_OR_RETURN(pass, RunVideoPass(bytes, num_frames, total, limits, deadline));
    if (pass.decoded != total) {
      return absl::InternalError(
          absl::StrCat("the video decoded to ", total, " and then ", pass.decoded, " frames"));
    }
  }
  DecodedVideo video;
  video.total_frames = pass.decoded;
  video.frame_indices = std::move(pass.indices);
  video.frames = std::move(pass.frames);
  video.width = pass.width;
  video.height = pass.height;
  return video;
}

}  // namespace

std::vector<int64_t> LinspaceFrameIndices(int64_t num_decoded, int64_t num_frames) {
  std::vector<int64_t> indices(static_cast<size_t>(std::max<int64_t>(num_frames, 0)), 0);
  if (num_frames < 1 || num_decoded < 1) return indices;
  // numpy: step = (stop - start) / (num - 1); y = arange(num) * step; y[-1] = stop;
  // astype(int) truncates (all values are >= 0).
  const double stop = static_cast<double>(num_decoded - 1);
  if (num_frames > 1) {
    const double step = stop / static_cast<double>(num_frames - 1);
    for (int64_t i = 0; i < num_frames; ++i) {
      indices[i] = static_cast<int64_t>(static_cast<double>(i) * step);
    }
    indices.back() = num_decoded - 1;
  }
  return indices;
}

absl::StatusOr<RgbImage> DecodeImage(std::span<const uint8_t> bytes, const MediaLimits& limits,
                                     const WorkBudget* budget) {
  RETURN_IF_ERROR(ValidateLimits(limits));
  RETURN_IF_ERROR(CheckEncodedSize(bytes, Kind::kImage, limits));
  if (budget != nullptr) return DecodeImageImpl(bytes, limits, *budget);
  return DecodeImageImpl(bytes, limits, WorkBudget(limits.max_decode_seconds));
}

absl::StatusOr<DecodedVideo> DecodeVideo(std::span<const uint8_t> bytes, int64_t num_frames,
                                         const MediaLimits& limits, const WorkBudget* budget) {
  RETURN_IF_ERROR(ValidateLimits(limits));
  if (num_frames < 1 || num_frames > limits.max_video_frames_scanned) {
    return absl::InvalidArgumentError(
        absl::StrCat("num_frames is ", num_frames, "; it must be between 1 and ",
                     limits.max_video_frames_scanned, " (max_video_frames_scanned)"));
  }
  RETURN_IF_ERROR(CheckEncodedSize(bytes, Kind::kVideo, limits));
  if (budget != nullptr) return DecodeVideoImpl(bytes, num_frames, limits, *budget);
  return DecodeVideoImpl(bytes, num_frames, limits, WorkBudget(limits.max_decode_seconds));
}

}  // namespace ovserve::engine
