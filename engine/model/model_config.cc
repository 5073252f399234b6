#include "engine/model/model_config.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <optional>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "engine/model/config_reader.h"
#include "engine/model/lmms_config.h"
#include "engine/util/status_macros.h"
#include "nlohmann/json.hpp"

namespace ovserve::engine {
namespace config_internal {

constexpr std::string_view kAnyresMaxPrefix = "anyres_max_";

absl::StatusOr<int64_t> AnyresMaxCrops(const KeyReader& r, absl::string_view key, const std::string& value) {
  if (std::string_view(value).substr(0, kAnyresMaxPrefix.size()) != kAnyresMaxPrefix) return 0;
  const std::string digits = value.substr(kAnyresMaxPrefix.size());
  int64_t crops = 0;
  if (!absl::SimpleAtoi(absl::string_view(digits), &crops) || crops <= 0) {
    return r.Error(key, absl::StrCat("\"", value, "\" has no positive crop count"));
  }
  return crops;
}

absl::Status ParseQwen2Fields(const KeyReader& r, TextConfig* text) {
  ASSIGN_OR_RETURN(text->hidden_size, r.Int("hidden_size", std::nullopt));
  ASSIGN_OR_RETURN(text->intermediate_size, r.Int("intermediate_size", std::nullopt));
  ASSIGN_OR_RETURN(text->num_hidden_layers, r.Int("num_hidden_layers", std::nullopt));
  ASSIGN_OR_RETURN(text->num_attention_heads, r.Int("num_attention_heads", std::nullopt));
  // Qwen2Config: num_key_value_heads=None means multi-head attention.
  ASSIGN_OR_RETURN(text->num_key_value_heads,
                   r.Int("num_key_value_heads", text->num_attention_heads));
  ASSIGN_OR_RETURN(text->vocab_size, r.Int("vocab_size", 151936));
  ASSIGN_OR_RETURN(text->max_position_embeddings, r.Int("max_position_embeddings", 32768));
  ASSIGN_OR_RETURN(text->rope_theta, r.Double("rope_theta", 10000.0));
  ASSIGN_OR_RETURN(text->rms_norm_eps, r.Double("rms_norm_eps", 1e-6));
  ASSIGN_OR_RETURN(text->hidden_act, r.String("hidden_act", "silu"));
  ASSIGN_OR_RETURN(text->tie_word_embeddings, r.Bool("tie_word_embeddings", false));
  ASSIGN_OR_RETURN(text->bos_token_id, r.Int("bos_token_id", -1));
  // eos_token_id may be a list in generation-style configs; the first is the primary one.
  if (const json* eos = r.Find("eos_token_id"); eos != nullptr && eos->is_array()) {
    if (eos->empty()) return r.Error("eos_token_id", "is an empty list");
    ASSIGN_OR_RETURN(text->eos_token_id, r.AsInt((*eos)[0], "eos_token_id"));
  } else {
    ASSIGN_OR_RETURN(text->eos_token_id, r.Int("eos_token_id", -1));
  }

  for (const auto& [key, value] :
       {std::pair<absl::string_view, int64_t>{"hidden_size", text->hidden_size},
        {"intermediate_size", text->intermediate_size},
        {"num_hidden_layers", text->num_hidden_layers},
        {"num_attention_heads", text->num_attention_heads},
        {"num_key_value_heads", text->num_key_value_heads},
        {"vocab_size", text->vocab_size},
        {"max_position_embeddings", text->max_position_embeddings}}) {
    RETURN_IF_ERROR(RequirePositive(r, key, value));
  }
  if (r.Find("head_dim") != nullptr) {
    ASSIGN_OR_RETURN(text->head_dim, r.Int("head_dim", std::nullopt));
    RETURN_IF_ERROR(RequirePositive(r, "head_dim", text->head_dim));
  } else {
    if (text->hidden_size % text->num_attention_heads != 0) {
      return r.Error("num_attention_heads",
                     absl::StrCat("(", text->num_attention_heads, ") does not divide hidden_size (",
                                  text->hidden_size, ") and no head_dim is given"));
    }
    text->head_dim = text->hidden_size / text->num_attention_heads;
  }
  if (text->num_attention_heads % text->num_key_value_heads != 0) {
    return r.Error("num_key_value_heads",
                   absl::StrCat("(", text->num_key_value_heads,
                                ") does not divide num_attention_heads (",
                                text->num_attention_heads, ")"));
  }
  if (!(text->rms_norm_eps > 0.0)) return r.Error("rms_norm_eps", "must be positive");
  if (!(text->rope_theta > 0.0)) return r.Error("rope_theta", "must be positive");
  text->stored_vocab_rows = text->vocab_size;
  return absl::OkStatus();
}

absl::Status ParseSiglipVisionFields(const KeyReader& r, VisionConfig* vision) {
  vision->model_type = "siglip_vision_model";
  ASSIGN_OR_RETURN(vision->hidden_size, r.Int("hidden_size", 768));
  ASSIGN_OR_RETURN(vision->intermediate_size, r.Int("intermediate_size", 3072));
  ASSIGN_OR_RETURN(vision->num_hidden_layers, r.Int("num_hidden_layers", 12));
  ASSIGN_OR_RETURN(vision->num_attention_heads, r.Int("num_attention_heads", 12));
  ASSIGN_OR_RETURN(vision->num_channels, r.Int("num_channels", 3));
  ASSIGN_OR_RETURN(vision->image_size, r.Int("image_size", 224));
  ASSIGN_OR_RETURN(vision->patch_size, r.Int("patch_size", 16));
  ASSIGN_OR_RETURN(vision->layer_norm_eps, r.Double("layer_norm_eps", 1e-6));
  ASSIGN_OR_RETURN(vision->hidden_act, r.String("hidden_act", "gelu_pytorch_tanh"));
  // LLaVA reads hidden states and never runs the pooling head, so absent = unused.
  ASSIGN_OR_RETURN(vision->vision_use_head, r.Bool("vision_use_head", false));

  for (const auto& [key, value] :
       {std::pair<absl::string_view, int64_t>{"hidden_size", vision->hidden_size},
        {"intermediate_size", vision->intermediate_size},
        {"num_hidden_layers", vision->num_hidden_layers},
        {"num_attention_heads", vision->num_attention_heads},
        {"num_channels", vision->num_channels},
        {"image_size", vision->image_size},
        {"patch_size", vision->patch_size}}) {
    RETURN_IF_ERROR(RequirePositive(r, key, value));
  }
  if (vision->hidden_size % vision->num_attention_heads != 0) {
    return r.Error("num_attention_heads",
                   absl::StrCat("(", vision->num_attention_heads, ") does not divide hidden_size (",
                                vision->hidden_size, ")"));
  }
  // Not a divisibility check: SigLIP-so400m has 384 px / 14 px patches; its
  // stride-14 conv yields floor(384 / 14) = 27 patches per side and ignores
  // the last 6 pixels, which is what patches_per_side() computes.
  if (vision->image_size < vision->patch_size) {
    return r.Error("patch_size", absl::StrCat("(", vision->patch_size,
                                              ") is larger than image_size (",
                                              vision->image_size, ")"));
  }
  if (!(vision->layer_norm_eps > 0.0)) return r.Error("layer_norm_eps", "must be positive");
  return absl::OkStatus();
}

}  // namespace config_internal

namespace {

using config_internal::json;
using config_internal::KeyReader;

absl::Status ParseTextConfig(const KeyReader& r, TextConfig* text) {
  ASSIGN_OR_RETURN(text->model_type, r.String("model_type", "qwen2"));
  if (text->model_type != "qwen2") {
    return r.Error("model_type", absl::StrCat("is \"", text->model_type,
                                              "\"; only \"qwen2\" language models are supported"));
  }
  return config_internal::ParseQwen2Fields(r, text);
}

absl::Status ParseVisionConfig(const KeyReader& r, VisionConfig* vision) {
  ASSIGN_OR_RETURN(const std::string model_type, r.String("model_type", "siglip_vision_model"));
  if (model_type != "siglip_vision_model") {
    return r.Error("model_type",
                   absl::StrCat("is \"", model_type,
                                "\"; only \"siglip_vision_model\" vision towers are supported"));
  }
  return config_internal::ParseSiglipVisionFields(r, vision);
}

// LlavaOnevisionConfig's default pinpoints: every (h, w) in {384, ..., 2304}^2.
std::vector<std::pair<int64_t, int64_t>> DefaultPinpoints() {
  std::vector<std::pair<int64_t, int64_t>> pinpoints;
  for (int64_t h = 1; h <= 6; ++h) {
    for (int64_t w = 1; w <= 6; ++w) pinpoints.emplace_back(384 * h, 384 * w);
  }
  return pinpoints;
}

absl::Status ParseTopLevel(const KeyReader& r, LlavaOnevisionConfig* config) {
  ASSIGN_OR_RETURN(const std::string model_type, r.String("model_type", std::nullopt));
  if (model_type != "llava_onevision") {
    return r.Error("model_type", absl::StrCat("is \"", model_type,
                                              "\"; expected \"llava_onevision\""));
  }
  ASSIGN_OR_RETURN(const KeyReader text, r.Object("text_config"));
  RETURN_IF_ERROR(ParseTextConfig(text, &config->text));
  ASSIGN_OR_RETURN(const KeyReader vision, r.Object("vision_config"));
  RETURN_IF_ERROR(ParseVisionConfig(vision, &config->vision));

  ASSIGN_OR_RETURN(config->image_token_id, r.Int("image_token_index", 151646));
  ASSIGN_OR_RETURN(config->video_token_id, r.Int("video_token_index", 151647));

  if (const json* layer = r.Find("vision_feature_layer"); layer != nullptr && layer->is_array()) {
    return r.Error("vision_feature_layer",
                   "is a list; multi-layer vision features are not supported");
  }
  ASSIGN_OR_RETURN(config->vision_feature_layer, r.Int("vision_feature_layer", -1));
  // hidden_states holds the embeddings plus one entry per encoder layer.
  const int64_t num_states = config->vision.num_hidden_layers + 1;
  if (config->vision_feature_layer < -num_states || config->vision_feature_layer >= num_states) {
    return r.Error("vision_feature_layer",
                   absl::StrCat("(", config->vision_feature_layer, ") is out of range for ",
                                config->vision.num_hidden_layers, " vision layers"));
  }

  ASSIGN_OR_RETURN(const std::string strategy, r.String("vision_feature_select_strategy", "full"));
  if (strategy == "full") {
    config->feature_select_strategy = FeatureSelectStrategy::kFull;
  } else if (strategy == "default") {
    config->feature_select_strategy = FeatureSelectStrategy::kDefault;
  } else {
    return r.Error("vision_feature_select_strategy",
                   absl::StrCat("is \"", strategy, "\"; expected \"full\" or \"default\""));
  }

  ASSIGN_OR_RETURN(config->vision_aspect_ratio, r.String("vision_aspect_ratio", "anyres_max_9"));
  ASSIGN_OR_RETURN(config->anyres_max_crops,
                   config_internal::AnyresMaxCrops(r, "vision_aspect_ratio", config->vision_aspect_ratio));

  if (const json* pinpoints = r.Find("image_grid_pinpoints"); pinpoints != nullptr) {
    if (!pinpoints->is_array() || pinpoints->empty()) {
      return r.Error("image_grid_pinpoints", "must be a non-empty list of [height, width]");
    }
    config->image_grid_pinpoints.clear();
    for (size_t i = 0; i < pinpoints->size(); ++i) {
      const json& pair = (*pinpoints)[i];
      const std::string key = absl::StrCat("image_grid_pinpoints[", i, "]");
      if (!pair.is_array() || pair.size() != 2) {
        return r.Error(key, absl::StrCat("must be [height, width], got ", pair.dump()));
      }
      ASSIGN_OR_RETURN(const int64_t height, r.AsInt(pair[0], key));
      ASSIGN_OR_RETURN(const int64_t width, r.AsInt(pair[1], key));
      if (height <= 0 || width <= 0) {
        return r.Error(key, absl::StrCat("must be positive, got ", pair.dump()));
      }
      config->image_grid_pinpoints.emplace_back(height, width);
    }
  } else {
    config->image_grid_pinpoints = DefaultPinpoints();
  }

  ASSIGN_OR_RETURN(config->projector_hidden_act, r.String("projector_hidden_act", "gelu"));
  ASSIGN_OR_RETURN(config->projector_bias, r.Bool("multimodal_projector_bias", true));
  ASSIGN_OR_RETURN(config->use_image_newline_parameter,
                   r.Bool("use_image_newline_parameter", true));
  // The top-level flag is what the checkpoint was saved with; text_config's is
  // the fallback for configs that only carry it there.
  ASSIGN_OR_RETURN(config->tie_word_embeddings,
                   r.Bool("tie_word_embeddings", config->text.tie_word_embeddings));
  // Quantizers save the method at the top level; some exports of the
  // language model alone leave it in text_config.
  for (const KeyReader* holder : {&r, &text}) {
    if (holder->Find("quantization_config") == nullptr) continue;
    ASSIGN_OR_RETURN(const KeyReader quantization, holder->Object("quantization_config"));
    RETURN_IF_ERROR(config_internal::ParseQuantizationConfig(quantization, &config->quantization));
    break;
  }
  return absl::OkStatus();
}

absl::StatusOr<LlavaOnevisionConfig> ParseWithLabel(std::string_view json_text,
                                                    const std::string& label) {
  const json root = json::parse(json_text.begin(), json_text.end(), /*cb=*/nullptr,
                                /*allow_exceptions=*/false);
  if (root.is_discarded()) {
    return absl::InvalidArgumentError(absl::StrCat(label, ": not valid JSON"));
  }
  if (!root.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(label, ": top level is not a JSON object"));
  }
  LlavaOnevisionConfig config;
  try {
    RETURN_IF_ERROR(ParseTopLevel(KeyReader(root, label, ""), &config));
  } catch (const json::exception& e) {
    // The typed checks above should make this unreachable; never let it escape.
    return absl::InvalidArgumentError(absl::StrCat(label, ": ", e.what()));
  }
  return config;
}

}  // namespace

absl::StatusOr<LlavaOnevisionConfig> ParseModelConfig(std::string_view json_text) {
  return ParseWithLabel(json_text, "config.json");
}

namespace {

absl::StatusOr<CheckpointFormat> DetectFormat(const json& root, const std::string& label) {
  if (!root.is_object()) return absl::InvalidArgumentError(absl::StrCat(label, ": not a JSON object"));
  const auto model_type = root.find("model_type");
  if (model_type != root.end() && model_type->is_string() && *model_type == "llava_onevision") {
    return CheckpointFormat::kLlavaHf;
  }
  // LLaVA-NeXT's LlavaQwenConfig says "llava" (some saves "llava_qwen", or
  // only the architecture); the mm_* keys are what its builder reads.
  const bool llava_type = model_type != root.end() && model_type->is_string() &&
                          (*model_type == "llava" || *model_type == "llava_qwen");
  const auto architectures = root.find("architectures");
  const bool llava_qwen = architectures != root.end() && architectures->is_array() &&
                          std::find(architectures->begin(), architectures->end(), "LlavaQwenForCausalLM") !=
                              architectures->end();
  if ((llava_type || llava_qwen) && root.contains("mm_vision_tower")) return CheckpointFormat::kLmmsLab;
  const std::string seen = model_type == root.end() ? "no model_type" : "model_type " + model_type->dump();
  return absl::InvalidArgumentError(absl::StrCat(
      label, ": ", seen, "; expected a Hugging Face LLaVA-OneVision config (model_type ",
      "\"llava_onevision\") or an lmms-lab one (model_type \"llava\" with mm_vision_tower)"));
}

json ParseJson(std::string_view text) {
  return json::parse(text.begin(), text.end(), /*cb=*/nullptr, /*allow_exceptions=*/false);
}

}  // namespace

absl::StatusOr<CheckpointFormat> DetectCheckpointFormat(std::string_view json_text) {
  return DetectFormat(ParseJson(json_text), "config.json");
}

absl::StatusOr<LlavaOnevisionConfig> LoadModelConfig(const std::filesystem::path& model_dir) {
  const std::filesystem::path path = model_dir / "config.json";
  ASSIGN_OR_RETURN(const std::string text, config_internal::ReadConfigFile(path));
  ASSIGN_OR_RETURN(const CheckpointFormat format, DetectFormat(ParseJson(text), path.string()));
  if (format == CheckpointFormat::kLmmsLab) return LoadLmmsConfig(model_dir, text);
  return ParseWithLabel(text, path.string());
}

absl::StatusOr<std::string> config_internal::ReadConfigFile(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return absl::NotFoundError(absl::StrCat(path.string(), ": no such file"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::PermissionDeniedError(absl::StrCat(path.string(), ": cannot open"));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return absl::DataLossError(absl::StrCat(path.string(), ": read error"));
  return text.str();
}

}  // namespace ovserve::engine
