#pragma once
// The lmms-lab (LLaVA-NeXT) checkpoint format's config.json — a flat
// LlavaQwenConfig: Qwen2 fields at the top level plus the mm_* keys that
// LLaVA-NeXT's builder reads — into the same LlavaOnevisionConfig as the
// Hugging Face format, with the format's own rules:
//   - the vision tower is not described in the file: LLaVA-NeXT builds SigLIP
//     from the hub config that `mm_vision_tower` names, then deletes its last
//     encoder layer and takes that layer's input (no post_layernorm);
//   - image_grid_pinpoints are read as (width, height), and may be the range
//     string "(1x1),...,(6x6)" in units of the crop size;
//   - unpadding truncates (UnpadRounding::kTruncate);
//   - embeddings and LM head are cut to the tokenizer's length at load, so
//     logits have len(tokenizer) entries (151646 for the Qwen2 tokenizer);
//   - the projector is `mm_projector.{0,2}` (mlp2x_gelu, erf GELU).
// Settings the original code has but ovserve does not implement (another
// projector, a flat patch merge, another video newline position or pooling)
// are INVALID_ARGUMENT naming the key, never computed differently.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "engine/model/model_config.h"

namespace ovserve::engine {

// What an lmms-lab config.json leaves to files beside it.
struct LmmsConfigContext {
  // The vision tower's own config as its hub entry states it (before
  // LLaVA-NeXT deletes the last layer).
  VisionConfig tower;
  // len(tokenizer): vocabulary plus added tokens.
  int64_t tokenizer_length = 0;
};

// Parses an lmms-lab config.json's text. `label` names the file in errors.
absl::StatusOr<LlavaOnevisionConfig> ParseLmmsConfig(std::string_view json_text, const LmmsConfigContext& context,
                                                     const std::string& label = "config.json");

// The whole load: the tower from the local hub cache entry (or a local folder)
// that `mm_vision_tower` names, else the built-in values of a known tower;
// the tokenizer length from the folder's tokenizer files.
absl::StatusOr<LlavaOnevisionConfig> LoadLmmsConfig(const std::filesystem::path& model_dir,
                                                    std::string_view json_text);

// A SigLIP config.json's vision part: a SiglipModel config's vision_config,
// or a SiglipVisionModel config itself.
absl::StatusOr<VisionConfig> ParseSiglipTowerConfig(std::string_view json_text, const std::string& label);

// Built-in configs of the towers the published lmms-lab models use
// (google/siglip-so400m-patch14-384: 1152 hidden, 4304 MLP, 16 heads, 27
// layers, 384 px, 14 px patches), for when the hub cache lacks the entry.
std::optional<VisionConfig> KnownVisionTower(std::string_view name);

// len(tokenizer) of a model folder: the largest id in tokenizer.json's
// vocabulary and added tokens + 1 (else vocab.json + added_tokens.json).
absl::StatusOr<int64_t> TokenizerLength(const std::filesystem::path& model_dir);

}  // namespace ovserve::engine
