#include "engine/multimodal/memory_io.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "absl/status/status.h"

namespace ovserve::engine {
namespace {

// Small on purpose: the data is already in memory, so a larger buffer only
// adds a copy; 32 KiB is FFmpeg's own default for file I/O.
constexpr int kAvioBufferSize = 32 * 1024;

int ReadCallback(void* opaque, uint8_t* buf, int size) {
  return static_cast<MemoryReader*>(opaque)->Read(buf, size);
}

int64_t SeekCallback(void* opaque, int64_t offset, int whence) {
  return static_cast<MemoryReader*>(opaque)->Seek(offset, whence);
}

}  // namespace

int MemoryReader::Read(uint8_t* buf, int size) {
  if (size <= 0) return 0;
  const int64_t left = this->size() - position_;
  if (left <= 0) return AVERROR_EOF;
  const int n = static_cast<int>(std::min<int64_t>(left, size));
  std::memcpy(buf, bytes_.data() + position_, static_cast<size_t>(n));
  position_ += n;
  return n;
}

int64_t MemoryReader::Seek(int64_t offset, int whence) {
  if (whence & AVSEEK_SIZE) return size();
  // AVSEEK_FORCE only says "seek even if expensive"; seeking here is free.
  whence &= ~AVSEEK_FORCE;
  int64_t base = 0;
  switch (whence) {
    case SEEK_SET:
      base = 0;
      break;
    case SEEK_CUR:
      base = position_;
      break;
    case SEEK_END:
      base = size();
      break;
    default:
      return AVERROR(EINVAL);
  }
  // Demuxers compute offsets from untrusted headers: reject overflow and
  // anything outside the data instead of wrapping around.
  int64_t target = 0;
  if (__builtin_add_overflow(base, offset, &target) || target < 0 || target > size()) {
    return AVERROR(EINVAL);
  }
  position_ = target;
  return position_;
}

absl::StatusOr<ffmpeg::AvioContextPtr> NewMemoryAvioContext(MemoryReader* reader) {
  auto* buffer = static_cast<uint8_t*>(av_malloc(kAvioBufferSize));
  if (buffer == nullptr)
    return absl::ResourceExhaustedError("out of memory for the media I/O buffer");
  AVIOContext* pb = avio_alloc_context(buffer, kAvioBufferSize, /*write_flag=*/0, reader,
                                       &ReadCallback, /*write_packet=*/nullptr, &SeekCallback);
  if (pb == nullptr) {
    av_free(buffer);
    return absl::ResourceExhaustedError("out of memory for the media I/O context");
  }
  return ffmpeg::AvioContextPtr(pb);
}

}  // namespace ovserve::engine
