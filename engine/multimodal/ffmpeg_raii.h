#pragma once
// Owning smart pointers for the FFmpeg objects the media decoder uses, so that
// every early return (a corrupt file, a limit, a deadline) frees what was made.
//
// Internal to engine/multimodal (ovserve_media) and its tests: the public
// media_decoder.h does not expose FFmpeg. Each pointer owns one object; none
// is shared between threads.

#include <memory>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavformat/avio.h>
#include <libavutil/dict.h>
#include <libavutil/frame.h>
#include <libavutil/mem.h>
#include <libswscale/swscale.h>
}

namespace ovserve::engine::ffmpeg {

// A custom AVIOContext (avio_alloc_context): its I/O buffer may have been
// reallocated by FFmpeg, so the buffer is freed through the context.
struct AvioContextDeleter {
  void operator()(AVIOContext* pb) const {
    if (pb == nullptr) return;
    av_freep(&pb->buffer);
    avio_context_free(&pb);
  }
};
using AvioContextPtr = std::unique_ptr<AVIOContext, AvioContextDeleter>;

// An input AVFormatContext (opened or only allocated). avformat_close_input
// leaves a custom AVIOContext (AVFMT_FLAG_CUSTOM_IO) alone, so it is freed here:
// the format context owns its custom I/O.
struct FormatContextDeleter {
  void operator()(AVFormatContext* ctx) const {
    if (ctx == nullptr) return;
    AVIOContext* custom_io = (ctx->flags & AVFMT_FLAG_CUSTOM_IO) ? ctx->pb : nullptr;
    avformat_close_input(&ctx);
    AvioContextDeleter()(custom_io);
  }
};
using FormatContextPtr = std::unique_ptr<AVFormatContext, FormatContextDeleter>;

struct CodecContextDeleter {
  void operator()(AVCodecContext* ctx) const { avcodec_free_context(&ctx); }
};
using CodecContextPtr = std::unique_ptr<AVCodecContext, CodecContextDeleter>;

struct FrameDeleter {
  void operator()(AVFrame* frame) const { av_frame_free(&frame); }
};
using FramePtr = std::unique_ptr<AVFrame, FrameDeleter>;

struct PacketDeleter {
  void operator()(AVPacket* packet) const { av_packet_free(&packet); }
};
using PacketPtr = std::unique_ptr<AVPacket, PacketDeleter>;

struct SwsContextDeleter {
  void operator()(SwsContext* ctx) const { sws_freeContext(ctx); }
};
using SwsContextPtr = std::unique_ptr<SwsContext, SwsContextDeleter>;

struct DictionaryDeleter {
  void operator()(AVDictionary* dict) const { av_dict_free(&dict); }
};
using DictionaryPtr = std::unique_ptr<AVDictionary, DictionaryDeleter>;

// Memory from av_malloc / av_realloc.
struct AvFreeDeleter {
  void operator()(void* ptr) const { av_free(ptr); }
};
template <typename T>
using AvBufferPtr = std::unique_ptr<T, AvFreeDeleter>;

}  // namespace ovserve::engine::ffmpeg
