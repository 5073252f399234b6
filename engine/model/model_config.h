#pragma once
// Typed view of a LLaVA-OneVision `config.json`: the Hugging Face format
// (LlavaOnevisionConfig with a Qwen2 text_config and a SigLIP vision_config)
// or the lmms-lab original (LlavaQwenConfig, lmms_config.h), told apart by the
// file itself (checkpoint_format.h).

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/model/checkpoint_format.h"
#include "engine/model/quantization_config.h"
#include "engine/multimodal/anyres_geometry.h"

namespace ovserve::engine {

struct TextConfig {
  std::string model_type;  // "qwen2"
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;
  int64_t head_dim = 0;  // hidden_size / num_attention_heads unless given
  int64_t vocab_size = 0;  // the logits' width (and the ids a prompt may hold)
  // Rows of embed_tokens / lm_head in the file: vocab_size, except lmms-lab
  // checkpoints, whose reference cuts them to the tokenizer's length at load.
  int64_t stored_vocab_rows = 0;  // 0: vocab_size
  int64_t stored_rows() const { return stored_vocab_rows > 0 ? stored_vocab_rows : vocab_size; }
  int64_t max_position_embeddings = 0;
  double rope_theta = 10000.0;
  double rms_norm_eps = 1e-6;
  std::string hidden_act;  // "silu"
  bool tie_word_embeddings = false;
  int64_t bos_token_id = -1;
  int64_t eos_token_id = -1;
};

struct VisionConfig {
  std::string model_type;  // "siglip_vision_model"
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_channels = 3;
  int64_t image_size = 0;
  int64_t patch_size = 0;
  double layer_norm_eps = 1e-6;
  std::string hidden_act;  // "gelu_pytorch_tanh"
  bool vision_use_head = false;

  int64_t patches_per_side() const { return image_size / patch_size; }
  int64_t num_patches() const { return patches_per_side() * patches_per_side(); }
};

enum class FeatureSelectStrategy { kFull, kDefault };  // "default" drops the CLS position

struct LlavaOnevisionConfig {
  CheckpointFormat format = CheckpointFormat::kLlavaHf;
  TextConfig text;
  VisionConfig vision;
  // Placeholder ids the expanded prompt holds at visual rows. llava-hf: the
  // <image> / <video> vocabulary tokens; lmms-lab: ids just past the
  // tokenizer's vocabulary (the reference splices -200 markers instead).
  int64_t image_token_id = 151646;
  int64_t video_token_id = 151647;
  // Index into hidden_states (embeddings output is 0); -1 = last encoder layer.
  int64_t vision_feature_layer = -1;
  FeatureSelectStrategy feature_select_strategy = FeatureSelectStrategy::kFull;
  std::string vision_aspect_ratio;  // "anyres_max_9"
  // anyres_max_N: N parsed from vision_aspect_ratio (9); 0 when not "anyres_max_*".
  int64_t anyres_max_crops = 0;
  UnpadRounding unpad_rounding = UnpadRounding::kRoundTo7Digits;
  // (height, width) pairs, in config order.
  std::vector<std::pair<int64_t, int64_t>> image_grid_pinpoints;
  std::string projector_hidden_act;  // "gelu"
  bool projector_bias = true;
  bool tie_word_embeddings = false;  // top-level value wins over text_config's when present
  bool use_image_newline_parameter = true;
  // A pre-quantized checkpoint's `quantization_config` (top level, or inside
  // text_config); kNone for a floating-point checkpoint.
  QuantizationConfig quantization;
};

// Parses the text of a Hugging Face format config.json. Errors name the
// missing/invalid key.
absl::StatusOr<LlavaOnevisionConfig> ParseModelConfig(std::string_view json_text);

// Which format a config.json is; INVALID_ARGUMENT when it is neither.
absl::StatusOr<CheckpointFormat> DetectCheckpointFormat(std::string_view json_text);

// Reads `<model_dir>/config.json` in either format (an lmms-lab folder also
// needs its tokenizer files and its vision tower's config, lmms_config.h).
absl::StatusOr<LlavaOnevisionConfig> LoadModelConfig(const std::filesystem::path& model_dir);

}  // namespace ovserve::engine
