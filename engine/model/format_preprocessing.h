#pragma once
// The pixel preprocessing a checkpoint folder's own reference applies:
//   - llava-hf: the folder's preprocessor_config.json and
//     video_preprocessor_config.json (transformers' processors), float32;
//   - lmms-lab: LLaVA-NeXT's SigLipImageProcessor (no such files): the
//     tower's crop size, mean = std = 0.5, PIL bicubic for images and video
//     frames alike, the config's pinpoints, and float16 pixels as its usage
//     code hands them to the tower.

#include <filesystem>

#include "absl/status/statusor.h"
#include "engine/model/model_config.h"
#include "engine/multimodal/image_processor.h"

namespace ovserve::engine {

absl::StatusOr<PreprocessorConfig> LoadPreprocessorConfigFor(const std::filesystem::path& model_dir,
                                                             const LlavaOnevisionConfig& config);

}  // namespace ovserve::engine
