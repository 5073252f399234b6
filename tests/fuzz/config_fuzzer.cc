// libFuzzer target for the parsers of files a model folder brings (an operator's input,
// but often downloaded): config.json in the Hugging Face and lmms-lab formats, and the
// image-file headers the media limits are checked against. A crash, sanitizer report or
// leak is a bug in engine/model or engine/multimodal.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "engine/model/lmms_config.h"
#include "engine/model/model_config.h"
#include "engine/multimodal/image_header.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)ovserve::engine::ParseModelConfig(text);
  (void)ovserve::engine::ParseLmmsConfig(text, ovserve::engine::LmmsConfigContext{});
  (void)ovserve::engine::ParseSiglipTowerConfig(text, "fuzz");
  (void)ovserve::engine::ReadImageHeaderSize(std::span<const uint8_t>(data, size));
  return 0;
}
