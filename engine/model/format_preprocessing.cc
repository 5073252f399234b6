#include "engine/model/format_preprocessing.h"

namespace ovserve::engine {

absl::StatusOr<PreprocessorConfig> LoadPreprocessorConfigFor(const std::filesystem::path& model_dir,
                                                             const LlavaOnevisionConfig& config) {
  if (config.format == CheckpointFormat::kLlavaHf) return LoadPreprocessorConfig(model_dir);
  PreprocessorConfig pre;
  const int64_t side = config.vision.image_size;
  pre.image_size = pre.video_size = {side, side};
  pre.image_grid_pinpoints = config.image_grid_pinpoints;
  NormalizeConfig siglip;  // SigLipImageProcessor's defaults
  siglip.mean = {0.5, 0.5, 0.5};
  siglip.std = {0.5, 0.5, 0.5};
  pre.image_normalize = pre.video_normalize = siglip;
  pre.video_resize = FrameResize::kPilBicubic;
  pre.pixel_precision = PixelPrecision::kF16;
  return pre;
}

}  // namespace ovserve::engine
