#pragma once
// MemoryReader: lets libavformat read a file that is already in memory (the
// bytes of a request) through a custom AVIOContext, with seeking, so that
// demuxers that jump around (mp4's moov at the end) work without a temp file.
//
// Who: the media decoder, on whichever CPU-pool thread decodes the item.
// Ownership: the reader borrows the bytes (they must outlive it) and the
// AVIOContext borrows the reader (it must outlive the context). One reader
// serves one AVIOContext on one thread at a time.

#include <cstdint>
#include <span>

#include "absl/status/statusor.h"
#include "engine/multimodal/ffmpeg_raii.h"

namespace ovserve::engine {

class MemoryReader {
 public:
  explicit MemoryReader(std::span<const uint8_t> bytes) : bytes_(bytes) {}
  MemoryReader(const MemoryReader&) = delete;
  MemoryReader& operator=(const MemoryReader&) = delete;

  // AVIOContext read_packet: copies up to `size` bytes; AVERROR_EOF at the end.
  int Read(uint8_t* buf, int size);
  // AVIOContext seek: SEEK_SET / SEEK_CUR / SEEK_END within [0, size], and
  // AVSEEK_SIZE (the total size). AVERROR(EINVAL) for anything else.
  int64_t Seek(int64_t offset, int whence);

  int64_t position() const { return position_; }
  int64_t size() const { return static_cast<int64_t>(bytes_.size()); }

 private:
  std::span<const uint8_t> bytes_;
  int64_t position_ = 0;
};

// A read-only, seekable AVIOContext over `reader` (borrowed). The context's
// buffer is av_malloc'ed and freed by its deleter (or by FormatContextDeleter
// once the context is attached to an AVFormatContext as custom I/O).
absl::StatusOr<ffmpeg::AvioContextPtr> NewMemoryAvioContext(MemoryReader* reader);

}  // namespace ovserve::engine
