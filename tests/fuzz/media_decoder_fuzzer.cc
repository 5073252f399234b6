// libFuzzer target for the media decoder: arbitrary bytes through DecodeImage
// and DecodeVideo with tight limits. Any crash, sanitizer report, leak or
// hang (beyond the decode deadline) is a bug in engine/multimodal.
//
// Build: -DOVSERVE_FUZZ=ON with clang (see tests/fuzz/CMakeLists.txt). Run:
//   media_decoder_fuzzer -max_total_time=60 -timeout=10 CORPUS_DIR SEED_DIR

#include <cstddef>
#include <cstdint>
#include <span>

#include "engine/multimodal/media_decoder.h"

extern "C" {
#include <libavutil/log.h>
}

namespace {

// Small enough that one input stays well under libFuzzer's per-input timeout
// and its memory limit; large enough for the seeds (the fixture media).
constexpr ovserve::engine::MediaLimits kLimits{
    .max_encoded_bytes = 1 << 20,
    .max_pixels = 4'000'000,
    .max_video_frames_scanned = 300,
    .max_decode_seconds = 2.0,
    .max_video_seconds = 600,
};

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  av_log_set_level(AV_LOG_QUIET);  // FFmpeg's complaints about bad input are expected
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> bytes(data, size);
  (void)ovserve::engine::DecodeImage(bytes, kLimits);
  (void)ovserve::engine::DecodeVideo(bytes, 4, kLimits);
  return 0;
}
