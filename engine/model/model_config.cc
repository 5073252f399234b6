#include "engine/model/model_config.h"

#include <cmath>
#include <fstream>
#include <optional>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "engine/util/status_macros.h"
#include "nlohmann/json.hpp"

namespace ovserve::engine {
namespace {

using json = nlohmann::json;

constexpr std::string_view kAnyresMaxPrefix = "anyres_max_";

// Reads typed keys out of one JSON object, producing errors that name the key
// path ("config.json: text_config.hidden_size missing"). Absent and null keys
// take the default, as transformers' config classes do.
class KeyReader {
 public:
  KeyReader(const json& object, std::string file, std::string prefix)
      : object_(object), file_(std::move(file)), prefix_(std::move(prefix)) {}

  absl::Status Error(absl::string_view key, absl::string_view problem) const {
    return absl::InvalidArgumentError(absl::StrCat(file_, ": ", Path(key), " ", problem));
  }
  std::string Path(absl::string_view key) const { return absl::StrCat(prefix_, key); }

  // The value at `key`, or nullptr when absent or null.
  const json* Find(absl::string_view key) const {
    const auto it = object_.find(std::string(key));
    if (it == object_.end() || it->is_null()) return nullptr;
    return &*it;
  }

  absl::StatusOr<int64_t> Int(absl::string_view key, std::optional<int64_t> fallback) const {
    const json* value = Find(key);
    if (value == nullptr) {
      if (fallback.has_value()) return *fallback;
      return Error(key, "missing");
    }
    return AsInt(*value, key);
  }

  absl::StatusOr<int64_t> AsInt(const json& value, absl::string_view key) const {
    if (value.is_number_integer()) {
      if (value.is_number_unsigned() && value.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
        return Error(key, "is out of range");
      }
      return value.get<int64_t>();
    }
    // Some exporters write integral values as floats (32768.0); accept those.
    if (value.is_number_float()) {
      const double d = value.get<double>();
      if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9e18) {
        return static_cast<int64_t>(d);
      }
    }
    return Error(key, absl::StrCat("must be an integer, got ", value.dump()));
  }

  absl::StatusOr<double> Double(absl::string_view key, double fallback) const {
    const json* value = Find(key);
    if (value == nullptr) return fallback;
    if (!value->is_number()) return Error(key, absl::StrCat("must be a number, got ", value->dump()));
    return value->get<double>();
  }

  absl::StatusOr<bool> Bool(absl::string_view key, bool fallback) const {
    const json* value = Find(key);
    if (value == nullptr) return fallback;
    if (!value->is_boolean()) {
      return Error(key, absl::StrCat("must be true or false, got ", value->dump()));
    }
    return value->get<bool>();
  }

  absl::StatusOr<std::string> String(absl::string_view key,
                                     std::optional<std::string> fallback) const {
    const json* value = Find(key);
    if (value == nullptr) {
      if (fallback.has_value()) return *fallback;
      return Error(key, "missing");
    }
    if (!value->is_string()) return Error(key, absl::StrCat("must be a string, got ", value->dump()));
    return value->get<std::string>();
  }

  // A nested object (vision_config, text_config); required.
  absl::StatusOr<KeyReader> Object(absl::string_view key) const {
    const json* value = Find(key);
    if (value == nullptr) return Error(key, "missing");
    if (!value->is_object()) return Error(key, "must be an object");
    return KeyReader(*value, file_, absl::StrCat(prefix_, key, "."));
  }

 private:
  const json& object_;
  std::string file_;
  std::string prefix_;
};

absl::Status RequirePositive(const KeyReader& reader, absl::string_view key, int64_t value) {
  if (value <= 0) return reader.Error(key, absl::StrCat("must be positive, got ", value));
  return absl::OkStatus();
}

// Qwen2Config defaults (transformers) for keys a converted config may omit.
absl::Status ParseTextConfig(const KeyReader& r, TextConfig* text) {
  ASSIGN_OR_RETURN(text->model_type, r.String("model_type", "qwen2"));
  if (text->model_type != "qwen2") {
    return r.Error("model_type", absl::StrCat("is \"", text->model_type,
                                              "\"; only \"qwen2\" language models are supported"));
  }
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
  return absl::OkStatus();
}

// SiglipVisionConfig defaults (transformers) for keys a converted config may omit.
absl::Status ParseVisionConfig(const KeyReader& r, VisionConfig* vision) {
  ASSIGN_OR_RETURN(vision->model_type, r.String("model_type", "siglip_vision_model"));
  if (vision->model_type != "siglip_vision_model") {
    return r.Error("model_type",
                   absl::StrCat("is \"", vision->model_type,
                                "\"; only \"siglip_vision_model\" vision towers are supported"));
  }
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
  config->anyres_max_crops = 0;
  if (std::string_view(config->vision_aspect_ratio).substr(0, kAnyresMaxPrefix.size()) ==
      kAnyresMaxPrefix) {
    const std::string digits = config->vision_aspect_ratio.substr(kAnyresMaxPrefix.size());
    int64_t crops = 0;
    if (!absl::SimpleAtoi(absl::string_view(digits), &crops) || crops <= 0) {
      return r.Error("vision_aspect_ratio", absl::StrCat("\"", config->vision_aspect_ratio,
                                                         "\" has no positive crop count"));
    }
    config->anyres_max_crops = crops;
  }

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

absl::StatusOr<LlavaOnevisionConfig> LoadModelConfig(const std::filesystem::path& model_dir) {
  const std::filesystem::path path = model_dir / "config.json";
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return absl::NotFoundError(absl::StrCat(path.string(), ": no such file"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::PermissionDeniedError(absl::StrCat(path.string(), ": cannot open"));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return absl::DataLossError(absl::StrCat(path.string(), ": read error"));
  return ParseWithLabel(text.str(), path.string());
}

}  // namespace ovserve::engine
