#include "tests/engine/multimodal/media_encoder_for_tests.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/channel_layout.h>
#include <libavutil/error.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>
}

namespace ovserve::testing {
namespace {

std::string AvError(int code) {
  char text[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(code, text, sizeof(text));
  return text;
}

absl::Status Check(int ret, const char* what) {
  if (ret >= 0) return absl::OkStatus();
  return absl::InternalError(absl::StrCat(what, ": ", AvError(ret)));
}

#define TEST_RETURN_IF_ERROR(expr)     \
  do {                                 \
    absl::Status status_ = (expr);     \
    if (!status_.ok()) return status_; \
  } while (0)

// An output context writing to a temporary file (seekable like a real file,
// which muxers that patch headers at the end rely on), read back at the end.
class MemoryMuxer {
 public:
  ~MemoryMuxer() {
    if (ctx_ != nullptr) {
      if (ctx_->pb != nullptr) avio_closep(&ctx_->pb);
      avformat_free_context(ctx_);
    }
    if (!path_.empty()) std::remove(path_.c_str());
  }
  absl::Status Open(const std::string& muxer) {
    static std::atomic<int> counter{0};
    path_ = absl::StrCat(::testing::TempDir(), "/ovserve_media_", getpid(), "_", counter++);
    TEST_RETURN_IF_ERROR(
        Check(avformat_alloc_output_context2(&ctx_, nullptr, muxer.c_str(), nullptr), "muxer"));
    return Check(avio_open(&ctx_->pb, path_.c_str(), AVIO_FLAG_WRITE), "open temp file");
  }
  std::vector<uint8_t> Finish() {
    avio_closep(&ctx_->pb);
    std::ifstream in(path_, std::ios::binary);
    return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
  }
  AVFormatContext* get() { return ctx_; }

 private:
  AVFormatContext* ctx_ = nullptr;
  std::string path_;
};

struct CodecFree {
  void operator()(AVCodecContext* c) const { avcodec_free_context(&c); }
};
struct FrameFree {
  void operator()(AVFrame* f) const { av_frame_free(&f); }
};
struct PacketFree {
  void operator()(AVPacket* p) const { av_packet_free(&p); }
};

// Sends `frame` (nullptr flushes) and writes every packet that comes out.
absl::Status EncodeAndWrite(AVCodecContext* codec, AVFrame* frame, AVFormatContext* out,
                            AVStream* stream) {
  TEST_RETURN_IF_ERROR(Check(avcodec_send_frame(codec, frame), "send frame"));
  std::unique_ptr<AVPacket, PacketFree> packet(av_packet_alloc());
  while (true) {
    const int ret = avcodec_receive_packet(codec, packet.get());
    if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF) return absl::OkStatus();
    TEST_RETURN_IF_ERROR(Check(ret, "receive packet"));
    // Muxers (mp4 edit lists) end the track at the last packet's end: without
    // a duration the last frame would be cut.
    if (packet->duration == 0) packet->duration = 1;
    av_packet_rescale_ts(packet.get(), codec->time_base, stream->time_base);
    packet->stream_index = stream->index;
    TEST_RETURN_IF_ERROR(Check(av_interleaved_write_frame(out, packet.get()), "write packet"));
  }
}

// Block-based encoders (JPEG, MPEG-4) read past the picture's right and
// bottom edges into the buffer's padding; left uninitialized it would make the
// encoded bytes differ from run to run.
void ClearPlanes(AVFrame& frame) {
  for (int p = 0; p < AV_NUM_DATA_POINTERS && frame.buf[p] != nullptr; ++p) {
    std::memset(frame.buf[p]->data, 0, frame.buf[p]->size);
  }
}

// ...and like libjpeg, fill that padding with the edge samples (planar 8-bit
// formats), so the edge blocks do not ring against a black border.
void ReplicateEdges(AVFrame& frame) {
  const AVPixFmtDescriptor* desc = av_pix_fmt_desc_get(static_cast<AVPixelFormat>(frame.format));
  if (!(desc->flags & AV_PIX_FMT_FLAG_PLANAR) || desc->comp[0].depth != 8) return;
  for (int p = 0; p < desc->nb_components; ++p) {
    const bool chroma = p == 1 || p == 2;
    const int w = chroma ? AV_CEIL_RSHIFT(frame.width, desc->log2_chroma_w) : frame.width;
    const int h = chroma ? AV_CEIL_RSHIFT(frame.height, desc->log2_chroma_h) : frame.height;
    // av_frame_get_buffer pads the height to a multiple of 32.
    const int padded = FFALIGN(frame.height, 32);
    const int rows = chroma ? AV_CEIL_RSHIFT(padded, desc->log2_chroma_h) : padded;
    for (int y = 0; y < rows; ++y) {
      uint8_t* row = frame.data[p] + y * frame.linesize[p];
      if (y >= h)
        std::memcpy(row, row - frame.linesize[p], frame.linesize[p]);
      else
        std::memset(row + w, row[w - 1], frame.linesize[p] - w);
    }
  }
}

}  // namespace

std::string MissingEncoderOrMuxer(const std::string& encoder, const std::string& muxer) {
  if (avcodec_find_encoder_by_name(encoder.c_str()) == nullptr) return "encoder " + encoder;
  if (av_guess_format(muxer.c_str(), nullptr, nullptr) == nullptr) return "muxer " + muxer;
  return "";
}

absl::StatusOr<std::vector<uint8_t>> EncodeMedia(const EncodeSpec& spec, const FrameFiller& fill) {
  const AVCodec* encoder = avcodec_find_encoder_by_name(spec.encoder.c_str());
  if (encoder == nullptr) return absl::NotFoundError("encoder " + spec.encoder);
  MemoryMuxer muxer;
  TEST_RETURN_IF_ERROR(muxer.Open(spec.muxer));
  AVStream* stream = avformat_new_stream(muxer.get(), nullptr);
  std::unique_ptr<AVCodecContext, CodecFree> codec(avcodec_alloc_context3(encoder));
  codec->width = spec.width;
  codec->height = spec.height;
  codec->pix_fmt = spec.pixel_format;
  codec->time_base = spec.time_base;
  codec->framerate = av_inv_q(spec.time_base);
  codec->gop_size = 12;
  codec->max_b_frames = 0;
  codec->thread_count = 1;
  if (spec.qscale > 0) {
    codec->flags |= AV_CODEC_FLAG_QSCALE;
    codec->global_quality = FF_QP2LAMBDA * spec.qscale;
  }
  if (spec.encoder == "mjpeg") codec->color_range = AVCOL_RANGE_JPEG;
  if (muxer.get()->oformat->flags & AVFMT_GLOBALHEADER) codec->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  AVDictionary* options = nullptr;
  for (const auto& [key, value] : spec.encoder_options)
    av_dict_set(&options, key.c_str(), value.c_str(), 0);
  const int opened = avcodec_open2(codec.get(), encoder, &options);
  av_dict_free(&options);
  TEST_RETURN_IF_ERROR(Check(opened, "open encoder"));
  TEST_RETURN_IF_ERROR(
      Check(avcodec_parameters_from_context(stream->codecpar, codec.get()), "params"));
  stream->time_base = codec->time_base;
  for (const auto& [key, value] : spec.muxer_options)
    av_dict_set(&options, key.c_str(), value.c_str(), 0);
  const int header = avformat_write_header(muxer.get(), &options);
  av_dict_free(&options);
  TEST_RETURN_IF_ERROR(Check(header, "write header"));

  for (int i = 0; i < spec.num_frames; ++i) {
    std::unique_ptr<AVFrame, FrameFree> frame(av_frame_alloc());
    frame->format = spec.pixel_format;
    frame->width = spec.width;
    frame->height = spec.height;
    TEST_RETURN_IF_ERROR(Check(av_frame_get_buffer(frame.get(), 0), "frame buffer"));
    ClearPlanes(*frame);
    fill(i, *frame);
    ReplicateEdges(*frame);
    frame->pts = spec.pts.empty() ? i : spec.pts[i];
    if (spec.qscale > 0) frame->quality = codec->global_quality;
    TEST_RETURN_IF_ERROR(EncodeAndWrite(codec.get(), frame.get(), muxer.get(), stream));
  }
  TEST_RETURN_IF_ERROR(EncodeAndWrite(codec.get(), nullptr, muxer.get(), stream));
  TEST_RETURN_IF_ERROR(Check(av_write_trailer(muxer.get()), "trailer"));
  return muxer.Finish();
}

absl::StatusOr<std::vector<uint8_t>> EncodeAudioOnly(const std::string& muxer_name) {
  const AVCodec* encoder = avcodec_find_encoder(AV_CODEC_ID_PCM_S16LE);
  MemoryMuxer muxer;
  TEST_RETURN_IF_ERROR(muxer.Open(muxer_name));
  AVStream* stream = avformat_new_stream(muxer.get(), nullptr);
  std::unique_ptr<AVCodecContext, CodecFree> codec(avcodec_alloc_context3(encoder));
  codec->sample_rate = 8000;
  codec->sample_fmt = AV_SAMPLE_FMT_S16;
  av_channel_layout_default(&codec->ch_layout, 1);
  codec->time_base = {1, 8000};
  TEST_RETURN_IF_ERROR(Check(avcodec_open2(codec.get(), encoder, nullptr), "open audio encoder"));
  TEST_RETURN_IF_ERROR(
      Check(avcodec_parameters_from_context(stream->codecpar, codec.get()), "params"));
  stream->time_base = codec->time_base;
  TEST_RETURN_IF_ERROR(Check(avformat_write_header(muxer.get(), nullptr), "write header"));
  const int samples_per_frame = 800;
  for (int i = 0; i < 10; ++i) {
    std::unique_ptr<AVFrame, FrameFree> frame(av_frame_alloc());
    frame->format = codec->sample_fmt;
    frame->nb_samples = samples_per_frame;
    frame->sample_rate = codec->sample_rate;
    av_channel_layout_copy(&frame->ch_layout, &codec->ch_layout);
    TEST_RETURN_IF_ERROR(Check(av_frame_get_buffer(frame.get(), 0), "audio buffer"));
    std::memset(frame->data[0], 0, static_cast<size_t>(samples_per_frame) * 2);
    frame->pts = int64_t{i} * samples_per_frame;
    TEST_RETURN_IF_ERROR(EncodeAndWrite(codec.get(), frame.get(), muxer.get(), stream));
  }
  TEST_RETURN_IF_ERROR(EncodeAndWrite(codec.get(), nullptr, muxer.get(), stream));
  TEST_RETURN_IF_ERROR(Check(av_write_trailer(muxer.get()), "trailer"));
  return muxer.Finish();
}

void FillFromRgb(AVFrame& frame, const std::function<std::array<uint8_t, 3>(int x, int y)>& pixel) {
  // swscale's SIMD readers run past the end of a source row (and of the last
  // one), so the source is padded: each row repeats its last pixel up to the
  // stride, and one extra row repeats the last row.
  const int stride = FFALIGN(frame.width * 3, 64) + 64;
  std::vector<uint8_t> rgb(static_cast<size_t>(stride) * (frame.height + 1));
  for (int y = 0; y <= frame.height; ++y) {
    uint8_t* row = &rgb[static_cast<size_t>(y) * stride];
    for (int x = 0; x < stride / 3; ++x) {
      const auto p = pixel(std::min(x, frame.width - 1), std::min(y, frame.height - 1));
      std::memcpy(row + 3 * x, p.data(), 3);
    }
  }
  SwsContext* sws = sws_getContext(frame.width, frame.height, AV_PIX_FMT_RGB24, frame.width,
                                   frame.height, static_cast<AVPixelFormat>(frame.format),
                                   SWS_BICUBIC | SWS_ACCURATE_RND, nullptr, nullptr, nullptr);
  const uint8_t* src[4] = {rgb.data(), nullptr, nullptr, nullptr};
  const int src_stride[4] = {stride, 0, 0, 0};
  sws_scale(sws, src, src_stride, 0, frame.height, frame.data, frame.linesize);
  sws_freeContext(sws);
}

}  // namespace ovserve::testing
