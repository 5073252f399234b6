// libFuzzer target for the media decoder: arbitrary bytes through DecodeImage
// and DecodeVideo at the production limits. Any crash, sanitizer report, leak,
// out-of-memory or hang (beyond the decode deadline) is a bug in engine/multimodal.
//
// Build: -DOVSERVE_FUZZ=ON with clang (see tests/fuzz/CMakeLists.txt). Run:
//   media_decoder_fuzzer -max_total_time=60 -timeout=35 -rss_limit_mb=3072 CORPUS_DIR

#include <cstddef>
#include <cstdint>
#include <span>

#include "engine/multimodal/media_decoder.h"

extern "C" {
#include <libavutil/log.h>
}

namespace {

// The production limits (MediaLimits' defaults): what a hostile item can make the server
// allocate or spend. libFuzzer's RSS cap and per-input timeout (scripts/fuzz.sh) turn an
// item that goes past them into a finding.
constexpr ovserve::engine::MediaLimits kLimits{};

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
