#include "engine/model/lmms_config.h"

#include <algorithm>
#include <regex>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/model/config_reader.h"
#include "engine/model/hub_cache.h"
#include "engine/util/status_macros.h"

namespace ovserve::engine {
namespace {

using config_internal::json;
using config_internal::KeyReader;

absl::StatusOr<json> ParseObject(std::string_view text, const std::string& label) {
  json root = json::parse(text.begin(), text.end(), /*cb=*/nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) return absl::InvalidArgumentError(absl::StrCat(label, ": not valid JSON"));
  if (!root.is_object()) return absl::InvalidArgumentError(absl::StrCat(label, ": top level is not a JSON object"));
  return root;
}

// A string setting that must have one value (the one ovserve computes).
absl::Status RequireValue(const KeyReader& r, absl::string_view key, const std::string& fallback,
                          absl::string_view supported) {
  ASSIGN_OR_RETURN(const std::string value, r.String(key, fallback));
  if (value != supported) {
    return r.Error(key, absl::StrCat("is \"", value, "\"; only \"", supported, "\" is supported"));
  }
  return absl::OkStatus();
}

// LLaVA-NeXT's pinpoints: [[width, height], ...] in pixels, or the range
// "(1x1),...,(6x6)" in crops of `crop_size`. Returned as (height, width).
absl::StatusOr<std::vector<std::pair<int64_t, int64_t>>> ParsePinpoints(const KeyReader& r, int64_t crop_size) {
  constexpr absl::string_view kKey = "image_grid_pinpoints";
  std::vector<std::pair<int64_t, int64_t>> out;
  const json* value = r.Find(kKey);
  if (value == nullptr) return r.Error(kKey, "missing (AnyRes needs the pinpoints)");
  if (value->is_string()) {
    // As process_anyres_image: the first and last "(AxB)" bound the grid.
    const std::string text = value->get<std::string>();
    static const std::regex kPair(R"(\((\d+)x(\d+)\))");
    std::vector<std::pair<int64_t, int64_t>> ends;
    for (auto it = std::sregex_iterator(text.begin(), text.end(), kPair); it != std::sregex_iterator(); ++it) {
      ends.emplace_back(std::stoll((*it)[1].str()), std::stoll((*it)[2].str()));
    }
    if (ends.empty() || ends.front().first < 1 || ends.front().second < 1 || ends.back().first > 64 ||
        ends.back().second > 64) {
      return r.Error(kKey, absl::StrCat("\"", text, "\" is not a range \"(1x1),...,(NxM)\" with N, M <= 64"));
    }
    for (int64_t i = ends.front().first; i <= ends.back().first; ++i) {
      for (int64_t j = ends.front().second; j <= ends.back().second; ++j) {
        out.emplace_back(j * crop_size, i * crop_size);  // (i, j) is (width, height)
      }
    }
  } else if (value->is_array() && !value->empty()) {
    for (size_t i = 0; i < value->size(); ++i) {
      const json& pair = (*value)[i];
      const std::string key = absl::StrCat(kKey, "[", i, "]");
      if (!pair.is_array() || pair.size() != 2) {
        return r.Error(key, absl::StrCat("must be [width, height], got ", pair.dump()));
      }
      ASSIGN_OR_RETURN(const int64_t width, r.AsInt(pair[0], key));
      ASSIGN_OR_RETURN(const int64_t height, r.AsInt(pair[1], key));
      if (width <= 0 || height <= 0) return r.Error(key, absl::StrCat("must be positive, got ", pair.dump()));
      out.emplace_back(height, width);
    }
  }
  if (out.empty()) return r.Error(kKey, "must be a non-empty list of [width, height] or a range string");
  return out;
}

absl::StatusOr<int64_t> MaxIdIn(const json& object, bool ids_are_values, const std::string& label) {
  int64_t largest = -1;
  if (!object.is_object() && !object.is_array()) return absl::InvalidArgumentError(absl::StrCat(label, ": no vocabulary"));
  for (const auto& item : object) {
    const json& id = ids_are_values ? item : item["id"];
    if (!id.is_number_integer()) return absl::InvalidArgumentError(absl::StrCat(label, ": a token id is not an integer"));
    largest = std::max(largest, id.get<int64_t>());
  }
  return largest;
}

absl::StatusOr<json> ReadJson(const std::filesystem::path& path) {
  ASSIGN_OR_RETURN(const std::string text, config_internal::ReadConfigFile(path));
  json root = json::parse(text, /*cb=*/nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) return absl::InvalidArgumentError(absl::StrCat(path.string(), ": not valid JSON"));
  return root;
}

absl::StatusOr<VisionConfig> ResolveTower(const std::string& name) {
  // A local folder (fine-tunes sometimes point at one), then the hub cache.
  std::error_code ec;
  std::filesystem::path config_path = std::filesystem::path(name) / "config.json";
  if (!std::filesystem::is_regular_file(config_path, ec)) {
    auto snapshot = FindHubSnapshot(name, HubCacheDir());
    if (!snapshot.ok()) {
      if (std::optional<VisionConfig> known = KnownVisionTower(name)) return *known;
      return absl::NotFoundError(absl::StrCat("mm_vision_tower ", snapshot.status().message(),
                                              ", and it is not a tower with built-in values"));
    }
    config_path = *snapshot / "config.json";
  }
  ASSIGN_OR_RETURN(const std::string text, config_internal::ReadConfigFile(config_path));
  return ParseSiglipTowerConfig(text, config_path.string());
}

}  // namespace

absl::StatusOr<VisionConfig> ParseSiglipTowerConfig(std::string_view json_text, const std::string& label) {
  ASSIGN_OR_RETURN(const json root, ParseObject(json_text, label));
  const KeyReader top(root, label, "");
  ASSIGN_OR_RETURN(const std::string model_type, top.String("model_type", "siglip"));
  VisionConfig vision;
  if (model_type == "siglip") {
    ASSIGN_OR_RETURN(const KeyReader part, top.Object("vision_config"));
    RETURN_IF_ERROR(config_internal::ParseSiglipVisionFields(part, &vision));
  } else if (model_type == "siglip_vision_model") {
    RETURN_IF_ERROR(config_internal::ParseSiglipVisionFields(top, &vision));
  } else {
    return top.Error("model_type", absl::StrCat("is \"", model_type, "\"; only SigLIP vision towers are supported"));
  }
  return vision;
}

std::optional<VisionConfig> KnownVisionTower(std::string_view name) {
  if (name != "google/siglip-so400m-patch14-384") return std::nullopt;
  VisionConfig so400m;
  so400m.model_type = "siglip_vision_model";
  so400m.hidden_size = 1152;
  so400m.intermediate_size = 4304;
  so400m.num_hidden_layers = 27;
  so400m.num_attention_heads = 16;
  so400m.image_size = 384;
  so400m.patch_size = 14;
  so400m.layer_norm_eps = 1e-6;
  so400m.hidden_act = "gelu_pytorch_tanh";
  return so400m;
}

absl::StatusOr<int64_t> TokenizerLength(const std::filesystem::path& model_dir) {
  std::error_code ec;
  int64_t largest = -1;
  if (std::filesystem::exists(model_dir / "tokenizer.json", ec)) {
    const std::string label = (model_dir / "tokenizer.json").string();
    ASSIGN_OR_RETURN(const json root, ReadJson(model_dir / "tokenizer.json"));
    if (!root.is_object() || !root.contains("model") || !root["model"].contains("vocab")) {
      return absl::InvalidArgumentError(absl::StrCat(label, ": no model.vocab"));
    }
    ASSIGN_OR_RETURN(largest, MaxIdIn(root["model"]["vocab"], true, label));
    if (root.contains("added_tokens")) {
      ASSIGN_OR_RETURN(const int64_t added, MaxIdIn(root["added_tokens"], false, label));
      largest = std::max(largest, added);
    }
  } else {
    ASSIGN_OR_RETURN(const json vocab, ReadJson(model_dir / "vocab.json"));
    ASSIGN_OR_RETURN(largest, MaxIdIn(vocab, true, (model_dir / "vocab.json").string()));
    if (std::filesystem::exists(model_dir / "added_tokens.json", ec)) {
      ASSIGN_OR_RETURN(const json added, ReadJson(model_dir / "added_tokens.json"));
      ASSIGN_OR_RETURN(const int64_t added_max, MaxIdIn(added, true, (model_dir / "added_tokens.json").string()));
      largest = std::max(largest, added_max);
    }
  }
  if (largest < 0) return absl::InvalidArgumentError(absl::StrCat(model_dir.string(), ": empty tokenizer vocabulary"));
  return largest + 1;
}

absl::StatusOr<LlavaOnevisionConfig> ParseLmmsConfig(std::string_view json_text, const LmmsConfigContext& context,
                                                     const std::string& label) {
  ASSIGN_OR_RETURN(const json root, ParseObject(json_text, label));
  const KeyReader r(root, label, "");
  LlavaOnevisionConfig config;
  try {
    config.format = CheckpointFormat::kLmmsLab;
    config.unpad_rounding = UnpadRounding::kTruncate;
    config.text.model_type = "qwen2";
    RETURN_IF_ERROR(config_internal::ParseQwen2Fields(r, &config.text));
    config.tie_word_embeddings = config.text.tie_word_embeddings;
    if (r.Find("quantization_config") != nullptr) {
      ASSIGN_OR_RETURN(const KeyReader quantization, r.Object("quantization_config"));
      RETURN_IF_ERROR(config_internal::ParseQuantizationConfig(quantization, &config.quantization));
    }

    // The builder's resize_token_embeddings(len(tokenizer)) cuts embeddings
    // and LM head; the placeholder ids sit in the rows past the cut, which the
    // file still holds (they are only read to be overwritten by visual rows).
    const int64_t stored = config.text.vocab_size;
    const int64_t length = context.tokenizer_length;
    if (length <= 0 || length + 2 > stored) {
      return r.Error("vocab_size", absl::StrCat("(", stored, " rows) must exceed the tokenizer's length (", length,
                                                ") by at least 2; ovserve keeps two rows past it for placeholders"));
    }
    config.text.stored_vocab_rows = stored;
    config.text.vocab_size = length;
    config.image_token_id = length;
    config.video_token_id = length + 1;

    ASSIGN_OR_RETURN(const std::string tower, r.String("mm_vision_tower", std::nullopt));
    if (!absl::StrContains(tower, "siglip")) {
      return r.Error("mm_vision_tower", absl::StrCat("is \"", tower, "\"; only SigLIP towers are supported"));
    }
    config.vision = context.tower;
    if (config.vision.num_hidden_layers < 2) {
      return r.Error("mm_vision_tower", absl::StrCat("\"", tower, "\" has ", config.vision.num_hidden_layers,
                                                     " layers; LLaVA-NeXT drops the last one and needs one left"));
    }
    config.vision.num_hidden_layers -= 1;  // SigLipVisionTower deletes the last encoder layer
    config.vision_feature_layer = -1;      // ... and takes hidden_states[-1] of the rest
    config.feature_select_strategy = FeatureSelectStrategy::kFull;
    ASSIGN_OR_RETURN(const int64_t mm_hidden, r.Int("mm_hidden_size", config.vision.hidden_size));
    if (mm_hidden != config.vision.hidden_size) {
      return r.Error("mm_hidden_size", absl::StrCat("(", mm_hidden, ") differs from the hidden size of \"", tower,
                                                    "\" (", config.vision.hidden_size, ")"));
    }

    RETURN_IF_ERROR(RequireValue(r, "mm_projector_type", "linear", "mlp2x_gelu"));
    config.projector_hidden_act = "gelu";
    config.projector_bias = true;
    RETURN_IF_ERROR(RequireValue(r, "mm_patch_merge_type", "flat", "spatial_unpad"));
    config.use_image_newline_parameter = true;
    RETURN_IF_ERROR(RequireValue(r, "mm_newline_position", "one_token", "one_token"));
    RETURN_IF_ERROR(RequireValue(r, "mm_spatial_pool_mode", "bilinear", "bilinear"));
    ASSIGN_OR_RETURN(const int64_t pool_stride, r.Int("mm_spatial_pool_stride", 2));
    if (pool_stride != 2) return r.Error("mm_spatial_pool_stride", absl::StrCat("is ", pool_stride, "; only 2 is supported"));
    for (absl::string_view flag : {"add_faster_video", "mm_use_im_start_end", "mm_use_im_patch_token"}) {
      ASSIGN_OR_RETURN(const bool on, r.Bool(flag, false));
      if (on) return r.Error(flag, "is true; only false is supported");
    }

    ASSIGN_OR_RETURN(config.vision_aspect_ratio, r.String("image_aspect_ratio", "square"));
    ASSIGN_OR_RETURN(config.anyres_max_crops,
                     config_internal::AnyresMaxCrops(r, "image_aspect_ratio", config.vision_aspect_ratio));
    if (config.anyres_max_crops == 0 && config.vision_aspect_ratio != "anyres") {
      return r.Error("image_aspect_ratio", absl::StrCat("is \"", config.vision_aspect_ratio,
                                                        "\"; only \"anyres\" and \"anyres_max_N\" are supported ",
                                                        "(prompts with several images take the \"pad\" path anyway)"));
    }
    ASSIGN_OR_RETURN(config.image_grid_pinpoints, ParsePinpoints(r, config.vision.image_size));
  } catch (const json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(label, ": ", e.what()));
  }
  return config;
}

absl::StatusOr<LlavaOnevisionConfig> LoadLmmsConfig(const std::filesystem::path& model_dir,
                                                    std::string_view json_text) {
  const std::string label = (model_dir / "config.json").string();
  ASSIGN_OR_RETURN(const json root, ParseObject(json_text, label));
  ASSIGN_OR_RETURN(const std::string tower, KeyReader(root, label, "").String("mm_vision_tower", std::nullopt));
  LmmsConfigContext context;
  ASSIGN_OR_RETURN(context.tower, ResolveTower(tower));
  ASSIGN_OR_RETURN(context.tokenizer_length, TokenizerLength(model_dir));
  return ParseLmmsConfig(json_text, context, label);
}

}  // namespace ovserve::engine
